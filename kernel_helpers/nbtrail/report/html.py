"""A self-contained static HTML report of a pipeline or template run, for stakeholders first.

One file: inline CSS, inline SVG, no script, no external reference, so it opens offline, in a
CI artifact viewer, or attached to an e-mail. It opens with the verdict (did it work, which
checks failed or warned and why, the headline metrics), then every step with its status,
parameters, outputs, metrics and a link to its executed notebook, every check as a card that
names what it judged by name and path, and the lineage graph of files, steps and models laid
out left to right. Every value read from the trail is escaped, every link is a
percent-encoded relative (or ``file:``) URL, every status is checked against the vocabulary and
a Content-Security-Policy forbids anything that runs (see :mod:`._safe`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..checks import CHECK_CSS, CheckResult, check_card
from ..vocabulary import CHECK_STATUSES, RUN_STATUSES, STEP_STATUSES
from ._safe import UNKNOWN, csp_meta, esc, known, local_href, status_badge
from .graph import lineage_svg
from .runs import summarize

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#202124}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border-bottom:1px solid #e0e0e0;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f8f9fa;font-weight:600}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;font-size:.8rem;
font-weight:600;color:#fff}
.succeeded,.pass{background:#1e8e3e}.failed,.fail,.aborted{background:#d93025}
.error{background:#a50e0e}.warn,.running{background:#f9ab00;color:#202124}
.reused{background:#1a73e8}.not-run{background:#9aa0a6}
.unknown,.nbtrail-checks .badge.unknown{background:#5f6368;color:#fff}
.muted{color:#5f6368}code,pre{font-family:SFMono-Regular,Menlo,monospace;font-size:.85rem}
pre{background:#f8f9fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.graph{overflow-x:auto;border:1px solid #e0e0e0;padding:.5rem}
.verdict{border:1px solid #dadce0;border-radius:8px;padding:.8rem 1rem;margin:1rem 0}
.verdict.ok{border-left:6px solid #1e8e3e}.verdict.bad{border-left:6px solid #d93025}
.verdict.meh{border-left:6px solid #f9ab00}
.verdict ul{margin:.3rem 0 .2rem 1.2rem;padding:0}.verdict li{margin:.15rem 0}
.headline{display:flex;gap:1.5rem;flex-wrap:wrap;margin-top:.4rem}
.headline div{font-size:.85rem;color:#5f6368}
.headline b{display:block;font-size:1.2rem;color:#202124}
"""


_BAD_CHECK = ("fail", "error", UNKNOWN)
_BAD_STEP = ("failed", "not run", "aborted", UNKNOWN)


def _git_text(git: dict | None) -> str:
    if not git:
        return "not a git repository"
    commit = git.get("commit") or ""
    return f"{commit[:12]}{' + uncommitted changes' if git.get('dirty') else ''}"


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _verdict(summary) -> str:
    """What a stakeholder reads first: did it work, what failed or warned, the headline numbers."""
    counts: dict[str, int] = {}
    for step in summary.steps:
        status = known(step.status, STEP_STATUSES)
        counts[status] = counts.get(status, 0) + 1
    steps = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    # A status that is no word of the vocabulary was not written by nbtrail: never a success.
    bad = [(s, c) for s, c in summary.checks if known(c.status, CHECK_STATUSES) in _BAD_CHECK]
    warned = [(s, c) for s, c in summary.checks if c.status == "warn"]
    failed_steps = [s for s in summary.steps if known(s.status, STEP_STATUSES) in _BAD_STEP]
    tone = "bad" if bad or failed_steps else "meh" if warned else "ok"
    tampered = any(known(s.status, STEP_STATUSES) == UNKNOWN for s in summary.steps)
    if summary.run.status == "succeeded" and not bad and not tampered:
        headline = "It worked" + (", with warnings to read" if warned else "") + "."
    else:
        headline = "It did not work."
    items = []
    for step in failed_steps:
        items.append(
            f"<li>step <b>{esc(step.name)}</b> {esc(known(step.status, STEP_STATUSES))}"
            + (f": {esc(step.error)}" if step.error else "")
            + "</li>"
        )
    for step, check in bad + warned:
        items.append(
            f"<li>{status_badge(check.status, CHECK_STATUSES)} <b>{esc(check.name)}</b> "
            f"in step {esc(step)}: "
            f"{esc(check.summary)}</li>"
        )
    metrics = {}
    for step in summary.steps:
        metrics.update(step.metrics)
    numbers = "".join(
        f"<div><b>{_number(value)}</b>{esc(key)}</div>"
        for key, value in sorted(metrics.items())[:8]
    )
    checks_line = (
        f"{len(summary.checks)} checks: {len(bad)} failing, {len(warned)} warning"
        if summary.checks
        else "no checks were recorded"
    )
    return (
        f"<section class='verdict {tone}'><h2 style='margin:0'>{headline}</h2>"
        f"<div class='muted'>{esc(len(summary.steps))} step(s): {esc(steps)}; "
        f"{esc(checks_line)}</div>"
        + (f"<ul>{''.join(items)}</ul>" if items else "")
        + (f"<div class='headline'>{numbers}</div>" if numbers else "")
        + "</section>"
    )


def _json(value) -> str:
    return esc(json.dumps(value, ensure_ascii=False, default=str))


def _link(notebook: str | None, base: Path) -> str:
    if not notebook:
        return "<span class='muted'>-</span>"
    return f"<a href='{esc(local_href(notebook, base))}'>{esc(Path(notebook).name)}</a>"


def _card(trail, check) -> str:
    """A check's card; one whose recorded status nbtrail never writes gets a bare, inert card."""
    if known(check.status, CHECK_STATUSES) != UNKNOWN:
        return check_card(CheckResult.from_record(trail, check))
    return (
        f"<div class='card check' data-check='{esc(check.name)}' data-status='{UNKNOWN}'>"
        f"<div class='head'>{status_badge(check.status, CHECK_STATUSES)}"
        f"<span class='name'>{esc(check.name)}</span></div>"
        f"<div class='summary'>{esc(check.summary or '')}</div>"
        "<p class='muted'>The recorded status is none of "
        f"{esc(', '.join(CHECK_STATUSES))}: the trail was edited outside nbtrail "
        "(<code>nbtrail verify</code> says where).</p></div>"
    )


def render_report(trail, run_id: str, *, base: str | os.PathLike = ".") -> str:
    """Return the report of a run as an HTML document.

    Parameters
    ----------
    trail : Trail
        The trail holding the run.
    run_id : str
        A pipeline or template run.
    base : path-like
        Folder the report will be saved in (links to notebooks are relative to it).
    """
    summary = summarize(trail, run_id)
    run = summary.run
    base = Path(base).resolve()
    git_text = _git_text((run.attrs or {}).get("git"))
    rows = []
    for step in summary.steps:
        duration = f"{step.duration:.1f} s" if step.duration is not None else "-"
        note = ""
        if step.reused_from:
            note = f"<div class='muted'>reused run <code>{esc(step.reused_from)}</code></div>"
        elif step.not_reused and known(step.status, STEP_STATUSES) in ("succeeded", "failed"):
            note = f"<div class='muted'>ran because {esc(step.not_reused)}</div>"
        if step.error:
            note += f"<pre>{esc(step.error)}</pre>"
        metrics = ", ".join(f"{k} = {v:g}" for k, v in sorted(step.metrics.items())) or "-"
        rows.append(
            f"<tr class='step' data-step='{esc(step.name)}'>"
            f"<td><b>{esc(step.name)}</b>{note}</td>"
            f"<td>{status_badge(step.status, STEP_STATUSES)}</td>"
            f"<td>{duration}</td><td><code>{_json(step.parameters)}</code></td>"
            f"<td><code>{_json(step.outputs)}</code></td><td>{esc(metrics)}</td>"
            f"<td>{_link(step.notebook, base)}</td></tr>"
        )
    cards = [
        f"<div class='muted'>step {esc(step)}</div>" + _card(trail, check)
        for step, check in summary.checks
    ]
    check_table = (
        f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style>{''.join(cards)}</div>"
        if cards
        else "<p class='muted'>No checks were recorded.</p>"
    )
    ended = run.ended_at.strftime("%Y-%m-%d %H:%M:%S UTC") if run.ended_at else "-"
    started = run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{csp_meta()}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(run.name)}: {esc(known(run.status, RUN_STATUSES))} — nbtrail</title>
<style>{_CSS}</style></head>
<body>
<h1>{esc(run.name)} {status_badge(run.status, RUN_STATUSES)}</h1>
<p class="muted">{esc(run.kind)} run <code>{esc(run.id)}</code> by {esc(run.actor)},
started {started}, ended {ended}; git {esc(git_text)};
trail <code>{esc(trail.url)}</code></p>
{_verdict(summary)}
{f"<pre>{esc(run.error)}</pre>" if run.error else ""}
<h2>Steps</h2>
<table><tr><th>step</th><th>status</th><th>time</th><th>parameters</th><th>outputs</th>
<th>metrics</th><th>executed notebook</th></tr>
{"".join(rows)}
</table>
<h2>Checks</h2>
{check_table}
<h2>Lineage</h2>
<div class="graph">{lineage_svg(summary)}</div>
<p class="muted">Generated by nbtrail. Every file is identified by the XXH3-128 fingerprint of
its bytes (hover a node); <code>nbtrail verify</code> proves the trail behind this report is
unchanged.</p>
</body></html>
"""


def write_report(trail, run_id: str, path: str | os.PathLike) -> Path:
    """Write the report of a run to ``path``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(trail, run_id, base=target.parent), encoding="utf-8")
    return target
