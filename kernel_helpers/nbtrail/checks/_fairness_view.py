"""How a fairness result draws: the disparities, per-group bars with intervals, the table.

The static body (notebook outputs, reports, the Trail panel) has no script: the headline
disparities against their thresholds, one inline SVG per metric (a bar per group with its
bootstrap interval as a whisker; groups too small to judge drawn hatched grey and labelled
"not judged"), then the per-group table. The widget shows the same head and one chart at a
time, chosen from a metric dropdown.
"""

from __future__ import annotations

import math

import pandas as pd

from ._fairness import GROUP_METRICS, METRIC_NAMES, disparity_table
from ._render import (
    CHECK_CSS,
    check_card,
    escape,
    findings_table,
    register_renderer,
    svg_image,
)

__all__ = ["fairness_body", "fairness_widget", "metric_svg"]

_LABEL_W, _BAR_W, _ROW_H, _TEXT_W = 200, 300, 20, 150
_COLORS = {"judged": "#1a73e8", "unjudged": "#9aa0a6"}


def _num(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _fmt(value, digits: int = 3) -> str:
    value = _num(value)
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def _metrics_of(result) -> list[str]:
    columns = set(result.details.columns)
    return [m for m in GROUP_METRICS if m in columns]


def metric_svg(result, metric: str) -> str:
    """One metric as an inline SVG: a bar per group (0 to 1), its interval as a whisker."""
    details = result.details
    if metric not in details.columns:
        raise KeyError(f"{metric!r} is not a metric of this fairness result")
    hatch = f"nbtrail-hatch-{escape(metric)}"
    rows = []
    for i, record in enumerate(details.to_dict(orient="records")):
        y = 4 + i * _ROW_H
        mid = y + _ROW_H / 2
        judged = bool(record.get("judged", True))
        label = str(record["group"]) + ("" if judged else " (not judged)")
        value = _num(record.get(metric))
        low, high = _num(record.get(f"{metric}_lower")), _num(record.get(f"{metric}_upper"))
        fill = _COLORS["judged"] if judged else f"url(#{hatch})"
        parts = [
            f"<text x='{_LABEL_W - 6}' y='{mid + 4:.1f}' text-anchor='end' "
            f"font-size='11'>{escape(label)}</text>"
        ]
        if not math.isnan(value):
            width = max(0.0, min(1.0, value)) * _BAR_W
            parts.append(
                f"<rect x='{_LABEL_W}' y='{y + 3}' width='{width:.1f}' height='{_ROW_H - 6}' "
                f"fill='{fill}' stroke='{_COLORS['unjudged'] if not judged else 'none'}'/>"
            )
        if not (math.isnan(low) or math.isnan(high)):
            x1 = _LABEL_W + max(0.0, min(1.0, low)) * _BAR_W
            x2 = _LABEL_W + max(0.0, min(1.0, high)) * _BAR_W
            parts.append(
                f"<path d='M{x1:.1f},{mid:.1f}H{x2:.1f}M{x1:.1f},{mid - 4:.1f}V{mid + 4:.1f}"
                f"M{x2:.1f},{mid - 4:.1f}V{mid + 4:.1f}' stroke='#202124' stroke-width='1.2'/>"
            )
        text = (
            "undefined"
            if math.isnan(value)
            else f"{value:.3f} [{_fmt(low)}, {_fmt(high)}]"
            if not math.isnan(low)
            else f"{value:.3f}"
        )
        parts.append(
            f"<text x='{_LABEL_W + _BAR_W + 8}' y='{mid + 4:.1f}' font-size='11' "
            f"fill='#5f6368'>{escape(text)}</text>"
        )
        rows.append("".join(parts))
    height = 4 + len(rows) * _ROW_H + 16
    width = _LABEL_W + _BAR_W + _TEXT_W
    axis = "".join(
        f"<line x1='{_LABEL_W + t * _BAR_W:.0f}' y1='4' x2='{_LABEL_W + t * _BAR_W:.0f}' "
        f"y2='{height - 14}' stroke='#dadce0'/><text x='{_LABEL_W + t * _BAR_W:.0f}' "
        f"y='{height - 3}' font-size='10' text-anchor='middle' fill='#5f6368'>{t:g}</text>"
        for t in (0, 0.25, 0.5, 0.75, 1)
    )
    title = METRIC_NAMES.get(metric, metric)
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='nbtrail-fairness' "
        f"data-metric='{escape(metric)}' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)} per group'>"
        f"<title>{escape(title)} per group</title><defs><pattern id='{hatch}' width='6' "
        "height='6' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>"
        "<rect width='6' height='6' fill='#e8eaed'/><line x1='0' y1='0' x2='0' y2='6' "
        f"stroke='{_COLORS['unjudged']}' stroke-width='3'/></pattern></defs>"
        f"{axis}{''.join(rows)}</svg>"
    )


def _picture(result, metric: str) -> str:
    """The chart as an image: JupyterLab's sanitiser (the Trail panel) strips inline SVG."""
    title = METRIC_NAMES.get(metric, metric)
    return svg_image(metric_svg(result, metric), alt=f"{title} per group")


def _disparities_html(result) -> str:
    table = disparity_table(result)
    if not len(table):
        return ""
    rows = []
    for record in table.to_dict(orient="records"):
        status = record["status"] if isinstance(record["status"], str) else ""  # NaN: not judged
        css = {"fail": " class='bad'", "warn": " class='meh'"}.get(status, "")
        interval = (
            f"[{_fmt(record['lower'])}, {_fmt(record['upper'])}]"
            if not math.isnan(_num(record["lower"]))
            else ""
        )
        limit = record["threshold"]
        limit_text = (
            ""
            if limit is None or math.isnan(_num(limit))
            else ("≥ " if record["direction"] == "min" else "≤ ") + f"{_num(limit):g}"
        )
        rows.append(
            f"<tr{css}><td>{escape(record['disparity'].replace('_', ' '))}</td>"
            f"<td>{escape(_fmt(record['value']))}</td><td>{escape(interval)}</td>"
            f"<td>{escape(limit_text)}</td><td>{escape(status or 'not judged')}</td></tr>"
        )
    n_boot = result.metrics.get("n_boot")
    ci = result.metrics.get("ci")
    note = (
        f"<div class='muted'>{escape(f'{_num(ci):.0%}')} intervals from {escape(n_boot)} "
        "bootstrap resamples within each group</div>"
        if n_boot
        else ""
    )
    return (
        "<table class='disparities'><tr><th>disparity</th><th>value</th><th>interval</th>"
        f"<th>threshold</th><th>status</th></tr>{''.join(rows)}</table>{note}"
    )


def _group_table(result) -> str:
    details = result.details
    shown = details[[c for c in ("group", "n", "positives", "judged", "note") if c in details]]
    shown = shown.copy()
    for metric in _metrics_of(result):
        shown[metric] = [
            "—"
            if math.isnan(_num(v))
            else f"{_num(v):.3f} [{_fmt(lo)}, {_fmt(hi)}]"
            if not math.isnan(_num(lo))
            else f"{_num(v):.3f}"
            for v, lo, hi in zip(
                details[metric], details[f"{metric}_lower"], details[f"{metric}_upper"], strict=True
            )
        ]
    return findings_table(pd.DataFrame(shown))


def fairness_body(result) -> str:
    """Static HTML: disparities, a chart per metric, the per-group table (no script)."""
    if "group" not in result.details.columns:
        return ""  # an error result has nothing to draw
    charts = "".join(
        f"<figure><figcaption class='muted'>{escape(METRIC_NAMES.get(m, m))}</figcaption>"
        f"{_picture(result, m)}</figure>"
        for m in _metrics_of(result)
    )
    return _disparities_html(result) + charts + _group_table(result)


def _wrap(html: str) -> str:
    return f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style>{html}</div>"


def fairness_widget(result):
    """An ipywidgets VBox: the head and disparities, a metric dropdown, one chart."""
    import ipywidgets as widgets

    metrics = _metrics_of(result) if "group" in result.details.columns else []
    head = widgets.HTML(_wrap(check_card(result, body=False) + _disparities_html(result)))
    box = widgets.VBox(children=[head])
    box.result = result
    if not metrics:
        return box
    box.metric = widgets.Dropdown(
        options=[(METRIC_NAMES.get(m, m), m) for m in metrics],
        value="selection_rate" if "selection_rate" in metrics else metrics[0],
        description="metric",
    )
    box.chart = widgets.HTML(_wrap(_picture(result, box.metric.value)))

    def redraw(change) -> None:
        box.chart.value = _wrap(_picture(result, change["new"]))

    box.metric.observe(redraw, names="value")
    box.children = [head, box.metric, box.chart, widgets.HTML(_wrap(_group_table(result)))]
    return box


register_renderer("fairness", body=fairness_body, widget=fairness_widget)
