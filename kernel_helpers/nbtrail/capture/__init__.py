"""Capture: what a notebook, script or template reads, trains and writes, recorded as it happens.

``%load_ext nbtrail`` (:mod:`.magics`) records a kernel's session; :func:`track` a block of a
script. Both are a :class:`CaptureSession`: the hooks (:mod:`.hooks`) see files, data and
fits, :mod:`._recording` turns that into trail facts, a background writer commits them.
"""

from .api import data_read, data_sources, flush, log_metric, output, snapshot

# Imported on first use: the kernel extension (``.magics``) loads without the store.
_LAZY = {
    "CaptureSession": "session",
    "Health": "_health",
    "Recording": "_recording",
    "track": "_script",
    "register_reader": "hooks",
    "register_writer": "hooks",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CaptureSession",
    "Health",
    "Recording",
    "data_read",
    "data_sources",
    "flush",
    "log_metric",
    "output",
    "register_reader",
    "register_writer",
    "snapshot",
    "track",
]
