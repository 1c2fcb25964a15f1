"""scikit-learn -> ONNX: input types, options, refusals, and scalers folded into trees.

Choices, each for parity with scikit-learn:

* skl2onnx converts with one input per DataFrame column, named like it, shape [None, 1]:
  strings as StringTensorType (a missing string is fed as :data:`MISSING`, the name the copy
  gives the NaN category scikit-learn learned), numbers as FloatTensorType; the result is then
  regrouped into one string and one number input (:mod:`._group`). Not double: ONNX tree
  operators cast their input to float32 anyway, skl2onnx's linear and MLP graphs fail to load
  with double inputs, and its Imputer has no double kernel. What float32 would break is a
  scaler in front of trees, so that is removed instead (next point);
* a Standard/MinMax/Robust/MaxAbsScaler in front of trees is folded into the thresholds: the
  scaler becomes an identity and each threshold becomes the largest float32 raw value that
  scikit-learn sends left (searched exactly, in double), so raw integers meet exact thresholds
  (RF behind a float32 StandardScaler: 61 of 16,281 Adult labels differ otherwise; folded: 0);
* ZipMap off: outputs are a label tensor and an (n, n_classes) probability tensor;
* refusals with one line naming the step and class: HistGradientBoosting with native
  categorical splits (converts but is silently wrong: sklearn-onnx issue 1051), functions in
  FunctionTransformer, estimators skl2onnx has no converter for.
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pandas as pd

from .._optional import require
from ..checks import META_CLASSES, META_COLUMNS, MISSING
from ..errors import UsageError
from ._group import group_inputs

__all__ = ["column_kinds", "convert", "input_signature"]

OPSETS = {"": 17, "ai.onnx.ml": 3}

_TREES = (
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
)


def column_kinds(sample: pd.DataFrame) -> dict:
    """Column -> "string" or "number", as the ONNX inputs will type them."""
    kinds = {}
    for name, col in sample.items():
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            kinds[str(name)] = "number"
        elif (
            pd.api.types.is_string_dtype(col)
            or isinstance(col.dtype, pd.CategoricalDtype)
            or col.dtype == object
        ):
            kinds[str(name)] = "string"
        else:
            raise UsageError(
                f"column {name!r} has dtype {col.dtype}, which ONNX export cannot type"
            )
    return kinds


def _steps(model, prefix: str = ""):
    """(path, estimator) for the model and every step inside Pipelines and ColumnTransformers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    yield prefix or type(model).__name__, model
    if isinstance(model, Pipeline):
        for name, step in model.steps:
            if step is not None and step != "passthrough":
                yield from _steps(step, f"{prefix}{name}" if not prefix else f"{prefix}/{name}")
    elif isinstance(model, ColumnTransformer):
        fitted = getattr(model, "transformers_", model.transformers)
        for name, step, _cols in fitted:
            if not isinstance(step, str):
                yield from _steps(step, f"{prefix}/{name}" if prefix else name)


def final_estimator(model):
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _supported_classes() -> set:
    """The estimator classes (and names) skl2onnx registers converters for."""
    skl2onnx = require("skl2onnx", purpose="ONNX export")
    names = set(skl2onnx.supported_converters(from_sklearn=True))
    try:  # the class map is exact; the public list spells some names differently (Scaler)
        from skl2onnx._supported_operators import sklearn_operator_name_map

        return names | set(sklearn_operator_name_map)
    except ImportError:  # pragma: no cover - a future skl2onnx
        return names | {"StandardScaler"}


def _refuse_unsupported(model) -> None:
    """Raise UsageError naming the first step ONNX export cannot handle faithfully."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    supported = _supported_classes()
    for path, step in _steps(model):
        cls = type(step).__name__
        where = f"step {path!r} ({cls})"
        if isinstance(step, (Pipeline, ColumnTransformer)):
            continue
        if cls == "HistGradientBoostingClassifier" or cls == "HistGradientBoostingRegressor":
            cats = getattr(step, "is_categorical_", None)
            if cats is not None and np.any(cats):
                raise UsageError(
                    f"{where} uses native categorical splits, which ONNX tree operators cannot "
                    "express (it converts but gives wrong labels: sklearn-onnx issue 1051); "
                    "one-hot encode those columns instead"
                )
        if isinstance(step, FunctionTransformer) and step.func is not None:
            raise UsageError(
                f"{where} applies a Python function, which ONNX cannot export; "
                "compute that column before the pipeline"
            )
        if type(step) not in supported and cls not in supported:
            raise UsageError(f"{where} has no ONNX converter in skl2onnx")


def _check_fitted(model) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(model, "fit") or not hasattr(model, "predict"):
        raise UsageError(f"expected a scikit-learn model, got {type(model).__name__}")
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise UsageError(f"model {type(model).__name__} is not fitted: call fit() first") from None


def _check_sample(model, sample) -> dict:
    if not isinstance(sample, pd.DataFrame):
        raise UsageError(f"sample must be a pandas DataFrame, got {type(sample).__name__}")
    if len(sample) == 0:
        raise UsageError("sample has no rows: give at least one row of the model's input")
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None:
        raise UsageError(
            f"model {type(model).__name__} was not fitted on a DataFrame, so its column names "
            "are unknown: fit it on a DataFrame"
        )
    fitted = [str(c) for c in fitted]
    given = [str(c) for c in sample.columns]
    missing = [c for c in fitted if c not in given]
    if missing:
        raise UsageError(f"sample lacks columns the model was fitted on: {', '.join(missing)}")
    extra = [c for c in given if c not in fitted]
    if extra:
        raise UsageError(f"sample has columns the model was not fitted on: {', '.join(extra)}")
    if given != fitted:
        raise UsageError(
            "sample columns are in another order than at fit time: "
            f"expected {', '.join(fitted)}; reorder with sample[model.feature_names_in_]"
        )
    kinds = column_kinds(sample)
    for column, kind in fitted_kinds(model).items():
        if kinds.get(column, kind) != kind:
            got = sample[column].dtype
            raise UsageError(
                f"column {column!r} held {'strings' if kind == 'string' else 'numbers'} at fit "
                f"time, the sample's is {got}: convert it back before exporting"
            )
    _check_dtypes_against_model(model, sample, kinds)
    return kinds


def fitted_kinds(model) -> dict:
    """Column -> "string" or "number" as the fitted model's first steps show them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    first = model.steps[0][1] if isinstance(model, Pipeline) else model
    if not isinstance(first, ColumnTransformer):
        names = getattr(model, "feature_names_in_", [])
        return {} if isinstance(first, Pipeline) else {str(c): "number" for c in names}
    out = {}
    names = [str(c) for c in model.feature_names_in_]
    for _name, step, cols in first.transformers_:
        if isinstance(cols, slice) or (len(cols) and not isinstance(cols[0], str)):
            cols = list(np.asarray(names)[cols])
        while isinstance(step, Pipeline):
            step = step.steps[0][1]
        if isinstance(step, str):
            if step == "passthrough":
                out.update({c: "number" for c in cols})
            continue
        categories = getattr(step, "categories_", None)
        stats = getattr(step, "statistics_", None)
        if categories is not None:
            kinds = ["number" if c.dtype.kind in "biuf" else "string" for c in categories]
        elif stats is not None:
            kinds = ["number" if np.asarray(stats).dtype.kind in "biuf" else "string"] * len(cols)
        elif hasattr(step, "scale_") or hasattr(step, "mean_"):
            kinds = ["number"] * len(cols)
        else:
            continue
        out.update(dict(zip(cols, kinds, strict=False)))
    return out


def _check_dtypes_against_model(model, sample, kinds) -> None:
    """A string column where the model's transformer expects numbers (or the reverse)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a probe: unknown-category notes are not news here
            model.predict(sample.iloc[:5])
    except Exception as exc:  # noqa: BLE001 - the model's own complaint names the problem best
        strings = ", ".join(c for c, k in kinds.items() if k == "string") or "none"
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UsageError(
            f"the model cannot predict on the sample (string columns: {strings}): {why}"
        ) from None


def input_signature(sample: pd.DataFrame, model) -> list[tuple[str, str]]:
    """(column, ONNX type name) per input: ``string`` or ``float`` (see the module notes)."""
    return [(c, "string" if k == "string" else "float") for c, k in column_kinds(sample).items()]


def convert(model, sample: pd.DataFrame):
    """Convert a fitted scikit-learn model to an in-memory ``onnx.ModelProto``.

    Parameters
    ----------
    model : estimator or Pipeline
        Fitted on a DataFrame with the sample's columns.
    sample : DataFrame
        Rows of the model's input; only its columns and dtypes are used to type the inputs.

    Raises
    ------
    UsageError
        Not fitted, sample columns or dtypes unlike fit time, or a step that cannot be
        exported faithfully (the message names the step and its class).
    """
    skl2onnx = require("skl2onnx", purpose="ONNX export")
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _check_fitted(model)
    kinds = _check_sample(model, sample)
    _refuse_unsupported(model)
    types = {"string": StringTensorType, "float": FloatTensorType}
    signature = input_signature(sample, model)
    initial = [(c, types[t]([None, 1])) for c, t in signature]
    prepared = prepare(model)
    options = {id(final_estimator(prepared)): {"zipmap": False}}
    try:
        with warnings.catch_warnings():
            # protobuf 6 warns that skl2onnx's HistGradientBoosting booleans "will be rejected
            # in 7.34.0" (why the extra pins protobuf<7); harmless under the pin
            warnings.simplefilter("ignore", DeprecationWarning)
            proto = skl2onnx.convert_sklearn(
                prepared, initial_types=initial, options=options, target_opset=OPSETS
            )
    except Exception as exc:  # noqa: BLE001 - the converter's failure, named with the model
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(
            f"skl2onnx could not convert {_describe(model)}: {type(exc).__name__}: {first[:300]}"
        ) from None
    classes = getattr(final_estimator(model), "classes_", None)
    meta = {META_COLUMNS: json.dumps(kinds)}
    if classes is not None:
        meta[META_CLASSES] = json.dumps(np.asarray(classes).tolist())
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    group_inputs(proto, kinds)
    return proto


def _describe(model) -> str:
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return "Pipeline(" + ", ".join(f"{n}: {type(s).__name__}" for n, s in model.steps) + ")"
    return type(model).__name__


# -- folding monotone scalers into tree thresholds ---------------------------------------------


def prepare(model):
    """A copy of ``model`` made ready for the converter; the model itself is not touched.

    Missing strings: scikit-learn's OneHotEncoder learns NaN as a category, but an ONNX string
    tensor has no NaN, so the copy's NaN category is renamed :data:`MISSING` and the runtime
    feeds missing strings as that value. Scalers in front of trees are folded (:func:`fold`).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    model = copy.deepcopy(model)
    if not isinstance(model, Pipeline):  # one input per column: an identity step joins them
        model = Pipeline([("columns", _identity()), ("model", model)])
    elif not isinstance(model.steps[0][1], ColumnTransformer | Pipeline):
        model.steps.insert(0, ("columns", _identity()))
    for _path, step in _steps(model):
        if isinstance(step, OneHotEncoder) and hasattr(step, "categories_"):
            step.categories_ = [_name_missing(c) for c in step.categories_]
    return fold(model)


def _name_missing(categories: np.ndarray) -> np.ndarray:
    if categories.dtype.kind != "O" and not pd.api.types.is_string_dtype(categories.dtype):
        return categories
    values = np.asarray(categories, dtype=object)
    mask = pd.isna(values)
    if not mask.any():
        return categories
    values = values.copy()
    values[mask] = MISSING
    return values


def fold(model):
    """Fold monotone scalers in front of trees into the thresholds, in place (on a copy).

    Handles ``Pipeline([..., ColumnTransformer, trees])`` whose transformers are a scaler or a
    Pipeline of SimpleImputer then scaler, and ``Pipeline([scaler, trees])``. Each folded scaler
    becomes a passthrough; each threshold on its outputs becomes the largest float32 raw value
    that scikit-learn sends left, searched exactly, so ONNX's float32 ``x <= T`` decides as
    scikit-learn's double scaling and float32 (RF, GB) or double (HGB) comparison did.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return model
    trees = model.steps[-1][1]
    if type(trees).__name__ not in _TREES:
        return model
    before = model.steps[-2][1]
    affine = {}  # output column index -> (scaler, its column index)
    if isinstance(before, ColumnTransformer) and hasattr(before, "output_indices_"):
        for i, (name, step, cols) in enumerate(before.transformers_):
            scaler, replace = _trailing_scaler(step)
            if scaler is None:
                continue
            out = before.output_indices_[name]
            for j, index in enumerate(range(out.start, out.stop)):
                affine[index] = (scaler, j)
            if replace is None:
                before.transformers_[i] = (name, "passthrough", cols)
            else:
                replace()
    elif _is_scaler(before):
        for j in range(before.n_features_in_):
            affine[j] = (before, j)
        # an identity, not "passthrough": skl2onnx needs a step to join the per-column inputs
        model.steps[-2] = (model.steps[-2][0], _identity())
    if affine:
        _refit_thresholds(trees, affine)
    return model


def _identity():
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer()


_SCALERS = ("StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler")


def _is_scaler(step) -> bool:
    return type(step).__name__ in _SCALERS


def _trailing_scaler(step):
    """(scaler, how to replace it by a passthrough or None for the whole step) or (None, None)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    if _is_scaler(step):
        return step, None
    if isinstance(step, Pipeline) and _is_scaler(step.steps[-1][1]):
        if all(isinstance(s, SimpleImputer) for _n, s in step.steps[:-1]):
            scaler = step.steps[-1][1]

            def replace():
                del step.steps[-1]  # skl2onnx takes no "passthrough" inside a Pipeline

            return scaler, replace
    return None, None


def _scale(scaler, j: int, v: np.ndarray) -> np.ndarray:
    """The scaler's transform of raw values ``v`` of its column ``j``, in its operation order."""
    v = v.astype(np.float64)
    name = type(scaler).__name__
    if name == "StandardScaler":
        if scaler.with_mean:
            v = v - scaler.mean_[j]
        if scaler.with_std:
            v = v / scaler.scale_[j]
    elif name == "RobustScaler":
        if scaler.with_centering:
            v = v - scaler.center_[j]
        if scaler.with_scaling:
            v = v / scaler.scale_[j]
    elif name == "MaxAbsScaler":
        v = v / scaler.scale_[j]
    else:  # MinMaxScaler
        v = v * scaler.scale_[j] + scaler.min_[j]
        if scaler.clip:
            v = np.clip(v, *scaler.feature_range)
    return v


def _raw_threshold(scaler, j: int, t: np.ndarray, float32_compare: bool) -> np.ndarray:
    """Per threshold ``t`` on the scaled column: the largest float32 raw value sent left."""
    f32 = np.float32

    def left(v):
        scaled = _scale(scaler, j, v)
        if float32_compare:
            scaled = scaled.astype(f32).astype(np.float64)
        return scaled <= t

    x = np.linspace(0.0, 1.0, 3)  # probe the direction: scalers here are increasing
    if not np.all(np.diff(_scale(scaler, j, x)) >= 0):
        raise UsageError(f"{type(scaler).__name__} on column {j} is decreasing: cannot fold it")
    grid = np.zeros((len(t), scaler.n_features_in_))
    grid[:, j] = t
    with np.errstate(all="ignore"):
        guess = scaler.inverse_transform(grid)[:, j]  # within a few ulps of the answer
    raw = guess.astype(f32)
    for _ in range(256):
        down = ~left(raw)
        up = left(np.nextafter(raw, f32(np.inf))) & ~down
        if not (down.any() or up.any()):
            return raw
        raw = np.where(down, np.nextafter(raw, f32(-np.inf)), raw)
        raw = np.where(up, np.nextafter(raw, f32(np.inf)), raw)
    raise UsageError(f"could not fold {type(scaler).__name__} into the tree thresholds")


def _refit_thresholds(trees, affine: dict) -> None:
    name = type(trees).__name__
    if name == "HistGradientBoostingClassifier":
        for per_class in trees._predictors:
            for predictor in per_class:
                nodes = predictor.nodes
                _move(
                    nodes["feature_idx"],
                    nodes["num_threshold"],
                    ~nodes["is_leaf"].astype(bool),
                    affine,
                    float32_compare=False,
                )
        return
    if name == "GradientBoostingClassifier":
        estimators = trees.estimators_.ravel()
    elif name == "DecisionTreeClassifier":
        estimators = [trees]
    else:
        estimators = trees.estimators_
    for est in estimators:
        tree = est.tree_
        _move(tree.feature, tree.threshold, tree.feature >= 0, affine, float32_compare=True)


def _move(features, thresholds, internal, affine, *, float32_compare: bool) -> None:
    """Rewrite, in place, the thresholds of internal nodes that split on a folded column."""
    for index, (scaler, j) in affine.items():
        mask = internal & (features == index) & np.isfinite(thresholds)
        if mask.any():
            raw = _raw_threshold(scaler, j, thresholds[mask], float32_compare)
            thresholds[mask] = raw.astype(np.float64)
