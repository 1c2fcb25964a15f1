"""SHAP explanations of whole scikit-learn models, ColumnTransformer pipelines included.

SHAP cannot explain a Pipeline whose ColumnTransformer takes string columns: its explainers
want one numeric matrix. So the final estimator is explained on the transformed matrix (exact
and fast for trees and linear models) and the contributions of every transformed column are
summed back into the original feature it came from; the mapping comes from each fitted
transformer's input columns and its output slice (``output_indices_``), never from matching
names. Where no exact explainer fits (another estimator, or preprocessing whose outputs cannot
be traced to one input), a permutation explainer runs over the original features through an
ordinal wrapper. Either way the contributions add up to the model's output, and the check says
by how much they miss.
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._optional import require
from ..errors import MissingExtra, UsageError
from ._explain_columns import Ordinal, Untraceable, sources
from ._explain_view import Explanation, explanation_body, explanation_widget
from ._producer import produce
from ._registry import check
from ._render import register_renderer

__all__ = ["Explanation", "explain"]

ADDITIVITY_TOLERANCE = 1e-6  # for raw outputs, times max(1, the largest |output|)
_TREES = ("RandomForest", "ExtraTree", "GradientBoosting", "HistGradientBoosting", "DecisionTree")
_PROBABILITY_TREES = ("RandomForest", "ExtraTrees", "DecisionTree", "ExtraTree")
_PROBE_ROWS = {"TreeExplainer": 5, "PermutationExplainer": 2}


class _Target(NamedTuple):
    """What is explained: a classifier's class ``pos`` of ``n_classes``, in ``space``."""

    classifier: bool
    pos: int
    n_classes: int
    space: str


# -- what to explain ---------------------------------------------------------------------------


def _family(est) -> str:
    """``tree``, ``linear`` or ``other``: which exact explainer, if any, fits the estimator."""
    name = type(est).__name__
    module = type(est).__module__
    if module.startswith("sklearn.") and name.startswith(_TREES):
        return "tree"
    linear = module.startswith("sklearn.linear_model") or name in ("LinearSVC", "LinearSVR")
    if linear and hasattr(est, "coef_") and hasattr(est, "intercept_"):
        return "linear"
    return "other"


def _output_space(est, family: str, classifier: bool) -> str:
    name = type(est).__name__
    if not classifier:
        return "raw"
    if family == "tree":
        return "probability" if name.startswith(_PROBABILITY_TREES) else "log_odds"
    if family == "linear":
        logistic = name.startswith("LogisticRegression") or getattr(est, "loss", "") == "log_loss"
        return "log_odds" if logistic else "raw"
    return "probability" if hasattr(est, "predict_proba") else "raw"


def _model_output(model, rows, t: _Target) -> np.ndarray:
    """The model's own output for ``rows`` in ``t.space`` (independent of any explainer)."""
    if not t.classifier:
        return np.asarray(model.predict(rows), dtype="float64").reshape(-1)
    if t.space == "probability":
        return np.asarray(model.predict_proba(rows), dtype="float64")[:, t.pos]
    scores = np.asarray(model.decision_function(rows), dtype="float64")
    if scores.ndim == 1 or t.n_classes == 2:
        scores = scores.reshape(-1)
        return scores if t.pos == 1 else -scores
    return scores[:, t.pos]


# -- from transformed columns back to original features ----------------------------------------


# -- the check ---------------------------------------------------------------------------------


def _import_shap():
    """Import shap, quietly: its colour maps call a matplotlib API pending deprecation.

    With matplotlib 3.11 installed, importing shap warns once (PendingDeprecationWarning from
    shap.plots); it is shap's to fix and harmless here, since nbtrail draws no shap plots.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.")
        return require("shap", purpose="SHAP explanations")


def _positions(rows, n: int) -> np.ndarray | None:
    if rows is None:
        return None
    if isinstance(rows, slice):
        if not len(np.arange(n)[rows]):
            raise UsageError(f"rows {rows} selects none of the {n} rows of X")
        return np.arange(n)[rows]
    if isinstance(rows, int | np.integer) and not isinstance(rows, bool):
        rows = [rows]
    try:
        chosen = np.asarray(list(rows))
    except TypeError:
        raise UsageError(f"rows must be row positions or a slice, got {rows!r}") from None
    if not len(chosen) or chosen.dtype.kind not in "iu":
        raise UsageError(f"rows must be a non-empty list of integer positions, got {rows!r}")
    bad = chosen[(chosen < 0) | (chosen >= n)]
    if len(bad):
        raise UsageError(f"rows {bad[:5].tolist()} are out of range: X has {n} rows (0..{n - 1})")
    if len(np.unique(chosen)) != len(chosen):
        raise UsageError("rows names a row more than once")
    return chosen


def _validate(model, X, rows, background, max_seconds):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except (NotFittedError, TypeError) as exc:
        raise UsageError(f"model must be a fitted scikit-learn estimator: {exc}") from None
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        if not isinstance(X, pd.DataFrame):
            raise UsageError(
                f"X must be a pandas DataFrame with the columns the model was fitted on "
                f"({', '.join(map(str, names[:5]))}...), got {type(X).__name__}"
            )
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise UsageError(f"X lacks the model's columns {missing}")
        X = X[list(names)]
    elif not isinstance(X, pd.DataFrame):
        X = np.asarray(X)
        if X.ndim != 2:
            raise UsageError(f"X must be a 2-D table, got shape {X.shape}")
    if not len(X):
        raise UsageError("X is empty: no rows to explain")
    for option, value, kinds in (
        ("background", background, int),
        ("max_seconds", max_seconds, int | float),
    ):
        if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
            raise UsageError(f"{option} must be a positive number, got {value!r}")
    return X, _positions(rows, len(X))


def _target(model, est, family: str, positive) -> _Target:
    from sklearn.base import is_classifier

    classes = getattr(model, "classes_", None)
    if not is_classifier(model) or classes is None:
        if positive is not None:
            raise UsageError(f"positive={positive!r} applies to classifiers only")
        return _Target(False, 0, 0, "raw")
    matches = [i for i, c in enumerate(classes) if c == positive]
    if positive is not None and not matches:
        raise UsageError(f"positive={positive!r} is not one of the model's classes {list(classes)}")
    pos = matches[0] if matches else len(classes) - 1
    return _Target(True, pos, len(classes), _output_space(est, family, True))


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _take(X, positions):
    return X.iloc[positions] if isinstance(X, pd.DataFrame) else X[positions]


def _guarded(run, candidates, explicit: bool, probe: int, max_seconds: float, rng, label: str):
    """Explain ``candidates`` (positions) after timing a few: sample or refuse if too slow.

    Returns (positions explained, values, base values, note for the summary).
    """
    n = len(candidates)
    if n <= probe:
        return (candidates, *run(candidates), "")
    order = np.arange(n) if explicit else rng.permutation(n)
    start = time.perf_counter()
    first_values, first_base = run(candidates[order[:probe]])
    per_row = (time.perf_counter() - start) / probe
    estimate = per_row * n
    note = ""
    if estimate > max_seconds:
        if explicit:
            raise UsageError(
                f"explaining the {n} rows asked for would take about {estimate:.0f} s with "
                f"{label} ({per_row:.2f} s a row), beyond max_seconds={max_seconds:g}: "
                "ask for fewer rows or raise max_seconds"
            )
        fit = max(probe, int(max_seconds / per_row))
        note = (
            f"; a random sample of {fit:,} of {n:,} rows (all would take about "
            f"{estimate:.0f} s, beyond max_seconds={max_seconds:g})"
        )
        order = order[:fit]
    values, base = first_values, first_base
    if len(order) > probe:
        rest_values, rest_base = run(candidates[order[probe:]])
        values = np.concatenate([values, rest_values])
        base = np.concatenate([base, rest_base])
    keep = np.argsort(order, kind="stable")
    return candidates[order[keep]], values[keep], base[keep], note


def _pick(values, base, t: _Target):
    """The positive class's slice of a SHAP output (per-class slices or one binary margin)."""
    values, base = np.asarray(values, dtype="float64"), np.asarray(base, dtype="float64")
    if values.ndim == 3:
        return values[:, :, t.pos], base.reshape(len(values), -1)[:, t.pos]
    base = base.reshape(len(values), -1)[:, 0] if base.ndim else np.full(len(values), base)
    if t.classifier and t.n_classes == 2 and t.pos == 0:
        return -values, -base
    return values, base


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def _exact_runner(shap, model, X, est, family: str, bg_positions, t: _Target):
    """An explainer over the transformed matrix, and the transformed-to-original mapping."""
    from sklearn.pipeline import Pipeline

    pipeline = isinstance(model, Pipeline)
    pre = model[:-1] if pipeline else None
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    names = names or [f"x{i}" for i in range(X.shape[1])]
    owner = sources(pre, names) if pipeline else np.arange(len(names))

    def transform(positions):
        rows = _take(X, positions)
        return _dense(pre.transform(rows) if pipeline else rows).astype("float64")

    if family == "tree":
        explainer, label = shap.TreeExplainer(est), "TreeExplainer"
    else:
        explainer = shap.LinearExplainer(est, transform(bg_positions))
        label = "LinearExplainer"

    def run(positions):
        out = explainer(transform(positions))
        return _pick(out.values, out.base_values, t)

    return run, label, owner, names


def _agnostic_runner(shap, model, X, bg_positions, t: _Target):
    """A permutation explainer over the original features, strings through ordinal codes."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    codec = Ordinal(frame)

    def model_rows(numbers):
        rows = codec.to_frame(numbers)
        return rows if isinstance(X, pd.DataFrame) else rows.to_numpy()

    def f(numbers):
        return _model_output(model, model_rows(numbers), t)

    masker = shap.maskers.Independent(
        codec.to_numbers(_take(frame, bg_positions)), max_samples=len(bg_positions)
    )
    explainer = shap.explainers.Permutation(f, masker)
    evals = max(500, 2 * frame.shape[1] + 1)

    def run(positions):
        out = explainer(codec.to_numbers(_take(frame, positions)), max_evals=evals, silent=True)
        return np.asarray(out.values, dtype="float64"), np.asarray(out.base_values, "float64")

    names = [str(c) for c in frame.columns]
    return run, "PermutationExplainer", np.arange(len(names)), names


@check("explanations", version=1, roles={"model": "model", "X": "data"})
def explain(
    model,
    X,
    *,
    rows=None,
    background: int = 100,
    max_seconds: float = 60.0,
    random_state: int = 0,
    positive=None,
    name: str = "explanations",
) -> Explanation:
    """Explain a fitted model's output on ``X`` with SHAP, per original feature.

    Trees (forests, gradient boosting, decision trees) get SHAP's exact TreeExplainer, linear
    models its LinearExplainer, both on the pipeline's transformed columns summed back into
    the original features (one-hot columns into their column). Any other estimator gets a
    permutation explainer over the original features. It passes when, for every explained
    row, the base value plus the contributions equals the model's output to 1e-6 (for raw
    outputs larger than 1, to 1e-6 times the largest).

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted scikit-learn estimator, or a Pipeline (a ColumnTransformer of encoders,
        scalers and imputers, then the estimator).
    X : pandas.DataFrame
        Rows to explain, with the columns the model was fitted on.
    rows : list of int or slice, optional
        Positions in ``X`` to explain. Default: every row, or a random sample of them when
        explaining all would take longer than ``max_seconds``.
    background : int
        Rows of ``X`` (a random sample) the linear and permutation explainers integrate over.
    max_seconds : float
        Time budget, checked by timing a few rows first (2 for the permutation explainer, 5
        for trees; they always run): beyond it, a random sample of rows that fits is
        explained, or, when ``rows`` were given, a UsageError gives the estimate.
    random_state : int
        Seed of the background and row samples.
    positive : object, optional
        The class whose output is explained (default: the last of ``model.classes_``).
    name : str
        The check's name.

    Returns
    -------
    Explanation
        A CheckResult: ``details`` is the global importance (``feature``, ``mean_abs_shap``,
        ``rank``, and the first explained row's ``first_row_value`` and
        ``first_row_contribution``); ``values``, ``row(i)`` and ``widget()`` give each row.
    """
    shap = _import_shap()
    given = X  # the product derives from the data as given (the check's subject)
    X, chosen = _validate(model, X, rows, background, max_seconds)
    est = model[-1] if hasattr(model, "steps") else model
    family = _family(est)
    t = _target(model, est, family, positive)
    rng = np.random.default_rng(random_state)
    bg_positions = np.sort(rng.choice(len(X), size=min(background, len(X)), replace=False))
    candidates = chosen if chosen is not None else np.arange(len(X))
    note = ""
    start = time.perf_counter()
    label = {"tree": "TreeExplainer", "linear": "LinearExplainer"}.get(family, "permutation")
    try:
        runner = None
        if family != "other":
            try:
                runner = _exact_runner(shap, model, X, est, family, bg_positions, t)
            except Untraceable as exc:
                note = f"; preprocessing not traceable to columns ({exc}), so permutation"
            except Exception as exc:  # noqa: BLE001 - shap refuses some (multiclass GB): go on
                note = f"; {label} refused the model ({_reason(exc)}), so permutation"
        if runner is None:
            if t.classifier and hasattr(model, "predict_proba"):
                t = t._replace(space="probability")
            runner = _agnostic_runner(shap, model, X, bg_positions, t)
        run, label, owner, names = runner
        probe = _PROBE_ROWS.get(label, len(candidates))
        explicit = chosen is not None
        taken, values, base, sampled = _guarded(
            run, candidates, explicit, probe, max_seconds, rng, label
        )
        note += sampled
        positions = taken
        explained = _take(X, positions)
        output = _model_output(model, explained, t)
    except (UsageError, MissingExtra):
        raise
    except Exception as exc:  # noqa: BLE001 - the explainer's failure is the check's verdict
        summary = f"could not explain {type(est).__name__} with {label}: {_reason(exc)}"
        metrics = {"explainer": label, "output": t.space, "rows": 0}
        return Explanation(name, "error", summary, metrics, output=t.space)
    used = sorted(set(owner.tolist()))
    grouping = np.zeros((len(owner), len(used)))
    grouping[np.arange(len(owner)), np.searchsorted(used, owner)] = 1.0
    index = explained.index if isinstance(explained, pd.DataFrame) else pd.Index(positions)
    frame = pd.DataFrame(values @ grouping, index=index, columns=[names[u] for u in used])
    if isinstance(explained, pd.DataFrame):
        data = explained.iloc[:, used].set_axis(frame.columns, axis=1)
    else:
        data = pd.DataFrame(explained[:, used], index=frame.index, columns=frame.columns)
    seconds = time.perf_counter() - start
    return _result(name, model, given, data, frame, base, output, t.space, label, note, seconds)


def _result(name, model, X, data, frame, base, output, space, label, note, seconds):
    base_values = pd.Series(base, index=frame.index, name="base_value")
    model_output = pd.Series(output, index=frame.index, name="model_output")
    error = float(np.max(np.abs(base + frame.to_numpy().sum(axis=1) - output)))
    tolerance = ADDITIVITY_TOLERANCE
    if space == "raw":  # a regressor's outputs may be large: float sums err relative to them
        tolerance *= max(1.0, float(np.max(np.abs(output))))
    mean_abs = frame.abs().mean().sort_values(ascending=False, kind="stable")
    first = frame.iloc[0]
    details = pd.DataFrame(
        {
            "feature": mean_abs.index.astype(str),
            "mean_abs_shap": mean_abs.to_numpy(),
            "rank": np.arange(1, len(mean_abs) + 1),
            "first_row_value": [str(data.iloc[0][f]) for f in mean_abs.index],
            "first_row_contribution": first[mean_abs.index].to_numpy(),
        }
    )
    metrics = {
        "rows": len(frame),
        "features": frame.shape[1],
        "output": space,
        "explainer": label,
        "max_additivity_error": error,
        "seconds": round(seconds, 3),
        "first_row": str(frame.index[0]),
        "first_row_base_value": float(base[0]),
        "first_row_output": float(output[0]),
    }
    top = ", ".join(mean_abs.index[:3].astype(str))
    status = "pass" if error <= tolerance else "fail"
    adds = "add up" if status == "pass" else "do NOT add up"
    summary = (
        f"{len(frame):,} rows explained by {label} in {space.replace('_', '-')} space{note}; "
        f"most important: {top}; contributions {adds} to the output (max error {error:.1e})"
    )
    result = Explanation(
        name,
        status,
        summary,
        metrics,
        {"max_additivity_error": tolerance},
        details,
        values=frame,
        base_values=base_values,
        model_output=model_output,
        output=space,
        data=data,
    )
    result.product = produce(
        result.frame(), name="shap_values", inputs={"model": model, "data": X}, snapshot=True
    )
    return result


register_renderer("explanations", body=explanation_body, widget=explanation_widget)
