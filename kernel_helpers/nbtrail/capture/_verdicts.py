"""Checks and products recorded in a capture session: the recorder :mod:`nbtrail.recording` asks.

A check or a producer running in a notebook calls these through ``recording.active()``; what
they record goes into the running cell (its facts are written with the cell's) or, between
cells, straight to the writer. Every subject is fingerprinted through the session's tracker, so
an object capture already knows keeps the lineage it has.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..fingerprints import fingerprint, fingerprint_file
from ..store import NewArtifact, NewCheck, NewEdge

__all__ = ["Verdicts"]

_DIGEST = re.compile(r"^[0-9a-f]{32}$")


class Verdicts:
    """The recorder interface of a :class:`~._recording.Recording` (a mixin)."""

    def _run_id(self) -> str:
        unit = self.unit
        return unit.run_id if unit is not None else self.run_id

    def subject(self, obj, *, name: str | None = None) -> str | None:
        """Return the digest of an object a check judges or a producer used, recording it."""
        with self.guard("fingerprinting a checked object"):
            unit = self.unit
            if isinstance(obj, os.PathLike):  # a file judged: its bytes, with its path
                path = str(Path(obj).resolve())
                fp = fingerprint_file(path, cache=self.trail.stat_cache)
                facts = [NewArtifact.of(fp, self.trail.display_path(path))]
                if unit is not None:
                    facts.append(NewEdge("used", unit.run_id, fp.digest, path=path))
                    unit.facts.extend(facts)
                else:
                    self._submit(facts)
                return fp.digest
            if unit is not None:
                digests = self._object_sources(obj, unit, name or type(obj).__name__)
                return digests[0] if digests else None
            fp = fingerprint(obj)
            self._submit([NewArtifact.of(fp, name or f"{fp.kind}:{fp.short}")])
            return fp.digest
        return None

    def record_check(self, name: str, status: str, *, details=None, subjects=(), **fields) -> str:
        """Record a check result in the current cell's run (or the session's); return its id.

        ``subjects`` are (role, fingerprint or object) pairs; objects are fingerprinted here.
        """
        pairs = subjects.items() if hasattr(subjects, "items") else subjects
        judged = [
            (role, it if isinstance(it, str) and _DIGEST.match(it) else self.subject(it))
            for role, it in pairs
        ]
        fact = NewCheck.build(
            self._run_id(),
            name,
            status,
            details=details,
            subjects=[(role, digest) for role, digest in judged if digest],
            **fields,
        )
        with self.lock:
            unit = self.unit
            if unit is not None:
                unit.facts.append(fact)
                return fact.id
        self._submit([fact])
        return fact.id

    def produce(self, obj, *, name: str, derived_from=(), snapshot: bool = False):
        """Record an artifact the current unit made, derived from the given fingerprints.

        ``derived_from`` is an iterable of digests, or a mapping of roles to digests.
        """
        if isinstance(obj, str | os.PathLike):
            fp = fingerprint_file(obj, cache=self.trail.stat_cache)
            path = str(Path(obj).resolve())
        else:
            fp, path = fingerprint(obj), None
        pairs = (
            list(derived_from.items())
            if hasattr(derived_from, "items")
            else [(None, d) for d in derived_from]
        )
        run_id = self._run_id()
        facts: list = []
        snap = None
        if snapshot:
            snap = self.trail._snapshot_bytes(obj, fp)
        facts.append(NewArtifact.of(fp, name, snap))
        facts.append(NewEdge("produced", run_id, fp.digest, name=name, path=path))
        facts += [
            NewEdge("derived", run_id, fp.digest, source_id=digest, role=role)
            for role, digest in pairs
            if digest and digest != fp.digest
        ]
        with self.lock:
            unit = self.unit
            if unit is not None and path is not None:
                unit.recorded_writes.add(path)
            if unit is not None:
                unit.facts.extend(facts)
                return fp.digest
        self._submit(facts)
        return fp.digest
