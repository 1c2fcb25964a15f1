"""The trail: open it, start runs, record what they used and produced, read it back.

Every write goes through a :class:`~nbtrail.store._batch.Batch` (``trail.batch()``): the facts
and their events are committed in one transaction under the writer lock, each event carrying
the digest of the row exactly as stored. A fact and its event are committed together or not at
all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import numbers
import os
import re
import uuid
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path

import sqlalchemy as sa

from ..capture.fingerprints import Fingerprint, StatCache, fingerprint, fingerprint_file
from ..config import HOME_DIRNAME, Settings, load_settings
from ..errors import (
    ArtifactNotFound,
    RunNotFound,
    SnapshotError,
    StoreError,
    TrailNotFound,
    UsageError,
)
from ..ids import new_id
from . import _db, _schema, _snapshot
from ._audit import jsonable
from ._batch import Batch, artifact_row
from ._blobs import BlobStore, LocalBlobStore, open_blob_store
from ._process import current_process, is_gone
from ._records import ArtifactRecord, CheckRecord, MetricRecord, RunDetails, RunRecord, Usage

__all__ = ["CHECK_STATUSES", "RUN_STATUSES", "Run", "Trail", "init_trail", "open_trail"]

log = logging.getLogger("nbtrail")

RUN_STATUSES = ("running", "succeeded", "failed", "aborted")
CHECK_STATUSES = ("pass", "warn", "fail", "error")
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_HEX = re.compile(r"^[0-9a-f]+$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_name(value, what: str, limit: int = 255) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise UsageError(f"{what} is longer than {limit} characters: {value[:40]!r}...")
    return value


def edge_row(
    kind: str,
    run_id: str,
    artifact_id: str,
    *,
    source_id: str | None = None,
    name: str | None = None,
    path: str | None = None,
) -> dict:
    """Return the ``edges`` row for a used, produced or derived edge."""
    return {
        "id": new_id(),
        "kind": kind,
        "run_id": run_id,
        "artifact_id": artifact_id,
        "source_id": source_id,
        "name": name[:255] if name else None,
        "path": path,
        "created_at": _now(),
    }


def _check_mapping(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"{what} must be a mapping of names to values, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise UsageError(f"{what}: every name must be a string, got {key!r}")
    return jsonable(dict(value))


# Connections must not cross a fork (papermill and pipeline workers fork): a child drops the
# pool it inherited, without closing the parent's connections, and opens its own.
_open_engines: weakref.WeakSet = weakref.WeakSet()


def _dispose_after_fork() -> None:
    for engine in list(_open_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)


class Trail:
    """One trail: a database of facts and events plus a blob store.

    Use :func:`open_trail` or :func:`init_trail` rather than the constructor.

    Parameters
    ----------
    store_url : str
        SQLAlchemy URL of the database.
    blobs : BlobStore or None
        Where snapshots go; None when the trail has no blob store configured.
    home : Path or None
        The ``.nbtrail`` folder, if there is one.
    settings : Settings
        Actor and signing key.
    """

    def __init__(
        self,
        store_url: str,
        *,
        blobs: BlobStore | None,
        home: Path | None,
        settings: Settings,
    ):
        self.store_url = store_url
        self.home = home
        self.settings = settings
        self.actor = settings.actor
        self._key = settings.signing_key
        self._blobs = blobs
        self.engine = _db.create_trail_engine(store_url)
        _open_engines.add(self.engine)
        self.stat_cache = StatCache(home / "cache" / "stat-cache.json" if home else None)
        try:
            _db.ensure_schema(self.engine)
            self.trail_id = self._ensure_meta()
        except BaseException:
            self.engine.dispose()
            raise
        self.recover_dead_runs()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def blobs(self) -> BlobStore:
        """The blob store; raises StoreError when none is configured."""
        if self._blobs is None:
            raise StoreError(
                "this trail has no blob store: set NBTRAIL_BLOB_URL or create a .nbtrail folder"
            )
        return self._blobs

    @property
    def project_root(self) -> Path:
        """The folder paths are shown relative to: the one holding ``.nbtrail``."""
        return self.home.parent if self.home is not None else Path.cwd()

    def close(self) -> None:
        """Release database connections and save the file stat cache."""
        self.stat_cache.save()
        self.engine.dispose()

    def __enter__(self) -> Trail:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Trail {self.url}>"

    def _ensure_meta(self) -> str:
        meta = _schema.meta
        with _db.read(self.engine) as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "trail_id")).first()
        if row:
            return row[0]
        with _db.write(self.engine) as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "trail_id")).first()
            if row:
                return row[0]
            trail_id = str(uuid.uuid4())
            from .. import __version__

            conn.execute(
                meta.insert(),
                [
                    {"key": "trail_id", "value": trail_id},
                    {"key": "created_at", "value": jsonable(_now())},
                    {"key": "created_by", "value": f"nbtrail {__version__}"},
                ],
            )
            return trail_id

    def recover_dead_runs(self) -> list[str]:
        """Mark runs left ``running`` by a process that no longer exists as ``aborted``.

        Runs opened on other hosts are left alone. Called whenever a trail is opened; a
        failure here is logged, never raised: it must not stop anyone from reading the trail.

        Returns
        -------
        list of str
            Ids of the runs marked aborted.
        """
        runs = _schema.runs
        try:
            with _db.read(self.engine) as conn:
                rows = conn.execute(
                    sa.select(runs.c.id, runs.c.attrs).where(runs.c.status == "running")
                ).all()
            dead = [(ident, attrs) for ident, attrs in rows if is_gone(attrs.get("process"))]
            if not dead:
                return []
            batch = self.batch()
            for ident, attrs in dead:
                process = attrs["process"]
                error = (
                    f"aborted: process {process['pid']} on {process['host']} ended without "
                    "ending the run (killed, or the kernel died)"
                )
                values = {"status": "aborted", "ended_at": _now(), "error": error}
                batch.update(runs, ident, values, "run.abort")
            batch.commit()
            return [ident for ident, _ in dead]
        except Exception:
            log.exception("could not mark dead runs as aborted")
            return []

    def batch(self) -> Batch:
        """Start a batch of facts to commit together (see :class:`Batch`)."""
        return Batch(self)

    # -- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        name: str,
        *,
        kind: str = "script",
        params: Mapping | None = None,
        attrs: Mapping | None = None,
        parent: Run | RunRecord | str | None = None,
    ) -> Run:
        """Start a run and return it; use it as a context manager to end it.

        Parameters
        ----------
        name : str
            What the run is, for people: a notebook, a step, a script.
        kind : str
            ``session``, ``template``, ``pipeline``, ``step``, ``script`` or your own word.
        params : mapping, optional
            Parameters the run was given (JSON-able values).
        attrs : mapping, optional
            Other facts about the run: notebook path, environment, git commit.
        parent : Run, RunRecord or str, optional
            The run this one is part of.

        Returns
        -------
        Run
            Status ``running`` until ended; ``with`` ends it as ``succeeded``, or ``failed``
            (``aborted`` for KeyboardInterrupt) with the error when the block raises.
        """
        _check_name(name, "run name")
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise UsageError(f"run kind must be a short lowercase word, got {kind!r}")
        params = _check_mapping(params, "params")
        attrs = {**_check_mapping(attrs, "attrs"), "process": current_process()}
        parent_id = None
        if parent is not None:
            parent_id = parent.id if isinstance(parent, Run | RunRecord) else str(parent)
            self.get_run(parent_id)
        row = {
            "id": new_id(),
            "parent_id": parent_id,
            "kind": kind,
            "name": name,
            "status": "running",
            "actor": self.actor,
            "started_at": _now(),
            "ended_at": None,
            "params": params,
            "attrs": attrs,
            "error": None,
        }
        batch = self.batch()
        batch.insert(_schema.runs, row, "run.start")
        stored = batch.commit()
        return Run(self, RunRecord.from_row(stored[("runs", row["id"])]))

    def _end_run(self, run_id: str, status: str, error: str | None) -> RunRecord:
        if status not in RUN_STATUSES[1:]:
            raise UsageError(f"a run ends as one of {', '.join(RUN_STATUSES[1:])}; got {status!r}")
        runs = _schema.runs
        with _db.read(self.engine) as conn:
            current = conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).first()
        if current is None:
            raise RunNotFound(f"no run {run_id}")
        if current.status != "running":
            raise UsageError(f"run {run_id} has already ended ({current.status})")
        batch = self.batch()
        values = {"status": status, "ended_at": _now(), "error": error}
        batch.update(runs, run_id, values, "run.end")
        return RunRecord.from_row(batch.commit()[("runs", run_id)])

    def get_run(self, ref: str) -> RunRecord:
        """Return the run whose id is ``ref`` or starts with it.

        Raises
        ------
        RunNotFound
            If no run matches; UsageError if the prefix matches several.
        """
        if not isinstance(ref, str) or not ref.strip():
            raise RunNotFound(f"no run matches {ref!r}")
        runs = _schema.runs
        ref = ref.strip().lower()
        with _db.read(self.engine) as conn:
            rows = (
                conn.execute(
                    sa.select(runs).where(runs.c.id.startswith(ref, autoescape=True)).limit(2)
                )
                .mappings()
                .all()
            )
        if not rows:
            raise RunNotFound(f"no run matches {ref!r} in {self.url}")
        if len(rows) > 1:
            raise UsageError(f"{ref!r} matches more than one run; give more of the id")
        return RunRecord.from_row(rows[0])

    def runs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        name: str | None = None,
        parent: str | None = None,
        top_level: bool = False,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Return runs, newest first, optionally filtered.

        Parameters
        ----------
        kind, status, name : str, optional
            Keep runs with exactly this kind, status or name.
        parent : str, optional
            Keep the children of this run id.
        top_level : bool
            Keep only runs without a parent (sessions, pipelines, scripts; not their cells
            and steps).
        limit : int, optional
            At most this many runs.
        """
        runs = _schema.runs
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc())
        if top_level:
            query = query.where(runs.c.parent_id.is_(None))
        for column, value in (
            (runs.c.kind, kind),
            (runs.c.status, status),
            (runs.c.name, name),
            (runs.c.parent_id, parent),
        ):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            if not isinstance(limit, int) or limit < 1:
                raise UsageError(f"limit must be a positive integer, got {limit!r}")
            query = query.limit(limit)
        with _db.read(self.engine) as conn:
            return [RunRecord.from_row(r) for r in conn.execute(query).mappings()]

    def descendants(self, run_id: str) -> list[RunRecord]:
        """Return every run below ``run_id`` (steps, sessions, cells), parents before children."""
        runs = _schema.runs
        found: list[RunRecord] = []
        frontier = [run_id]
        with _db.read(self.engine) as conn:
            while frontier:
                rows = (
                    conn.execute(
                        sa.select(runs)
                        .where(runs.c.parent_id.in_(frontier))
                        .order_by(runs.c.started_at, runs.c.id)
                    )
                    .mappings()
                    .all()
                )
                children = [RunRecord.from_row(r) for r in rows]
                found.extend(children)
                frontier = [c.id for c in children]
        return found

    def checks(self, run_ids) -> list[CheckRecord]:
        """Return the checks recorded in these runs, oldest first."""
        c = _schema.checks
        ids = list(run_ids)
        out: list[CheckRecord] = []
        with _db.read(self.engine) as conn:
            for start in range(0, len(ids), 5000):
                rows = (
                    conn.execute(
                        sa.select(c)
                        .where(c.c.run_id.in_(ids[start : start + 5000]))
                        .order_by(c.c.created_at, c.c.id)
                    )
                    .mappings()
                    .all()
                )
                out.extend(CheckRecord.from_row(r) for r in rows)
        return sorted(out, key=lambda r: (r.created_at, r.id))

    def run_details(self, ref: str) -> RunDetails:
        """Return a run with what it used and produced, its metrics, checks and children."""
        run = self.get_run(ref)
        e, a = _schema.edges, _schema.artifacts
        with _db.read(self.engine) as conn:
            rows = (
                conn.execute(
                    sa.select(e.c.kind.label("edge_kind"), e.c.name.label("as_name"), e.c.path, a)
                    .join(a, a.c.id == e.c.artifact_id)
                    .where(e.c.run_id == run.id, e.c.kind.in_(("used", "produced")))
                    .order_by(e.c.created_at, e.c.id)
                )
                .mappings()
                .all()
            )
            metric_rows = (
                conn.execute(
                    sa.select(_schema.metrics)
                    .where(_schema.metrics.c.run_id == run.id)
                    .order_by(_schema.metrics.c.created_at, _schema.metrics.c.id)
                )
                .mappings()
                .all()
            )
            check_rows = (
                conn.execute(
                    sa.select(_schema.checks)
                    .where(_schema.checks.c.run_id == run.id)
                    .order_by(_schema.checks.c.created_at, _schema.checks.c.id)
                )
                .mappings()
                .all()
            )
        details = RunDetails(
            run=run,
            metrics=[
                MetricRecord(m["key"], m["value"], m["step"], m["created_at"]) for m in metric_rows
            ],
            checks=[CheckRecord.from_row(c) for c in check_rows],
            children=sorted(self.runs(parent=run.id), key=lambda r: r.id),
        )
        for row in rows:
            usage = Usage(ArtifactRecord.from_row(row), row["as_name"], row["path"])
            (details.used if row["edge_kind"] == "used" else details.produced).append(usage)
        return details

    # -- artifacts ------------------------------------------------------------------------

    def fingerprint(self, obj) -> Fingerprint:
        """Fingerprint an object, or a file when given a path (str or os.PathLike)."""
        if isinstance(obj, Fingerprint):
            return obj
        if isinstance(obj, str | os.PathLike):
            return fingerprint_file(obj, cache=self.stat_cache)
        return fingerprint(obj)

    def _default_name(self, obj, fp: Fingerprint) -> str:
        if fp.kind == "file":
            return self.display_path(fp.meta["path"])
        cls = fp.meta.get("class", "")
        label = cls.rsplit(".", 1)[-1] if cls else fp.kind
        return f"{label}:{fp.short}"

    def display_path(self, path: str) -> str:
        """Show a path relative to the project root when it lies inside it."""
        try:
            return str(Path(path).relative_to(self.project_root))
        except ValueError:
            return str(path)

    def _snapshot_bytes(self, obj, fp: Fingerprint) -> tuple[str, str]:
        if fp.kind == "file":
            return self.blobs.put_file(obj, expected=fp.digest), "raw"
        data, fmt = _snapshot.encode(obj, fp)
        return self.blobs.put_bytes(data), fmt

    def snapshot(self, obj, *, name: str | None = None) -> ArtifactRecord:
        """Store an object's (or a file's) full content so it can be restored later.

        Parameters
        ----------
        obj : object or path
            A DataFrame, Series, array, model or other object, or a file path.
        name : str, optional
            Name to record if the artifact is new.

        Returns
        -------
        ArtifactRecord
            With ``snapshot`` set to the digest of the stored bytes.
        """
        fp = self.fingerprint(obj)
        snap = self._snapshot_bytes(obj, fp)
        batch = self.batch()
        batch.artifact(artifact_row(fp, name or self._default_name(obj, fp), snap))
        batch.commit()
        return self.get_artifact(fp.digest)

    def get_artifact(self, ref) -> ArtifactRecord:
        """Find an artifact by fingerprint (or a prefix of 4+ hex digits), path or name.

        A path that exists on disk is fingerprinted now; if that exact content is not in the
        trail, the newest artifact recorded at that path is returned. Otherwise ``ref`` is
        tried as a recorded path, a fingerprint prefix, then an artifact name (newest first).

        Raises
        ------
        ArtifactNotFound
            If nothing matches; UsageError if a prefix matches several artifacts.
        """
        if isinstance(ref, ArtifactRecord):
            return ref
        if isinstance(ref, Fingerprint):
            ref = ref.digest
        if not isinstance(ref, str | os.PathLike) or not str(ref).strip():
            raise ArtifactNotFound(f"no artifact matches {ref!r}")
        text = os.fspath(ref).strip()
        a, e = _schema.artifacts, _schema.edges
        path = Path(text).expanduser()
        with _db.read(self.engine) as conn:
            if path.is_file():
                digest = fingerprint_file(path, cache=self.stat_cache).digest
                row = conn.execute(sa.select(a).where(a.c.id == digest)).mappings().first()
                if row:
                    return ArtifactRecord.from_row(row)
            resolved = str(path.resolve())
            row = (
                conn.execute(
                    sa.select(a)
                    .join(e, e.c.artifact_id == a.c.id)
                    .where(e.c.path == resolved)
                    .order_by(e.c.created_at.desc(), e.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if row:
                return ArtifactRecord.from_row(row)
            lowered = text.lower()
            if len(lowered) >= 4 and _HEX.match(lowered):
                rows = (
                    conn.execute(
                        sa.select(a).where(a.c.id.startswith(lowered, autoescape=True)).limit(2)
                    )
                    .mappings()
                    .all()
                )
                if len(rows) > 1:
                    raise UsageError(f"{text!r} matches more than one artifact; give more digits")
                if rows:
                    return ArtifactRecord.from_row(rows[0])
            row = (
                conn.execute(
                    sa.select(a).where(a.c.name == text).order_by(a.c.created_at.desc()).limit(1)
                )
                .mappings()
                .first()
            )
            if row:
                return ArtifactRecord.from_row(row)
        raise ArtifactNotFound(
            f"no artifact matches {text!r}: not a recorded path, fingerprint or name"
        )

    def artifacts(self, *, kind: str | None = None, limit: int | None = None):
        """Return artifacts, newest first."""
        a = _schema.artifacts
        query = sa.select(a).order_by(a.c.created_at.desc(), a.c.id)
        if kind is not None:
            query = query.where(a.c.kind == kind)
        if limit is not None:
            query = query.limit(limit)
        with _db.read(self.engine) as conn:
            return [ArtifactRecord.from_row(r) for r in conn.execute(query).mappings()]

    def load(self, ref):
        """Restore an artifact's snapshot into memory (a DataFrame, array, model or bytes)."""
        art = self.get_artifact(ref)
        if art.snapshot is None:
            raise SnapshotError(
                f"artifact {art.short} ({art.name}) has no snapshot; record it with snapshot=True"
            )
        data = self.blobs.get_bytes(art.snapshot)
        return data if art.snapshot_format == "raw" else _snapshot.decode(data, art.snapshot_format)

    def checkout(self, ref, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write an artifact's snapshot to ``path``: a file's exact bytes, a frame as Parquet.

        Parameters
        ----------
        ref : str or ArtifactRecord
            Fingerprint (prefix), recorded path or name.
        path : path-like
            Where to write. An existing folder receives the artifact under its own name.
        overwrite : bool
            Replace an existing file at ``path`` (refused by default).

        Returns
        -------
        Path
            The file written.
        """
        art = self.get_artifact(ref)
        if art.snapshot is None:
            raise SnapshotError(
                f"artifact {art.short} ({art.name}) has no snapshot to check out; "
                "record it with snapshot=True or `%trail snapshot`"
            )
        target = Path(path).expanduser()
        if target.is_dir():
            suffix = _snapshot.SUFFIXES.get(art.snapshot_format or "raw", "")
            base = Path(art.name).name if art.kind == "file" else art.name.replace(":", "-")
            target = target / (base if base.endswith(suffix) else base + suffix)
        if target.exists() and not overwrite:
            raise UsageError(f"{target} exists; use --force (overwrite=True) to replace it")
        if not target.parent.is_dir():
            raise UsageError(f"{target.parent} is not a folder")
        try:
            self.blobs.copy_to(art.snapshot, target)
        except PermissionError:
            raise UsageError(f"{target}: permission denied") from None
        return target

    # -- lineage and verification ---------------------------------------------------------

    def lineage(self, ref, *, direction: str = "both", depth: int | None = None):
        """Return the lineage graph around an artifact or a run.

        Parameters
        ----------
        ref : str, path or record
            An artifact (fingerprint, path, name) or a run id.
        direction : {"both", "upstream", "downstream"}
            Where it came from, what came of it, or both.
        depth : int, optional
            Stop after this many hops.

        Returns
        -------
        Lineage
        """
        from ._lineage import build_lineage

        return build_lineage(self, ref, direction=direction, depth=depth)

    def verify(self, *, expect_head: str | None = None):
        """Re-derive the chain, every fact against its event, every blob against its digest.

        Parameters
        ----------
        expect_head : str, optional
            A head hash an earlier verify printed, kept outside the trail (a CI log, a release
            note): it must still be in the chain, so cutting off the newest events is caught.

        Returns
        -------
        VerifyReport
            ``ok`` is True when everything holds; ``problems`` lists what does not, first
            broken fact first.
        """
        from ._verify import verify_trail

        return verify_trail(self, expect_head)


class Run:
    """A run being recorded. Returned by :meth:`Trail.start_run`.

    Use it as a context manager: leaving the block ends the run as ``succeeded``, or as
    ``failed`` (``aborted`` on KeyboardInterrupt) with the error when the block raises; the
    exception itself passes through unchanged.
    """

    def __init__(self, trail: Trail, record: RunRecord):
        self.trail = trail
        self.record = record
        self.id = record.id
        self.name = record.name
        self.kind = record.kind

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.kind} {self.name!r} {self.record.status}>"

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

    def end(self, status: str = "succeeded", *, error: str | None = None) -> RunRecord:
        """End the run with a status: ``succeeded``, ``failed`` or ``aborted``."""
        self.record = self.trail._end_run(self.id, status, error)
        return self.record

    def start_run(self, name: str, **kwargs) -> Run:
        """Start a child run (a step of this run)."""
        return self.trail.start_run(name, parent=self.id, **kwargs)

    def _edge(
        self,
        kind: str,
        obj,
        *,
        name: str | None,
        snapshot: bool,
        derived_from: Iterable = (),
    ) -> ArtifactRecord:
        trail = self.trail
        sources = [self._source_digest(s) for s in derived_from]
        if isinstance(obj, ArtifactRecord):
            # Already in the trail (from this run or an earlier one): link it as it is.
            if snapshot and obj.snapshot is None:
                raise UsageError(
                    f"artifact {obj.short} is a record, not the object; pass the object itself "
                    "to snapshot it"
                )
            fp = Fingerprint(obj.id, obj.kind, obj.schema, obj.size, obj.meta)
            snap = None
        else:
            fp = trail.fingerprint(obj)
            snap = trail._snapshot_bytes(obj, fp) if snapshot else None
        path = fp.meta.get("path") if fp.kind == "file" else None
        batch = trail.batch()
        batch.artifact(artifact_row(fp, name or trail._default_name(obj, fp), snap))
        batch.edge(edge_row(kind, self.id, fp.digest, name=name, path=path))
        for source in sources:
            batch.edge(edge_row("derived", self.id, fp.digest, source_id=source))
        batch.commit()
        return trail.get_artifact(fp.digest)

    def _source_digest(self, source) -> str:
        if isinstance(source, ArtifactRecord):
            return source.id
        if isinstance(source, Fingerprint):
            return source.digest
        if isinstance(source, str) and len(source) == 32 and _HEX.match(source):
            return source
        raise UsageError(
            "derived_from takes artifact records, fingerprints or 32-digit digests; "
            f"got {type(source).__name__}"
        )

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
        derived_from: Iterable = (),
        snapshot: bool = False,
    ) -> ArtifactRecord:
        """Record that this run produced ``obj``, optionally derived from given artifacts.

        Parameters
        ----------
        obj : object or path
            What was produced.
        name : str, optional
            Its name in this run.
        derived_from : iterable of ArtifactRecord, Fingerprint or digest
            The artifacts it was computed from: lineage then follows these exactly instead
            of assuming it depends on everything the run used.
        snapshot : bool
            Also store its content.

        Returns
        -------
        ArtifactRecord
        """
        return self._edge("produced", obj, name=name, snapshot=snapshot, derived_from=derived_from)

    def log_metric(self, key: str, value, *, step: int | None = None) -> None:
        """Record a numeric metric (finite), optionally at a step."""
        _check_name(key, "metric name")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"metric {key!r} must be a real number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise UsageError(f"metric {key!r} is {value}; metrics must be finite numbers")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise UsageError(f"metric {key!r}: step must be an integer, got {step!r}")
        row = {
            "id": new_id(),
            "run_id": self.id,
            "key": key,
            "value": value,
            "step": step,
            "created_at": _now(),
        }
        batch = self.trail.batch()
        batch.insert(_schema.metrics, row, "metric.add")
        batch.commit()

    def log_metrics(self, metrics: Mapping, *, step: int | None = None) -> None:
        """Record several metrics; all are checked before any is written."""
        metrics = dict(metrics)
        for key, value in metrics.items():
            _check_name(key, "metric name")
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise UsageError(f"metric {key!r} must be a real number, got {value!r}")
            if not math.isfinite(float(value)):
                raise UsageError(f"metric {key!r} is {value}; metrics must be finite numbers")
        for key, value in metrics.items():
            self.log_metric(key, value, step=step)

    def log_params(self, params: Mapping | None = None, **more) -> RunRecord:
        """Add parameters to the run (merged into those it started with)."""
        merged = dict(self.record.params)
        merged.update(_check_mapping(params, "params"))
        merged.update(_check_mapping(more, "params"))
        batch = self.trail.batch()
        batch.update(_schema.runs, self.id, {"params": merged}, "run.params")
        self.record = RunRecord.from_row(batch.commit()[("runs", self.id)])
        return self.record

    def record_check(
        self,
        name: str,
        status: str,
        *,
        artifact=None,
        summary: str = "",
        metrics: Mapping | None = None,
        thresholds: Mapping | None = None,
        details=None,
    ) -> CheckRecord:
        """Record a check's verdict about an artifact.

        Parameters
        ----------
        name : str
            The check's name, e.g. ``schema`` or ``parity``.
        status : {"pass", "warn", "fail", "error"}
            The verdict.
        artifact : ArtifactRecord, Fingerprint, digest or object, optional
            What was judged; an object is fingerprinted and recorded.
        summary : str
            One human sentence.
        metrics, thresholds : mapping, optional
            Numbers measured and the limits they were held to.
        details : pandas.DataFrame, optional
            A bounded table of findings, stored as a Parquet blob.
        """
        _check_name(name, "check name")
        if status not in CHECK_STATUSES:
            raise UsageError(
                f"check status must be one of {', '.join(CHECK_STATUSES)}; got {status!r}"
            )
        metrics = _check_mapping(metrics, "check metrics")
        thresholds = _check_mapping(thresholds, "check thresholds")
        details_digest = None
        if details is not None:
            import pandas as pd

            if not isinstance(details, pd.DataFrame):
                raise UsageError("check details must be a pandas DataFrame")
            details_digest = self.trail.blobs.put_bytes(_snapshot.table_parquet(details))
        artifact_id = None
        fp = None
        if artifact is not None:
            try:
                artifact_id = self._source_digest(artifact)
            except UsageError:
                fp = self.trail.fingerprint(artifact)
                artifact_id = fp.digest
        row = {
            "id": new_id(),
            "run_id": self.id,
            "artifact_id": artifact_id,
            "name": name,
            "status": status,
            "summary": str(summary),
            "metrics": metrics,
            "thresholds": thresholds,
            "details": details_digest,
            "created_at": _now(),
        }
        batch = self.trail.batch()
        if fp is not None:
            batch.artifact(artifact_row(fp, self.trail._default_name(artifact, fp), None))
        batch.insert(_schema.checks, row, "check.add")
        return CheckRecord.from_row(batch.commit()[("checks", row["id"])])


# ----------------------------------------------------------------------------------------------
# opening


def _sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'trail.db'}"


def _prepare_home(home: Path) -> None:
    if home.exists() and not home.is_dir():
        raise TrailNotFound(f"{home} is a file, not a trail folder")
    try:
        home.mkdir(exist_ok=True)
        (home / "objects").mkdir(exist_ok=True)
        ignore = home / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# the trail is data, not source: keep it out of git\n*\n")
    except PermissionError:
        raise UsageError(f"cannot create a trail in {home.parent}: permission denied") from None
    except FileNotFoundError:
        raise UsageError(f"cannot create a trail in {home.parent}: no such folder") from None
    except OSError as exc:
        raise UsageError(f"cannot create a trail in {home.parent}: {exc.strerror}") from None
    if not os.access(home, os.W_OK):
        raise UsageError(f"{home} is not writable")


def _build(settings: Settings, home: Path | None) -> Trail:
    store_url = settings.store_url or (_sqlite_url(home) if home else None)
    if store_url is None:
        raise TrailNotFound(
            "no trail here: no .nbtrail folder in this folder or any parent; "
            "run `nbtrail init` or set NBTRAIL_HOME"
        )
    if settings.blob_url:
        blobs: BlobStore | None = open_blob_store(settings.blob_url)
    elif home is not None:
        blobs = LocalBlobStore(home / "objects")
    else:
        blobs = None
    return Trail(store_url, blobs=blobs, home=home, settings=settings)


def open_trail(start: str | os.PathLike | None = None, *, settings: Settings | None = None):
    """Open the trail that applies in ``start`` (default: the working directory).

    The trail is found like git finds ``.git``: ``NBTRAIL_HOME``, then ``home`` in
    ``[tool.nbtrail]``, then the nearest ``.nbtrail`` folder upward. ``NBTRAIL_STORE_URL``
    puts the database elsewhere (PostgreSQL); ``NBTRAIL_BLOB_URL`` the blobs.

    Raises
    ------
    TrailNotFound
        If there is no trail, or what is there is not a trail.
    SchemaTooNew
        If the trail was written by a newer nbtrail.
    """
    settings = settings or load_settings(start)
    home = settings.home
    if home is not None:
        if home.is_file():
            raise TrailNotFound(f"{home} is a file, not a trail folder")
        if not home.exists():
            if not home.parent.is_dir():
                raise TrailNotFound(f"trail folder {home} does not exist")
            _prepare_home(home)
        db = home / "trail.db"
        if settings.store_url is None and db.exists() and not db.is_file():
            raise TrailNotFound(f"{db} is not a file")
    return _build(settings, home)


def init_trail(folder: str | os.PathLike = ".", *, settings: Settings | None = None) -> Trail:
    """Create a trail in ``folder/.nbtrail`` (or NBTRAIL_HOME) and open it.

    Opening an existing trail is not an error: init is idempotent.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    settings = settings or load_settings(folder)
    # An explicit home (NBTRAIL_HOME, [tool.nbtrail] home) wins; a trail found further up
    # does not: like `git init`, init makes a trail here.
    if settings.home is not None and settings.home_source in ("env", "config"):
        home = settings.home
    else:
        home = folder / HOME_DIRNAME
    _prepare_home(home)
    return _build(dataclasses.replace(settings, home=home, home_source="init"), home)
