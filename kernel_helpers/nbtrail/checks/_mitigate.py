"""Fairness mitigation: fairlearn's mitigators, audited before and after, recorded.

Two ways fairlearn narrows a gap between groups: post-processing a fitted model with
group-specific thresholds (``ThresholdOptimizer``), or retraining it under a constraint
(``ExponentiatedGradient``). Either way a mitigation is a trade, so :func:`fairness_mitigate`
audits the model before and after on the same evaluation data and keeps both audits, the
accuracy it cost, and a ``fairness_mitigation`` check that names the original model and the
mitigated one, so an auditor who starts from the model finds what was done to it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._fairness import _group_codes, _no_missing, _positive, _sensitive_frame, _series, fairness
from ._producer import Product, produce
from ._registry import check
from ._result import CheckResult

__all__ = ["FairnessMitigation", "MitigatedModel", "fairness_mitigate"]

_PANDAS4_WARNING = getattr(pd.errors, "Pandas4Warning", DeprecationWarning)
_COMPARED = ("demographic_parity_difference", "equalized_odds_difference")


class MitigatedModel:
    """A fairness-mitigated classifier that predicts the original labels.

    ``predict(X)`` takes the sensitive features from the columns of ``X`` named when it was
    made (``sensitive_columns``); when they were given as values instead, pass them with
    ``predict(X, sensitive_features=...)``. fairlearn's mitigators predict at random for
    some rows (a mix of thresholds or of models); ``random_state`` fixes that draw, so the
    same rows get the same predictions every time.
    """

    def __init__(
        self, mitigator, *, classes, sensitive_columns=None, random_state: int = 0, scored=None
    ):
        self.mitigator_ = mitigator
        self.scored_ = scored  # threshold mitigation: the model whose scores it thresholds
        self.classes_ = np.asarray(classes, dtype=object)
        self.sensitive_columns = list(sensitive_columns) if sensitive_columns else None
        self.random_state = random_state

    def _groups(self, X, sensitive_features) -> pd.Series:
        if sensitive_features is None:
            if self.sensitive_columns is None:
                raise UsageError(
                    "this mitigated model was made from sensitive feature values, not column "
                    "names: pass predict(X, sensitive_features=...)"
                )
            sensitive_features = self.sensitive_columns
        frame = _sensitive_frame(sensitive_features, X, len(X))
        codes, labels = _group_codes(frame)
        return pd.Series(np.asarray(labels, dtype=object)[codes], name="group")

    def predict(self, X, *, sensitive_features=None) -> np.ndarray:
        """Predicted labels (the original model's classes)."""
        from fairlearn.postprocessing import ThresholdOptimizer

        if isinstance(self.mitigator_, ThresholdOptimizer):
            raw = self.mitigator_.predict(
                _score_column(self.scored_, X),
                sensitive_features=self._groups(X, sensitive_features),
                random_state=self.random_state,
            )
        else:
            raw = self.mitigator_.predict(X, random_state=self.random_state)
        return self.classes_[np.asarray(raw).astype(int)]

    def __repr__(self) -> str:
        columns = f", sensitive_columns={self.sensitive_columns}" if self.sensitive_columns else ""
        return f"MitigatedModel({type(self.mitigator_).__name__}{columns})"


@dataclass
class FairnessMitigation:
    """What a mitigation did: the mitigated model and the audits before and after.

    Attributes
    ----------
    estimator : MitigatedModel
        The mitigated classifier.
    before, after : CheckResult
        Fairness audits of the original and the mitigated model on the evaluation data.
    accuracy_before, accuracy_after : float
        Accuracy on the evaluation data.
    check : CheckResult
        The ``fairness_mitigation`` check recorded with both models as subjects.
    product : Product
        The mitigated model as recorded, derived from the model and the training data.
    """

    method: str
    constraint: str
    estimator: MitigatedModel
    before: CheckResult
    after: CheckResult
    accuracy_before: float
    accuracy_after: float
    check: CheckResult = field(repr=False)
    product: Product = field(repr=False)

    def __repr__(self) -> str:
        lines = [
            f"<FairnessMitigation {self.method} ({self.constraint}): "
            f"audit {self.before.status} -> {self.after.status}>",
            f"  accuracy {self.accuracy_before:.4f} -> {self.accuracy_after:.4f}",
        ]
        for key in _COMPARED:
            old, new = self.before.metrics.get(key), self.after.metrics.get(key)
            lines.append(f"  {key.replace('_', ' ')} {_fmt(old)} -> {_fmt(new)}")
        return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@check("fairness_mitigation", version=1, roles={"model": "model", "mitigated": "mitigated"})
def _mitigation_check(
    model,
    mitigated,
    *,
    before: CheckResult,
    after: CheckResult,
    method: str,
    constraint: str,
    name: str = "fairness_mitigation",
) -> CheckResult:
    """Compare a model's fairness audit with its mitigated version's (status: after's)."""
    metrics = {
        "accuracy_before": before.metrics.get("accuracy"),
        "accuracy_after": after.metrics.get("accuracy"),
    }
    thresholds = {}
    for key in (*_COMPARED, "demographic_parity_ratio"):
        metrics[f"{key}_before"] = before.metrics.get(key)
        metrics[f"{key}_after"] = after.metrics.get(key)
        if key in after.thresholds:
            thresholds[f"{key}_after"] = after.thresholds[key]
    summary = (
        f"{method} ({constraint}): demographic parity difference "
        f"{_fmt(metrics['demographic_parity_difference_before'])} -> "
        f"{_fmt(metrics['demographic_parity_difference_after'])}, equalized odds difference "
        f"{_fmt(metrics['equalized_odds_difference_before'])} -> "
        f"{_fmt(metrics['equalized_odds_difference_after'])}, accuracy "
        f"{_fmt(metrics['accuracy_before'])} -> {_fmt(metrics['accuracy_after'])}; "
        f"after: {after.summary}"
    )
    return CheckResult(name, after.status, summary, metrics, thresholds)


def _score_column(model, X) -> np.ndarray:
    """The model's score for the positive class, as a one-column matrix."""
    if hasattr(model, "predict_proba"):
        scores = np.asarray(model.predict_proba(X))[:, 1]
    elif hasattr(model, "decision_function"):
        scores = np.asarray(model.decision_function(X))
    else:
        scores = np.asarray(model.predict(X))
    return scores.astype("float64").reshape(-1, 1)


def _mitigator(model, method, constraint, random_state, options):
    fairlearn = "fairlearn postprocessing and reductions (fairness mitigation)"
    from .._optional import require

    if method == "threshold":
        post = require("fairlearn.postprocessing", purpose=fairlearn)
        from ._scores import ScoreColumn

        return post.ThresholdOptimizer(
            estimator=ScoreColumn().fit(None),
            constraints=constraint,
            prefit=True,
            predict_method="predict",
            **options,
        )
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    reductions = require("fairlearn.reductions", purpose=fairlearn)
    moment = {
        "demographic_parity": reductions.DemographicParity,
        "equalized_odds": reductions.EqualizedOdds,
    }[constraint]()
    if isinstance(model, Pipeline):
        options = {"sample_weight_name": f"{model.steps[-1][0]}__sample_weight", **options}
    return reductions.ExponentiatedGradient(clone(model), moment, **options)


def fairness_mitigate(
    model,
    X: pd.DataFrame,
    y,
    *,
    sensitive_features,
    method: Literal["threshold", "reductions"] = "threshold",
    constraint: Literal["demographic_parity", "equalized_odds"] = "demographic_parity",
    X_test: pd.DataFrame | None = None,
    y_test=None,
    sensitive_test=None,
    positive=None,
    n_boot: int = 200,
    random_state: int = 0,
    run=None,
    name: str = "fairness_mitigation",
    **options,
) -> FairnessMitigation:
    """Mitigate a classifier's group disparities with fairlearn; audit before and after.

    Parameters
    ----------
    model : fitted classifier
        ``threshold`` post-processes it as it is; ``reductions`` retrains copies of it.
    X, y : DataFrame, array-like
        Training data for the mitigator (and the evaluation data unless ``X_test`` is given).
    sensitive_features : str, list of str, Series, DataFrame or array-like
        Column names in ``X`` (then the mitigated model finds them in any ``X`` it predicts
        for), or the values themselves.
    method : {"threshold", "reductions"}
        ``ThresholdOptimizer(prefit=True)`` or ``ExponentiatedGradient``.
    constraint : {"demographic_parity", "equalized_odds"}
        What to equalise.
    X_test, y_test, sensitive_test : optional
        Evaluation data for the audits (``sensitive_test`` is needed unless
        ``sensitive_features`` names columns).
    positive : optional
        The positive label (see :func:`~nbtrail.checks.fairness`).
    n_boot, random_state : int
        Bootstrap resamples of the audits; seed of the mitigated model's random draws.
    run : Run, optional
        Where to record. Default: the capture session recording, if any.
    name : str
        The mitigation check's name.
    **options
        Passed to the fairlearn mitigator (``eps``, ``max_iter``, ``grid_size``...).

    Returns
    -------
    FairnessMitigation
    """
    if method not in ("threshold", "reductions"):
        raise UsageError(f"method must be 'threshold' or 'reductions', got {method!r}")
    if constraint not in ("demographic_parity", "equalized_odds"):
        raise UsageError(
            f"constraint must be 'demographic_parity' or 'equalized_odds', got {constraint!r}"
        )
    if not isinstance(X, pd.DataFrame):
        raise UsageError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    y_series = _series(y, "y")
    _no_missing(y_series, "y")
    if len(y_series) != len(X):
        raise UsageError(f"y has {len(y_series)} rows but X has {len(X)}")
    columns = None
    if isinstance(sensitive_features, str) or (
        isinstance(sensitive_features, list | tuple)
        and all(isinstance(c, str) and c in X.columns for c in sensitive_features)
    ):
        columns = (
            [sensitive_features]
            if isinstance(sensitive_features, str)
            else list(sensitive_features)
        )
    train_frame = _sensitive_frame(sensitive_features, X, len(X))
    codes, labels = _group_codes(train_frame)
    groups = pd.Series(np.asarray(labels, dtype=object)[codes], name="group")
    positive = _positive(y_series, y_series, positive)
    others = [v for v in pd.unique(y_series) if not v == positive]
    if len(others) != 1:
        raise UsageError(f"y needs both classes to mitigate; it has only {positive!r}")
    classes = [others[0], positive]
    if method == "threshold":
        known = list(getattr(model, "classes_", []))
        if known and not known[-1] == positive:
            raise UsageError(
                f"the positive label {positive!r} must be the model's second class "
                f"(classes_={known}) for threshold mitigation of its scores"
            )
    y01 = (y_series == positive).astype(int).to_numpy()
    mitigator = _mitigator(model, method, constraint, random_state, options)
    with warnings.catch_warnings():
        # fairlearn 0.15's moments grow Series with .at and set bools into float Series; pandas 3
        # deprecates both for pandas 4 (Pandas4Warning). Harmless today, nothing a user can fix.
        warnings.filterwarnings("ignore", category=_PANDAS4_WARNING)
        fit_X = _score_column(model, X) if method == "threshold" else X
        mitigator.fit(fit_X, y01, sensitive_features=groups)
    mitigated = MitigatedModel(
        mitigator,
        classes=classes,
        sensitive_columns=columns,
        random_state=random_state,
        scored=model if method == "threshold" else None,
    )
    if X_test is None:
        X_eval, y_eval, s_eval = X, y_series, sensitive_features
    else:
        if y_test is None:
            raise UsageError("X_test needs y_test (the true labels) for the audits")
        if sensitive_test is None and columns is None:
            raise UsageError(
                "X_test needs sensitive_test, since sensitive_features were values, not columns"
            )
        X_eval, y_eval = X_test, _series(y_test, "y_test")
        s_eval = sensitive_test if sensitive_test is not None else columns
    eval_frame = _sensitive_frame(s_eval, X_eval, len(X_eval))
    audit = {"positive": positive, "n_boot": n_boot, "random_state": random_state}
    before = fairness(
        model=model, X=X_eval, y=y_eval, sensitive_features=eval_frame, scores=False, **audit
    )
    after_pred = mitigated.predict(X_eval, sensitive_features=eval_frame)
    after = fairness(
        y_eval, after_pred, sensitive_features=eval_frame, X=X_eval, name="fairness", **audit
    )
    if run is not None:
        before.record(run)
        after.record(run)
    product = produce(
        mitigated, name=f"{name}_model", inputs={"model": model, "train": X}, snapshot=True, run=run
    )
    verdict = _mitigation_check(
        model,
        mitigated,
        before=before,
        after=after,
        method=method,
        constraint=constraint,
        name=name,
    )
    if run is not None:
        verdict.record(run)
    product.accept(verdict)
    return FairnessMitigation(
        method,
        constraint,
        mitigated,
        before,
        after,
        float(before.metrics.get("accuracy", np.nan)),
        float(after.metrics.get("accuracy", np.nan)),
        verdict,
        product,
    )
