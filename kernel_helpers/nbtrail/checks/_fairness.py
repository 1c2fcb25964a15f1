"""Fairness: how a classifier's outcomes and errors differ between groups of people.

The audit follows fairlearn's vocabulary (selection rate, true and false positive rates,
demographic parity, equalized odds) and its point estimates equal ``MetricFrame``'s. Unlike
``MetricFrame`` it puts a bootstrap interval on everything, resampled within each group (so
every resample keeps every group, with its own size), vectorised as one index matrix per
group instead of a Python loop over resamples; it names groups too small to judge instead of
giving them degenerate intervals; and it keeps missing sensitive values as their own group.
A disparity is judged by its interval: clearly beyond its threshold fails, clearly within
passes, an interval that straddles the threshold warns (the data cannot tell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..vocabulary import worst
from ._registry import check
from ._result import CheckResult

__all__ = ["GROUP_METRICS", "disparity_table", "fairness", "fairness_table"]

MISSING = "(missing)"
MAX_GROUP_VALUES = 50
MIN_CLASS_COUNT = 5
_BLOCK_CELLS = 4_000_000  # resamples x group size per block of the bootstrap
GROUP_METRICS = (
    "base_rate",
    "selection_rate",
    "tpr",
    "fpr",
    "fnr",
    "precision",
    "accuracy",
    "roc_auc",
)
METRIC_NAMES = {
    "base_rate": "base rate (share truly positive)",
    "selection_rate": "selection rate (share predicted positive)",
    "tpr": "true positive rate",
    "fpr": "false positive rate",
    "fnr": "false negative rate",
    "precision": "precision",
    "accuracy": "accuracy",
    "roc_auc": "ROC AUC",
}
# disparity -> (the group metrics it compares, how: "difference" or "ratio")
DISPARITIES = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("tpr", "fpr"), "difference"),
    "equalized_odds_ratio": (("tpr", "fpr"), "ratio"),
    "equal_opportunity_difference": (("tpr",), "difference"),
    "equal_opportunity_ratio": (("tpr",), "ratio"),
}
_POSITIVE_WORDS = {"1", "true", "yes", "y", "positive", "pos", "good"}


def _show(values, limit: int = 8) -> str:
    shown = sorted((repr(v.item() if hasattr(v, "item") else v) for v in values), key=str)
    more = f", ... ({len(shown)} in all)" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _series(values, what: str) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise UsageError(f"{what} must be one column, got {values.shape[1]} columns")
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    array = np.asarray(values)
    if array.ndim != 1:
        raise UsageError(f"{what} must be one-dimensional, got shape {array.shape}")
    return pd.Series(array, name=what)


def _label(series: pd.Series, what: str) -> str:
    return f"{what} ({series.name!r})" if series.name not in (None, what) else what


def _positive(y_true: pd.Series, y_pred: pd.Series, positive):
    """The positive label: given, 1/True, or the one conventional name among two labels."""
    true_values = list(pd.unique(y_true))
    if len(true_values) > 2:
        raise UsageError(
            f"{_label(y_true, 'y_true')} is not a binary target: it has {len(true_values)} "
            f"values ({_show(true_values)}); fairness needs two classes"
        )
    labels = list(dict.fromkeys([*true_values, *pd.unique(y_pred)]))
    if len(labels) > 2:
        raise UsageError(
            f"{_label(y_pred, 'y_pred')} has values ({_show(pd.unique(y_pred))}) beyond the "
            f"two classes of y_true and y_pred together ({_show(labels)})"
        )
    if positive is not None:
        if not any(positive == v for v in labels) and len(labels) == 2:
            raise UsageError(f"positive={positive!r} is not one of the labels ({_show(labels)})")
        return positive
    numeric = (bool, np.bool_, int, np.integer, float, np.floating)
    if all(isinstance(v, numeric) and v in (0, 1) for v in labels):
        return True if all(isinstance(v, bool | np.bool_) for v in labels) else 1
    words = [v for v in labels if str(v).strip().lower() in _POSITIVE_WORDS]
    if len(words) == 1:
        return words[0]
    raise UsageError(
        f"which label is positive? {_label(y_true, 'y_true')} has {_show(labels)}: "
        "pass positive= one of them (the favourable outcome, e.g. the one a model selects)"
    )


def _no_missing(series: pd.Series, what: str) -> None:
    missing = int(series.isna().sum())
    if missing:
        raise UsageError(
            f"{_label(series, what)} has {missing} missing value(s) of {len(series)}: "
            "drop or fill those rows first"
        )


def _sensitive_frame(sensitive_features, X, n: int) -> pd.DataFrame:
    names = None
    if isinstance(sensitive_features, str):
        names = [sensitive_features]
    elif (
        isinstance(sensitive_features, list | tuple)
        and isinstance(X, pd.DataFrame)
        and all(isinstance(v, str) and v in X.columns for v in sensitive_features)
    ):
        names = list(sensitive_features)
    if names is not None:
        if not isinstance(X, pd.DataFrame):
            raise UsageError(
                f"sensitive_features names columns {names} but no DataFrame X was given"
            )
        absent = [c for c in names if c not in X.columns]
        if absent:
            raise UsageError(f"sensitive feature column(s) {absent} are not in X")
        frame = X[names]
    elif isinstance(sensitive_features, pd.DataFrame):
        frame = sensitive_features
    elif isinstance(sensitive_features, pd.Series):
        frame = sensitive_features.to_frame(sensitive_features.name or "sensitive_feature_0")
    else:
        array = np.asarray(sensitive_features, dtype=object)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise UsageError(f"sensitive_features must be 1-D or 2-D, got shape {array.shape}")
        frame = pd.DataFrame(
            array, columns=[f"sensitive_feature_{i}" for i in range(array.shape[1])]
        )
    if frame.shape[1] == 0:
        raise UsageError("sensitive_features has no columns")
    if len(frame) != n:
        raise UsageError(f"sensitive_features has {len(frame)} rows but y_true has {n}")
    for column in frame.columns:
        distinct = frame[column].nunique(dropna=True)
        if distinct > MAX_GROUP_VALUES:
            raise UsageError(
                f"sensitive feature {column!r} has {distinct} distinct values (more than "
                f"{MAX_GROUP_VALUES}): band it first, e.g. "
                f"pd.cut(X[{column!r}], bins=[0, 25, 45, 65, 120])"
            )
    return frame.reset_index(drop=True)


def _group_codes(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Each row's group (intersectional: ``"Female, Black"``); missing values are a group."""
    label = None
    for column in frame.columns:
        values = frame[column]
        text = values.astype(object).where(values.notna(), MISSING).map(str)
        label = text if label is None else label + ", " + text
    codes, uniques = pd.factorize(label, sort=True)
    return codes, [str(u) for u in uniques]


def _div(num, den):
    num, den = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def _rates(counts, yt, yp, m) -> dict:
    """Every group metric for each row of ``counts`` (how often each member is drawn)."""
    pos = counts @ yt
    selected = counts @ yp
    tp = counts @ (yt * yp)
    neg, fp = m - pos, selected - tp
    tn = neg - fp
    return {
        "base_rate": pos / m,
        "selection_rate": selected / m,
        "tpr": _div(tp, pos),
        "fpr": _div(fp, neg),
        "fnr": _div(pos - tp, pos),
        "precision": _div(tp, selected),
        "accuracy": (tp + tn) / m,
    }


def _auc(counts, yt, score) -> np.ndarray:
    """ROC AUC (Mann-Whitney, ties counted half) for each row of ``counts``, vectorised."""
    order = np.argsort(score, kind="stable")
    ranked, truth = score[order], yt[order]
    weights = counts[:, order]
    pos_w, neg_w = weights * truth, weights * (1.0 - truth)
    cum = np.concatenate([np.zeros((len(weights), 1)), np.cumsum(neg_w, axis=1)], axis=1)
    start = np.searchsorted(ranked, ranked, side="left")
    end = np.searchsorted(ranked, ranked, side="right")
    below, tied = cum[:, start], cum[:, end] - cum[:, start]
    wins = (pos_w * (below + 0.5 * tied)).sum(axis=1)
    return _div(wins, pos_w.sum(axis=1) * neg_w.sum(axis=1))


def _bootstrap(rng, n_boot: int, yt, yp, score) -> dict:
    """Every group metric on ``n_boot`` resamples of one group (drawn within the group).

    Each block of resamples is an index matrix (resamples x group size) turned into counts
    (how often each member is drawn), so every metric is a matrix product; blocks keep the
    matrices near 32 MB whatever the group's size.
    """
    m = len(yt)
    names = [*GROUP_METRICS[:-1], *(["roc_auc"] if score is not None else [])]
    parts: dict[str, list] = {name: [] for name in names}
    block = max(1, min(n_boot, _BLOCK_CELLS // max(m, 1)))
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        draws = rng.integers(0, m, size=(size, m))
        flat = (np.arange(size)[:, None] * m + draws).ravel()
        counts = np.bincount(flat, minlength=size * m).reshape(size, m).astype("float64")
        rates = _rates(counts, yt, yp, m)
        if score is not None:
            rates["roc_auc"] = _auc(counts, yt, score)
        for name in names:
            parts[name].append(rates[name])
    return {
        name: np.concatenate(chunks) if chunks else np.full(0, np.nan)
        for name, chunks in parts.items()
    }


def _interval(samples: np.ndarray, ci: float) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return np.nan, np.nan
    low, high = np.quantile(finite, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(low), float(high)


def _spread(matrix: np.ndarray, how: str) -> np.ndarray:
    """Max minus min (or min over max) across groups, per row; NaN with fewer than 2 defined."""
    defined = np.isfinite(matrix)
    top = np.where(defined, matrix, -np.inf).max(axis=1)
    bottom = np.where(defined, matrix, np.inf).min(axis=1)
    enough = defined.sum(axis=1) >= 2
    if how == "difference":
        out = np.where(enough, top - bottom, np.nan)
    else:
        out = np.where(enough & (top > 0), _div(bottom, np.where(top > 0, top, 1.0)), np.nan)
    return out


def _judge(value, lower, upper, limit, direction: str) -> str | None:
    """The status (pass, warn, fail) of one disparity against its limit, by its interval."""
    if limit is None or value is None or not np.isfinite(value):
        return None
    lower = value if lower is None or not np.isfinite(lower) else lower
    upper = value if upper is None or not np.isfinite(upper) else upper
    if direction == "max":
        return "fail" if lower > limit else "pass" if upper <= limit else "warn"
    return "fail" if upper < limit else "pass" if lower >= limit else "warn"


def disparity_table(result: CheckResult) -> pd.DataFrame:
    """The headline disparities of a fairness result: value, interval, threshold, status."""
    rows = []
    for key in DISPARITIES:
        if key not in result.metrics:
            continue
        value = result.metrics.get(key)
        lower, upper = result.metrics.get(f"{key}_lower"), result.metrics.get(f"{key}_upper")
        limit = result.thresholds.get(key)
        direction = "min" if key.endswith("_ratio") else "max"
        rows.append(
            {
                "disparity": key,
                "value": np.nan if value is None else value,
                "lower": np.nan if lower is None else lower,
                "upper": np.nan if upper is None else upper,
                "threshold": limit,
                "direction": direction if limit is not None else None,
                "status": _judge(value, lower, upper, limit, direction),
            }
        )
    return pd.DataFrame(
        rows, columns=["disparity", "value", "lower", "upper", "threshold", "direction", "status"]
    )


def fairness_table(result: CheckResult) -> pd.DataFrame:
    """The per-group table of a fairness result, one row per group (``.to_csv(path)`` it)."""
    if result.kind not in (None, "fairness") or "group" not in result.details.columns:
        raise UsageError(f"{result.name!r} is not a fairness result: it has no per-group table")
    return result.details.copy()


def _from_model(model, X, y, scores, positive):
    if X is None or y is None:
        raise UsageError("model= needs X (the features) and y (the true labels)")
    if scores and not hasattr(model, "predict_proba"):
        raise UsageError(
            f"scores=True but {type(model).__name__} has no predict_proba: pass scores=False "
            "or y_score= yourself"
        )
    y_pred = model.predict(X)
    y_score = None
    if scores is not False and hasattr(model, "predict_proba"):
        classes = list(getattr(model, "classes_", [0, 1]))
        y_true = _series(y, "y")
        wanted = _positive(y_true, _series(y_pred, "y_pred"), positive)
        if not any(wanted == c for c in classes):
            raise UsageError(f"positive label {wanted!r} is not in the model's classes {classes}")
        column = next(i for i, c in enumerate(classes) if c == wanted)
        y_score = np.asarray(model.predict_proba(X))[:, column]
    return y_pred, y_score


@check(
    "fairness", version=1, roles={"model": "model", "X": "data", "sensitive_features": "sensitive"}
)
def fairness(
    y_true=None,
    y_pred=None,
    *,
    sensitive_features,
    y_score=None,
    model=None,
    X: pd.DataFrame | None = None,
    y=None,
    positive=None,
    scores: bool | None = None,
    max_demographic_parity_difference: float | None = 0.1,
    max_equalized_odds_difference: float | None = 0.1,
    min_selection_ratio: float | None = 0.8,
    max_equal_opportunity_difference: float | None = None,
    min_group_size: int = 30,
    n_boot: int = 200,
    ci: float = 0.95,
    random_state: int = 0,
    name: str = "fairness",
) -> CheckResult:
    """Audit a classifier's outcomes and errors per group, with bootstrap intervals.

    Parameters
    ----------
    y_true, y_pred : array-like, optional
        True and predicted labels (binary). Or give ``model``, ``X`` and ``y``.
    sensitive_features : Series, DataFrame, array-like, str or list of str
        The groups. Several columns make intersectional groups (``"Female, Black"``); column
        names are looked up in ``X``. Missing values form the group ``"(missing)"``.
    y_score : array-like, optional
        Scores for the positive class (adds ROC AUC per group).
    model, X, y : optional
        A fitted classifier, its features and the true labels: predictions come from
        ``model.predict(X)``, scores from ``predict_proba`` when available (``scores``).
    positive : optional
        The positive (favourable) label. Default: 1/True, or the one conventional name
        (``yes``, ``good``...) among two labels; anything else ambiguous is refused.
    scores : bool, optional
        With ``model``: use ``predict_proba`` (True requires it; default: when available).
    max_demographic_parity_difference, max_equalized_odds_difference : float or None
        Largest allowed gap in selection rate, and in TPR or FPR (fairlearn's 0.1).
    min_selection_ratio : float or None
        Smallest allowed ratio of selection rates (the four-fifths rule: 0.8).
    max_equal_opportunity_difference : float or None
        Largest allowed gap in TPR (not judged by default).
    min_group_size : int
        Groups smaller than this, or with fewer than 5 positives or 5 negatives, are shown
        but not judged: their rates are too noisy to compare.
    n_boot, ci, random_state : int, float, int
        Bootstrap resamples (within each group), interval coverage (percentile interval)
        and seed. ``n_boot=0`` judges by the point estimates alone.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        Metrics: each disparity with ``_lower``/``_upper``; details: one row per group with
        n, positives, ``judged``, ``note`` and every metric with its interval
        (:func:`fairness_table`; :func:`disparity_table` for the headline).
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise UsageError(f"n_boot must be a whole number >= 0, got {n_boot!r}")
    if not isinstance(ci, float | int) or not 0 < ci < 1:
        raise UsageError(f"ci must be a number between 0 and 1, got {ci!r}")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int | np.integer):
        raise UsageError(f"min_group_size must be a whole number, got {min_group_size!r}")
    if model is not None:
        if y_true is not None or y_pred is not None:
            raise UsageError("give either y_true and y_pred, or model= with X and y, not both")
        if X is not None:
            _sensitive_frame(sensitive_features, X, len(X))  # bad input before predicting
        try:
            y_pred, y_score = _from_model(model, X, y, scores, positive)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - the model failed, not the input: say so
            reason = f"{type(model).__name__} failed to predict: {type(exc).__name__}: {exc}"
            return CheckResult(name, "error", reason)
        y_true = y
    if y_true is None or y_pred is None:
        raise UsageError("fairness needs y_true and y_pred, or model= with X and y")
    y_true, y_pred = _series(y_true, "y_true"), _series(y_pred, "y_pred")
    if len(y_pred) != len(y_true):
        raise UsageError(f"y_pred has {len(y_pred)} rows but y_true has {len(y_true)}")
    _no_missing(y_true, "y_true")
    _no_missing(y_pred, "y_pred")
    positive = _positive(y_true, y_pred, positive)
    yt = (y_true == positive).to_numpy(dtype="float64")
    yp = (y_pred == positive).to_numpy(dtype="float64")
    score = None
    if y_score is not None:
        score_series = _series(y_score, "y_score")
        if len(score_series) != len(y_true):
            raise UsageError(f"y_score has {len(score_series)} rows but y_true has {len(y_true)}")
        _no_missing(score_series, "y_score")
        score = pd.to_numeric(score_series, errors="raise").to_numpy(dtype="float64")
    frame = _sensitive_frame(sensitive_features, X, len(y_true))
    codes, groups = _group_codes(frame)
    metrics_used = [m for m in GROUP_METRICS if m != "roc_auc" or score is not None]
    rng = np.random.default_rng(random_state)
    rows, boots = [], {}
    for g, group in enumerate(groups):
        members = np.flatnonzero(codes == g)
        m = len(members)
        gt, gp = yt[members], yp[members]
        point = _rates(np.ones((1, m)), gt, gp, m)
        if score is not None:
            point["roc_auc"] = _auc(np.ones((1, m)), gt, score[members])
        sampled = _bootstrap(rng, n_boot, gt, gp, None if score is None else score[members])
        positives, negatives = int(gt.sum()), int(m - gt.sum())
        reasons = []
        if m < min_group_size:
            reasons.append(f"n={m} below min_group_size {min_group_size}")
        if positives < MIN_CLASS_COUNT:
            reasons.append(f"{positives} positive(s), fewer than {MIN_CLASS_COUNT}")
        if negatives < MIN_CLASS_COUNT:
            reasons.append(f"{negatives} negative(s), fewer than {MIN_CLASS_COUNT}")
        judged = not reasons
        notes = ["not judged: " + ", ".join(reasons)] if reasons else []
        if not positives:
            notes.append("no positives: tpr, fnr undefined")
        if not negatives:
            notes.append("no negatives: fpr undefined")
        if not gp.sum():
            notes.append("no predicted positives: precision undefined")
        if score is not None and (not positives or not negatives):
            notes.append("one class: roc_auc undefined")
        row = {
            "group": group,
            "n": m,
            "positives": positives,
            "judged": judged,
            "note": "; ".join(notes),
        }
        for metric in metrics_used:
            value = float(point[metric][0])
            low, high = _interval(sampled[metric], ci)
            row[metric] = None if np.isnan(value) else value
            row[f"{metric}_lower"], row[f"{metric}_upper"] = low, high
        rows.append(row)
        if judged:
            boots[group] = (point, sampled)
    details = pd.DataFrame(rows)
    details = details.astype({c: "float64" for c in metrics_used})
    metrics: dict = {
        "rows": len(y_true),
        "groups": len(groups),
        "groups_judged": len(boots),
        "accuracy": float(np.mean(yt == yp)),
        "selection_rate": float(np.mean(yp)),
        "n_boot": int(n_boot),
        "ci": float(ci),
    }
    for key, (used, how) in DISPARITIES.items():
        if len(boots) < 2:
            metrics.update({key: None, f"{key}_lower": None, f"{key}_upper": None})
            continue
        points, samples = [], []
        for metric in used:
            points.append(_spread(np.array([[boots[g][0][metric][0] for g in boots]]), how))
            stacked = [boots[g][1][metric] for g in boots]
            samples.append(_spread(np.column_stack(stacked), how) if n_boot else np.full(0, 0.0))
        combine = np.fmax if how == "difference" else np.fmin
        value = float(combine.reduce(points)[0]) if len(points) > 1 else float(points[0][0])
        sample = combine.reduce(samples) if len(samples) > 1 else samples[0]
        low, high = _interval(sample, ci)
        metrics[key] = None if np.isnan(value) else value
        metrics[f"{key}_lower"] = None if np.isnan(low) else low
        metrics[f"{key}_upper"] = None if np.isnan(high) else high
    ratio = metrics["demographic_parity_ratio"]
    limit = 0.8 if min_selection_ratio is None else min_selection_ratio
    metrics["four_fifths"] = None if ratio is None else bool(ratio >= limit)
    thresholds = {
        key: limit
        for key, limit in (
            ("demographic_parity_difference", max_demographic_parity_difference),
            ("equalized_odds_difference", max_equalized_odds_difference),
            ("demographic_parity_ratio", min_selection_ratio),
            ("equal_opportunity_difference", max_equal_opportunity_difference),
        )
        if limit is not None
    }
    result = CheckResult(name, "pass", "", metrics, thresholds, details)
    table = disparity_table(result)
    judged = table.dropna(subset=["status"])
    groups_text = f"{len(groups)} group(s), {len(boots)} judged"
    if len(boots) < 2:
        result.status = "warn"
        result.summary = (
            f"cannot compare groups: {groups_text} (each needs n >= {min_group_size} and "
            f"{MIN_CLASS_COUNT} positives and negatives)"
        )
        return result
    result.status = worst(judged["status"]) if len(judged) else "pass"
    order = {"fail": 0, "warn": 1, "pass": 2}
    top = judged.sort_values("status", key=lambda s: s.map(order)).iloc[0] if len(judged) else None
    if top is None:
        result.summary = f"no thresholds set; {groups_text}"
    else:
        verb = {"fail": "beyond", "warn": "straddles", "pass": "within"}[top["status"]]
        interval = f" [{top['lower']:.3f}, {top['upper']:.3f}]" if n_boot else ""
        word = "minimum" if top["direction"] == "min" else "maximum"
        result.summary = (
            f"{top['disparity'].replace('_', ' ')} {top['value']:.3f}{interval} {verb} the "
            f"{word} {top['threshold']:g}; {groups_text}"
        )
    return result


from . import _fairness_view  # noqa: E402, F401 - registers how fairness results draw
