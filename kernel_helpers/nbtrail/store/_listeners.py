"""Who hears that a run started or ended: live exports (OpenLineage) without the store knowing them.

The store sits below the exports, so it cannot call them; instead it calls listeners after it
commits a run's start or end. A listener is ``fn(trail, run_id, change)`` with ``change`` either
``"start"`` or ``"end"``, registered in-process with :func:`add_run_listener` or by another
package through the ``nbtrail.run_listeners`` entry point group. Entry points are read once per
process, and only when a live transport is configured (reading them imports
``importlib.metadata``, about 80 ms, which a kernel must not pay for nothing). A listener that
raises is logged and never fails the write it follows.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["add_run_listener", "notify_runs", "remove_run_listener"]

log = logging.getLogger("nbtrail.store")

_LISTENERS: list = []
_LOCK = threading.Lock()
_loaded = False


def add_run_listener(fn) -> None:
    """Call ``fn(trail, run_id, change)`` after every committed run start or end."""
    with _LOCK:
        if fn not in _LISTENERS:
            _LISTENERS.append(fn)


def remove_run_listener(fn) -> None:
    """Stop calling ``fn`` (no error if it was not registered)."""
    with _LOCK:
        if fn in _LISTENERS:
            _LISTENERS.remove(fn)


def _load_entry_points() -> None:
    global _loaded
    with _LOCK:
        if _loaded:
            return
        _loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group="nbtrail.run_listeners"):
        try:
            add_run_listener(entry.load())
        except Exception:
            log.warning("run listener %s could not be loaded", entry.value, exc_info=True)


def notify_runs(trail, changes: list[tuple[str, str]]) -> None:
    """Tell every listener about ``(run_id, change)`` pairs just committed; never raises."""
    if not changes:
        return
    if not _loaded and getattr(trail.settings, "openlineage_url", None):
        _load_entry_points()
    for fn in list(_LISTENERS):
        for run_id, change in changes:
            try:
                fn(trail, run_id, change)
            except Exception:
                log.warning("run listener %r failed on %s %s", fn, change, run_id, exc_info=True)
