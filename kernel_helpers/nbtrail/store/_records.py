"""Plain records read from the trail: runs, artifacts, checks, metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from .._json import jsonable

__all__ = [
    "ArtifactRecord",
    "CheckRecord",
    "MetricRecord",
    "RunDetails",
    "RunRecord",
    "Subject",
    "Usage",
]


def _to_dict(obj) -> dict:
    return jsonable(asdict(obj))


@dataclass(frozen=True)
class RunRecord:
    """One run as stored: a session, template execution, pipeline, step or script."""

    id: str
    parent_id: str | None
    kind: str
    name: str
    status: str
    actor: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    params: dict
    attrs: dict
    error: str | None
    notebook: str | None = None

    @classmethod
    def from_row(cls, row: Mapping) -> RunRecord:
        """Build from a ``runs`` row."""
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__})

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while running."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        data = _to_dict(self)
        data["duration"] = self.duration
        return data


@dataclass(frozen=True)
class ArtifactRecord:
    """An artifact: content identified by its fingerprint."""

    id: str
    kind: str
    name: str
    schema: str | None
    size: int
    meta: dict
    snapshot: str | None
    snapshot_format: str | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Mapping) -> ArtifactRecord:
        """Build from an ``artifacts`` row."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    @property
    def short(self) -> str:
        """First 12 hex digits of the fingerprint."""
        return self.id[:12]

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return _to_dict(self)


@dataclass(frozen=True)
class Usage:
    """An artifact as one run used or produced it: under which name, from which path."""

    artifact: ArtifactRecord
    name: str | None
    path: str | None
    run_id: str | None = None

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        data = self.artifact.to_dict()
        data["as_name"] = self.name
        data["path"] = self.path
        data["run_id"] = self.run_id
        return data


@dataclass(frozen=True)
class MetricRecord:
    """A metric value logged by a run."""

    key: str
    value: float
    step: int | None
    created_at: dt.datetime
    run_id: str | None = None

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return _to_dict(self)


@dataclass(frozen=True)
class Subject:
    """An artifact a check judged, in the role it played (``model``, ``reference``...)."""

    role: str
    artifact_id: str

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return {"role": self.role, "artifact_id": self.artifact_id}


@dataclass(frozen=True)
class CheckRecord:
    """A named verdict about one or more artifacts in a run.

    ``artifact_id`` is the primary subject; ``subjects`` every artifact judged, with its role.
    ``kind`` and ``version`` name the registered check that made it, ``params`` its options.
    """

    id: str
    run_id: str
    artifact_id: str | None
    name: str
    status: str
    summary: str
    metrics: dict
    thresholds: dict
    details: str | None
    created_at: dt.datetime
    kind: str | None = None
    version: str | None = None
    params: dict = field(default_factory=dict)
    subjects: tuple[Subject, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping, subjects=()) -> CheckRecord:
        """Build from a ``checks`` row and its subjects' (role, artifact id) pairs."""
        values = {k: row.get(k) for k in cls.__dataclass_fields__ if k != "subjects"}
        values["params"] = values["params"] or {}
        values["subjects"] = tuple(Subject(role, ident) for role, ident in subjects)
        return cls(**values)

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return _to_dict(self)


@dataclass(frozen=True)
class RunDetails:
    """Everything the trail holds about one run (and, when asked, the runs below it).

    Each usage, metric and check carries the id of the run it was recorded in; ``runs`` maps
    those ids to their records, so a reader can say where each was recorded (a cell, a step).
    """

    run: RunRecord
    used: list[Usage] = field(default_factory=list)
    produced: list[Usage] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    children: list[RunRecord] = field(default_factory=list)
    runs: dict[str, RunRecord] = field(default_factory=dict)

    def where(self, run_id: str | None) -> str:
        """Name the run a fact was recorded in (``cell 3``, ``step train``, ``this run``)."""
        if run_id is None or run_id == self.run.id:
            return "this run"
        record = self.runs.get(run_id)
        if record is None:
            return run_id
        return record.name if record.kind == "cell" else f"{record.kind} {record.name}"

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        data = self.run.to_dict()
        data["used"] = [u.to_dict() for u in self.used]
        data["produced"] = [u.to_dict() for u in self.produced]
        data["metrics"] = [m.to_dict() for m in self.metrics]
        data["checks"] = [c.to_dict() for c in self.checks]
        data["children"] = [c.to_dict() for c in self.children]
        return data
