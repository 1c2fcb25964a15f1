"""An onnxruntime session with feeds built from frames or single records.

The checks that judge an exported model (``onnx_parity``, ``latency``) and ``nbtrail.export``'s
``OnnxModel`` run models through this one class. nbtrail's exports group their inputs by type
(one string tensor, one number tensor, columns listed in the model's metadata); a model
exported elsewhere, with one input per column, runs too. A single-row feed is built from a dict
without pandas: slicing a one-row DataFrame per column costs 4-8 ms on pandas 3, more than the
model itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._optional import require
from ..errors import UsageError

__all__ = ["META_CLASSES", "META_COLUMNS", "META_INPUTS", "MISSING", "OnnxRunner"]

META_CLASSES = "nbtrail.classes"  # JSON list of the sklearn model's classes_
META_COLUMNS = "nbtrail.columns"  # JSON {column: "string" | "number"} as at fit time
META_INPUTS = "nbtrail.inputs"  # JSON {input name: [columns, in tensor order]}
MISSING = "nbtrail:missing"  # what a missing string is fed as (ONNX strings have no NaN)

_NUMPY = {
    "tensor(string)": object,
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


def model_bytes(source) -> bytes:
    """The serialized model from bytes, an ``onnx.ModelProto`` or a path, with clear errors."""
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if hasattr(source, "SerializeToString"):
        return source.SerializeToString()
    if isinstance(source, str | os.PathLike):
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


class OnnxRunner:
    """A model in an onnxruntime session, fed from a DataFrame or a dict record.

    Parameters
    ----------
    source : bytes, onnx.ModelProto, str, Path, or an object with ``session`` and ``size_bytes``
        The model, or the path of a ``.onnx`` file; a runner (or ``OnnxModel``) is reused.
    threads : int, optional
        onnxruntime intra-op threads; default onnxruntime's own (one per physical core), which
        lets a forest's trees run in parallel on a single row.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
    size_bytes : int
    input_columns : list of str
        The frame columns the model reads, in the order of the frame it was exported from.
    input_types : dict
        ONNX input name -> ONNX type, e.g. ``{"strings": "tensor(string)", ...}``.
    """

    def __init__(self, source, *, threads: int | None = None):
        session = getattr(source, "session", None)
        if session is not None:
            self.session, self.size_bytes = session, int(source.size_bytes)
        else:
            data = model_bytes(source)
            self.session, self.size_bytes = _session(data, threads), len(data)
        meta = self.session.get_modelmeta().custom_metadata_map
        inputs = self.session.get_inputs()
        grouped = json.loads(meta[META_INPUTS]) if META_INPUTS in meta else {}
        self.input_types = {i.name: i.type for i in inputs}
        # (input name, its columns, numpy dtype, is a string tensor), in session order
        self._inputs = [
            (i.name, grouped.get(i.name, [i.name]), _NUMPY.get(i.type, np.float32)) for i in inputs
        ]
        self.columns = json.loads(meta[META_COLUMNS]) if META_COLUMNS in meta else None
        fed = [c for _, cols, _ in self._inputs for c in cols]
        self.input_columns = [c for c in self.columns if c in fed] if self.columns else fed
        self.classes_ = np.asarray(json.loads(meta[META_CLASSES])) if META_CLASSES in meta else None
        outputs = [o.name for o in self.session.get_outputs()]
        self._proba_output = outputs[1] if len(outputs) > 1 else None

    @property
    def has_proba(self) -> bool:
        """Whether the model outputs probabilities (classifiers do)."""
        return self._proba_output is not None

    def feed(self, frame: pd.DataFrame) -> dict:
        """The onnxruntime feed for a frame, its columns and dtypes checked first."""
        if not isinstance(frame, pd.DataFrame):
            raise UsageError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise UsageError(f"columns missing for the ONNX model: {', '.join(map(str, missing))}")
        feed = {}
        for name, cols, dtype in self._inputs:
            part = frame[cols]
            if dtype is object:
                values = part.to_numpy(dtype=object)
                absent = pd.isna(values)
                if absent.any():
                    values = np.where(absent, MISSING, values)
                values = values.astype(str).astype(object)
            else:
                for col, kind in part.dtypes.items():
                    if not (
                        pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)
                    ):
                        raise UsageError(
                            f"column {col!r} must be numeric for the ONNX model, got {kind}"
                        )
                values = part.to_numpy(dtype=dtype, na_value=np.nan)
            feed[name] = values.reshape(len(frame), len(cols))
        return feed

    def feed_one(self, record: dict) -> dict:
        """The feed for one record (a dict column -> value), built without pandas."""
        feed = {}
        col = None
        try:
            for name, cols, dtype in self._inputs:
                if dtype is object:
                    row = []
                    for col in cols:
                        v = record[col]
                        row.append(MISSING if v is None or v != v else str(v))
                    feed[name] = np.array([row], dtype=object)
                else:
                    row = [record[col] for col in cols]
                    try:
                        feed[name] = np.array([row], dtype=dtype)
                    except (TypeError, ValueError):
                        for col in cols:  # the slow path only to name the culprit
                            np.array(np.nan if record[col] is None else record[col], dtype=dtype)
                        raise
        except KeyError:
            col = next(c for c in self.input_columns if c not in record)
            raise UsageError(f"record has no value for column {col!r}") from None
        except (TypeError, ValueError):
            raise UsageError(f"column {col!r} must be numeric, got {record[col]!r}") from None
        return feed

    def run(self, feed: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """Run a prepared feed: (labels, probabilities as float64 or None)."""
        label, *rest = self.session.run(None, feed)
        proba = np.asarray(rest[0], dtype=np.float64) if rest else None
        return np.asarray(label).ravel(), proba


def _session(data: bytes, threads: int | None):
    ort = require("onnxruntime", purpose="running ONNX models")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # keep onnxruntime's own warnings off the notebook
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"not a loadable ONNX model: {first[:300]}") from None
