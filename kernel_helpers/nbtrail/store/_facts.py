"""The facts a writer may add, as validated values: the only way to build a row of the trail.

Capture, pipelines, checks and the server describe what happened with these (a run started,
ended or updated; an artifact, edge, metric or check added) and hand them to a
:class:`~nbtrail.store.Batch`. Each validates itself when built, on the thread that knows what
went wrong, so a bad value is refused with a message naming it before anything is queued or
written; the batch turns them into rows of the private schema.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._json import jsonable
from ..errors import UsageError
from ..ids import new_id
from ..vocabulary import CHECK_STATUSES, EDGE_KINDS, ENDED_RUN_STATUSES, RUN_STATUSES

__all__ = [
    "NewArtifact",
    "NewCheck",
    "NewEdge",
    "NewMetric",
    "NewRun",
    "RunEnd",
    "RunUpdate",
    "check_metrics",
    "check_name",
    "edge_key",
    "notebook_key",
]

_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_DIGEST = re.compile(r"^[0-9a-f]{32}$")
# The columns that make two edges the same fact (an edge is recorded once).
EDGE_KEY = ("kind", "run_id", "artifact_id", "source_id", "name", "path", "check_id", "role")


def edge_key(row: Mapping) -> tuple:
    """The identity of an edge row."""
    return tuple(row.get(k) for k in EDGE_KEY)


_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]{0,63}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen fact while it is built


def check_name(value, what: str, limit: int = 255) -> str:
    """Return ``value`` if it is a non-empty string of at most ``limit`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise UsageError(f"{what} is longer than {limit} characters: {value[:40]!r}...")
    return value


def _mapping(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"{what} must be a mapping of names to values, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise UsageError(f"{what}: every name must be a string, got {key!r}")
    return jsonable(dict(value))


def _digest(value, what: str) -> str:
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise UsageError(f"{what} must be a 32-digit fingerprint, got {value!r}")
    return value


def notebook_key(path) -> str:
    """How a notebook path is stored on its runs: absolute, resolved, as text."""
    return str(Path(path).expanduser().resolve(strict=False))


def _role(value) -> str:
    if not isinstance(value, str) or not _ROLE.match(value):
        raise UsageError(
            f"a role is a short name (letters, digits, _ . - and spaces), got {value!r}"
        )
    return value


def _time(value, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise UsageError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value


def check_metrics(metrics, what: str = "metrics") -> dict:
    """Validate headline metrics: names to scalars (numbers, strings, booleans or None).

    Nested values (per group, per feature) belong in a check's findings table, one row each,
    not in its metrics: the refusal says so.
    """
    metrics = _mapping(metrics, what)
    for key, value in metrics.items():
        if isinstance(value, dict | list):
            raise UsageError(
                f"{what}: {key!r} is a {type(value).__name__}; metrics are headline scalars, "
                "per-group or per-feature values go in the findings table (one row each)"
            )
    return metrics


@dataclass(frozen=True)
class NewRun:
    """A run that starts now (``status="running"``), or one recorded whole once it ended."""

    name: str
    kind: str = "script"
    params: Mapping | None = None
    attrs: Mapping | None = None
    parent_id: str | None = None
    notebook: str | None = None
    status: str = "running"
    error: str | None = None
    id: str = field(default_factory=new_id)
    started_at: dt.datetime = field(default_factory=_now)
    ended_at: dt.datetime | None = None
    action: str = "run.start"

    def __post_init__(self):
        check_name(self.name, "run name")
        if not isinstance(self.kind, str) or not _KIND.match(self.kind):
            raise UsageError(f"run kind must be a short lowercase word, got {self.kind!r}")
        if self.status not in RUN_STATUSES:
            raise UsageError(f"run status must be one of {', '.join(RUN_STATUSES)}")
        _set(self, "params", _mapping(self.params, "params"))
        _set(self, "attrs", _mapping(self.attrs, "attrs"))
        _time(self.started_at, "started_at")
        if self.status != "running" and self.ended_at is None:
            _set(self, "ended_at", _now())
        if self.notebook is not None:
            if not isinstance(self.notebook, str | os.PathLike):
                raise UsageError(f"notebook must be a path, got {self.notebook!r}")
            _set(self, "notebook", notebook_key(self.notebook))

    def row(self, actor: str) -> dict:
        """The ``runs`` row."""
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "actor": actor,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "params": self.params,
            "attrs": self.attrs,
            "error": self.error,
            "notebook": self.notebook,
        }


@dataclass(frozen=True)
class RunEnd:
    """A running run ends. Refused at commit if the run has already ended."""

    run_id: str
    status: str = "succeeded"
    error: str | None = None
    attrs: Mapping | None = None  # merged into the run's attrs in the same write
    ended_at: dt.datetime = field(default_factory=_now)
    action: str = "run.end"

    def __post_init__(self):
        if self.status not in ENDED_RUN_STATUSES:
            raise UsageError(
                f"a run ends as one of {', '.join(ENDED_RUN_STATUSES)}; got {self.status!r}"
            )
        if self.error is not None and not isinstance(self.error, str):
            _set(self, "error", str(self.error))
        if self.attrs is not None:
            _set(self, "attrs", _mapping(self.attrs, "attrs"))


@dataclass(frozen=True)
class RunUpdate:
    """New parameters or attributes of a run, merged into what it holds at commit time."""

    run_id: str
    params: Mapping | None = None
    attrs: Mapping | None = None
    action: str = "run.update"

    def __post_init__(self):
        if self.params is not None:
            _set(self, "params", _mapping(self.params, "params"))
        if self.attrs is not None:
            _set(self, "attrs", _mapping(self.attrs, "attrs"))


@dataclass(frozen=True)
class NewArtifact:
    """Content identified by its fingerprint: stored once, however often it is added."""

    id: str
    kind: str
    name: str
    size: int = 0
    schema: str | None = None
    meta: Mapping | None = None
    snapshot: str | None = None
    snapshot_format: str | None = None

    def __post_init__(self):
        _digest(self.id, "artifact fingerprint")
        if not isinstance(self.kind, str) or not _KIND.match(self.kind):
            raise UsageError(f"artifact kind must be a short lowercase word, got {self.kind!r}")
        check_name(self.name, "artifact name", limit=100_000)
        _set(self, "name", self.name[:255])
        meta = {k: v for k, v in _mapping(self.meta, "artifact meta").items() if k != "path"}
        _set(self, "meta", meta)
        if self.snapshot is not None:
            _digest(self.snapshot, "snapshot blob")

    @classmethod
    def of(cls, fp, name: str, snapshot: tuple[str, str] | None = None, *, kind=None):
        """The artifact of a :class:`~nbtrail.fingerprints.Fingerprint`."""
        return cls(
            id=fp.digest,
            kind=kind or fp.kind,
            name=name,
            size=int(fp.size),
            schema=fp.schema,
            meta=fp.meta,
            snapshot=snapshot[0] if snapshot else None,
            snapshot_format=snapshot[1] if snapshot else None,
        )

    def row(self) -> dict:
        """The ``artifacts`` row."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "schema": self.schema,
            "size": self.size,
            "meta": self.meta,
            "snapshot": self.snapshot,
            "snapshot_format": self.snapshot_format,
            "created_at": _now(),
        }


@dataclass(frozen=True)
class NewEdge:
    """A run used or produced an artifact; an artifact derived from another; a check judged one.

    ``role`` says what part an artifact played: the subject of a check (``model``,
    ``reference``...) on a ``judged`` edge, or an input of a producer on a ``derived`` one.
    """

    kind: str
    run_id: str
    artifact_id: str
    source_id: str | None = None
    name: str | None = None
    path: str | None = None
    check_id: str | None = None
    role: str | None = None
    id: str = field(default_factory=new_id)

    def __post_init__(self):
        if self.kind not in EDGE_KINDS:
            raise UsageError(f"edge kind must be one of {', '.join(EDGE_KINDS)}; got {self.kind!r}")
        _digest(self.artifact_id, "edge artifact")
        if self.kind == "derived":
            _digest(self.source_id, "a derived edge's source")
        if self.kind == "judged" and (self.check_id is None or self.role is None):
            raise UsageError("a judged edge needs the check and the subject's role")
        if self.role is not None:
            _role(self.role)
        if self.name is not None:
            _set(self, "name", str(self.name)[:255])

    def key(self) -> tuple:
        """What makes two edges the same fact."""
        return edge_key(self.row())

    def row(self) -> dict:
        """The ``edges`` row."""
        return {
            "id": self.id,
            "kind": self.kind,
            "run_id": self.run_id,
            "artifact_id": self.artifact_id,
            "source_id": self.source_id,
            "name": self.name,
            "path": self.path,
            "created_at": _now(),
            "check_id": self.check_id,
            "role": self.role,
        }


@dataclass(frozen=True)
class NewMetric:
    """A finite number a run measured, optionally at a step."""

    run_id: str
    key: str
    value: float
    step: int | None = None
    id: str = field(default_factory=new_id)

    def __post_init__(self):
        check_name(self.key, "metric name")
        value = self.value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"metric {self.key!r} must be a real number, got {value!r}")
        if not math.isfinite(float(value)):
            raise UsageError(f"metric {self.key!r} is {value}; metrics must be finite numbers")
        _set(self, "value", float(value))
        step = self.step
        if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)):
            raise UsageError(f"metric {self.key!r}: step must be an integer, got {step!r}")

    def row(self) -> dict:
        """The ``metrics`` row."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "key": self.key,
            "value": self.value,
            "step": None if self.step is None else int(self.step),
            "created_at": _now(),
        }


@dataclass(frozen=True)
class NewCheck:
    """A check's verdict in a run, about its subjects, each in a role.

    ``details`` is the findings table, already encoded (Parquet bytes), so the batch stores it
    as a blob beside the row. ``subjects`` are (role, fingerprint) pairs; the first is the
    check's primary subject.
    """

    run_id: str
    name: str
    status: str
    summary: str = ""
    metrics: Mapping | None = None
    thresholds: Mapping | None = None
    details: bytes | None = None
    subjects: Sequence[tuple[str, str]] = ()
    kind: str | None = None
    version: str | None = None
    params: Mapping | None = None
    id: str = field(default_factory=new_id)

    def __post_init__(self):
        check_name(self.name, "check name")
        if self.status not in CHECK_STATUSES:
            raise UsageError(
                f"check status must be one of {', '.join(CHECK_STATUSES)}; got {self.status!r}"
            )
        _set(self, "summary", "" if self.summary is None else str(self.summary))
        _set(self, "metrics", check_metrics(self.metrics, f"check {self.name!r} metrics"))
        _set(self, "thresholds", check_metrics(self.thresholds, f"check {self.name!r} thresholds"))
        _set(self, "params", _mapping(self.params, f"check {self.name!r} parameters"))
        if self.details is not None and not isinstance(self.details, bytes):
            raise UsageError("check details must be encoded bytes (see _snapshot.table_parquet)")
        subjects = []
        for pair in self.subjects:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise UsageError(f"a check subject is a (role, fingerprint) pair, got {pair!r}")
            role, digest = pair
            subjects.append((_role(role), _digest(digest, "check subject")))
        _set(self, "subjects", tuple(subjects))
        if self.kind is not None:
            check_name(self.kind, "check kind", limit=64)
        if self.version is not None:
            _set(self, "version", str(self.version)[:32])

    @classmethod
    def build(cls, run_id: str, name: str, status: str, *, details=None, **fields) -> NewCheck:
        """The fact of a check result whose findings are a pandas DataFrame (or None)."""
        encoded = None
        if details is not None:
            import pandas as pd

            from ._snapshot import table_parquet

            if not isinstance(details, pd.DataFrame):
                raise UsageError("check details must be a pandas DataFrame")
            encoded = table_parquet(details) if len(details) else None
        return cls(run_id, name, status, details=encoded, **fields)

    @property
    def artifact_id(self) -> str | None:
        """The primary subject's fingerprint."""
        return self.subjects[0][1] if self.subjects else None

    def row(self, details_digest: str | None) -> dict:
        """The ``checks`` row."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "artifact_id": self.artifact_id,
            "name": self.name[:255],
            "status": self.status,
            "summary": self.summary,
            "metrics": self.metrics,
            "thresholds": self.thresholds,
            "details": details_digest,
            "created_at": _now(),
            "kind": self.kind,
            "version": self.version,
            "params": self.params,
        }

    def edges(self) -> list[NewEdge]:
        """One ``judged`` edge per subject."""
        return [
            NewEdge("judged", self.run_id, digest, check_id=self.id, role=role)
            for role, digest in self.subjects
        ]
