"""Exports to other systems: the trail as OpenLineage events; models as ONNX files.

``onnx`` converts a fitted scikit-learn model, writes it, records it (lineage model -> onnx)
and gates it on the ``onnx_parity`` and ``latency`` checks; ``compress`` tries quantization,
pruning and distillation and keeps the smallest faithful candidate (registering the
``compression`` check). skl2onnx and onnxruntime come with the ``export`` extra and are
imported only when used.
"""

from .compress import Compression, compress
from .onnx import ExportResult, OnnxModel, convert, onnx
from .openlineage import run_events, to_json_lines

__all__ = [
    "Compression",
    "ExportResult",
    "OnnxModel",
    "compress",
    "convert",
    "onnx",
    "run_events",
    "to_json_lines",
]
