"""Exports to other systems: the trail as OpenLineage events; models as ONNX files.

``onnx`` converts a fitted scikit-learn model, writes it, records it (lineage model -> onnx)
and gates it on the ``onnx_parity`` and ``latency`` checks; ``compress`` tries quantization,
pruning and distillation and keeps the smallest faithful candidate (registering the
``compression`` check). skl2onnx and onnxruntime come with the ``export`` extra and are
imported only when used.

OpenLineage: ``run_events`` builds a run's RunEvents; ``post_events`` sends them to a receiver;
``LineageQueue`` keeps them on disk until a receiver took them, in order; ``on_run_change`` is
the live transport the store calls as runs start and end (``[tool.nbtrail.openlineage] url``).

Names are imported when first used: the live transport runs in every process that writes a
run, and must not import scikit-learn's and scipy's checks to do it.
"""

import importlib

_LAZY = {
    "COLUMNS": "._compress",
    "Compression": "._compress",
    "compress": "._compress",
    "ExportResult": "._onnx",
    "OnnxModel": "._onnx",
    "convert": "._onnx",
    "input_signature": "._onnx",
    "load_model": "._onnx",
    "onnx": "._onnx",
    "read_frame": "._onnx",
    "run_events": ".openlineage",
    "to_json_lines": ".openlineage",
    "Delivery": "._lineage_http",
    "InvalidEvent": "._lineage_http",
    "check_url": "._lineage_http",
    "post_events": "._lineage_http",
    "public_url": "._lineage_http",
    "validate_event": "._lineage_http",
    "LineageQueue": "._lineage_queue",
    "queue_for": "._lineage_queue",
    "lineage_settings": "._lineage_live",
    "on_run_change": "._lineage_live",
    "wait_for_delivery": "._lineage_live",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
