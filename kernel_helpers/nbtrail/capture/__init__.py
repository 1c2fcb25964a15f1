"""Capture: what a notebook, script or template reads, trains and writes, recorded as it happens.

``%load_ext nbtrail`` (:mod:`.magics`) records a kernel's session; :func:`track` a block of a
script. Both are a :class:`CaptureSession`: the hooks (:mod:`.hooks`) see files, data and
fits, :mod:`._recording` turns that into trail facts, a background writer commits them.
"""

from ._health import Health
from ._recording import Recording
from ._script import track
from .api import flush, log_metric, output, snapshot
from .session import CaptureSession

__all__ = [
    "CaptureSession",
    "Health",
    "Recording",
    "flush",
    "log_metric",
    "output",
    "snapshot",
    "track",
]
