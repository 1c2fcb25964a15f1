"""Run an exported ONNX model with onnxruntime, with a scikit-learn-like interface.

Sessions and feeds come from :class:`nbtrail.checks.OnnxRunner` (the parity and latency checks
run models through it too); this adds labels in the scikit-learn model's classes and
one-record predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import META_CLASSES, META_COLUMNS, META_INPUTS, MISSING, OnnxRunner
from ..errors import UsageError

__all__ = ["META_CLASSES", "META_COLUMNS", "META_INPUTS", "MISSING", "OnnxModel"]


class OnnxModel(OnnxRunner):
    """An exported model in an onnxruntime session, with a scikit-learn-like interface.

    Parameters
    ----------
    source : bytes, onnx.ModelProto, str or Path
        The model, or the path of a ``.onnx`` file.
    threads : int, optional
        onnxruntime intra-op threads; default onnxruntime's own (one per physical core).

    Attributes
    ----------
    input_columns : list of str
        The frame columns the model reads (grouped into one string and one number input).
    classes_ : numpy array
        The labels, in the order of the probability columns.
    size_bytes : int
        The size of the serialized model.
    session : onnxruntime.InferenceSession
        The session itself, for what this class does not wrap.
    """

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c}: {t[7:-1]}" for c, t in self.input_types.items())
        return (
            f"OnnxModel({len(self.input_columns)} columns in {len(self.input_types)} inputs "
            f"[{kinds}], {self.size_bytes:,} bytes)"
        )

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
