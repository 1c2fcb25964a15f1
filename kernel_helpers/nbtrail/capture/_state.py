"""Process-wide capture state shared by the hooks: the active session and per-thread flags.

``local.depth`` counts hooked calls in progress on this thread, so a Pipeline's inner fits and
pandas' own file opens inside ``read_csv`` are recorded once, by the outermost call.
``local.busy`` is set while nbtrail itself works (fingerprinting a file opens it), so the audit
hook does not record nbtrail's own reads.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["active", "local", "set_active", "suspended"]

local = threading.local()

_active = None


def active():
    """Return the capture session that is recording, or None."""
    session = _active
    if session is None or not session.enabled:
        return None
    return session


def set_active(session) -> None:
    """Make ``session`` the one that receives what hooks see (None: no one)."""
    global _active
    _active = session


def depth() -> int:
    """Hooked calls in progress on this thread."""
    return getattr(local, "depth", 0)


def busy() -> bool:
    """Whether nbtrail itself is working on this thread."""
    return getattr(local, "busy", False)


@contextlib.contextmanager
def suspended():
    """Run nbtrail's own work (a check's cross-validation) without capturing it."""
    previous = busy()
    local.busy = True
    try:
        yield
    finally:
        local.busy = previous
