"""The handle of a run being recorded by hand: what it used and produced, its metrics and checks.

A :class:`Run` writes each fact as it is given (one small transaction each); capture sessions
queue theirs for a background writer instead. Both build the same validated facts
(:mod:`._facts`), so a check recorded either way is recorded the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..errors import UsageError
from ..fingerprints import Fingerprint
from ._facts import NewArtifact, NewCheck, NewEdge, NewMetric, RunEnd, RunUpdate
from ._records import ArtifactRecord, CheckRecord, RunRecord

__all__ = ["Run"]

_DIGEST = re.compile(r"^[0-9a-f]{32}$")


def source_digest(source) -> str:
    """The fingerprint a ``derived_from`` entry stands for (a record, fingerprint or digest)."""
    if isinstance(source, ArtifactRecord):
        return source.id
    if isinstance(source, Fingerprint):
        return source.digest
    if isinstance(source, str) and _DIGEST.match(source):
        return source
    raise UsageError(
        "derived_from takes artifact records, fingerprints or 32-digit digests; "
        f"got {type(source).__name__}"
    )


def _sources(derived_from) -> list[tuple[str | None, str]]:
    """(role, digest) pairs from an iterable of sources or a mapping of roles to sources."""
    if isinstance(derived_from, Mapping):
        return [(str(role), source_digest(s)) for role, s in derived_from.items()]
    return [(None, source_digest(s)) for s in derived_from]


class Run:
    """A run being recorded. Returned by :meth:`Trail.start_run`.

    Use it as a context manager: leaving the block ends the run as ``succeeded``, or as
    ``failed`` (``aborted`` on KeyboardInterrupt) with the error when the block raises; the
    exception itself passes through unchanged. It is a recorder (:mod:`nbtrail.recording`):
    ``result.record(run)`` records a check result in it.
    """

    def __init__(self, trail, record: RunRecord):
        self.trail = trail
        self.record = record
        self.id = record.id
        self.name = record.name
        self.kind = record.kind

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.kind} {self.name!r} {self.record.status}>"

    @property
    def recording(self) -> bool:
        """Whether the run is still running (facts can be added)."""
        return self.record.status == "running"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.record.status != "running":
            return
        if exc_type is None:
            self.end("succeeded")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("aborted", error="KeyboardInterrupt")
        else:
            self.end("failed", error=f"{exc_type.__name__}: {exc}")

    def _write(self, *facts) -> dict:
        batch = self.trail.batch()
        batch.add(*facts)
        return batch.commit()

    def end(
        self, status: str = "succeeded", *, error: str | None = None, attrs: Mapping | None = None
    ) -> RunRecord:
        """End the run: ``succeeded``, ``failed`` or ``aborted`` (refused if it has ended).

        ``attrs`` are merged into the run's attributes in the same write.
        """
        stored = self._write(RunEnd(self.id, status, error=error, attrs=attrs))
        self.record = RunRecord.from_row(stored[("runs", self.id)])
        return self.record

    def start_run(self, name: str, **kwargs) -> Run:
        """Start a child run (a step of this run)."""
        return self.trail.start_run(name, parent=self.id, **kwargs)

    def _artifact(self, obj, snapshot: bool) -> tuple[Fingerprint, tuple | None]:
        if isinstance(obj, ArtifactRecord):
            # Already in the trail (from this run or an earlier one): link it as it is.
            if snapshot and obj.snapshot is None:
                raise UsageError(
                    f"artifact {obj.short} is a record, not the object; pass the object itself "
                    "to snapshot it"
                )
            return Fingerprint(obj.id, obj.kind, obj.schema, obj.size, obj.meta), None
        fp = self.trail.fingerprint(obj)
        return fp, (self.trail._snapshot_bytes(obj, fp) if snapshot else None)

    def _edge(self, kind: str, obj, *, name, snapshot: bool, derived_from=()) -> ArtifactRecord:
        sources = _sources(derived_from)
        fp, snap = self._artifact(obj, snapshot)
        path = fp.meta.get("path") if fp.kind == "file" else None
        facts = [
            NewArtifact.of(fp, name or self.trail._default_name(obj, fp), snap),
            NewEdge(kind, self.id, fp.digest, name=name, path=path),
        ]
        facts += [
            NewEdge("derived", self.id, fp.digest, source_id=source, role=role)
            for role, source in sources
        ]
        self._write(*facts)
        return self.trail.get_artifact(fp.digest)

    def use(self, obj, *, name: str | None = None, snapshot: bool = False) -> ArtifactRecord:
        """Record that this run read ``obj`` (an object, or a file when given a path).

        Parameters
        ----------
        obj : object or path
            A DataFrame, array, model, other object, or a file path (str or os.PathLike).
        name : str, optional
            The name it had in this run (a variable, a role such as ``train``).
        snapshot : bool
            Also store its content so ``nbtrail checkout`` can restore it.

        Returns
        -------
        ArtifactRecord
        """
        return self._edge("used", obj, name=name, snapshot=snapshot)

    def produce(
        self,
        obj,
        *,
        name: str | None = None,
        derived_from: Iterable | Mapping = (),
        snapshot: bool = False,
    ) -> ArtifactRecord:
        """Record that this run produced ``obj``, optionally derived from given artifacts.

        Parameters
        ----------
        obj : object or path
            What was produced.
        name : str, optional
            Its name in this run.
        derived_from : iterable or mapping
            The artifacts (records, fingerprints or digests) it was computed from, or a
            mapping of roles to them (``{"model": ..., "sample": ...}``): lineage then follows
            these exactly instead of assuming it depends on everything the run used.
        snapshot : bool
            Also store its content.

        Returns
        -------
        ArtifactRecord
        """
        return self._edge("produced", obj, name=name, snapshot=snapshot, derived_from=derived_from)

    def subject(self, obj, *, name: str | None = None) -> str:
        """Return the fingerprint of something a check judges, recording it as an artifact."""
        try:
            return source_digest(obj)
        except UsageError:
            pass
        fp = self.trail.fingerprint(obj)
        self._write(NewArtifact.of(fp, name or self.trail._default_name(obj, fp)))
        return fp.digest

    def log_metric(self, key: str, value, *, step: int | None = None) -> None:
        """Record a numeric metric (finite), optionally at a step."""
        self._write(NewMetric(self.id, key, value, step))

    def log_metrics(self, metrics: Mapping, *, step: int | None = None) -> None:
        """Record several metrics in one write; all are checked before any is written."""
        self._write(*(NewMetric(self.id, k, v, step) for k, v in dict(metrics).items()))

    def log_params(self, params: Mapping | None = None, **more) -> RunRecord:
        """Add parameters to the run (merged into those it holds)."""
        merged = {**dict(params or {}), **more}
        stored = self._write(RunUpdate(self.id, params=merged, action="run.params"))
        self.record = RunRecord.from_row(stored[("runs", self.id)])
        return self.record

    def record_check(
        self,
        name: str,
        status: str,
        *,
        artifact=None,
        subjects: Mapping | Iterable | None = None,
        summary: str = "",
        metrics: Mapping | None = None,
        thresholds: Mapping | None = None,
        details=None,
        kind: str | None = None,
        version: str | None = None,
        params: Mapping | None = None,
    ) -> CheckRecord:
        """Record a check's verdict about one or more artifacts.

        Parameters
        ----------
        name : str
            The check's name, e.g. ``schema`` or ``parity``.
        status : {"pass", "warn", "fail", "error"}
            The verdict.
        artifact : ArtifactRecord, Fingerprint, digest or object, optional
            What was judged (role ``subject``); an object is fingerprinted and recorded.
        subjects : mapping or sequence of pairs, optional
            Several subjects by role (``{"model": m, "reference": ref}``, or ``(role, it)``
            pairs), in order of importance; ``artifact`` is ``{"subject": artifact}``.
        summary : str
            One human sentence.
        metrics, thresholds : mapping, optional
            Headline numbers measured and the limits they were held to (scalars; per-group
            or per-feature values belong in ``details``).
        details : pandas.DataFrame, optional
            A bounded table of findings, stored as a Parquet blob.
        kind, version, params : optional
            The registered check that made the verdict and the options it was given.
        """
        pairs = list(subjects.items() if isinstance(subjects, Mapping) else subjects or ())
        if artifact is not None:
            pairs.insert(0, ("subject", artifact))
        judged = [(str(role), self.subject(obj)) for role, obj in pairs if obj is not None]
        fact = NewCheck.build(
            self.id,
            name,
            status,
            details=details,
            summary=summary,
            metrics=metrics,
            thresholds=thresholds,
            subjects=judged,
            kind=kind,
            version=version,
            params=params,
        )
        stored = self._write(fact)
        return CheckRecord.from_row(stored[("checks", fact.id)], fact.subjects)
