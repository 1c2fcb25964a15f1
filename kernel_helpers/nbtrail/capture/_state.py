"""Per-thread state of the hooks: how deep in hooked calls this thread is.

``local.depth`` counts hooked calls in progress on this thread, so a Pipeline's inner fits and
pandas' own reads inside ``read_csv`` are recorded once, by the outermost call. Whether nbtrail
itself is working (and capture must look away) is :func:`nbtrail.recording.is_quiet`; which
session records is :func:`nbtrail.recording.active`.
"""

from __future__ import annotations

import threading

__all__ = ["depth", "local"]

local = threading.local()


def depth() -> int:
    """Hooked calls in progress on this thread."""
    return getattr(local, "depth", 0)
