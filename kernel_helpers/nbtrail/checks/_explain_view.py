"""The explanation result, and how it draws: importance bars, a waterfall per row, a picker.

:class:`Explanation` is the explanations check's result: a CheckResult that also keeps the
per-row values in memory.

The static card needs only what the trail keeps (the importance table, whose
``first_row_*`` columns hold the first explained row, and the metrics), so a recorded
explanation draws the same as a live one. The widget needs the per-row values, which a live
:class:`~nbtrail.checks.Explanation` keeps in memory. Bars are ``<meter>`` tables, as
:func:`~._render.bar_chart` draws, so they survive JupyterLab's sanitiser.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._producer import produce
from ._render import CHECK_CSS, bar_chart, check_card, escape, metrics_table
from ._result import CheckResult

__all__ = [
    "Explanation",
    "explanation_body",
    "explanation_widget",
    "waterfall_html",
    "waterfall_table",
]

TOP_FEATURES = 12  # per waterfall; the rest are one summed row
TOP_BARS = 20


@dataclass(repr=False, eq=False)
class Explanation(CheckResult):
    """The explanations check's result, with the per-row SHAP values kept in memory.

    It is a :class:`CheckResult` (status, metrics, ``details`` = the global importance table)
    that also carries what a person reads row by row. Only the check part is recorded on the
    trail; the values are recorded as the ``shap_values`` product (:attr:`product`).

    Attributes
    ----------
    values : pandas.DataFrame
        One row per explained row (the index of ``X``), one column per original feature.
    base_values : pandas.Series
        The explainer's expected output, per row.
    model_output : pandas.Series
        The model's own output per row, in the space of :attr:`output`.
    output : str
        What is explained: ``probability`` (of the positive class), ``log_odds`` or ``raw``.
    data : pandas.DataFrame
        The explained rows' original feature values.
    product : Product or None
        The recorded ``shap_values`` frame (values, ``_base_value``, ``_model_output``).
    """

    values: pd.DataFrame | None = field(default=None, repr=False)
    base_values: pd.Series | None = field(default=None, repr=False)
    model_output: pd.Series | None = field(default=None, repr=False)
    output: str = ""
    data: pd.DataFrame | None = field(default=None, repr=False)
    product: object = field(default=None, repr=False)

    @property
    def importance(self) -> pd.DataFrame:
        """Global importance: ``feature``, ``mean_abs_shap``, ``rank`` (most important first)."""
        columns = ["feature", "mean_abs_shap", "rank"]
        if not set(columns) <= set(self.details.columns):
            return pd.DataFrame(columns=columns)
        return self.details[columns]

    def frame(self) -> pd.DataFrame:
        """The values with ``_base_value`` and ``_model_output`` columns: what is recorded."""
        if self.values is None:
            return pd.DataFrame()
        return self.values.assign(_base_value=self.base_values, _model_output=self.model_output)

    def record(self, run=None) -> Explanation:
        """Record the check in ``run`` and, given a run, the ``shap_values`` product in it too.

        (Inside a recording session the check and the product are recorded as they are made.)
        """
        super().record(run)
        if run is not None and self.values is not None:
            inputs = {s.role: s for s in self.subjects}
            self.product = produce(
                self.frame(), name="shap_values", inputs=inputs, snapshot=True, run=run
            )
        return self

    def row(self, i: int) -> pd.DataFrame:
        """One row's waterfall: ``feature``, ``value``, ``contribution``, largest first.

        ``i`` is a position among the explained rows (``0`` is the first; see ``values.index``
        for the labels in ``X``).
        """
        if self.values is None or not len(self.values):
            raise UsageError(f"explanation {self.name!r} holds no per-row values")
        n = len(self.values)
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not -n <= i < n:
            raise UsageError(f"row i must be a position in 0..{n - 1}, got {i!r}")
        return waterfall_table(self.values.iloc[i], self.data.iloc[i])


def waterfall_table(contributions: pd.Series, values: pd.Series) -> pd.DataFrame:
    """One row's ``feature``, ``value``, ``contribution``, largest ``|contribution|`` first."""
    order = contributions.abs().sort_values(ascending=False, kind="stable").index
    return pd.DataFrame(
        {
            "feature": [str(f) for f in order],
            "value": [values[f] for f in order],
            "contribution": contributions[order].to_numpy(dtype="float64"),
        }
    )


def _signed_bar(value: float, top: float) -> str:
    """Two cells: a bar leftwards for a negative value, rightwards for a positive one."""
    meter = f"<meter min='0' max='{top:g}' value='{abs(value):g}'>{value:+.4g}</meter>"
    return (
        f"<td class='neg'>{meter if value < 0 else ''}</td>"
        f"<td class='pos'>{meter if value >= 0 else ''}</td>"
    )


def waterfall_html(
    table: pd.DataFrame, base: float, output: float, space: str, *, title: str = ""
) -> str:
    """A waterfall as a table: base value, the largest contributions, the rest, the output."""
    if not len(table):
        return ""
    shown = table.head(TOP_FEATURES)
    rest = table.iloc[TOP_FEATURES:]
    top = float(np.max(np.abs(table["contribution"]))) or 1.0
    rows = [f"<tr><td><i>base value</i></td><td></td><td>{base:.4g}</td><td></td><td></td></tr>"]
    for record in shown.itertuples(index=False):
        rows.append(
            f"<tr><td>{escape(record.feature)}</td><td>{escape(record.value)}</td>"
            f"<td>{record.contribution:+.4g}</td>{_signed_bar(record.contribution, top)}</tr>"
        )
    if len(rest):
        total = float(rest["contribution"].sum())
        rows.append(
            f"<tr><td><i>{len(rest)} other features</i></td><td></td><td>{total:+.4g}</td>"
            f"{_signed_bar(total, top)}</tr>"
        )
    rows.append(
        f"<tr><td><b>model output</b></td><td></td><td><b>{output:.4g}</b></td>"
        f"<td></td><td></td></tr>"
    )
    caption = escape(title or f"contributions to the {space.replace('_', '-')} output")
    head = (
        "<tr><th>feature</th><th>value</th><th>contribution</th><th>lowers</th><th>raises</th></tr>"
    )
    return (
        f"<table class='bars waterfall'><caption class='muted'>{caption}</caption>"
        f"{head}{''.join(rows)}</table>"
    )


def _importance_bars(result) -> str:
    details = result.details
    if details is None or not {"feature", "mean_abs_shap"} <= set(details.columns):
        return ""
    pairs = list(zip(details["feature"], details["mean_abs_shap"], strict=True))[:TOP_BARS]
    space = str((result.metrics or {}).get("output", "")).replace("_", "-")
    return bar_chart(pairs, caption=f"mean |SHAP| per feature ({space} output)")


def _row_waterfall(result, i: int) -> str:
    """Row ``i`` of a live explanation, or the first row as the trail keeps it."""
    metrics = result.metrics or {}
    space = str(metrics.get("output", ""))
    values = getattr(result, "values", None)
    if values is not None and len(values):
        table = waterfall_table(values.iloc[i], result.data.iloc[i])
        base = float(result.base_values.iloc[i])
        output = float(result.model_output.iloc[i])
        label = values.index[i]
    else:
        details = result.details
        needed = {"feature", "first_row_value", "first_row_contribution"}
        if details is None or not needed <= set(details.columns) or not len(details):
            return ""
        contributions = pd.Series(
            details["first_row_contribution"].to_numpy(dtype="float64"),
            index=details["feature"].astype(str),
        )
        table = waterfall_table(contributions, details.set_index("feature")["first_row_value"])
        base = float(metrics.get("first_row_base_value", 0.0))
        output = float(metrics.get("first_row_output", 0.0))
        label = metrics.get("first_row", "?")
    title = f"row {label}: contributions to the {space.replace('_', '-')} output"
    return waterfall_html(table, base, output, space, title=title)


def explanation_body(result) -> str:
    """The card's body: metrics, importance bars, the first explained row's waterfall."""
    body = metrics_table(result.metrics or {}, result.thresholds or {})
    if result.status == "error":
        return body
    return body + _importance_bars(result) + _row_waterfall(result, 0)


def _wrap(html: str) -> str:
    return f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style>{html}</div>"


@functools.cache
def _widget_class():
    import ipywidgets as widgets

    class ExplanationWidget(widgets.VBox):
        """The card's head and importance bars, a row picker and that row's waterfall."""

        def __init__(self, result):
            self.result = result
            values = getattr(result, "values", None)
            labels = list(values.index) if values is not None else [None]
            head = check_card(result, body=False)
            head += metrics_table(result.metrics or {}, result.thresholds or {})
            self.header = widgets.HTML(_wrap(head + _importance_bars(result)))
            if len(labels) <= 500:
                options = [
                    (f"row {label if label is not None else result.metrics.get('first_row')}", i)
                    for i, label in enumerate(labels)
                ]
                self.row_picker = widgets.Dropdown(options=options, value=0, description="row")
            else:
                self.row_picker = widgets.IntSlider(
                    value=0, min=0, max=len(labels) - 1, description="row"
                )
            self.row_picker.disabled = result.status == "error"
            self.waterfall = widgets.HTML(_wrap(_row_waterfall(result, 0)))
            self.row_picker.observe(self._redraw, names="value")
            super().__init__(children=[self.header, self.row_picker, self.waterfall])

        def _redraw(self, change) -> None:
            self.waterfall.value = _wrap(_row_waterfall(self.result, int(change["new"])))

    return ExplanationWidget


def explanation_widget(result):
    """An ipywidgets view: ``.row_picker`` chooses the row ``.waterfall`` draws."""
    return _widget_class()(result)
