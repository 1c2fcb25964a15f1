"""The trail: a database of facts and events plus a blob store, opened to read or to write.

Every write goes through a :class:`~nbtrail.store.Batch` (``trail.batch()``): the facts and
their events are committed in one transaction under the writer lock, each event carrying the
digest of the row exactly as stored. A fact and its event are committed together or not at
all.

A trail opened to read (``readonly=True``: the server's views, ``nbtrail runs``, ``show``,
``verify``...) never writes: it does not migrate the schema, does not mark dead runs aborted,
and refuses every write. A writer brings the schema up to date (creating it only when asked
to: ``nbtrail init``, or nbtrail's own SQLite file), refuses a database whose schema was
altered (a trigger, a view, an extra column), marks runs whose process died as aborted, and,
on a signed trail, must hold the key the trail is signed with.

The trail's own metadata (its id, when it was created, whether and with which key it is
signed) is on the audit chain too, as ``nbtrail_meta`` events.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa

from .._json import iso_time
from .._secrets import mask_url
from ..config import Settings
from ..errors import ReadOnlyTrail, SigningKeyError, StoreError, TamperedFact
from ..fingerprints import StatCache
from . import _db, _schema
from ._artifacts import Artifacts
from ._audit import append_events, key_id, row_digest, signature_matches
from ._batch import Batch
from ._blobs import BlobStore
from ._facts import NewRun, RunEnd
from ._integrity import schema_problems
from ._process import current_process, is_gone
from ._queries import Queries
from ._records import RunRecord
from ._run import Run

__all__ = ["Trail"]

log = logging.getLogger("nbtrail")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _last_known(attrs: Mapping, started: dt.datetime) -> dt.datetime:
    """When a dead run was last known alive: its attrs' ``at``, else now."""
    try:
        last = dt.datetime.fromisoformat(str(attrs["at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return _now()
    if last.tzinfo is None:
        return _now()
    return max(last, started)


# Connections must not cross a fork (papermill and pipeline workers fork): a child drops the
# pool it inherited, without closing the parent's connections, and opens its own.
_open_engines: weakref.WeakSet = weakref.WeakSet()


def _dispose_after_fork() -> None:
    for engine in list(_open_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)


class Trail(Queries, Artifacts):
    """One trail: a database of facts and events plus a blob store.

    Use :func:`~nbtrail.open_trail` or :func:`~nbtrail.init_trail` rather than the constructor.

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
    readonly : bool
        Open to read only: no migration, no recovery, every write refused.
    create : bool
        A writer may create the schema in an empty database (``nbtrail init``).
    """

    def __init__(
        self,
        store_url: str,
        *,
        blobs: BlobStore | None,
        home: Path | None,
        settings: Settings,
        readonly: bool = False,
        create: bool = False,
    ):
        self.store_url = store_url
        self.home = home
        self.settings = settings
        self.actor = settings.actor
        self.readonly = readonly
        self._key = settings.signing_key
        self._blobs = blobs
        # A reader keeps no connection between uses: a long-lived viewer (the server) must not
        # read through WAL files that writers have since checkpointed away.
        self.engine = _db.create_trail_engine(store_url, pooled=not readonly)
        _open_engines.add(self.engine)
        self.stat_cache = StatCache(
            home / "cache" / "stat-cache.json" if home and not readonly else None
        )
        try:
            if readonly:
                _db.check_schema(self.engine)
                self.trail_id = self._read_meta()
            else:
                self._check_signing_key()
                _db.ensure_schema(self.engine, create=create)
                self._check_schema()
                self.trail_id = self._ensure_meta()
        except BaseException:
            self.engine.dispose()
            raise
        if not readonly:
            self.recover_dead_runs()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return mask_url(self.engine.url.render_as_string(hide_password=True))

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
        mode = " (read-only)" if self.readonly else ""
        return f"<Trail {self.url}{mode}>"

    def _check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyTrail(f"{self.url} was opened to read; open it again to write")

    def _read_meta(self) -> str:
        return self.meta().get("trail_id", "")

    def meta(self) -> dict[str, str]:
        """The trail's own metadata: ``trail_id``, ``created_at``, ``signing_key_id``..."""
        meta = _schema.meta
        with _db.read(self.engine) as conn:
            return dict(conn.execute(sa.select(meta.c.key, meta.c.value)).all())

    def _check_schema(self) -> None:
        with _db.read(self.engine) as conn:
            problems = schema_problems(conn)
        if problems:
            shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
            raise StoreError(
                f"{self.url}: the trail's schema was changed outside nbtrail ({shown}); "
                "nothing was written. Run `nbtrail verify`."
            )

    def _ensure_meta(self) -> str:
        """Create the trail's metadata on first write, each entry an event on the chain.

        A trail from before metadata was on the chain gets its entries recorded now; a trail
        created signed records its key's id, so a chain rebuilt unsigned or with another key
        is found by a verifier without the key.
        """
        with _db.read(self.engine) as conn:
            current, new, items = self._missing_meta(conn)
        if not items:
            return current["trail_id"]
        with _db.write(self.engine) as conn:
            current, new, items = self._missing_meta(conn)
            if new:
                rows = [{"key": k, "value": v} for k, v in new.items()]
                conn.execute(_schema.meta.insert(), rows)
            if items:
                append_events(conn, self.actor, self._key, items)
        return {**current, **new}["trail_id"]

    def _missing_meta(self, conn) -> tuple[dict, dict, list]:
        meta, ev = _schema.meta, _schema.events
        current = dict(conn.execute(sa.select(meta.c.key, meta.c.value)).all())
        covered = set(
            conn.execute(sa.select(ev.c.subject_id).where(ev.c.subject_type == meta.name)).scalars()
        )
        new: dict[str, str] = {}
        if "trail_id" not in current:
            from .._version import __version__

            new = {
                "trail_id": str(uuid.uuid4()),
                "created_at": iso_time(_now()),
                "created_by": f"nbtrail {__version__}",
            }
        # _check_signing_key has made sure a key fits: the trail is new or signed with it.
        if self._key is not None and "signing_key_id" not in current:
            new["signing_key_id"] = key_id(self._key)
        items = []
        for k, v in {**current, **new}.items():
            if k not in covered:
                row = {"key": k, "value": v}
                items.append(("meta.set", meta.name, k, row_digest(row, meta.name), row))
        return current, new, items

    def _check_signing_key(self) -> None:
        """A writer must sign like the trail's first event: with the same key, or not at all."""
        events = _schema.events
        with _db.read(self.engine) as conn:
            if events.name not in sa.inspect(conn).get_table_names():
                return
            first = conn.execute(
                sa.select(events.c.hash, events.c.signature).order_by(events.c.seq).limit(1)
            ).first()
        if first is None:
            return
        key = self._key
        if first.signature and key is None:
            raise SigningKeyError(
                "this trail is signed: set NBTRAIL_SIGNING_KEY to write to it "
                "(reading needs no key)"
            )
        if first.signature and not signature_matches(key, first.hash, first.signature):
            raise SigningKeyError(
                "NBTRAIL_SIGNING_KEY is not the key this trail is signed with; nothing was written"
            )
        meta = _schema.meta
        with _db.read(self.engine) as conn:
            recorded = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "signing_key_id")
            ).scalar()
        if recorded is not None and (key is None or key_id(key) != recorded):
            raise SigningKeyError(
                "this trail was created signed: set NBTRAIL_SIGNING_KEY to the key it is signed "
                "with to write to it (reading needs no key)"
            )
        if not first.signature and key is not None:
            raise SigningKeyError(
                "this trail is not signed, and a key cannot sign the history it already has: "
                "unset NBTRAIL_SIGNING_KEY to write to it (set a key before the trail is created)"
            )

    def recover_dead_runs(self) -> list[str]:
        """Mark runs left ``running`` by a process that no longer exists as ``aborted``.

        Runs opened on other hosts are left alone. Called when a writer opens the trail; a
        failure here is logged, never raised: it must not stop anyone from using the trail.

        Returns
        -------
        list of str
            Ids of the runs marked aborted.
        """
        if self.readonly:
            return []
        runs = _schema.runs
        try:
            with _db.read(self.engine) as conn:
                rows = conn.execute(
                    sa.select(runs.c.id, runs.c.attrs, runs.c.started_at).where(
                        runs.c.status == "running"
                    )
                ).all()
            dead = [
                (ident, attrs, started)
                for ident, attrs, started in rows
                if is_gone(attrs.get("process"))
            ]
            if not dead:
                return []
            aborted = []
            for ident, attrs, started in dead:
                process = attrs["process"]
                error = (
                    f"aborted: process {process['pid']} on {process['host']} ended without "
                    "ending the run (killed, or the kernel died)"
                )
                # The run's last known moment (a session records it after every cell), if any.
                last = _last_known(attrs, started)
                batch = self.batch()
                batch.add(RunEnd(ident, "aborted", error=error, action="run.abort", ended_at=last))
                try:
                    batch.commit()
                except TamperedFact as exc:
                    # Ending it would record, and so bless, an edit made outside nbtrail.
                    log.warning("nbtrail: %s", exc)
                    continue
                aborted.append(ident)
            return aborted
        except Exception:
            log.exception("could not mark dead runs as aborted")
            return []

    def batch(self) -> Batch:
        """Start a batch of facts to commit together (see :class:`Batch`)."""
        self._check_writable()
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
        notebook: str | os.PathLike | None = None,
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
            Other facts about the run: environment, git commit.
        parent : Run, RunRecord or str, optional
            The run this one is part of.
        notebook : path-like, optional
            The notebook the run executes (its history is found by this path).

        Returns
        -------
        Run
            Status ``running`` until ended; ``with`` ends it as ``succeeded``, or ``failed``
            (``aborted`` for KeyboardInterrupt) with the error when the block raises.
        """
        parent_id = None
        if parent is not None:
            parent_id = parent.id if isinstance(parent, Run | RunRecord) else str(parent)
            self.get_run(parent_id)
        fact = NewRun(
            name,
            kind=kind,
            params=params,
            attrs={**dict(attrs or {}), "process": current_process()},
            parent_id=parent_id,
            notebook=notebook or None,
        )
        batch = self.batch()
        batch.add(fact)
        stored = batch.commit()
        return Run(self, RunRecord.from_row(stored[("runs", fact.id)]))

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
