"""How well capture saw a run: what went wrong, what it could not see or verify."""

from __future__ import annotations

from collections import deque

from .._secrets import mask_url

__all__ = ["Health"]

_MAX_LISTED = 50  # examples kept of each kind of health problem


class Health:
    """How well capture saw a run: what went wrong, what it could not see or verify.

    A run whose capture was not healthy, or that read something capture cannot verify later,
    is never reused by a pipeline: the report says which it was.
    """

    def __init__(self):
        self.errors = 0
        self.lost = 0
        self.skipped = 0
        self.unattributed = 0
        self.unverifiable = 0
        self.error_messages: deque[str] = deque(maxlen=20)
        self.skip_messages: deque[str] = deque(maxlen=20)
        self.unattributed_paths: list[str] = []
        self.unverifiable_reads: list[dict] = []

    @property
    def healthy(self) -> bool:
        """No capture error, no lost fact, no read it could not attribute."""
        return not (self.errors or self.lost or self.unattributed)

    def read_unverifiable(self, kind: str, what: str) -> None:
        """Something was read that capture cannot check later (``query``, ``url``...)."""
        self.unverifiable += 1
        entry = {"kind": kind, "what": mask_url(str(what))[:300]}
        if len(self.unverifiable_reads) < _MAX_LISTED and entry not in self.unverifiable_reads:
            self.unverifiable_reads.append(entry)

    def read_unattributed(self, path: str) -> None:
        """A project file was read while no unit was running (between cells, another thread)."""
        self.unattributed += 1
        if len(self.unattributed_paths) < _MAX_LISTED and path not in self.unattributed_paths:
            self.unattributed_paths.append(path)

    def to_dict(self) -> dict:
        """What a run records in ``attrs["capture"]``."""
        return {
            "healthy": self.healthy,
            "errors": self.errors,
            "last_errors": list(self.error_messages)[-5:],
            "lost": self.lost,
            "skipped": self.skipped,
            "unattributed": self.unattributed,
            "unattributed_paths": list(self.unattributed_paths),
            "unverifiable": self.unverifiable,
            "unverifiable_reads": list(self.unverifiable_reads),
        }
