"""How check results look: one card per check, drawn by a renderer registered for its kind.

The same card renders a check in a notebook output (where no widget frontend is attached), in
the pipeline report, in a page of many results and in the JupyterLab panel (the server sends
the card, the panel shows it sanitised). A check kind that needs its own picture (per-group
bars for fairness, per-feature histograms for drift) registers a renderer with
:func:`register_renderer`; nothing shared is edited. No script, no external reference, bounded
size: findings show their first ten rows, the rest collapsed, at most 200 in all.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "CHECK_CSS",
    "Renderer",
    "bar_chart",
    "bars",
    "check_card",
    "findings_table",
    "metrics_table",
    "register_renderer",
    "render_checks_report",
    "renderer_for",
    "svg_image",
]

MAX_ROWS_SHOWN = 200
ROWS_OPEN = 10

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
.nbtrail-checks .subjects{margin:.2rem 0;font-size:.85rem;color:#3c4043}
.nbtrail-checks table{border-collapse:collapse;margin:.4rem 0;font-size:.85rem}
.nbtrail-checks th,.nbtrail-checks td{border-bottom:1px solid #eee;padding:.2rem .5rem;
text-align:left;vertical-align:top}
.nbtrail-checks th{background:#f8f9fa}
.nbtrail-checks tr.bad td{background:#fce8e6}.nbtrail-checks tr.meh td{background:#fef7e0}
.nbtrail-checks details summary{cursor:pointer;color:#1a73e8}
.nbtrail-checks table.bars meter{width:16rem;height:.9rem}
"""

_STATUSES = {"pass", "warn", "fail", "error"}


@dataclass(frozen=True)
class Renderer:
    """How one kind of check draws.

    Attributes
    ----------
    body : callable, optional
        ``body(result) -> str``: the HTML under the card's head. Default: the metrics against
        their thresholds, then the findings table.
    filters : tuple of str
        Findings columns the interactive view offers as filters (where present).
    measure : tuple of str
        Findings columns, in order of preference, summed per ``column`` for the bar chart.
    widget : callable, optional
        ``widget(result) -> ipywidgets.Widget``: the kind's own interactive view (a metric
        picker over per-group bars, a row picker over explanations). Default: the findings
        with filters (:class:`~._widget.CheckWidget`).
    """

    body: Callable | None = None
    filters: tuple[str, ...] = ("column", "rule", "status")
    measure: tuple[str, ...] = ("failures", "count", "rows")
    widget: Callable | None = None


_RENDERERS: dict[str, Renderer] = {}
_DEFAULT = Renderer()


def register_renderer(kind: str, renderer: Renderer | None = None, **fields) -> Renderer:
    """Register how checks of ``kind`` draw (a :class:`Renderer`, or its fields)."""
    renderer = renderer or Renderer(**fields)
    _RENDERERS[kind] = renderer
    return renderer


def renderer_for(kind: str | None) -> Renderer:
    """The renderer registered for a kind of check, or the default one."""
    return _RENDERERS.get(kind or "", _DEFAULT)


def svg_image(svg: str, *, alt: str) -> str:
    """Embed an SVG drawing as an ``<img>`` with a data URL.

    It survives JupyterLab's sanitizer (which strips inline ``<svg>``), runs no script (an
    image never does) and fits the report's Content-Security-Policy (``img-src data:``).
    """
    import base64

    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f"<img alt='{escape(alt)}' style='max-width:100%;height:auto' "
        f"src='data:image/svg+xml;base64,{data}'>"
    )


def escape(value) -> str:
    """HTML-escape any value, quotes included (safe in text and in attributes)."""
    return html.escape(str(value), quote=True)


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _status_class(status) -> str:
    return status if status in _STATUSES else "error"


def metrics_table(metrics: dict, thresholds: dict) -> str:
    """The headline metrics beside the thresholds they were held to."""
    if not metrics:
        return ""
    rows = []
    for key, value in metrics.items():
        limit = thresholds.get(key)
        rows.append(
            f"<tr><td>{escape(key)}</td><td>{escape(_value(value))}</td>"
            f"<td class='muted'>{escape(_value(limit)) if limit is not None else ''}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th>value</th><th>threshold</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _rows(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    at = columns.index("status") if "status" in columns else None
    out = []
    for record in frame.itertuples(index=False):
        values = list(record)
        css = ""
        if at is not None:
            status = values[at]
            css = " class='bad'" if status in ("fail", "error") else ""
            css = " class='meh'" if status == "warn" else css
        out.append(
            f"<tr{css}>" + "".join(f"<td>{escape(_value(v))}</td>" for v in values) + "</tr>"
        )
    return "".join(out)


def findings_table(details: pd.DataFrame | None) -> str:
    """The findings: the first ten rows shown, the rest (up to 200) collapsed."""
    if details is None or not len(details):
        return ""
    shown = details.head(MAX_ROWS_SHOWN)
    head = "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in shown.columns) + "</tr>"
    table = f"<table>{head}{_rows(shown.head(ROWS_OPEN))}</table>"
    if len(shown) > ROWS_OPEN:
        rest = shown.iloc[ROWS_OPEN:]
        table += (
            f"<details class='more'><summary>{len(rest)} more finding(s)</summary>"
            f"<table>{head}{_rows(rest)}</table></details>"
        )
    if len(details) > MAX_ROWS_SHOWN:
        table += (
            f"<p class='muted'>{len(details) - MAX_ROWS_SHOWN} more rows not shown "
            "(all are in the trail)</p>"
        )
    return f"<div class='findings'><div class='muted'>{len(details)} finding(s)</div>{table}</div>"


def bar_chart(rows, *, caption: str = "") -> str:
    """Horizontal bars as an HTML table of ``<meter>`` elements: ``rows`` are (label, value).

    No inline style and no SVG, so it survives JupyterLab's sanitiser in the Trail panel as
    well as it shows in notebooks and reports. A renderer draws its picture with it.
    """
    rows = [(str(label), float(value)) for label, value in rows]
    if not rows:
        return ""
    top = max((abs(v) for _, v in rows), default=0.0) or 1.0
    body = "".join(
        f"<tr><td>{escape(label)}</td><td><meter min='0' max='{top:g}' value='{abs(value):g}'>"
        f"{value:g}</meter></td><td>{value:.4g}</td></tr>"
        for label, value in rows
    )
    head = f"<caption class='muted'>{escape(caption)}</caption>" if caption else ""
    return f"<table class='bars'>{head}{body}</table>"


def bars(details: pd.DataFrame | None, measure: tuple[str, ...]) -> str:
    """Findings summed per ``column`` (the first ``measure`` column present), as bars."""
    if details is None or not len(details) or "column" not in details.columns:
        return ""
    chosen = next((c for c in measure if c in details.columns), None)
    if chosen is None:
        return ""
    values = pd.to_numeric(details[chosen], errors="coerce").fillna(0)
    totals = values.groupby(details["column"].astype(str)).sum().sort_values(ascending=False)
    return bar_chart(totals.head(20).items(), caption=f"{chosen} per column")


def _subjects(result) -> str:
    subjects = getattr(result, "subjects", None) or []
    if not subjects:
        return ""
    parts = []
    for s in subjects:
        label = s.name or "(unnamed)"
        where = f" <span class='muted'>{escape(s.path)}</span>" if s.path else ""
        parts.append(
            f"<span class='subject'>{escape(s.role)}: <b>{escape(label)}</b>{where} "
            f"<code title='{escape(s.digest)}'>{escape(s.digest[:12])}</code></span>"
        )
    return "<div class='subjects'>on " + "; ".join(parts) + "</div>"


def default_body(result) -> str:
    """Metrics against thresholds, then the findings."""
    return metrics_table(result.metrics or {}, result.thresholds or {}) + findings_table(
        result.details
    )


def check_card(result, *, body: bool = True) -> str:
    """One check as an HTML card: badge, name, what it judged, summary, then its body.

    With ``body=False`` only the head (the interactive view draws the rest itself).
    """
    renderer = renderer_for(getattr(result, "kind", None))
    status = _status_class(result.status)
    body = (renderer.body or default_body)(result) if body else ""
    return (
        f"<div class='card check' data-check='{escape(result.name)}' "
        f"data-status='{escape(result.status)}'><div class='head'>"
        f"<span class='badge {status}'>{escape(result.status)}</span>"
        f"<span class='name'>{escape(result.name)}</span></div>"
        f"{_subjects(result)}<div class='summary'>{escape(result.summary or '')}</div>"
        f"{body}</div>"
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
        f"<title>{escape(title)}</title><style>{CHECK_CSS}</style></head>"
        f"<body class='nbtrail-checks'><h1>{escape(title)}</h1>"
        f"<p class='muted'>{escape(tally or 'no checks')}</p>{cards}</body></html>"
    )
