"""Leakage: information about the target that will not be there in production.

Three signs: a single feature that on its own predicts the target almost perfectly (measured
by cross-validated ROC AUC of a shallow tree on that feature alone), a feature named like the
target, and rows shared between the training and the test set (by a hash of each whole row).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..vocabulary import worst
from ._registry import check
from ._result import CheckResult

__all__ = ["leakage"]


def _norm(name) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _encode(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", copy=True)
        values[~np.isfinite(values)] = np.nan
        fill = np.nanmin(values) - 1 if np.isfinite(values).any() else 0.0
        return np.where(np.isnan(values), fill, values).reshape(-1, 1)
    codes, _ = pd.factorize(series.astype(str), use_na_sentinel=True)
    return codes.astype("float64").reshape(-1, 1)


def _single_feature_scores(frame: pd.DataFrame, target: pd.Series, cv: int, seed: int) -> dict:
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    y, classes = pd.factorize(target.astype(str))
    binary = len(classes) == 2
    scoring = "roc_auc" if binary else "balanced_accuracy"
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    scores = {}
    for column in frame.columns:
        x = _encode(frame[column])
        tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=seed)
        try:
            scores[column] = float(np.mean(cross_val_score(tree, x, y, cv=folds, scoring=scoring)))
        except ValueError:
            continue  # a fold without both classes; nothing to learn from this column
    return scores


@check("leakage", version=2, roles={"train": "train", "test": "test"})
def leakage(
    train: pd.DataFrame,
    test: pd.DataFrame | None = None,
    *,
    target: str,
    max_single_feature_score: float = 0.99,
    max_shared_share: float = 0.01,
    sample: int = 50_000,
    cv: int = 3,
    random_state: int = 0,
    name: str = "leakage",
) -> CheckResult:
    """Look for target leakage in a training set (and between it and a test set).

    Parameters
    ----------
    train : pandas.DataFrame
        Training data, target column included.
    test : pandas.DataFrame, optional
        Test data: rows it shares with ``train`` are counted.
    target : str
        The label column.
    max_single_feature_score : float
        A feature whose cross-validated ROC AUC (balanced accuracy for more than two classes)
        alone reaches this fails.
    max_shared_share : float
        Share of test rows also in train above which the check fails. Below it, shared rows
        warn: natural duplicates (two people with the same census answers) are not leakage,
        a leaky split is; the sentence gives the count and the share.
    sample : int
        Rows used for the single-feature scores (a stratified random sample; every row is
        used for the shared-rows count).
    cv : int
        Folds for the single-feature scores.
    random_state : int
        Seed of the sample and the folds.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``details``: ``column``, ``rule``, ``value``, ``threshold``, ``status`` for the best
        single-feature scores, look-alike names and shared rows.
    """
    if not isinstance(train, pd.DataFrame):
        raise UsageError(f"train must be a pandas DataFrame, got {type(train).__name__}")
    if target not in train.columns:
        raise UsageError(f"target column {target!r} is not in the training data")
    if test is not None and not isinstance(test, pd.DataFrame):
        raise UsageError(f"test must be a pandas DataFrame, got {type(test).__name__}")
    if not len(train):
        raise UsageError("training data is empty: nothing to look for leakage in")
    for option, value in (
        ("max_single_feature_score", max_single_feature_score),
        ("max_shared_share", max_shared_share),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise UsageError(f"{option} must be a number in [0, 1], got {value!r}")
    findings: list[dict] = []
    thresholds = {
        "single_feature_score": max_single_feature_score,
        "shared_row_share": max_shared_share,
    }
    features = [c for c in train.columns if c != target]
    for column in features:
        name_, target_ = _norm(column), _norm(target)
        contains = len(target_) >= 3 and target_ in name_ and len(name_) <= len(target_) + 6
        if name_ == target_ or contains:
            findings.append(
                {
                    "column": str(column),
                    "rule": "named_like_target",
                    "value": str(column),
                    "threshold": str(target),
                    "status": "fail",
                }
            )
    labels = train[target]
    usable = labels.notna()
    n_classes = labels[usable].nunique()
    best = 0.0
    if n_classes >= 2 and features:
        frame = train.loc[usable, features]
        y = labels[usable]
        if len(frame) > sample:
            frame = frame.groupby(y.astype(str), group_keys=False).sample(
                frac=sample / len(frame), random_state=random_state
            )
            y = y.loc[frame.index]
        minority = y.value_counts().min()
        folds = max(2, min(cv, int(minority)))
        scores = _single_feature_scores(frame, y, folds, random_state) if minority >= 2 else {}
        for column, score in sorted(scores.items(), key=lambda kv: -kv[1])[:10]:
            status = "fail" if score >= max_single_feature_score else "pass"
            findings.append(
                {
                    "column": str(column),
                    "rule": "single_feature_predicts_target",
                    "value": score,
                    "threshold": max_single_feature_score,
                    "status": status,
                }
            )
        best = max(scores.values(), default=0.0)
    shared = 0
    shared_share = 0.0
    if test is not None and len(test):
        common = [c for c in train.columns if c in test.columns]
        train_hashes = set(pd.util.hash_pandas_object(train[common].astype(str), index=False))
        test_hashes = pd.util.hash_pandas_object(test[common].astype(str), index=False)
        shared = int(test_hashes.isin(train_hashes).sum())
        shared_share = shared / len(test)
        status = "fail" if shared_share > max_shared_share else "warn" if shared else "pass"
        findings.append(
            {
                "column": "(rows)",
                "rule": "rows_in_train_and_test",
                "value": shared_share,
                "threshold": max_shared_share,
                "status": status,
            }
        )
    details = pd.DataFrame(findings, columns=["column", "rule", "value", "threshold", "status"])
    status = worst(details["status"]) if len(details) else "pass"
    metrics = {
        "best_single_feature_score": best,
        "shared_rows": shared,
        "shared_row_share": shared_share,
        "features": len(features),
    }
    shared_text = (
        f"{shared:,} of {len(test):,} test rows ({shared_share:.2%}) also appear in train"
        if test is not None and len(test)
        else ""
    )
    failing = details[details["status"] == "fail"]
    if len(failing):
        first = failing.iloc[0]
        if first["rule"] == "rows_in_train_and_test":
            summary = f"possible leakage: {shared_text}, above the {max_shared_share:.2%} allowed"
        else:
            summary = f"possible leakage: {first['rule'].replace('_', ' ')} ({first['column']!r})"
    elif shared:
        summary = (
            f"{shared_text} (natural duplicates, or a split that leaks; fails above "
            f"{max_shared_share:.2%}); best single-feature score {best:.3f}"
        )
    else:
        summary = f"no sign of leakage: best single-feature score {best:.3f}" + (
            f", {shared_text}" if shared_text else ""
        )
    return CheckResult(name, status, summary, metrics, thresholds, details)
