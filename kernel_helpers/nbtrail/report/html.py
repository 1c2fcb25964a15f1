"""A self-contained static HTML report of a pipeline or template run.

One file: inline CSS, inline SVG, no script, no external reference, so it opens offline, in a
CI artifact viewer, or attached to an e-mail. It shows the run, every step with its status,
parameters, outputs, metrics and a link to its executed notebook, every check with its status,
and the lineage graph of steps, files and models.
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
"""


def _badge(status: str) -> str:
    css = status.replace(" ", "-")
    return f"<span class='badge {css}'>{html.escape(status)}</span>"


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
    return f"<a href='{html.escape(href, quote=True)}'>{html.escape(Path(notebook).name)}</a>"


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
    git = (run.attrs or {}).get("git") or {}
    commit = git.get("commit", "")
    git_text = (
        f"{commit[:12]}{' + uncommitted changes' if git.get('dirty') else ''}" if commit else "-"
    )
    rows = []
    for step in summary.steps:
        duration = f"{step.duration:.1f} s" if step.duration is not None else "-"
        note = ""
        if step.reused_from:
            note = f"<div class='muted'>reused run <code>{step.reused_from}</code></div>"
        if step.error:
            note += f"<pre>{html.escape(step.error)}</pre>"
        metrics = ", ".join(f"{k} = {v:g}" for k, v in sorted(step.metrics.items())) or "-"
        rows.append(
            f"<tr class='step' data-step='{html.escape(step.name, quote=True)}'>"
            f"<td><b>{html.escape(step.name)}</b>{note}</td><td>{_badge(step.status)}</td>"
            f"<td>{duration}</td><td><code>{_json(step.parameters)}</code></td>"
            f"<td><code>{_json(step.outputs)}</code></td><td>{html.escape(metrics)}</td>"
            f"<td>{_link(step.notebook, base)}</td></tr>"
        )
    cards = [
        f"<div class='muted'>step {html.escape(step)}</div>"
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
<title>{html.escape(run.name)}: {html.escape(run.status)} — nbtrail</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(run.name)} {_badge(run.status)}</h1>
<p class="muted">{html.escape(run.kind)} run <code>{run.id}</code> by {html.escape(run.actor)},
started {started}, ended {ended}; git {html.escape(git_text)};
trail <code>{html.escape(trail.url)}</code></p>
{f"<pre>{html.escape(run.error)}</pre>" if run.error else ""}
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
