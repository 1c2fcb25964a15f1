"""The interactive view of a check result in JupyterLab (ipywidgets).

A header with the status badge and summary, the metrics against their thresholds, filters over
the findings (by column, by rule or status), the filtered findings table, and a bar chart of
findings per column when the findings count something per column. Everything is drawn with
plain HTML widgets so it needs nothing beyond ipywidgets itself.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd

from ..report.checks import CHECK_CSS, _details_table, _metrics_table

__all__ = ["CheckWidget"]

_ALL = "(all)"
_FILTERABLE = ("column", "rule", "check", "status", "given_label", "kind")
_COUNTS = ("failures", "count", "rows", "share")


def _bars(details: pd.DataFrame) -> str:
    """Horizontal bars of a count per column, as HTML (no plotting library needed)."""
    measure = next((c for c in _COUNTS if c in details.columns), None)
    if measure is None or "column" not in details.columns or not len(details):
        return ""
    values = pd.to_numeric(details[measure], errors="coerce").fillna(0)
    totals = values.groupby(details["column"].astype(str)).sum().sort_values(ascending=False)
    totals = totals.head(20)
    top = float(totals.max()) or 1.0
    rows = "".join(
        f"<div style='display:flex;gap:.5rem;align-items:center;font-size:.8rem'>"
        f"<span style='width:10rem;overflow:hidden'>{html.escape(name)}</span>"
        f"<span style='background:#d93025;height:.8rem;"
        f"width:{max(2, 300 * value / top):.0f}px'></span>"
        f"<span>{value:g}</span></div>"
        for name, value in totals.items()
    )
    return f"<div class='nbtrail-checks'><div class='muted'>{measure} per column</div>{rows}</div>"


class CheckWidget(widgets.VBox):
    """An interactive view of one :class:`~nbtrail.checks.CheckResult`."""

    def __init__(self, result):
        self.result = result
        details = result.details if result.details is not None else pd.DataFrame()
        self.filters: dict[str, widgets.Dropdown] = {}
        for column in _FILTERABLE:
            if column in details.columns and 1 < details[column].nunique() <= 200:
                options = [_ALL, *sorted(map(str, details[column].dropna().unique()))]
                dropdown = widgets.Dropdown(options=options, value=_ALL, description=column)
                dropdown.observe(self._refresh, names="value")
                self.filters[column] = dropdown
        badge = (
            f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style><div class='head'>"
            f"<span class='badge {result.status}'>{result.status}</span>"
            f"<span class='name'>{html.escape(result.name)}</span></div>"
            f"<div>{html.escape(result.summary)}</div></div>"
        )
        self.header = widgets.HTML(badge)
        self.metrics = widgets.HTML(
            "<div class='nbtrail-checks'>"
            + _metrics_table(result.metrics, result.thresholds)
            + "</div>"
        )
        self.table = widgets.HTML()
        self.chart = widgets.HTML(_bars(details))
        children = [self.header, self.metrics]
        if self.filters:
            children.append(widgets.HBox(list(self.filters.values())))
        children += [self.table, self.chart]
        super().__init__(children=children)
        self._refresh()

    def filtered(self) -> pd.DataFrame:
        """The findings that pass the current filters."""
        details = self.result.details
        if details is None or not len(details):
            return pd.DataFrame()
        mask = pd.Series(True, index=details.index)
        for column, dropdown in self.filters.items():
            if dropdown.value != _ALL:
                mask &= details[column].astype(str) == dropdown.value
        return details[mask]

    def _refresh(self, _change=None) -> None:
        shown = self.filtered()
        self.table.value = "<div class='nbtrail-checks'>" + _details_table(shown) + "</div>"
