"""Check results as static HTML: one card per check, one page for many.

The same card renders a check in a notebook output (where no widget frontend is attached), in
the pipeline report and in a combined report of many results. No script, no external
reference, bounded size: at most 200 detail rows are shown, whatever the data size.
"""

from __future__ import annotations

import html
import json

import pandas as pd

__all__ = ["CHECK_CSS", "check_card", "render_checks_report"]

MAX_ROWS_SHOWN = 200

CHECK_CSS = """
.nbtrail-checks{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#202124}
.nbtrail-checks .card{border:1px solid #dadce0;border-radius:8px;padding:.6rem .9rem;margin:.5rem 0}
.nbtrail-checks .head{display:flex;gap:.6rem;align-items:baseline;flex-wrap:wrap}
.nbtrail-checks .name{font-weight:600;font-size:1.05rem}
.nbtrail-checks .badge{display:inline-block;padding:.05rem .5rem;border-radius:.8rem;
font-size:.75rem;font-weight:700;color:#fff;text-transform:uppercase}
.nbtrail-checks .pass{background:#1e8e3e}.nbtrail-checks .warn{background:#f9ab00;color:#202124}
.nbtrail-checks .fail{background:#d93025}.nbtrail-checks .error{background:#a50e0e}
.nbtrail-checks .muted{color:#5f6368;font-size:.85rem}
.nbtrail-checks table{border-collapse:collapse;margin:.4rem 0;font-size:.85rem}
.nbtrail-checks th,.nbtrail-checks td{border-bottom:1px solid #eee;padding:.2rem .5rem;
text-align:left;vertical-align:top}
.nbtrail-checks th{background:#f8f9fa}
.nbtrail-checks tr.bad td{background:#fce8e6}.nbtrail-checks tr.meh td{background:#fef7e0}
.nbtrail-checks details summary{cursor:pointer;color:#1a73e8}
"""


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _metrics_table(metrics: dict, thresholds: dict) -> str:
    if not metrics:
        return ""
    rows = []
    for key, value in metrics.items():
        limit = thresholds.get(key)
        rows.append(
            f"<tr><td>{html.escape(key)}</td><td>{html.escape(_value(value))}</td>"
            f"<td class='muted'>{html.escape(_value(limit)) if limit is not None else ''}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th>value</th><th>threshold</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _details_table(details: pd.DataFrame) -> str:
    if details is None or not len(details):
        return ""
    shown = details.head(MAX_ROWS_SHOWN)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    status_col = "status" if "status" in shown.columns else None
    rows = []
    for record in shown.itertuples(index=False):
        values = list(record)
        css = ""
        if status_col is not None:
            status = values[list(shown.columns).index(status_col)]
            css = (
                " class='bad'"
                if status in ("fail", "error")
                else " class='meh'"
                if status == "warn"
                else ""
            )
        cells = "".join(f"<td>{html.escape(_value(v))}</td>" for v in values)
        rows.append(f"<tr{css}>{cells}</tr>")
    more = (
        f"<p class='muted'>{len(details) - MAX_ROWS_SHOWN} more rows not shown</p>"
        if len(details) > MAX_ROWS_SHOWN
        else ""
    )
    return (
        f"<details open><summary>{len(details)} finding(s)</summary>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}</details>"
    )


def check_card(result) -> str:
    """One check as an HTML card: badge, name, summary, metrics, findings."""
    subject = ""
    if getattr(result, "subject", None):
        label = getattr(result, "subject_name", None) or ""
        subject = (
            f"<span class='muted'>on {html.escape(label)} "
            f"<code>{html.escape(str(result.subject)[:12])}</code></span>"
        )
    details = getattr(result, "details", None)
    return (
        f"<div class='card check' data-check='{html.escape(result.name, quote=True)}' "
        f"data-status='{result.status}'><div class='head'>"
        f"<span class='badge {result.status}'>{result.status}</span>"
        f"<span class='name'>{html.escape(result.name)}</span>{subject}</div>"
        f"<div>{html.escape(result.summary or '')}</div>"
        f"{_metrics_table(result.metrics or {}, result.thresholds or {})}"
        f"{_details_table(details)}</div>"
    )


def render_checks_report(results, *, title: str = "Checks") -> str:
    """A self-contained HTML page of many check results."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    cards = "".join(check_card(r) for r in results)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CHECK_CSS}</style></head>"
        f"<body class='nbtrail-checks'><h1>{html.escape(title)}</h1>"
        f"<p class='muted'>{html.escape(tally or 'no checks')}</p>{cards}</body></html>"
    )
