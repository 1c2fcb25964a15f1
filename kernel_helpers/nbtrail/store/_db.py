"""Connections to the trail database: SQLite by default, PostgreSQL when configured.

Writers are serialised so the event chain stays one line: SQLite write transactions start
with ``BEGIN IMMEDIATE`` (the database's write lock, waited for up to the busy timeout);
PostgreSQL write transactions take a transaction-scoped advisory lock. Readers never wait
for writers (SQLite in WAL mode, PostgreSQL's MVCC).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError

from .._secrets import mask_url
from ..errors import ReadOnlyTrail, SchemaTooNew, StoreError, TrailNotFound
from . import _schema
from ._audit import json_text

__all__ = ["check_schema", "create_trail_engine", "ensure_schema", "read", "write"]

BUSY_TIMEOUT_MS = 60_000
# An arbitrary constant: the advisory lock key that serialises nbtrail writers in PostgreSQL.
_PG_LOCK_KEY = 0x6E62747261696C  # "nbtrail"


def _normalise_url(url: str):
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TrailNotFound(
            f"store URL {mask_url(url)!r} is not a SQLAlchemy database URL"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # The driver nbtrail installs is psycopg 3; plain postgresql:// means psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_trail_engine(url: str, *, pooled: bool = True) -> Engine:
    """Create an engine for a trail database URL with nbtrail's connection settings.

    ``pooled=False`` keeps no connection between uses (a reader: each use opens the database
    and closes it, so nothing it holds can go stale while writers checkpoint the WAL).
    """
    parsed = _normalise_url(url)
    pool = {} if pooled else {"poolclass": sa.pool.NullPool}
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            parsed,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            json_serializer=json_text,
            **pool,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own transaction
            # handling would defer it and break BEGIN IMMEDIATE).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
                if (
                    mode
                    and str(mode[0]).lower() != "wal"
                    and parsed.database
                    not in (
                        None,
                        "",
                        ":memory:",
                    )
                ):
                    raise StoreError(
                        f"{parsed.database}: SQLite refused WAL mode ({mode[0]}); "
                        "is the trail on a network file system?"
                    )
                # WAL with synchronous=NORMAL never corrupts and survives a killed process;
                # only a power cut can lose the last commits.
                cursor.execute("PRAGMA synchronous = NORMAL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            if conn.get_execution_options().get("nbtrail_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, json_serializer=json_text, **pool)
    raise TrailNotFound(
        f"store URL {mask_url(parsed.render_as_string(hide_password=True))!r}: nbtrail supports "
        "SQLite and PostgreSQL"
    )


def _describe(engine: Engine) -> str:
    return mask_url(engine.url.render_as_string(hide_password=True))


@contextlib.contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """Open a write transaction holding the trail's writer lock."""
    with _translate_errors(engine), engine.connect() as raw:
        conn = raw.execution_options(nbtrail_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield conn


@contextlib.contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """Open a read transaction (a consistent snapshot)."""
    with _translate_errors(engine), engine.connect() as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def _translate_errors(engine: Engine) -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StoreError(f"{_describe(engine)}: {error_reason(exc)}") from exc
    except IntegrityError:
        raise
    except DatabaseError as exc:
        reason = error_reason(exc)
        if "file is not a database" in reason:
            raise TrailNotFound(f"{engine.url.database}: not an nbtrail trail") from None
        damage = _sqlite_damage(engine) if engine.dialect.name == "sqlite" else None
        if damage:
            raise StoreError(
                f"{_describe(engine)}: {reason}: the file is damaged ({damage}); restore it from "
                "a copy"
            ) from exc
        raise StoreError(
            f"{_describe(engine)}: {reason} (run `nbtrail verify` to see what is damaged)"
        ) from exc


def _sqlite_damage(engine: Engine) -> str | None:
    """The first thing SQLite's integrity check finds wrong with the file, if it can say."""
    import sqlite3

    path = engine.url.database
    if not path or path == ":memory:":
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(3)")]
    except sqlite3.Error as exc:
        return str(exc)
    lines = [x for r in rows for x in r.splitlines() if x and not x.startswith("***")]
    return None if lines == ["ok"] else "; ".join(lines[:2])


def error_reason(exc: Exception) -> str:
    """The first line of a database error, without the driver's wrapping."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _current_revision(conn: Connection) -> tuple[str | None, list[str]]:
    """Return (revision, names of the tables found) for the database behind ``conn``."""
    names = sorted(sa.inspect(conn).get_table_names())
    if _schema.VERSION_TABLE not in names:
        return None, names
    row = conn.execute(sa.text(f"SELECT version_num FROM {_schema.VERSION_TABLE}")).first()
    return (row[0] if row else None), names


def ensure_schema(engine: Engine, *, create: bool = False) -> None:
    """Bring the database to this nbtrail's schema, or refuse it.

    With ``create``, an empty database gets the schema (``nbtrail init``, or nbtrail's own
    SQLite file in a ``.nbtrail`` folder); without it, a database with no trail is refused. An
    older trail is migrated (under the writer lock, so concurrent openers migrate once); a
    trail from a newer nbtrail, or a database holding anything but a trail, is refused
    untouched, naming the tables found.
    """
    with read(engine) as conn:
        revision, names = _current_revision(conn)
    if revision == _schema.HEAD_REVISION:
        return
    _refuse_unknown(engine, revision, names, create=create)
    with write(engine) as conn:
        revision, names = _current_revision(conn)
        if revision == _schema.HEAD_REVISION:
            return
        _refuse_unknown(engine, revision, names, create=create)
        _upgrade(conn)


def check_schema(engine: Engine) -> None:
    """For a reader: accept a trail at this nbtrail's schema, refuse anything else untouched.

    A reader never migrates: an older trail is upgraded by a writer (``nbtrail upgrade``, or
    any run recorded with this nbtrail).
    """
    with read(engine) as conn:
        revision, names = _current_revision(conn)
    if revision == _schema.HEAD_REVISION:
        return
    _refuse_unknown(engine, revision, names, create=True)
    if revision is None:
        raise TrailNotFound(f"{_describe(engine)}: no trail here yet (nothing was recorded)")
    raise ReadOnlyTrail(
        f"{_describe(engine)}: this trail is at schema revision {revision} and this nbtrail reads "
        f"{_schema.HEAD_REVISION}; run `nbtrail upgrade` (a reader never changes the trail)"
    )


def _refuse_unknown(engine: Engine, revision: str | None, names: list[str], *, create: bool):
    if revision is None and names:
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise TrailNotFound(
            f"{_describe(engine)}: not an nbtrail trail (it holds tables {shown}); nbtrail "
            "creates a trail only in an empty database or schema, and changed nothing"
        )
    if revision is None and not create:
        raise TrailNotFound(
            f"{_describe(engine)}: no trail here yet; run `nbtrail init` to create one "
            "(only init creates a trail in a configured database)"
        )
    if revision is not None and revision not in _schema.KNOWN_REVISIONS:
        raise SchemaTooNew(
            f"{_describe(engine)}: this trail was written by a newer nbtrail (schema "
            f"revision {revision}; this nbtrail knows up to {_schema.HEAD_REVISION}). "
            "Upgrade nbtrail to use it; it was not changed."
        )


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "nbtrail.store:migrations")
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
