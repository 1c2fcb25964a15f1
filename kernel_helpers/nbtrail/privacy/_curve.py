"""``privacy.utility_curve``: accuracy against epsilon, so the epsilon to ask for is a choice.

Each point trains a DP model at one epsilon. On private data every point spends from the
budget (a curve over 0.1, 1 and 10 costs 11.1): the check says what it cost. On data the user
marks public (a public sample, synthetic data, last year's released table) nothing is spent
and the check says so.
"""

from __future__ import annotations

import math
import warnings
from html import escape

import numpy as np
import pandas as pd

from .._optional import require
from ..checks import CheckResult, check, register_renderer, svg_image
from ..errors import UsageError
from ._fit import fit, positive

__all__ = ["utility_curve"]


@check("privacy_utility_curve", version=1, roles={"X_test": "holdout"})
def utility_curve(
    make_model,
    X,
    y,
    X_test,
    y_test,
    *,
    epsilons=(0.1, 1.0, 10.0),
    public: bool = False,
    data=None,
    name: str = "privacy_utility_curve",
) -> CheckResult:
    """Accuracy on ``X_test`` of ``make_model(epsilon)`` fitted on ``X, y``, per epsilon.

    Parameters
    ----------
    make_model : callable
        ``epsilon -> diffprivlib model`` (with its bounds given).
    X, y, X_test, y_test : data
        Training and held-out rows.
    epsilons : sequence of float
    public : bool
        ``X, y`` are public: no budget is spent (and the check says the data was declared so).
        Otherwise every point spends its epsilon from the data's budgets, as :func:`fit` does.
    data : path, artifact id, or a list of them, optional
        The datasets to spend from, when capture cannot tell.
    """
    require("diffprivlib", purpose="differentially private training")
    from diffprivlib.accountant import BudgetAccountant

    if not callable(make_model):
        raise UsageError("make_model must be a callable: epsilon -> diffprivlib model")
    points = sorted({positive(e, "epsilons") for e in epsilons})
    if not points:
        raise UsageError("epsilons: give at least one")
    labels = np.asarray(y_test)
    majority = float(pd.Series(labels).value_counts(normalize=True).max())
    rows = []
    for eps in points:
        model = make_model(eps)
        if not (type(model).__module__ or "").startswith("diffprivlib.models"):
            raise UsageError(
                f"make_model must return a diffprivlib model, got {type(model).__name__}"
            )
        if public:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*iprint.*", category=DeprecationWarning)
                model.set_params(epsilon=eps, accountant=BudgetAccountant())
                model.fit(X, y)
        else:
            model = fit(model, X, y, epsilon=eps, data=data).model
        accuracy = float(np.mean(np.asarray(model.predict(X_test)) == labels))
        rows.append({"epsilon": eps, "accuracy": accuracy, "lift": accuracy - majority})
    table = pd.DataFrame(rows)
    spent = 0.0 if public else math.fsum(points)
    best = table.loc[table["accuracy"].idxmax()]
    pairs = zip(table["epsilon"], table["accuracy"], strict=True)
    metrics = {f"accuracy_at_{e:g}": a for e, a in pairs}
    metrics.update({"majority_rate": majority, "epsilon_spent": spent})
    cost = "declared public: nothing spent" if public else f"spent epsilon {spent:g} in all"
    summary = (
        f"accuracy {table['accuracy'].iloc[0]:.4f} at epsilon {points[0]:g} to "
        f"{table['accuracy'].iloc[-1]:.4f} at {points[-1]:g} (majority class {majority:.4f}, "
        f"best at {best['epsilon']:g}); {cost}"
    )
    return CheckResult(name, "pass", summary, metrics, {}, table)


def _chart(result) -> str:
    table = result.details
    if table is None or table.empty:
        return ""
    width, height, left, bottom = 420, 180, 44, 26
    logs = np.log10(table["epsilon"].astype(float))
    lo_x, hi_x = float(logs.min()) - 0.2, float(logs.max()) + 0.2
    majority = float(result.metrics.get("majority_rate", 0.0))
    values = [*table["accuracy"], majority]
    lo_y, hi_y = min(values) - 0.02, max(values) + 0.02

    def at(x, y):
        px = left + (x - lo_x) / (hi_x - lo_x) * (width - left - 10)
        py = height - bottom - (y - lo_y) / (hi_y - lo_y) * (height - bottom - 10)
        return px, py

    points = [at(x, y) for x, y in zip(logs, table["accuracy"], strict=True)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    base = at(lo_x, majority)[1]
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        "font-family='sans-serif' font-size='11'>",
        f"<line x1='{left}' y1='{base:.1f}' x2='{width - 10}' y2='{base:.1f}' stroke='#b0b0b0' "
        "stroke-dasharray='4 3'/>",
        f"<text x='{left + 4}' y='{base - 4:.1f}' fill='#808080'>majority class</text>",
        f"<polyline points='{line}' fill='none' stroke='#4878a8' stroke-width='2'/>",
    ]
    for (x, y), eps, acc in zip(points, table["epsilon"], table["accuracy"], strict=True):
        parts.append(
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#4878a8'/>"
            f"<text x='{x:.1f}' y='{height - 8}' text-anchor='middle'>{escape(f'{eps:g}')}</text>"
            f"<text x='{x + 5:.1f}' y='{y - 5:.1f}'>{acc:.3f}</text>"
        )
    parts.append(
        f"<text x='4' y='14'>accuracy</text><text x='{width - 60}' y='{height - 8}'>"
        "epsilon</text></svg>"
    )
    return svg_image("".join(parts), alt="accuracy against epsilon")


def _body(result) -> str:
    table = result.details.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}")
    return f"{_chart(result)}<p>{escape(result.summary)}</p><div class='findings'>{table}</div>"


register_renderer("privacy_utility_curve", body=_body)
