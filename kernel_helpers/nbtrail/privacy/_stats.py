"""Differentially private statistics (diffprivlib's tools), paid from the same budgets as fits.

A statistic that needs bounds (a mean, a variance, a quantile) or a histogram's range is refused
when they are not given, before anything is spent: diffprivlib would compute them from the
private data and only warn. Each call gets an accountant of its own, so nothing is spent on
diffprivlib's hidden global one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from .._optional import require
from ..errors import UsageError
from ._budgets import spend_for
from ._fit import positive

__all__ = ["STATISTICS", "PrivateStatistic", "statistic"]

_BOUNDED = ("mean", "nanmean", "var", "nanvar", "std", "nanstd", "sum", "nansum")
_QUANTILES = ("median", "quantile", "percentile")
_HISTOGRAMS = ("histogram", "histogram2d", "histogramdd")
STATISTICS = ("count_nonzero", *_BOUNDED, *_QUANTILES, *_HISTOGRAMS)


@dataclass
class PrivateStatistic:
    """A differentially private statistic and what it cost.

    Attributes
    ----------
    name : str
        The diffprivlib tool (``mean``, ``histogram``...).
    value : object
        Its result.
    epsilon : float
    budgets : list of BudgetStatus
        The budgets it spent from, after the spend.
    note : str or None
        How the budgets were found when not by lineage.
    """

    name: str
    value: object
    epsilon: float
    budgets: list = field(default_factory=list)
    note: str | None = None

    def __repr__(self) -> str:
        spent = ", ".join(f"{b.name} ({b.spent_epsilon:g} of {b.epsilon:g})" for b in self.budgets)
        return (
            f"<PrivateStatistic {self.name} = {self.value!r} at epsilon {self.epsilon:g}; "
            f"spent from {spent or 'no budget'}>"
        )


def statistic(name: str, values, *, epsilon, data=None, **options) -> PrivateStatistic:
    """Compute ``diffprivlib.tools.<name>(values, epsilon=..., **options)`` after spending.

    Parameters
    ----------
    name : str
        One of :data:`STATISTICS`.
    values : array-like
        The private data; where it came from decides which budgets pay.
    epsilon : float
    data : path, artifact id, or a list of them, optional
        The datasets to spend from, when capture cannot tell.
    **options
        The tool's own: ``bounds=(lo, hi)`` for means, variances, sums and quantiles,
        ``range=`` (``bins=``) for histograms, ``axis=``, ``quant=``...

    Raises
    ------
    UsageError
        An unknown statistic, a bad epsilon, or missing bounds (before anything is spent).
    BudgetExceeded
        When a budget would be exceeded (nothing is spent or computed).
    """
    require("diffprivlib", purpose="differentially private statistics")
    from diffprivlib import tools
    from diffprivlib.accountant import BudgetAccountant

    if name not in STATISTICS:
        raise UsageError(f"unknown statistic {name!r}; use one of {', '.join(STATISTICS)}")
    eps = positive(epsilon, "epsilon")
    if name in (*_BOUNDED, *_QUANTILES) and options.get("bounds") is None:
        raise UsageError(
            f"{name} needs bounds=(lo, hi) from public knowledge: computed from the private "
            "data they would leak beyond epsilon"
        )
    if name in _HISTOGRAMS and options.get("range") is None:
        raise UsageError(f"{name} needs range= from public knowledge (not from the data)")
    mechanism = f"diffprivlib.tools.{name}"
    budgets, note = spend_for([values], eps, 0.0, mechanism=mechanism, data=data)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*iprint.*", category=DeprecationWarning)
        value = getattr(tools, name)(values, epsilon=eps, accountant=BudgetAccountant(), **options)
    return PrivateStatistic(name, value, eps, budgets, note)
