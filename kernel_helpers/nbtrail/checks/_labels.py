"""Label verification by confident learning (Northcutt, Jiang and Chuang, JAIR 70, 2021).

Written from the paper. Given out-of-fold predicted probabilities ``P`` (n x K) and the given
labels ``s``:

1. Per-class thresholds: ``t[j]`` is the mean predicted probability of class ``j`` over the
   examples labelled ``j`` (the class's average self-confidence).
2. The confident joint ``C[i][j]``: examples labelled ``i`` whose probability of ``j`` reaches
   ``t[j]``; an example above several thresholds counts for the most probable of those classes.
3. Calibration: each row of ``C`` is rescaled to the number of examples labelled ``i``, then
   the whole matrix normalised, estimating the joint ``Q[i][j] = p(s=i, y*=j)``; the noise
   matrix is ``p(s=i | y*=j) = Q[i][j] / sum_i Q[i][j]``.
4. Pruning by noise rate (the paper's default): for each off-diagonal ``(i, j)``, the
   ``round(n * Q[i][j])`` examples labelled ``i`` with the largest margin ``P[:, j] - P[:, i]``
   are suspected, except those whose given label is also the most probable one.
   (``method="confident_joint"`` suspects the off-diagonal members of ``C``.)
5. Suspects are ranked by self-confidence ``P[k, s[k]]``, lowest first.

Out-of-fold probabilities come from k-fold cross-validation of any scikit-learn classifier;
the default is a histogram gradient-boosting classifier behind an ordinal encoder of the text
columns, which handles mixed tables and missing values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._examples import example_policy
from ._registry import check
from ._render import register_renderer
from ._result import CheckResult

__all__ = ["ConfidentLearning", "confident_learning", "label_issues"]

METHODS = ("prune_by_noise_rate", "confident_joint")


@dataclass
class ConfidentLearning:
    """The estimates of confident learning for one labelling."""

    issues: np.ndarray  # bool mask, one per example
    ranked: np.ndarray  # positions of suspected examples, least self-confident first
    thresholds: np.ndarray  # per class
    confident_joint: np.ndarray  # K x K counts, rows: given label, columns: true label
    joint: np.ndarray  # K x K, p(given, true)
    noise_matrix: np.ndarray  # K x K, p(given | true)
    self_confidence: np.ndarray  # per example

    @property
    def noise_rate(self) -> float:
        """Estimated share of examples whose given label is wrong: 1 - trace(joint)."""
        return float(1.0 - np.trace(self.joint))


def confident_learning(
    labels, pred_probs, *, method: str = "prune_by_noise_rate"
) -> ConfidentLearning:
    """Estimate which labels are wrong from out-of-fold predicted probabilities.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Given labels, encoded ``0 .. K-1``.
    pred_probs : array, shape (n, K)
        Out-of-fold predicted probabilities (rows sum to 1).
    method : {"prune_by_noise_rate", "confident_joint"}
        How to pick the suspects (see the module docstring).

    Returns
    -------
    ConfidentLearning
    """
    labels = np.asarray(labels)
    probs = np.asarray(pred_probs, dtype="float64")
    if method not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if probs.ndim != 2 or len(probs) != len(labels):
        raise UsageError("pred_probs must be an (n, K) array with one row per label")
    n, k = probs.shape
    if k < 2:
        raise UsageError("confident learning needs at least two classes")
    if labels.min() < 0 or labels.max() >= k:
        raise UsageError(f"labels must be encoded 0..{k - 1}")
    counts = np.bincount(labels, minlength=k)
    thresholds = np.array([probs[labels == j, j].mean() if counts[j] else 1.0 for j in range(k)])
    above = probs >= thresholds - 1e-12
    candidate = np.where(above, probs, -np.inf)
    best = candidate.argmax(axis=1)
    counted = above.any(axis=1)
    confident = np.zeros((k, k), dtype=np.int64)
    np.add.at(confident, (labels[counted], best[counted]), 1)
    row_sums = confident.sum(axis=1, keepdims=True)
    calibrated = np.divide(
        confident * counts[:, None], row_sums, out=np.zeros((k, k)), where=row_sums > 0
    )
    joint = calibrated / calibrated.sum() if calibrated.sum() else calibrated
    column_sums = joint.sum(axis=0, keepdims=True)
    noise = np.divide(joint, column_sums, out=np.zeros((k, k)), where=column_sums > 0)
    issues = np.zeros(n, dtype=bool)
    if method == "confident_joint":
        issues = counted & (best != labels)
    else:
        for i in range(k):
            members = np.flatnonzero(labels == i)
            for j in range(k):
                if i == j or not len(members):
                    continue
                remove = round(n * joint[i, j])
                if remove <= 0:
                    continue
                margin = probs[members, j] - probs[members, i]
                top = members[np.argsort(-margin, kind="stable")[: min(remove, len(members))]]
                issues[top] = True
        # A label the model itself predicts is not suspect, whatever the margins said.
        issues &= probs.argmax(axis=1) != labels
    self_confidence = probs[np.arange(n), labels]
    suspects = np.flatnonzero(issues)
    ranked = suspects[np.argsort(self_confidence[suspects], kind="stable")]
    return ConfidentLearning(issues, ranked, thresholds, confident, joint, noise, self_confidence)


def _default_model(X, random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    booster = HistGradientBoostingClassifier(max_iter=100, random_state=random_state)
    if not isinstance(X, pd.DataFrame):
        return booster
    text = [
        c
        for c in X.columns
        if not pd.api.types.is_numeric_dtype(X[c].dtype) or pd.api.types.is_bool_dtype(X[c].dtype)
    ]
    if not text:
        return booster
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encoder = ColumnTransformer(
        [
            (
                "text",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
                ),
                text,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return make_pipeline(encoder, booster)


def out_of_fold_probabilities(X, y_codes, *, model=None, cv: int = 5, random_state: int = 0):
    """Return out-of-fold predicted probabilities from stratified k-fold cross-validation."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    estimator = clone(model) if model is not None else _default_model(X, random_state)
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    if isinstance(X, pd.DataFrame):
        X = X.copy()
        for column in X.columns:
            if not pd.api.types.is_numeric_dtype(X[column].dtype):
                X[column] = X[column].astype(object).where(X[column].notna(), np.nan)
    return cross_val_predict(estimator, X, y_codes, cv=folds, method="predict_proba")


@check("label_issues", version=2, roles={"y": "labels", "X": "features"})
def label_issues(
    X,
    y,
    *,
    model=None,
    cv: int = 5,
    pred_probs=None,
    method: str = "prune_by_noise_rate",
    warn_share: float = 0.02,
    fail_share: float = 0.10,
    random_state: int = 0,
    examples: bool | None = None,
    name: str = "label_issues",
) -> CheckResult:
    """Find suspected mislabelled rows by confident learning.

    Parameters
    ----------
    X : DataFrame or array
        Features.
    y : Series or array
        The given labels (any hashable values; missing labels are refused).
    model : scikit-learn classifier, optional
        Used for out-of-fold probabilities; default: gradient boosting behind an ordinal
        encoder of text columns.
    cv : int
        Folds of the cross-validation.
    pred_probs : array (n, K), optional
        Out-of-fold probabilities you already have (columns in sorted label order); no model
        is fitted then.
    method : {"prune_by_noise_rate", "confident_joint"}
        How suspects are chosen.
    warn_share, fail_share : float
        Share of suspected rows that warns / fails.
    random_state : int
        Seed of the folds and the default model.
    examples : bool, optional
        False names classes by position (``class 0``) instead of by label, in details and
        metrics; default: ``[tool.nbtrail.privacy] examples``. A target declared as an
        identifier is never named by its labels.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``details``: suspected rows ranked by self-confidence: ``row`` (position),
        ``given_label``, ``suggested_label``, ``self_confidence``. ``metrics`` has the count,
        the share, the estimated noise rate and the noise matrix (one ``noise[given=A,
        true=B]`` entry per pair of classes).
    """
    labels = pd.Series(np.asarray(y, dtype=object) if not isinstance(y, pd.Series) else y)
    if len(labels) != len(X):
        raise UsageError(f"X has {len(X)} rows but y has {len(labels)} labels")
    if labels.isna().any():
        raise UsageError(
            f"y has {int(labels.isna().sum())} missing labels; drop or fill them first"
        )
    target = getattr(y, "name", None) or "target"
    shown = example_policy(examples).may_show(target, labels)  # a bad setting fails first
    classes = np.array(sorted(labels.unique(), key=str), dtype=object)
    if len(classes) < 2:
        raise UsageError(
            f"target {target!r} has one class ({classes[0]!r} if any); label verification "
            "needs at least two"
        )
    codes = pd.Categorical(labels, categories=classes).codes.astype(np.int64)
    if pred_probs is None:
        smallest = np.bincount(codes).min()
        if smallest < cv:
            raise UsageError(
                f"class {classes[np.bincount(codes).argmin()]!r} of {target!r} has {smallest} "
                f"rows; {cv}-fold out-of-fold probabilities need at least {cv} per class"
            )
        pred_probs = out_of_fold_probabilities(
            X, codes, model=model, cv=cv, random_state=random_state
        )
    pred_probs = np.asarray(pred_probs, dtype="float64")
    if pred_probs.shape != (len(codes), len(classes)):
        raise UsageError(
            f"pred_probs must have shape ({len(codes)}, {len(classes)}), got {pred_probs.shape}"
        )
    learned = confident_learning(codes, pred_probs, method=method)
    if not shown:
        classes = np.array([f"class {i}" for i in range(len(classes))], dtype=object)
    ranked = learned.ranked
    suggested = pred_probs[ranked].argmax(axis=1)
    details = pd.DataFrame(
        {
            "row": ranked.astype(int),
            "given_label": [str(v) for v in classes[codes[ranked]]],
            "suggested_label": [str(v) for v in classes[suggested]],
            "self_confidence": learned.self_confidence[ranked],
        }
    )
    count = int(learned.issues.sum())
    share = count / len(codes)
    status = "fail" if share > fail_share else "warn" if share > warn_share else "pass"
    metrics = {
        "rows": len(codes),
        "suspected_label_issues": count,
        "suspected_share": share,
        "estimated_noise_rate": learned.noise_rate,
    }
    # The noise matrix, p(given | true), flat: one headline number per pair of classes.
    for i, given in enumerate(classes):
        for j, true in enumerate(classes):
            metrics[f"noise[given={given}, true={true}]"] = float(learned.noise_matrix[i, j])
    summary = f"{count:,} of {len(codes):,} labels ({share:.1%}) look wrong"
    return CheckResult(
        name,
        status,
        summary,
        metrics,
        {"suspected_share": fail_share, "suspected_share_warn": warn_share},
        details,
    )


register_renderer(
    "label_issues",
    filters=("given_label", "suggested_label"),
    measure=(),
)
