"""A self-contained static HTML report of a pipeline or template run, for stakeholders first.

One file: inline CSS, inline SVG, no script, no external reference, so it opens offline, in a
CI artifact viewer, or attached to an e-mail. It opens with the verdict (did it work, which
checks failed or warned and why, the headline metrics), then every step with its status,
parameters, outputs, metrics and a link to its executed notebook, every check as a card that
names what it judged by name and path, and the lineage graph of files, steps and models laid
out left to right. Every value read from the trail is escaped.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from ..checks import CHECK_CSS, CheckResult, check_card
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


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _badge(status: str) -> str:
    css = "".join(c for c in str(status).replace(" ", "-") if c.isalnum() or c == "-")
    return f"<span class='badge {css}'>{_esc(status)}</span>"


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
        counts[step.status] = counts.get(step.status, 0) + 1
    steps = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    bad = [(s, c) for s, c in summary.checks if c.status in ("fail", "error")]
    warned = [(s, c) for s, c in summary.checks if c.status == "warn"]
    failed_steps = [s for s in summary.steps if s.status in ("failed", "not run", "aborted")]
    tone = "bad" if bad or failed_steps else "meh" if warned else "ok"
    if summary.run.status == "succeeded" and not bad:
        headline = "It worked" + (", with warnings to read" if warned else "") + "."
    else:
        headline = "It did not work."
    items = []
    for step in failed_steps:
        items.append(
            f"<li>step <b>{_esc(step.name)}</b> {_esc(step.status)}"
            + (f": {_esc(step.error)}" if step.error else "")
            + "</li>"
        )
    for step, check in bad + warned:
        items.append(
            f"<li>{_badge(check.status)} <b>{_esc(check.name)}</b> in step {_esc(step)}: "
            f"{_esc(check.summary)}</li>"
        )
    metrics = {}
    for step in summary.steps:
        metrics.update(step.metrics)
    numbers = "".join(
        f"<div><b>{_number(value)}</b>{_esc(key)}</div>"
        for key, value in sorted(metrics.items())[:8]
    )
    checks_line = (
        f"{len(summary.checks)} checks: {len(bad)} failing, {len(warned)} warning"
        if summary.checks
        else "no checks were recorded"
    )
    return (
        f"<section class='verdict {tone}'><h2 style='margin:0'>{headline}</h2>"
        f"<div class='muted'>{_esc(len(summary.steps))} step(s): {_esc(steps)}; "
        f"{_esc(checks_line)}</div>"
        + (f"<ul>{''.join(items)}</ul>" if items else "")
        + (f"<div class='headline'>{numbers}</div>" if numbers else "")
        + "</section>"
    )


def _json(value) -> str:
    return html.escape(json.dumps(value, ensure_ascii=False, default=str))


def _link(notebook: str | None, base: Path) -> str:
    if not notebook:
        return "<span class='muted'>-</span>"
    try:
        href = os.path.relpath(notebook, base)
    except ValueError:  # another drive on Windows
        href = notebook
    href = Path(href).as_posix()
    return f"<a href='{_esc(href)}'>{_esc(Path(notebook).name)}</a>"


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
            note = f"<div class='muted'>reused run <code>{_esc(step.reused_from)}</code></div>"
        elif step.not_reused and step.status in ("succeeded", "failed"):
            note = f"<div class='muted'>ran because {_esc(step.not_reused)}</div>"
        if step.error:
            note += f"<pre>{_esc(step.error)}</pre>"
        metrics = ", ".join(f"{k} = {v:g}" for k, v in sorted(step.metrics.items())) or "-"
        rows.append(
            f"<tr class='step' data-step='{_esc(step.name)}'>"
            f"<td><b>{_esc(step.name)}</b>{note}</td><td>{_badge(step.status)}</td>"
            f"<td>{duration}</td><td><code>{_json(step.parameters)}</code></td>"
            f"<td><code>{_json(step.outputs)}</code></td><td>{_esc(metrics)}</td>"
            f"<td>{_link(step.notebook, base)}</td></tr>"
        )
    cards = [
        f"<div class='muted'>step {_esc(step)}</div>"
        + check_card(CheckResult.from_record(trail, check))
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
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(run.name)}: {_esc(run.status)} — nbtrail</title>
<style>{_CSS}</style></head>
<body>
<h1>{_esc(run.name)} {_badge(run.status)}</h1>
<p class="muted">{_esc(run.kind)} run <code>{_esc(run.id)}</code> by {_esc(run.actor)},
started {started}, ended {ended}; git {_esc(git_text)};
trail <code>{_esc(trail.url)}</code></p>
{_verdict(summary)}
{f"<pre>{_esc(run.error)}</pre>" if run.error else ""}
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
