"""Where facts go right now: the recorder of this process, and nbtrail's own quiet work.

A check or a producer records its result on "the current run" without knowing what that is: a
kernel's capture session (the cell being executed), a script under ``nbtrail.track``, or none.
Capture makes its session the active recorder; checks ask :func:`active`. This leaf is what
lets the two meet without importing each other.

:func:`quiet` marks work nbtrail does itself (a check's cross-validation, fingerprinting a
file): capture's hooks ignore what happens inside it, on this thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = [
    "Recorder",
    "activate",
    "active",
    "current",
    "deactivate",
    "is_quiet",
    "local",
    "quiet",
]

local = threading.local()


class Recorder(Protocol):
    """What checks and producers need from wherever facts are going.

    A store :class:`~nbtrail.store.Run` and a capture session both implement it.
    """

    def subject(self, obj: Any, *, name: str | None = None) -> str | None:
        """Return the fingerprint of an object being judged or used, recording it."""

    def record_check(self, name: str, status: str, **fields: Any) -> str | None:
        """Record a check's verdict in the current run; return its id."""

    def produce(self, obj: Any, *, name: str, derived_from=(), snapshot: bool = False) -> Any:
        """Record an artifact made in the current run, derived from other artifacts."""


_active: Any = None


def active() -> Any:
    """Return the recorder of this process when one is recording, else None."""
    recorder = _active
    if recorder is None or not getattr(recorder, "recording", False):
        return None
    return recorder


def current() -> Any:
    """Return the activated recorder even while it is paused (``%trail off``), else None."""
    return _active


def activate(recorder: Any) -> None:
    """Make ``recorder`` the one checks and producers record to."""
    global _active
    _active = recorder


def deactivate(recorder: Any) -> None:
    """Stop ``recorder`` being the active one (if it still is)."""
    global _active
    if _active is recorder:
        _active = None


def is_quiet() -> bool:
    """Whether nbtrail itself is working on this thread (capture looks away)."""
    return getattr(local, "quiet", False)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run nbtrail's own work (a check's cross-validation) without capturing it."""
    previous = is_quiet()
    local.quiet = True
    try:
        yield
    finally:
        local.quiet = previous
