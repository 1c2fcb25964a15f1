"""Performance decay with labels: a model's metrics per time window against its reference.

Outcomes arrive after predictions; once they do, each window (a calendar period of a
timestamp column, a batch, or a run of consecutive rows) gets its accuracy and ROC AUC with an
interval (Wilson for proportions, DeLong for ROC AUC), and the window alerts only when the
metric fell more than ``max_drop`` below the reference *and* the interval excludes the
reference: a drop that small samples explain is a warning, not an alert. A window with too few
labelled rows shows its value without an interval and never alerts.

The windowing, the intervals and the timeline drawing are shared with the label-free estimate
(:mod:`._estimate`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..checks import CheckResult, check, findings_table, metrics_table, register_renderer, svg_image
from ..errors import UsageError

__all__ = ["performance"]

DEFAULT_METRICS = ("accuracy", "roc_auc")
PROPORTIONS = ("accuracy", "precision", "recall")
KNOWN_METRICS = (*PROPORTIONS, "roc_auc")
MAX_WINDOWS = 1000
DETAIL_COLUMNS = (
    "window start rows labelled metric value low high reference drop alert note".split()
)


# -- windows ----------------------------------------------------------------------------------


def windows(frame: pd.DataFrame, *, window=None, timestamp=None, batch=None) -> list[tuple]:
    """Split rows into windows: ``(label, start, positions)`` in time (or batch) order.

    ``timestamp`` with a pandas frequency (``"7D"``, ``"MS"``) makes calendar windows (empty
    ones included, so a gap shows); ``batch`` makes one window per value; ``window`` alone,
    an integer, makes runs of that many consecutive rows; nothing makes one window.
    """
    n = len(frame)
    if timestamp is not None and batch is not None:
        raise UsageError("give timestamp= or batch=, not both")
    if batch is not None:
        if window is not None:
            raise UsageError("window= has no meaning with batch=: each batch is a window")
        _need_column(frame, batch, "batch")
        codes, values = pd.factorize(frame[batch], sort=True, use_na_sentinel=True)
        if (codes < 0).any():
            raise UsageError(f"batch column {batch!r} has {int((codes < 0).sum())} missing values")
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))
        return [
            (str(value), value, order[bounds[k] : bounds[k + 1]]) for k, value in enumerate(values)
        ]
    if timestamp is not None:
        _need_column(frame, timestamp, "timestamp")
        when = parse_timestamps(frame[timestamp], timestamp)
        if window is None:
            raise UsageError(f"timestamp={timestamp!r} needs window= (a pandas frequency: '7D')")
        try:
            freq = pd.tseries.frequencies.to_offset(window)
        except (TypeError, ValueError) as err:
            raise UsageError(
                f"window={window!r} is not a pandas frequency ('1D', '7D', 'MS'): {err}"
            ) from None
        known = when.notna().to_numpy()
        positions = pd.Series(np.flatnonzero(known), index=pd.DatetimeIndex(when[known]))
        grouped = positions.groupby(pd.Grouper(freq=freq))
        if grouped.ngroups > MAX_WINDOWS:
            raise UsageError(
                f"window={window!r} makes {grouped.ngroups:,} windows of {timestamp!r}; at most "
                f"{MAX_WINDOWS:,}: choose a longer window"
            )
        return [
            (_day(start), start, np.sort(part.to_numpy(dtype="int64"))) for start, part in grouped
        ]
    if window is None:
        return [("all", 0, np.arange(n))]
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise UsageError(
            f"window={window!r}: without timestamp= a window is a number of rows (an int >= 1); "
            "with timestamp= it is a pandas frequency"
        )
    if math.ceil(n / window) > MAX_WINDOWS:
        raise UsageError(f"window={window} makes more than {MAX_WINDOWS:,} windows of {n:,} rows")
    return [
        (f"rows {s:,}-{min(s + window, n) - 1:,}", s, np.arange(s, min(s + window, n)))
        for s in range(0, n, window)
    ]


def _day(start: pd.Timestamp) -> str:
    return start.strftime("%Y-%m-%d") if start == start.normalize() else start.isoformat()


def parse_timestamps(series: pd.Series, column) -> pd.Series:
    """Timestamps of a column, or a UsageError naming it (missing values stay NaT)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ):
        return series
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise UsageError(
            f"timestamp column {column!r} holds numbers, not times: convert it with "
            "pandas.to_datetime(..., unit='s') first"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": the values decide below
        try:
            parsed = pd.to_datetime(series, errors="coerce", format="mixed")
        except (TypeError, ValueError, OverflowError) as err:
            raise UsageError(
                f"timestamp column {column!r} does not parse as times: {err}"
            ) from None
    bad = parsed.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise UsageError(
            f"timestamp column {column!r} does not parse as times: {int(bad.sum()):,} value(s) "
            f"such as {str(example)[:40]!r}"
        )
    return parsed


def _need_column(frame: pd.DataFrame, column, option: str) -> None:
    if column not in frame.columns:
        raise UsageError(f"{option} column {column!r} is not in the frame")


# -- labels and intervals ---------------------------------------------------------------------


def positive_label(values: pd.Series, positive=None):
    """The positive class: given, else 1 / True when present, else the larger of two."""
    if positive is not None:
        return positive
    classes = pd.unique(values.dropna())
    for candidate in (True, 1):
        if any(c is candidate or (not isinstance(c, str) and c == candidate) for c in classes):
            return candidate
    if len(classes) > 2:
        return None  # many classes: accuracy only, unless the caller names one
    return sorted(classes, key=str)[-1] if len(classes) else None


def z_value(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson(successes: float, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (good near 0 and 1, unlike the normal one)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def delong(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """ROC AUC and its standard error by DeLong's placement values (midranks, ties halved)."""
    from scipy.stats import rankdata

    pos, neg = scores[truth], scores[~truth]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return math.nan, math.nan
    combined = rankdata(np.concatenate([pos, neg]))
    # placement of each positive: the share of negatives below it; of each negative: above it
    v10 = (combined[:m] - rankdata(pos)) / n
    v01 = 1.0 - (combined[m:] - rankdata(neg)) / m
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    return auc, math.sqrt(max(var, 0.0))


def metric_with_interval(metric, truth, predicted, correct, scores, z) -> tuple:
    """One metric on labelled rows: value, low, high and the rows it rests on."""
    if metric == "roc_auc":
        auc, se = delong(scores, truth) if len(truth) else (math.nan, math.nan)
        if math.isnan(auc):
            return math.nan, math.nan, math.nan, len(truth)
        return auc, max(0.0, auc - z * se), min(1.0, auc + z * se), len(truth)
    if metric == "accuracy":
        hits, n = float(np.sum(correct)), len(correct)
    elif metric == "precision":
        hits, n = float(np.sum(truth & predicted)), int(np.sum(predicted))
    else:  # recall
        hits, n = float(np.sum(truth & predicted)), int(np.sum(truth))
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    low, high = wilson(hits, n, z)
    return hits / n, low, high, n


# -- the check --------------------------------------------------------------------------------


def _chosen_metrics(metrics, has_score: bool, has_prediction: bool) -> list[str]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    chosen = list(dict.fromkeys(metrics))
    unknown = [m for m in chosen if m not in KNOWN_METRICS]
    if unknown or not chosen:
        raise UsageError(f"metrics={metrics!r}: choose from {', '.join(KNOWN_METRICS)}")
    if not has_score:
        if tuple(metrics) == DEFAULT_METRICS:
            chosen = [m for m in chosen if m != "roc_auc"]  # the default asks what it can
        elif "roc_auc" in chosen:
            raise UsageError("metric 'roc_auc' needs score= (the column of predicted scores)")
    if not has_score and not has_prediction:
        raise UsageError("give prediction= (predicted labels) or score= (scores), or both")
    return chosen


def _labelled(frame, target, prediction, score, threshold, positive, binary_metrics=True):
    """Per row: labelled mask, truth (bool, positive class), predicted (bool), scores."""
    labels = frame[target]
    labelled = labels.notna().to_numpy().copy()
    scores = np.full(len(frame), np.nan)
    if score is not None:
        raw = frame[score]
        if not pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
            raise UsageError(f"score column {score!r} must hold numbers, not {raw.dtype}")
        scores = raw.to_numpy(dtype="float64", na_value=np.nan)
        labelled &= np.isfinite(scores)
    pos = positive_label(labels, positive)
    if pos is None and (prediction is None or binary_metrics):
        raise UsageError(
            f"target {target!r} has more than two classes: pass positive= (the class that "
            "ROC AUC, precision and recall are about) or metrics=('accuracy',) with prediction="
        )
    truth = (labels == pos).to_numpy(dtype=bool, na_value=False)
    if prediction is not None:
        predicted_raw = frame[prediction]
        labelled &= predicted_raw.notna().to_numpy()
        predicted = (predicted_raw == pos).to_numpy(dtype=bool, na_value=False)
        correct = (predicted_raw == labels).to_numpy(dtype=bool, na_value=False)
    else:
        predicted = np.nan_to_num(scores, nan=-np.inf) >= threshold
        correct = predicted == truth
    return labelled, truth, predicted, correct, scores


def _check_number(option: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise UsageError(f"{option} must be a number in [{low:g}, {high:g}], got {value!r}")


@check("performance_decay", version=1, roles={"frame": "current", "reference": "reference"})
def performance(
    frame: pd.DataFrame,
    *,
    target: str,
    prediction: str | None = None,
    score: str | None = None,
    window=None,
    timestamp: str | None = None,
    batch: str | None = None,
    metrics=DEFAULT_METRICS,
    reference=None,
    max_drop: float = 0.05,
    confidence: float = 0.95,
    min_rows: int = 100,
    threshold: float = 0.5,
    positive=None,
    name: str = "performance_decay",
) -> CheckResult:
    """Metrics per time window with intervals, against the reference performance.

    Parameters
    ----------
    frame : pandas.DataFrame
        Logged predictions joined with their outcomes; rows whose outcome has not arrived
        (missing ``target``) are left out of the metrics, and counted.
    target : str
        The outcome column.
    prediction : str, optional
        The predicted label column (default: ``score >= threshold``).
    score : str, optional
        The predicted score (probability of the positive class) column; needed for ROC AUC.
    window : str or int, optional
        With ``timestamp``, a pandas frequency (``"7D"``, ``"MS"``); alone, a number of
        consecutive rows per window. Default: one window.
    timestamp, batch : str, optional
        The column that places rows in time, or that names their batch (one window each).
    metrics : sequence of str
        Among ``accuracy``, ``roc_auc``, ``precision``, ``recall``. The default leaves out
        ROC AUC when no ``score`` is given.
    reference : float, dict or pandas.DataFrame, optional
        The performance to hold windows to: a number (one metric), a number per metric, or a
        reference frame scored the same way (same columns). None: metrics only, no alert.
    max_drop : float
        A window alerts when its metric is more than this below the reference and its
        interval excludes the reference value.
    confidence : float
        Level of the intervals.
    min_rows : int
        Labelled rows below which a window gets no interval and never alerts.
    threshold : float
        Score at or above which a row is predicted positive (without ``prediction``).
    positive : optional
        The positive class (default: 1 / True, else the larger of two labels).
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``fail`` when a window alerts, ``warn`` when a drop beyond ``max_drop`` is within the
        interval's reach; ``details``: one row per window and metric (``window``, ``start``,
        ``rows``, ``metric``, ``value``, ``low``, ``high``, ``reference``, ``drop``,
        ``alert``, ``note``).
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if not len(frame):
        raise UsageError("frame is empty: no predictions to judge")
    for option, column in (("target", target), ("prediction", prediction), ("score", score)):
        if column is not None:
            _need_column(frame, column, option)
    _check_number("max_drop", max_drop, 0.0, 1.0)
    _check_number("confidence", confidence, 0.5, 0.9999)
    _check_number("threshold", threshold, -math.inf, math.inf)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise UsageError(f"min_rows must be an int >= 1, got {min_rows!r}")
    chosen = _chosen_metrics(metrics, score is not None, prediction is not None)
    z = z_value(confidence)
    parts = windows(frame, window=window, timestamp=timestamp, batch=batch)
    labelled, *arrays = _labelled(
        frame, target, prediction, score, threshold, positive, chosen != ["accuracy"]
    )
    refs = _reference_values(reference, chosen, target, prediction, score, threshold, positive, z)

    rows = []
    for label, start, where in parts:
        keep = where[labelled[where]]
        for metric in chosen:
            value, low, high, _ = metric_with_interval(metric, *(a[keep] for a in arrays), z)
            ref = refs.get(metric, math.nan)
            rows.append([label, start, len(where), len(keep), metric, value, low, high, ref])
            rows[-1] += [ref - value, False, _note(metric, value, len(where), len(keep), min_rows)]
    details = pd.DataFrame(rows, columns=DETAIL_COLUMNS)
    small = details["note"].str.startswith("too few")
    details.loc[small, ["low", "high"]] = math.nan
    drop = details["drop"].to_numpy(dtype="float64", na_value=np.nan)
    beyond = np.nan_to_num(drop, nan=-1.0) > max_drop
    excludes = details["high"].to_numpy(dtype="float64", na_value=np.nan) < details[
        "reference"
    ].to_numpy(dtype="float64", na_value=np.nan)
    details["alert"] = beyond & excludes & ~small.to_numpy()
    details.loc[beyond & ~details["alert"].to_numpy() & (details["note"] == ""), "note"] = (
        "drop within the interval's reach"
    )
    return _result(name, details, chosen, refs, max_drop, confidence, min_rows, len(frame))


def _reference_values(reference, chosen, target, prediction, score, threshold, positive, z):
    """A value per metric from a number, a mapping or a reference frame."""
    if reference is None:
        return {}
    if isinstance(reference, pd.DataFrame):
        missing = [c for c in (target, prediction, score) if c is not None and c not in reference]
        if missing:
            raise UsageError(f"reference frame lacks column(s) {missing}: score it the same way")
        if not len(reference):
            raise UsageError("reference frame is empty")
        labelled, *arrays = _labelled(
            reference, target, prediction, score, threshold, positive, chosen != ["accuracy"]
        )
        return {m: metric_with_interval(m, *(a[labelled] for a in arrays), z)[0] for m in chosen}
    if isinstance(reference, int | float) and not isinstance(reference, bool):
        if len(chosen) != 1:
            raise UsageError(
                f"reference={reference!r} is one number for {len(chosen)} metrics: pass a dict "
                f"such as {{'accuracy': 0.85, 'roc_auc': 0.90}}"
            )
        reference = {chosen[0]: reference}
    if not isinstance(reference, dict):
        raise UsageError(
            f"reference must be a number, a dict of numbers or a DataFrame, not "
            f"{type(reference).__name__}"
        )
    unknown = [k for k in reference if k not in chosen]
    if unknown:
        raise UsageError(f"reference names metric(s) {unknown} not among metrics {chosen}")
    for key, value in reference.items():
        _check_number(f"reference[{key!r}]", value, 0.0, 1.0)
    return {k: float(v) for k, v in reference.items()}


def _note(metric: str, value: float, rows: int, labelled: int, min_rows: int) -> str:
    if labelled == 0:
        return "no outcomes yet" if rows else "no rows"
    if math.isnan(value):
        return "one class only: ROC AUC undefined" if metric == "roc_auc" else "undefined"
    if labelled < min_rows:
        return f"too few rows ({labelled} labelled < {min_rows}): no interval, no alert"
    return ""


def _result(name, details, chosen, refs, max_drop, confidence, min_rows, n) -> CheckResult:
    alerts = details[details["alert"]]
    judged = details["value"].notna()
    metrics: dict = {
        "windows": int(details["window"].nunique()),
        "windows_alerting": int(alerts["window"].nunique()),
        "rows": n,
        "rows_labelled": int(details.drop_duplicates("window")["labelled"].sum()),
    }
    for metric in chosen:
        values = details.loc[details["metric"] == metric, "value"].dropna()
        metrics[f"{metric}_min"] = float(values.min()) if len(values) else math.nan
        if metric in refs:
            metrics[f"{metric}_reference"] = refs[metric]
    drops = details["drop"].dropna()
    if len(drops):
        metrics["worst_drop"] = float(drops.max())
    metrics = {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
    thresholds = {"worst_drop": max_drop, "confidence": confidence, "min_rows": min_rows}
    level = f"{confidence:.0%}"
    if len(alerts):
        worst = alerts.loc[alerts["drop"].idxmax()]
        status = "fail"
        summary = (
            f"performance decayed in {metrics['windows_alerting']} of {metrics['windows']} "
            f"window(s): {worst['metric']} in window {worst['window']} is {worst['value']:.3f}, "
            f"{worst['drop']:.3f} below the reference {worst['reference']:.3f} (more than "
            f"{max_drop:g}; {level} interval {worst['low']:.3f}-{worst['high']:.3f} excludes it)"
        )
    elif not refs:
        status = "pass"
        summary = (
            f"{int(judged.sum())} window metric(s) measured over {metrics['windows']} window(s); "
            "no reference given, so nothing to compare with"
        )
    else:
        near = details[details["note"] == "drop within the interval's reach"]
        status = "warn" if len(near) else "pass"
        if len(near):
            first = near.loc[near["drop"].idxmax()]
            summary = (
                f"{first['metric']} in window {first['window']} is {first['drop']:.3f} below the "
                f"reference, but its {level} interval {first['low']:.3f}-{first['high']:.3f} "
                "still reaches it: watch, no alert"
            )
        else:
            summary = (
                f"no decay: every metric within {max_drop:g} of the reference, or not "
                f"significantly below it, in {metrics['windows']} window(s)"
            )
    small = int(details["note"].str.startswith("too few").sum())
    if small:
        summary += f"; {small} window metric(s) with too few rows (< {min_rows}) not judged"
    return CheckResult(name, status, summary, metrics, thresholds, details)


# -- the card ---------------------------------------------------------------------------------


def _body(result) -> str:
    from ._estimate import timeline_svg  # the drawing both kinds share

    details = result.details
    pictures = []
    if len(details) and {"metric", "value", "low", "high", "reference"} <= set(details.columns):
        for metric, part in details.groupby("metric", sort=False):
            ref = part["reference"].dropna()
            svg = timeline_svg(
                metric,
                [(metric, part["value"], "#1a73e8")],
                band=(part["low"], part["high"]),
                hlines=[("reference", float(ref.iloc[0]), "#5f6368")] if len(ref) else (),
                marks=part["alert"].to_numpy(dtype=bool) if "alert" in part else None,
            )
            if svg:
                pictures.append(svg_image(svg, alt=f"{metric} per window with its interval"))
    table = metrics_table(result.metrics, result.thresholds) + findings_table(details)
    return "".join(pictures) + table


register_renderer("performance_decay", body=_body, filters=("metric", "window"), measure=())
