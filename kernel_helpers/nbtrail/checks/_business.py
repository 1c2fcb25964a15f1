"""``business_value``: what a classifier's decisions are worth, not only how accurate they are.

Accuracy counts every mistake alike; a business does not. Given the value (or cost) of each
outcome (a true positive, a false positive, a true negative, a false negative), the check
reports the expected value per decision at the model's current threshold, the threshold that
would maximise it, and the value of the best decision made without the model (accept
everyone, or no one), with bootstrap intervals, beside accuracy.

The exact optimum scans every distinct score after one sort (cumulative sums give the
confusion counts at every threshold, O(n log n)). The bootstrap is exact for everything it
reports without touching rows: every value it needs depends only on how many positives and
negatives fall between consecutive thresholds of a grid, and resampling rows with replacement
draws those counts from one multinomial, so a resample costs the size of the grid, not n.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._registry import check
from ._result import CheckResult

__all__ = ["business_value", "parse_value_matrix"]

OUTCOMES = ("tp", "fp", "tn", "fn")
GRID_QUANTILES = 257  # resample optimum: searched over score quantiles (plus key thresholds)
CHART_POINTS = 101  # value-by-threshold table: 0, 0.01, ..., 1 (plus current and optimal)
_CONSTANTS = ("best_constant", "accept_all", "reject_all")


# -- input ---------------------------------------------------------------------------------


def parse_value_matrix(text: str, *, parameter: str = "value_matrix") -> dict[str, float]:
    """``"tp=50, fp=-10, tn=0, fn=0"`` as a value matrix (for template parameters and CLIs)."""
    out = {}
    for item in str(text).split(","):
        key, sep, number = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip().lower()] = float(number)
        except ValueError:
            raise UsageError(
                f"{parameter}: {item.strip()!r} is not OUTCOME=NUMBER "
                "(write it as 'tp=50, fp=-10, tn=0, fn=0')"
            ) from None
    return out


def _outcome_values(value_matrix, cost_matrix) -> dict[str, float]:
    """The value of each outcome, from a benefit matrix or a cost matrix (negated)."""
    if (value_matrix is None) == (cost_matrix is None):
        raise UsageError(
            "business_value needs exactly one of value_matrix= (benefit per outcome) or "
            "cost_matrix= (cost per outcome), e.g. cost_matrix={'tp': 0, 'fp': 1, 'tn': 0, "
            f"'fn': 10}}; got {'both' if value_matrix is not None else 'neither'}"
        )
    what, matrix = (
        ("value_matrix", value_matrix) if value_matrix is not None else ("cost_matrix", cost_matrix)
    )
    if isinstance(matrix, dict):
        given = {}
        for key, cell in matrix.items():
            plain = key.lower() if isinstance(key, str) else key
            if plain not in OUTCOMES:
                raise UsageError(
                    f"{what} has an unknown key {key!r}: the keys are tp, fp, tn and fn"
                )
            given[plain] = cell
        missing = [k for k in OUTCOMES if k not in given]
        if missing:
            raise UsageError(
                f"{what} lacks the key(s) {', '.join(missing)}: give all of tp, fp, tn and fn "
                "(0 where an outcome is worth nothing)"
            )
    else:
        try:
            grid = np.asarray(matrix, dtype=float)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{what} must be a dict or a 2x2 array of numbers: {exc}") from None
        if grid.shape != (2, 2):
            raise UsageError(
                f"{what} must be a dict (tp, fp, tn, fn) or 2x2 like sklearn's confusion_matrix "
                f"[[tn, fp], [fn, tp]]; got shape {grid.shape}"
            )
        given = {"tn": grid[0, 0], "fp": grid[0, 1], "fn": grid[1, 0], "tp": grid[1, 1]}
    out = {}
    for key in OUTCOMES:
        cell = given[key]
        if isinstance(cell, bool | np.bool_) or not isinstance(cell, Real | np.number):
            raise UsageError(f"{what}[{key!r}] must be a number, got {cell!r}")
        if not math.isfinite(float(cell)):
            raise UsageError(f"{what}[{key!r}] must be finite, got {cell!r}")
        out[key] = float(cell) if what == "value_matrix" else -float(cell)
    return out


def _binary_truth(y_true, positive) -> np.ndarray:
    """``y_true`` as booleans (True for the positive class)."""
    labels = y_true.to_numpy() if isinstance(y_true, pd.Series | pd.Index) else np.asarray(y_true)
    if labels.ndim != 1:
        raise UsageError(f"y_true must be one-dimensional, got shape {labels.shape}")
    if len(labels) == 0:
        raise UsageError("y_true is empty: business_value needs labelled rows")
    missing = int(pd.isna(labels).sum())
    if missing:
        raise UsageError(f"y_true has {missing} missing value(s): drop or fill those rows first")
    seen = list(pd.unique(labels))
    if len(seen) > 2:
        shown = ", ".join(repr(v) for v in seen[:6]) + (", ..." if len(seen) > 6 else "")
        raise UsageError(
            f"y_true is not binary: it has {len(seen)} labels ({shown}); business_value "
            "judges yes/no decisions"
        )
    if positive is not None:
        if len(seen) == 2 and not any(positive == v for v in seen):
            raise UsageError(f"positive={positive!r} is not one of y_true's labels {seen}")
        return np.asarray(labels == positive, dtype=bool)
    if labels.dtype.kind == "b":
        return labels
    if all(isinstance(v, Real | np.number) and v in (0, 1) for v in seen):
        return np.asarray(labels == 1, dtype=bool)
    raise UsageError(
        f"which label of y_true is positive? It has {seen}: pass positive= naming the one "
        "whose score y_score gives"
    )


def _scores(y_score, n: int) -> np.ndarray:
    """``y_score`` as probabilities of the positive class (column 1 of ``predict_proba``)."""
    try:
        scores = np.asarray(y_score, dtype=float)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"y_score must be numbers (probabilities): {exc}") from None
    if scores.ndim == 2 and scores.shape[1] in (1, 2):
        scores = scores[:, -1]
    if scores.ndim != 1:
        raise UsageError(
            f"y_score must be 1-D probabilities or 2-column predict_proba output, got shape "
            f"{scores.shape}"
        )
    if len(scores) != n:
        raise UsageError(f"y_score has {len(scores)} rows but y_true has {n}")
    bad = int(np.isnan(scores).sum())
    if bad:
        raise UsageError(f"y_score has {bad} missing (NaN) value(s)")
    low, high = float(scores.min()), float(scores.max())
    if low < 0 or high > 1:
        raise UsageError(
            f"y_score must be probabilities in [0, 1]; got values from {low:.4g} to {high:.4g} "
            "(pass predict_proba's positive column, not decision_function)"
        )
    return scores


def _number(value, what: str, *, low=None, high=None) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real | np.number):
        raise UsageError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if (
        not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        span = f" in [{low:g}, {high:g}]" if low is not None and high is not None else ""
        raise UsageError(f"{what} must be a finite number{span}, got {value!r}")
    return value


# -- arithmetic ----------------------------------------------------------------------------


def _value(v: dict, tp, fp, pos, neg, n):
    """Value per decision from confusion counts (arrays broadcast: thresholds, resamples)."""
    return (v["tp"] * tp + v["fp"] * fp + v["tn"] * (neg - fp) + v["fn"] * (pos - tp)) / n


def _optimum(y: np.ndarray, s: np.ndarray, v: dict):
    """The exact best threshold over every distinct score: threshold, value, accuracy, grid.

    Decisions accept ``score >= threshold``. Rejecting everyone is a candidate too: its
    threshold is just above the largest score. Of tied thresholds the highest wins. The grid
    is the scores' quantiles, read off the same sort.
    """
    n, pos = len(y), int(y.sum())
    order = np.argsort(s)[::-1]
    ranked = s[order]
    tp = np.cumsum(y[order])
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    tp, fp = tp[ends], ends + 1 - tp[ends]
    values = _value(v, tp, fp, pos, n - pos, n)
    none = _value(v, 0, 0, pos, n - pos, n)
    grid = ranked[np.linspace(0, n - 1, GRID_QUANTILES).round().astype(np.int64)]
    best = int(np.argmax(values))
    if none >= values[best]:
        return float(np.nextafter(ranked[0], np.inf)), float(none), (n - pos) / n, grid
    accuracy = (tp[best] + (n - pos - fp[best])) / n
    return float(ranked[ends[best]]), float(values[best]), float(accuracy), grid


def _tally(y: np.ndarray, s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Positives and negatives per bin between sorted ``edges``: shape (len(edges) + 1, 2)."""
    bins = np.searchsorted(edges, s, side="right")
    return np.bincount(bins * 2 + y, minlength=2 * (len(edges) + 1)).reshape(-1, 2)


def _accepted(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tp, fp) at each edge from bin counts (..., bins, 2): a score >= edge j is in bin > j."""
    tail = np.flip(np.cumsum(np.flip(counts, axis=-2), axis=-2), axis=-2)[..., 1:, :]
    return tail[..., 1], tail[..., 0]


# -- the check -----------------------------------------------------------------------------


@check(
    "business_value",
    version=1,
    roles={"model": "model", "data": "data", "y_true": "labels", "y_score": "scores"},
)
def business_value(
    y_true,
    y_score,
    *,
    value_matrix=None,
    cost_matrix=None,
    positive=None,
    threshold: float = 0.5,
    min_value: float | None = None,
    baseline: Literal["best_constant", "accept_all", "reject_all"] | float = "best_constant",
    n_boot: int = 500,
    ci: float = 0.95,
    random_state: int = 0,
    model=None,
    data=None,
    name: str = "business_value",
) -> CheckResult:
    """Expected value per decision at the current threshold, the best threshold, the lift.

    Parameters
    ----------
    y_true : array-like
        True labels: bool, 0/1, or two labels with ``positive=`` naming the positive one.
    y_score : array-like
        Probabilities of the positive class (1-D), or ``predict_proba`` output with two
        columns (column 1 is taken). A row is accepted when ``score >= threshold``.
    value_matrix, cost_matrix : dict or 2x2 array-like
        Exactly one: the value of each outcome (``value_matrix``) or its cost
        (``cost_matrix``, a negative value). A dict needs all of ``tp``, ``fp``, ``tn``,
        ``fn``; an array is laid out like sklearn's ``confusion_matrix``:
        ``[[tn, fp], [fn, tp]]`` (rows true, columns predicted, negative first).
    positive : optional
        The positive label of ``y_true`` (default: True / 1).
    threshold : float
        The model's current threshold, in [0, 1].
    min_value : float, optional
        The least value per decision the model must earn (fails below it).
    baseline : {"best_constant", "accept_all", "reject_all"} or float
        What the model must beat: the better of accepting everyone and rejecting everyone
        (default), one of them, or a known value per decision (today's process).
    n_boot, ci, random_state : int, float, int
        Bootstrap resamples of the rows, interval coverage (percentile) and seed.
        ``n_boot=0`` gives no intervals and never warns about the threshold.
    model, data : optional
        The model and the rows scored: recorded as the check's subjects, not used. The labels
        and scores are subjects too (by fingerprint: their rows never enter the trail).
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``fail`` when the value per decision is below ``min_value`` or below the baseline
        (the model is worth less than not having it); ``warn`` when the best threshold is
        clearly better (the interval of the paired gain excludes 0 and the current threshold
        lies outside the best threshold's interval), or when ``y_true`` has one class (the
        best threshold is then trivially "accept all" or "reject all"); else ``pass``.

        Metrics: ``value_per_decision`` (at ``threshold``) with ``value_low``/``value_high``;
        ``optimal_threshold`` with ``threshold_low``/``threshold_high``; ``optimal_value``;
        ``gain`` (optimal minus current) with ``gain_low``/``gain_high``; ``baseline_value``
        and ``baseline`` (which one); ``lift`` (value minus baseline) with
        ``lift_low``/``lift_high``; ``accuracy`` and ``optimal_accuracy``; ``rows``,
        ``positive_rate``, ``threshold``. Details: value per decision, accepted share, counts
        and accuracy at thresholds 0, 0.01, ..., 1 plus the current and optimal ones
        (``marker``).

    Notes
    -----
    The value interval and the gain and lift intervals are exact row bootstraps: each resample
    draws the counts of positives and negatives between thresholds from one multinomial. In
    each resample the threshold is re-optimised over a grid (257 score quantiles, 0, the
    current and the optimal threshold, and "reject all"), not over every distinct score, so
    ``threshold_low``/``threshold_high`` are grid points. The optimum itself is exact.
    """
    v = _outcome_values(value_matrix, cost_matrix)
    y = _binary_truth(y_true, positive)
    s = _scores(y_score, len(y))
    threshold = _number(threshold, "threshold", low=0.0, high=1.0)
    if min_value is not None:
        min_value = _number(min_value, "min_value")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise UsageError(f"n_boot must be a whole number >= 0, got {n_boot!r}")
    ci = _number(ci, "ci", low=0.0, high=1.0)
    if not 0 < ci < 1:
        raise UsageError(f"ci must be between 0 and 1 (exclusive), got {ci!r}")
    if isinstance(baseline, str):
        if baseline not in _CONSTANTS:
            raise UsageError(f"baseline must be one of {', '.join(_CONSTANTS)} or a number")
    else:
        baseline = _number(baseline, "baseline")

    n, pos = len(y), int(y.sum())
    neg = n - pos
    t_opt, v_opt, acc_opt, grid = _optimum(y, s, v)
    top = float(s.max())
    edges = np.unique(np.concatenate([grid, [0.0, threshold, t_opt]]))
    edges = np.append(edges[edges <= top], np.nextafter(top, np.inf))  # 0 accepts all; last none
    counts = _tally(y, s, edges)
    tp, fp = _accepted(counts)
    at_cur, at_opt = int(np.searchsorted(edges, threshold)), int(np.searchsorted(edges, t_opt))
    if at_cur >= len(edges) or edges[at_cur] != threshold:  # above every score: rejects all
        at_cur = len(edges) - 1
    value = float(_value(v, tp[at_cur], fp[at_cur], pos, neg, n))
    accuracy = float((tp[at_cur] + neg - fp[at_cur]) / n)
    constants = {
        "accept_all": _value(v, pos, neg, pos, neg, n),
        "reject_all": _value(v, 0, 0, pos, neg, n),
    }
    chosen = baseline
    if baseline == "best_constant":
        chosen = max(constants, key=lambda k: constants[k])
    base_value = float(constants[chosen]) if isinstance(chosen, str) else float(baseline)

    m = {
        "value_per_decision": value,
        "optimal_threshold": t_opt,
        "optimal_value": v_opt,
        "gain": v_opt - value,
        "baseline_value": base_value,
        "baseline": chosen if isinstance(chosen, str) else "given",
        "lift": value - base_value,
        "accuracy": accuracy,
        "optimal_accuracy": acc_opt,
        "threshold": threshold,
        "rows": n,
        "positive_rate": pos / n,
    }
    clear = False
    if n_boot:
        draws = np.random.default_rng(random_state).multinomial(n, counts.ravel() / n, size=n_boot)
        draws = draws.reshape(n_boot, -1, 2)
        pos_b, neg_b = draws[..., 1].sum(axis=1), draws[..., 0].sum(axis=1)
        tp_b, fp_b = _accepted(draws)
        values_b = _value(v, tp_b, fp_b, pos_b[:, None], neg_b[:, None], n)
        best_b = values_b.shape[1] - 1 - np.argmax(values_b[:, ::-1], axis=1)  # highest of ties
        if baseline == "best_constant":  # edge 0 accepts all, the last edge rejects all
            base_b = np.maximum(values_b[:, 0], values_b[:, -1])
        elif chosen in constants:
            base_b = values_b[:, 0] if chosen == "accept_all" else values_b[:, -1]
        else:
            base_b = np.full(n_boot, base_value)
        tail = (1 - ci) / 2 * 100
        for key, sample in (
            ("value", values_b[:, at_cur]),
            ("threshold", edges[best_b]),
            ("gain", values_b[:, at_opt] - values_b[:, at_cur]),
            ("lift", values_b[:, at_cur] - base_b),
        ):
            low, high = np.percentile(sample, [tail, 100 - tail])
            m[f"{key}_low"], m[f"{key}_high"] = float(low), float(high)
        outside = not m["threshold_low"] <= threshold <= m["threshold_high"]
        clear = m["gain_low"] > 0 and outside

    details = _value_table(y, s, v, sorted({*np.linspace(0, 1, CHART_POINTS), threshold, t_opt}))
    details["marker"] = ""
    details.loc[details["threshold"] == t_opt, "marker"] = "optimal"
    details.loc[details["threshold"] == threshold, "marker"] = "current"
    thresholds = {"value_per_decision": min_value} if min_value is not None else {}
    status, summary = _verdict(m, min_value, clear, pos in (0, n), ci, n_boot)
    return CheckResult(name, status, summary, m, thresholds, details)


def _value_table(y, s, v, points) -> pd.DataFrame:
    """Value per decision and confusion counts at each threshold in ``points`` (sorted)."""
    edges = np.asarray(points, dtype=float)
    tp, fp = _accepted(_tally(y, s, edges))
    n, pos = len(y), int(y.sum())
    frame = pd.DataFrame({"threshold": edges, "tp": tp, "fp": fp})
    frame["fn"], frame["tn"] = pos - tp, n - pos - fp
    frame.insert(1, "value_per_decision", _value(v, tp, fp, pos, n - pos, n))
    frame.insert(2, "accepted_share", (tp + fp) / n)
    frame["accuracy"] = (tp + n - pos - fp) / n
    return frame


def _g(value: float) -> str:
    return f"{value + 0.0:.4g}"  # no "-0"


def _verdict(m: dict, min_value, clear: bool, one_class: bool, ci: float, n_boot: int):
    """Status and one sentence for people."""
    value, t = m["value_per_decision"], m["threshold"]
    interval = (
        f" ({ci:.0%} interval {_g(m['value_low'])} to {_g(m['value_high'])})" if n_boot else ""
    )
    which = m["baseline"].replace("_", " ") if m["baseline"] != "given" else "the given baseline"
    head = (
        f"value per decision {_g(value)}{interval} at threshold {_g(t)}, accuracy "
        f"{m['accuracy']:.3f}; lift {_g(m['lift'])} over {which} ({_g(m['baseline_value'])})"
    )
    move = f"move the threshold to {_g(m['optimal_threshold'])} (value {_g(m['optimal_value'])})"
    failures = []
    if min_value is not None and value < min_value:
        failures.append(f"below min_value {_g(min_value)}")
    if value < m["baseline_value"]:
        failures.append(f"below {which}: the model is worth less than not having it")
    if failures:
        fix = f"; {move}" if m["optimal_value"] > value else ""
        return "fail", f"{head}; {' and '.join(failures)}{fix}"
    if one_class:
        return "warn", (
            f"{head}; y_true has one class only: the best threshold is trivially accept or "
            "reject all and the intervals say nothing about ranking; judge on both classes"
        )
    if clear:
        return "warn", (
            f"{head}; {move}: a gain of {_g(m['gain'])} per decision ({ci:.0%} interval "
            f"{_g(m['gain_low'])} to {_g(m['gain_high'])})"
        )
    if n_boot:
        return "pass", (
            f"{head}; the best threshold {_g(m['optimal_threshold'])} ({_g(m['threshold_low'])} "
            f"to {_g(m['threshold_high'])}) is not clearly better"
        )
    return "pass", f"{head}; best threshold {_g(m['optimal_threshold'])} (n_boot=0: not tested)"


from . import _business_view  # noqa: E402, F401 - registers how business_value results draw
