"""The interactive view of a check result in JupyterLab (ipywidgets).

The card's head (status, name, subjects, summary), the metrics against their thresholds,
filters over the findings, the filtered findings table, and a bar chart of findings per
column. Which columns filter and which one the chart sums come from the renderer registered
for the check's kind (:mod:`._render`); a kind with its own picture draws it here too.
"""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd

from ._render import CHECK_CSS, bars, check_card, findings_table, metrics_table, renderer_for

__all__ = ["CheckWidget"]

_ALL = "(all)"


def _wrap(html: str) -> str:
    return f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style>{html}</div>"


class CheckWidget(widgets.VBox):
    """An interactive view of one :class:`~nbtrail.checks.CheckResult`."""

    def __init__(self, result):
        self.result = result
        renderer = renderer_for(result.kind)
        details = result.details if result.details is not None else pd.DataFrame()
        self.filters: dict[str, widgets.Dropdown] = {}
        for column in renderer.filters:
            if column in details.columns and 1 < details[column].nunique() <= 200:
                options = [_ALL, *sorted(map(str, details[column].dropna().unique()))]
                dropdown = widgets.Dropdown(options=options, value=_ALL, description=column)
                dropdown.observe(self._refresh, names="value")
                self.filters[column] = dropdown
        if renderer.body is not None:
            # A kind with its own picture: the card as it draws it, then the filters.
            self.header = widgets.HTML(_wrap(check_card(result)))
            self.metrics = widgets.HTML("")
        else:
            self.header = widgets.HTML(_wrap(check_card(result, body=False)))
            self.metrics = widgets.HTML(_wrap(metrics_table(result.metrics, result.thresholds)))
        self.table = widgets.HTML()
        self.chart = widgets.HTML(_wrap(bars(details, renderer.measure)))
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
        self.table.value = _wrap(findings_table(self.filtered()))
