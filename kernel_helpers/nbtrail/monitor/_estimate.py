"""Performance without labels: what a calibrated classifier's own scores say it is achieving.

Confidence-based performance estimation (the idea behind NannyML's CBPE, written here from the
idea): when a score ``p`` is a calibrated probability, a row predicted positive is right with
probability ``p`` and a row predicted negative with probability ``1 - p``. So the expected
confusion matrix at a threshold ``t`` is TP = sum of ``p`` over rows with ``p >= t``, FP = the
sum of ``1 - p`` there, FN and TN likewise below ``t``; the expected accuracy is the mean of
``max``-side confidence, and the expected ROC curve follows from the expected true and false
positive counts at every threshold. Its expected area, counting each pair of distinct rows
once (a row is never both a positive and a negative), is the estimate of ROC AUC.

The interval is where the realised value would fall if the scores are calibrated: labels are
drawn as independent coin flips with probabilities ``p`` (the Poisson-binomial law of the
confusion counts), and the realised metric is computed for each draw. It says nothing about
miscalibration, the method's one assumption: hence the guard on a labelled reference, and the
realised value beside the estimate once outcomes arrive.
"""

from __future__ import annotations

import math
from html import escape as _html_escape

import numpy as np
import pandas as pd

from ..checks import CheckResult, check, findings_table, metrics_table, register_renderer, svg_image
from ..errors import UsageError
from ._performance import delong, positive_label, windows

__all__ = [
    "calibration_error",
    "estimate_performance",
    "expected_accuracy",
    "expected_roc_auc",
    "timeline_svg",
]

METRICS = ("accuracy", "roc_auc")
DETAIL_COLUMNS = (
    "window start rows metric estimate low high labelled realised error limit alert note".split()
)
_BLOCK = 4_000_000  # simulated labels held at once (booleans): bounded memory per window


def expected_accuracy(p: np.ndarray, threshold: float = 0.5) -> float:
    """Expected accuracy of calibrated probabilities ``p`` at ``threshold``."""
    p = np.asarray(p, dtype="float64")
    return float(np.mean(np.where(p >= threshold, p, 1.0 - p))) if len(p) else math.nan


def expected_roc_auc(p: np.ndarray) -> float:
    """Expected ROC AUC of calibrated probabilities ``p`` (pairs of distinct rows, ties half).

    Sorting the scores, a row's expected count of negatives ranked below it is the sum of
    ``1 - p`` of lower scores (plus half those tied with it, itself excluded); weighted by the
    row's own chance ``p`` of being positive and divided by the expected number of
    positive-negative pairs, that is the area under the expected ROC curve.
    """
    p = np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)
    if len(p) < 2:
        return math.nan
    values, inverse = np.unique(p, return_inverse=True)
    neg_per_value = np.bincount(inverse, weights=1.0 - p, minlength=len(values))
    below = np.concatenate([[0.0], np.cumsum(neg_per_value)[:-1]])
    # negatives under each row: strictly lower scores, plus half the tied ones but itself
    under = below[inverse] + 0.5 * (neg_per_value[inverse] - (1.0 - p))
    pairs = p.sum() * (1.0 - p).sum() - float(np.sum(p * (1.0 - p)))
    return float(np.sum(p * under) / pairs) if pairs > 0 else math.nan


def calibration_error(p: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: mean |mean score - positive share| over equal-width bins."""
    p = np.asarray(p, dtype="float64")
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=p, minlength=bins)
        - np.bincount(which, weights=truth.astype(float), minlength=bins)
    )
    return float(gap.sum() / max(1, count.sum()))


def _simulated(p: np.ndarray, threshold: float, draws: int, confidence: float, seed: int):
    """Intervals of realised accuracy and ROC AUC over labels drawn from the scores."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    n = len(p)
    ranks = rankdata(p)
    predicted = p >= threshold
    accuracy, auc = [], []
    step = max(1, _BLOCK // max(n, 1))
    for start in range(0, draws, step):
        labels = rng.random((min(step, draws - start), n)) < p  # one draw of outcomes per row
        accuracy.append((labels == predicted).mean(axis=1))
        positives = labels.sum(axis=1).astype(float)
        negatives = n - positives
        rank_sum = labels.astype(float) @ ranks
        with np.errstate(invalid="ignore", divide="ignore"):
            auc.append((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))
    tail = (1 - confidence) / 2 * 100
    out = {}
    for metric, values in (("accuracy", accuracy), ("roc_auc", auc)):
        values = np.concatenate(values)
        values = values[np.isfinite(values)]
        out[metric] = (
            tuple(np.percentile(values, [tail, 100 - tail])) if len(values) else (math.nan,) * 2
        )
    return out


def _inputs(scores, score, target, timestamp, batch):
    """A frame with the score column (and the target) from a frame, Series or array."""
    if isinstance(scores, pd.DataFrame):
        column = score if score is not None else "score"
        if column not in scores.columns:
            raise UsageError(
                f"score column {column!r} is not in the frame: pass score= (the column of "
                "predicted probabilities)"
            )
        if isinstance(target, str) and target not in scores.columns:
            raise UsageError(f"target column {target!r} is not in the frame")
        return scores, column, target
    if timestamp is not None or batch is not None:
        raise UsageError("timestamp= and batch= name columns: pass scores as a DataFrame")
    values = np.asarray(scores)
    if values.ndim != 1:
        raise UsageError(f"scores must be one-dimensional (probabilities), got {values.shape}")
    frame = pd.DataFrame({"score": values})
    if target is not None and not isinstance(target, str):
        labels = np.asarray(target, dtype=object)
        if labels.ndim != 1 or len(labels) != len(frame):
            raise UsageError(f"target has shape {labels.shape} for {len(frame)} scores")
        frame["target"] = labels
        target = "target"
    return frame, "score", target


def _probabilities(values: pd.Series, column) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise UsageError(f"score column {column!r} must hold probabilities, not {values.dtype}")
    p = values.to_numpy(dtype="float64", na_value=np.nan)
    finite = p[np.isfinite(p)]
    if len(finite) and (finite.min() < 0 or finite.max() > 1):
        raise UsageError(
            f"score column {column!r} holds values outside [0, 1]: the label-free estimate "
            "needs calibrated probabilities (predict_proba), not decision scores"
        )
    return p


@check(
    "estimated_performance",
    version=1,
    roles={"scores": "current", "reference_scores": "reference"},
)
def estimate_performance(
    scores,
    *,
    score: str | None = None,
    target=None,
    window=None,
    timestamp: str | None = None,
    batch: str | None = None,
    metrics=METRICS,
    threshold: float = 0.5,
    reference_scores=None,
    reference_labels=None,
    calibrate: bool = False,
    min_accuracy: float | None = None,
    min_roc_auc: float | None = 0.80,
    max_calibration_error: float = 0.05,
    confidence: float = 0.95,
    min_rows: int = 100,
    draws: int = 400,
    positive=None,
    random_state: int = 0,
    name: str = "estimated_performance",
) -> CheckResult:
    """Estimate accuracy and ROC AUC per window from a calibrated classifier's scores alone.

    Parameters
    ----------
    scores : pandas.DataFrame, Series or array
        Predicted probabilities of the positive class: a frame (with ``score``, and the
        ``timestamp`` / ``batch`` / ``target`` columns), or the scores themselves.
    score : str, optional
        The score column of a frame (default ``"score"``).
    target : str or array, optional
        Outcomes where known (missing for windows whose outcomes have not arrived): the
        realised value and the estimate's error are shown beside the estimate.
    window, timestamp, batch
        Windows as in :func:`performance`: a frequency with ``timestamp``, one per ``batch``
        value, or a number of consecutive rows; default one window.
    metrics : sequence of str
        ``accuracy`` and / or ``roc_auc``.
    threshold : float
        Score at or above which a row is predicted positive (for accuracy).
    reference_scores, reference_labels : array, optional
        A labelled reference (the test set): its calibration error is checked (the method
        assumes calibrated scores) and, with ``calibrate=True``, an isotonic map fitted on it
        recalibrates the scores first.
    calibrate : bool
        Recalibrate the scores on the reference before estimating.
    min_accuracy, min_roc_auc : float, optional
        An estimate below these fails the check (None: no limit).
    max_calibration_error : float
        Reference expected calibration error above which the check warns that estimates
        cannot be trusted.
    confidence : float
        Level of the intervals.
    min_rows : int
        Rows below which a window gets no interval and never alerts.
    draws : int
        Simulated outcome draws per window for the interval.
    positive : optional
        The positive class among the target's values (default: 1 / True, else the larger).
    random_state : int
        Seed of the simulated draws.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``fail`` when an estimate is below its limit, ``warn`` when the reference shows poor
        calibration; ``details``: one row per window and metric (``estimate``, ``low``,
        ``high``, ``labelled``, ``realised``, ``error`` = estimate - realised, ``alert``).
    """
    frame, column, target = _inputs(scores, score, target, timestamp, batch)
    if not len(frame):
        raise UsageError("scores are empty: nothing to estimate")
    if isinstance(metrics, str):
        metrics = (metrics,)
    chosen = list(dict.fromkeys(metrics))
    if not chosen or any(m not in METRICS for m in chosen):
        raise UsageError(f"metrics={metrics!r}: the estimate knows {', '.join(METRICS)}")
    for option, value, low, high in (
        ("threshold", threshold, 0.0, 1.0),
        ("confidence", confidence, 0.5, 0.9999),
        ("max_calibration_error", max_calibration_error, 0.0, 1.0),
        ("min_accuracy", min_accuracy, 0.0, 1.0),
        ("min_roc_auc", min_roc_auc, 0.0, 1.0),
    ):
        if value is None and option.startswith("min_"):
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise UsageError(f"{option} must be a number in [{low:g}, {high:g}], got {value!r}")
    for option, value in (("min_rows", min_rows), ("draws", draws)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{option} must be an int >= 1, got {value!r}")
    p = _probabilities(frame[column], column)
    guard = _reference(reference_scores, reference_labels, positive, threshold)
    if calibrate:
        if guard is None:
            raise UsageError("calibrate=True needs reference_scores and reference_labels")
        p = np.where(np.isfinite(p), guard.pop("calibrator").predict(np.nan_to_num(p)), np.nan)
    elif guard is not None:
        guard.pop("calibrator")
    truth = labelled = None
    if target is not None:
        outcomes = frame[target]
        pos = positive_label(outcomes, positive)
        if pos is None:
            raise UsageError("target has more than two classes: pass positive= (the class scored)")
        labelled = outcomes.notna().to_numpy() & np.isfinite(p)
        truth = (outcomes == pos).to_numpy(dtype=bool, na_value=False)
    limits = {"accuracy": min_accuracy, "roc_auc": min_roc_auc}
    rows = []
    parts = windows(frame, window=window, timestamp=timestamp, batch=batch)
    for k, (label, start, where) in enumerate(parts):
        where = where[np.isfinite(p[where])]
        q = p[where]
        small = len(q) < min_rows
        sims = (
            _simulated(q, threshold, draws, confidence, random_state + k)
            if not small and len(q) >= 2
            else {}
        )
        known = where[labelled[where]] if labelled is not None else where[:0]
        for metric in chosen:
            est = expected_accuracy(q, threshold) if metric == "accuracy" else expected_roc_auc(q)
            low, high = sims.get(metric, (math.nan, math.nan))
            realised = math.nan
            if len(known):
                t = truth[known]
                realised = (
                    float(np.mean((p[known] >= threshold) == t))
                    if metric == "accuracy"
                    else delong(p[known], t)[0]
                )
            limit = limits[metric]
            alert = bool(limit is not None and not small and np.isfinite(est) and est < limit)
            note = f"too few rows ({len(q)} < {min_rows}): no interval, no alert" if small else ""
            rows.append(
                {
                    "window": label,
                    "start": start,
                    "rows": len(q),
                    "metric": metric,
                    "estimate": est,
                    "low": low,
                    "high": high,
                    "labelled": len(known),
                    "realised": realised,
                    "error": est - realised,
                    "limit": math.nan if limit is None else float(limit),
                    "alert": alert,
                    "note": note or ("" if len(q) else "no scores"),
                }
            )
    details = pd.DataFrame(rows, columns=DETAIL_COLUMNS)
    return _result(name, details, guard, limits, max_calibration_error, confidence, len(frame))


def _reference(scores, labels, positive, threshold) -> dict | None:
    """The calibration guard: reference calibration error, estimate and realised values."""
    if scores is None and labels is None:
        return None
    if scores is None or labels is None:
        raise UsageError("give reference_scores and reference_labels together")
    p = _probabilities(pd.Series(np.asarray(scores, dtype="float64")), "reference_scores")
    labels = pd.Series(np.asarray(labels, dtype=object))
    if len(labels) != len(p):
        raise UsageError(f"reference_labels has {len(labels)} values for {len(p)} scores")
    keep = np.isfinite(p) & labels.notna().to_numpy()
    if keep.sum() < 2:
        raise UsageError("reference_scores and reference_labels have fewer than 2 usable rows")
    p, labels = p[keep], labels[keep]
    truth = (labels == positive_label(labels, positive)).to_numpy(dtype=bool)
    from sklearn.isotonic import IsotonicRegression

    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    calibrator.fit(p, truth.astype(float))
    return {
        "calibrator": calibrator,
        "reference_calibration_error": calibration_error(p, truth),
        "reference_roc_auc": delong(p, truth)[0],
        "reference_roc_auc_estimate": expected_roc_auc(p),
        "reference_accuracy": float(np.mean((p >= threshold) == truth)),
        "reference_accuracy_estimate": expected_accuracy(p, threshold),
    }


def _result(name, details, guard, limits, max_ece, confidence, n) -> CheckResult:
    metrics: dict = {"windows": int(details["window"].nunique()), "rows": n}
    for metric in details["metric"].unique():
        part = details[details["metric"] == metric]
        if part["estimate"].notna().any():
            metrics[f"{metric}_estimate_min"] = float(part["estimate"].min())
        errors = part["error"].dropna()
        if len(errors):
            metrics[f"{metric}_mean_abs_error"] = float(errors.abs().mean())
    judged = details.dropna(subset=["error", "low", "high"])
    if len(judged):
        inside = (judged["realised"] >= judged["low"]) & (judged["realised"] <= judged["high"])
        metrics["interval_coverage"] = float(inside.mean())
    thresholds = {
        f"{m}_estimate_min": v
        for m, v in limits.items()
        if v is not None and f"{m}_estimate_min" in metrics
    }
    if guard is not None:
        metrics.update({k: v for k, v in guard.items() if np.isfinite(v)})
        thresholds["reference_calibration_error"] = max_ece
    thresholds["confidence"] = confidence
    alerts = details[details["alert"]]
    metrics["windows_alerting"] = int(alerts["window"].nunique())
    poorly = guard is not None and guard["reference_calibration_error"] > max_ece
    if len(alerts):
        worst = alerts.loc[(alerts["limit"] - alerts["estimate"]).idxmax()]
        status = "fail"
        summary = (
            f"estimated {worst['metric']} in window {worst['window']} is {worst['estimate']:.3f}, "
            f"below the {worst['limit']:g} limit ({confidence:.0%} interval "
            f"{worst['low']:.3f}-{worst['high']:.3f}); {metrics['windows_alerting']} of "
            f"{metrics['windows']} window(s) below their limit, estimated without labels"
        )
    else:
        status = "pass"
        shown = ", ".join(
            f"{m} {metrics[f'{m}_estimate_min']:.3f}"
            for m in details["metric"].unique()
            if f"{m}_estimate_min" in metrics
        )
        summary = f"estimated performance above its limits in {metrics['windows']} window(s)"
        summary += f" (lowest: {shown})" if shown else ""
    if poorly:
        status = "warn" if status == "pass" else status
        summary += (
            f"; scores look miscalibrated on the reference (calibration error "
            f"{guard['reference_calibration_error']:.3f} > {max_ece:g}): the estimate assumes "
            "calibrated probabilities, so pass calibrate=True or calibrate the model"
        )
    if "interval_coverage" in metrics:
        err = ", ".join(
            f"{m} {metrics[k]:.3f}"
            for m in details["metric"].unique()
            if (k := f"{m}_mean_abs_error") in metrics
        )
        summary += f"; where outcomes arrived, mean |estimate - realised|: {err}"
    return CheckResult(name, status, summary, metrics, thresholds, details)


# -- the card: a timeline both kinds draw ----------------------------------------------------

_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 460, 150, 40, 90, 18, 22


def timeline_svg(title: str, lines, *, band=None, hlines=(), marks=None) -> str:
    """A small timeline: lines over windows, interval whiskers, horizontal reference lines.

    ``lines``: ``(name, values, colour)``; ``band``: ``(low, high)`` per window; ``hlines``:
    ``(name, value, colour)``; ``marks``: a boolean per window, a red dot on the first line.
    """
    values = [np.asarray(v, dtype="float64") for _, v, _ in lines]
    band = [np.asarray(b, dtype="float64") for b in band] if band is not None else []
    level = [float(h) for _, h, _ in hlines]
    pool = np.concatenate([*values, *band, np.asarray(level)]) if values else np.array([])
    pool = pool[np.isfinite(pool)]
    count = len(values[0]) if values else 0
    if not count or not len(pool):
        return ""
    top, bottom = float(pool.max()), float(pool.min())
    pad = max((top - bottom) * 0.1, 0.01)
    inner_w, inner_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(i):
        return _PAD_L + inner_w * (i + 0.5) / count

    def y(v):
        return _PAD_T + inner_h * (top + pad - v) / (top - bottom + 2 * pad)

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
        f"font-family='sans-serif' font-size='10'><text x='{_PAD_L}' y='12' "
        f"font-weight='bold'>{_escape(title)}</text>"
        f"<text x='2' y='{y(top) + 3:.1f}'>{top:.3f}</text>"
        f"<text x='2' y='{y(bottom) + 3:.1f}'>{bottom:.3f}</text>"
        f"<line x1='{_PAD_L}' y1='{_H - _PAD_B}' x2='{_W - _PAD_R}' y2='{_H - _PAD_B}' "
        "stroke='#bbb'/>"
    ]
    if band:
        for i in np.flatnonzero(np.isfinite(band[0]) & np.isfinite(band[1])):
            out.append(
                f"<line x1='{x(i):.1f}' y1='{y(band[0][i]):.1f}' x2='{x(i):.1f}' "
                f"y2='{y(band[1][i]):.1f}' stroke='#1a73e8' stroke-opacity='0.3' "
                f"stroke-width='{max(2.0, min(10.0, inner_w / count * 0.5)):.1f}'/>"
            )
    for k, (label, value, colour) in enumerate(hlines):
        if np.isfinite(value):
            out.append(
                f"<line x1='{_PAD_L}' y1='{y(value):.1f}' x2='{_W - _PAD_R}' y2='{y(value):.1f}' "
                f"stroke='{colour}' stroke-dasharray='4 3'/><text x='{_W - _PAD_R + 4}' "
                f"y='{y(value) + 3 + 10 * k:.1f}' fill='{colour}'>"
                f"{_escape(label)} {value:.3f}</text>"
            )
    for k, ((label, _, colour), vals) in enumerate(zip(lines, values, strict=True)):
        for i in range(count - 1):  # a line breaks where a window has no value
            if np.isfinite(vals[i]) and np.isfinite(vals[i + 1]):
                out.append(
                    f"<line x1='{x(i):.1f}' y1='{y(vals[i]):.1f}' x2='{x(i + 1):.1f}' "
                    f"y2='{y(vals[i + 1]):.1f}' stroke='{colour}'/>"
                )
        for i in np.flatnonzero(np.isfinite(vals)):
            red = marks is not None and k == 0 and bool(marks[i])
            out.append(
                f"<circle cx='{x(i):.1f}' cy='{y(vals[i]):.1f}' r='{3.5 if red else 2.2}' "
                f"fill='{'#d93025' if red else colour}'/>"
            )
        out.append(
            f"<text x='{_PAD_L + 90 * k}' y='{_H - 6}' fill='{colour}'>&#9679; {_escape(label)}"
            "</text>"
        )
    out.append(f"<text x='{_W - _PAD_R - 70}' y='{_H - 6}' fill='#5f6368'>{count} window(s)</text>")
    return "".join(out) + "</svg>"


def _body(result) -> str:
    details = result.details
    pictures = []
    if len(details) and {"metric", "estimate", "realised"} <= set(details.columns):
        for metric, part in details.groupby("metric", sort=False):
            limit = part["limit"].dropna()
            svg = timeline_svg(
                f"{metric}: estimate and realised",
                [
                    ("estimate", part["estimate"], "#1a73e8"),
                    ("realised", part["realised"], "#e37400"),
                ],
                band=(part["low"], part["high"]),
                hlines=[("limit", float(limit.iloc[0]), "#d93025")] if len(limit) else (),
                marks=part["alert"].to_numpy(dtype=bool),
            )
            if svg:
                pictures.append(svg_image(svg, alt=f"estimated and realised {metric} per window"))
    return (
        "".join(pictures)
        + metrics_table(result.metrics, result.thresholds)
        + findings_table(details)
    )


register_renderer("estimated_performance", body=_body, filters=("metric", "window"), measure=())


def _escape(value) -> str:
    return _html_escape(str(value), quote=True)
