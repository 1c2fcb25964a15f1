"""Run an exported ONNX model with onnxruntime, fed from frames or single records.

The feed is built from column arrays (a frame) or from a dict (one record): slicing a one-row
DataFrame per column costs 4-8 ms on pandas 3, more than the model itself (about 20 us), so
:meth:`OnnxModel.predict_one` never touches pandas.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._optional import require
from ..errors import UsageError

__all__ = ["META_CLASSES", "META_COLUMNS", "MISSING", "OnnxModel"]

META_CLASSES = "nbtrail.classes"  # JSON list of the sklearn model's classes_
META_COLUMNS = "nbtrail.columns"  # JSON {column: "string" | "number"} as at fit time
MISSING = "nbtrail:missing"  # what a missing string is fed as (ONNX strings have no NaN)

_NUMPY = {
    "tensor(string)": object,
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


def _model_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if hasattr(source, "SerializeToString"):
        return source.SerializeToString()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise UsageError(f"ONNX model path {str(path)!r} is a folder, not a .onnx file")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read ONNX model {str(path)!r}: {exc.strerror}") from None
    raise UsageError(
        f"an ONNX model is bytes, an onnx.ModelProto or a path, got {type(source).__name__}"
    )


class OnnxModel:
    """An exported model in an onnxruntime session, with a scikit-learn-like interface.

    Parameters
    ----------
    source : bytes, onnx.ModelProto, str or Path
        The model, or the path of a ``.onnx`` file.
    threads : int
        onnxruntime intra-op threads; 1 keeps single-row latency steady.

    Attributes
    ----------
    input_columns : list of str
        The model's inputs, one per column of the frame it was exported from.
    classes_ : numpy array
        The labels, in the order of the probability columns.
    size_bytes : int
        The size of the serialized model.
    session : onnxruntime.InferenceSession
        The session itself, for what this class does not wrap.
    """

    def __init__(self, source, *, threads: int = 1):
        ort = require("onnxruntime", purpose="running ONNX models")
        data = _model_bytes(source)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # keep onnxruntime's own warnings off the notebook
        try:
            self.session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"not a loadable ONNX model: {first[:300]}") from None
        self.size_bytes = len(data)
        inputs = self.session.get_inputs()
        self.input_columns = [i.name for i in inputs]
        self._dtypes = {i.name: _NUMPY.get(i.type, np.float32) for i in inputs}
        self.input_types = {i.name: i.type for i in inputs}
        outputs = [o.name for o in self.session.get_outputs()]
        self._label_output = outputs[0]
        self._proba_output = outputs[1] if len(outputs) > 1 else None
        meta = self.session.get_modelmeta().custom_metadata_map
        if META_CLASSES in meta:
            self.classes_ = np.asarray(json.loads(meta[META_CLASSES]))
        else:
            self.classes_ = None
        self.columns = json.loads(meta[META_COLUMNS]) if META_COLUMNS in meta else None

    @property
    def has_proba(self) -> bool:
        """Whether the model outputs probabilities (classifiers do)."""
        return self._proba_output is not None

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c}: {t[7:-1]}" for c, t in self.input_types.items())
        return f"OnnxModel({len(self.input_columns)} inputs [{kinds}], {self.size_bytes:,} bytes)"

    # -- feeds ------------------------------------------------------------------------------
    def feed(self, frame: pd.DataFrame) -> dict:
        """The onnxruntime feed for a frame: one (n, 1) array per input, checked first."""
        if not isinstance(frame, pd.DataFrame):
            raise UsageError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise UsageError(f"columns missing for the ONNX model: {', '.join(map(str, missing))}")
        feed = {}
        for name in self.input_columns:
            col = frame[name]
            dtype = self._dtypes[name]
            if dtype is object:
                values = col.to_numpy(dtype=object)
                missing = pd.isna(values)
                if missing.any():
                    values = np.where(missing, MISSING, values)
                values = values.astype(str).astype(object)
            else:
                if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                    raise UsageError(
                        f"column {name!r} must be numeric for the ONNX model, got {col.dtype}"
                    )
                values = col.to_numpy(dtype=dtype, na_value=np.nan)
            feed[name] = values.reshape(-1, 1)
        return feed

    def feed_one(self, record: dict) -> dict:
        """The feed for one record (a dict column -> value), built without pandas."""
        feed = {}
        try:
            for name in self.input_columns:
                dtype = self._dtypes[name]
                value = record[name]
                if dtype is object:
                    value = MISSING if value is None or value != value else str(value)
                elif value is None:
                    value = np.nan
                feed[name] = np.array([[value]], dtype=dtype)
        except KeyError:
            raise UsageError(f"record has no value for column {name!r}") from None
        except (TypeError, ValueError):
            raise UsageError(f"column {name!r} must be numeric, got {record[name]!r}") from None
        return feed

    # -- predictions ------------------------------------------------------------------------
    def run(self, feed: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """Run a prepared feed: (labels, probabilities as float64 or None)."""
        out = self.session.run(None, feed)
        proba = None if self._proba_output is None else np.asarray(out[1], dtype=np.float64)
        return np.asarray(out[0]).ravel(), proba

    def _labels(self, raw: np.ndarray) -> np.ndarray:
        if self.classes_ is not None and self.classes_.dtype.kind != raw.dtype.kind:
            return raw.astype(self.classes_.dtype)
        return raw

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels (the scikit-learn model's classes)."""
        return self._labels(self.run(self.feed(frame))[0])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, (n, n_classes) float64, columns in ``classes_`` order."""
        proba = self.run(self.feed(frame))[1]
        if proba is None:
            raise UsageError("this ONNX model has no probability output")
        return proba

    def predict_one(self, record: dict):
        """The label for one record (a dict column -> value)."""
        return self._labels(self.run(self.feed_one(record))[0])[0]

    def predict_proba_one(self, record: dict) -> np.ndarray:
        """The probabilities for one record, shape (n_classes,)."""
        proba = self.run(self.feed_one(record))[1]
        if proba is None:
            raise UsageError("this ONNX model has no probability output")
        return proba[0]
