"""Differentially private training with diffprivlib, paid for from the data's privacy budget.

diffprivlib's models spend from a hidden process-global ``BudgetAccountant`` unless given one,
forget everything when the kernel restarts, and only warn (``PrivacyLeakWarning``) when they
compute bounds or norms from the private data itself. :func:`fit` instead

1. spends the model's (epsilon, delta) from the budget of every budgeted dataset the data came
   from (:mod:`._budgets`), before anything is fitted; a spend over budget raises
   :class:`~nbtrail.errors.BudgetExceeded` and nothing is fitted or spent;
2. fits with a fresh accountant of its own, so nothing is spent behind the trail's back;
3. turns a ``PrivacyLeakWarning`` into a ``privacy_bounds`` check that fails and names the
   missing bound (``data_norm``, ``bounds``, ``classes``), recorded with the model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from .._optional import require
from ..checks import CheckResult, check
from ..errors import UsageError
from ._budgets import spend_for

__all__ = ["PrivateFit", "fit", "positive", "privacy_bounds"]

_HINTS = {
    "data norm": "data_norm (the largest L2 norm of a row, from public bounds)",
    "bounds": "bounds (per-feature (min, max) from public knowledge or the schema)",
    "classes": "classes (the label set, known in advance)",
}


@check("privacy_bounds", version=2, roles={"model": "model"})
def privacy_bounds(
    model, *, leaks: list[str], bounds=None, name: str = "privacy_bounds"
) -> CheckResult:
    """Whether a DP model was given its bounds, or computed them from the private data.

    ``bounds`` (a :class:`PublicBounds`) says where given bounds came from: a schema inferred
    from the protected rows still read them, so the check warns unless it is public.
    """
    if not leaks:
        kind = type(model).__name__
        if bounds is not None and not bounds.public:
            return CheckResult(
                name,
                "warn",
                f"{kind}: bounds from {bounds.source}, a schema inferred from the data itself "
                "(its ranges leak beyond epsilon); use a public schema and say public=True",
            )
        origin = f" (public, from {bounds.source})" if bounds is not None else ""
        return CheckResult(
            name, "pass", f"{kind}: every bound given{origin}, none read from the data"
        )
    missing = [hint for key, hint in _HINTS.items() if any(key in w.lower() for w in leaks)]
    summary = (
        f"{type(model).__name__} read from the private data what it should have been given: "
        + ("; ".join(missing) if missing else "; ".join(leaks))
        + " (extra privacy leakage beyond epsilon)"
    )
    import pandas as pd

    details = pd.DataFrame({"warning": leaks, "status": "fail"})
    return CheckResult(name, "fail", summary, {"leaks": len(leaks)}, {}, details)


@dataclass
class PrivateFit:
    """A model fitted with differential privacy, and what it cost.

    Attributes
    ----------
    model : estimator
        The fitted diffprivlib model.
    epsilon, delta : float
        What the fit spent.
    budgets : list of BudgetStatus
        The budgets it spent from, after the spend (empty: unbudgeted data).
    note : str or None
        How the budgets were found when not by lineage ("data origin unknown ...").
    bounds : CheckResult
        The ``privacy_bounds`` check.
    """

    model: object
    epsilon: float
    delta: float
    budgets: list = field(default_factory=list)
    note: str | None = None
    bounds: CheckResult | None = None

    def __repr__(self) -> str:
        spent = (
            ", ".join(
                f"{b.name} (spent {b.spent_epsilon:g} of {b.epsilon:g})" for b in self.budgets
            )
            or "no budget"
        )
        return (
            f"<PrivateFit {type(self.model).__name__} epsilon {self.epsilon:g}"
            + (f", delta {self.delta:g}" if self.delta else "")
            + f" from {spent}; bounds {self.bounds.status if self.bounds else 'unchecked'}>"
        )


def _apply(estimator, bounds, X):
    """Give the model the schema's ranges where it has none, and clip X to them."""
    from ._bounds import PublicBounds

    if not isinstance(bounds, PublicBounds):
        raise UsageError(f"bounds must come from privacy.schema_bounds, got {bounds!r}")
    params = estimator.get_params(deep=False)
    if "bounds" in params and params["bounds"] is None:
        estimator.set_params(bounds=bounds.bounds)
    if "data_norm" in params and params["data_norm"] is None:
        estimator.set_params(data_norm=bounds.data_norm)
    return bounds.clip(X)


def positive(value, what: str) -> float:
    """A finite number above 0, or UsageError naming ``what`` (the ledger's own rule)."""
    from ..store import check_epsilon

    return check_epsilon(value, what)


def fit(estimator, X, y=None, *, epsilon=None, data=None, bounds=None, **fit_params) -> PrivateFit:
    """Fit a diffprivlib model after spending its epsilon from the data's privacy budgets.

    Parameters
    ----------
    estimator : diffprivlib model
        LogisticRegression, GaussianNB, RandomForestClassifier, LinearRegression, ... from
        ``diffprivlib.models``, with its bounds given (else the ``privacy_bounds`` check fails).
    X, y : data
        As for ``estimator.fit``; where they came from decides which budgets pay.
    epsilon : float, optional
        Sets the model's epsilon first; default the model's own.
    data : path, artifact id, or a list of them, optional
        The datasets to spend from, when capture is not recording or you know better.
    bounds : PublicBounds, optional
        Ranges from a schema (:func:`schema_bounds`): fill the model's ``bounds`` and
        ``data_norm`` where it has them unset, and ``X`` is clipped to them first.

    Returns
    -------
    PrivateFit
    """
    require("diffprivlib", purpose="differentially private training")
    from diffprivlib.accountant import BudgetAccountant
    from diffprivlib.utils import PrivacyLeakWarning

    module = type(estimator).__module__ or ""
    if not module.startswith("diffprivlib.models"):
        raise UsageError(
            f"privacy.fit needs a diffprivlib model (diffprivlib.models), got "
            f"{type(estimator).__name__}; a plain scikit-learn model is not private"
        )
    params = estimator.get_params(deep=False)
    if epsilon is not None:
        estimator.set_params(epsilon=positive(epsilon, "epsilon"))
    eps = positive(estimator.get_params(deep=False).get("epsilon", 1.0), "epsilon")
    delta = float(params.get("delta", 0.0) or 0.0)
    if not 0 <= delta < 1:
        raise UsageError(f"delta must be in [0, 1), got {delta!r}")
    if bounds is not None:
        X = _apply(estimator, bounds, X)
        params = estimator.get_params(deep=False)
    mechanism = f"diffprivlib.{type(estimator).__name__}.fit"
    budgets, note = spend_for([X, y], eps, delta, mechanism=mechanism, data=data)
    if "accountant" in params:
        estimator.set_params(accountant=BudgetAccountant())  # never the hidden global one
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PrivacyLeakWarning)
        # diffprivlib 0.6.6 passes scipy 1.17 a deprecated L-BFGS-B option (libraries.md)
        warnings.filterwarnings("ignore", message=".*iprint.*", category=DeprecationWarning)
        estimator.fit(X, y, **fit_params)
    leaks = [str(w.message) for w in caught if issubclass(w.category, PrivacyLeakWarning)]
    for w in caught:
        if not issubclass(w.category, PrivacyLeakWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    verdict = privacy_bounds(estimator, leaks=leaks, bounds=bounds)
    return PrivateFit(estimator, eps, delta, budgets, note, verdict)
