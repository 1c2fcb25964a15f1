"""The database's own health: its schema is exactly nbtrail's, and its pages are sound.

A fact's digest proves what the row held when nbtrail wrote it; it cannot see a trigger that
rewrites the next legitimate insert, a view shadowing a table, or an index page that no longer
matches its table. These checks look at the database itself: writers run the schema check
when they open a trail, ``verify`` runs both.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import _schema

__all__ = ["schema_problems", "storage_problems"]

_MAX_LINES = 20


def schema_problems(conn: Connection) -> list[str]:
    """Name everything in the database that is not nbtrail's schema.

    Triggers, views, rules, policies, extra or missing columns, missing indexes: empty when
    the schema is exact.
    """
    problems: list[str] = []
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('trigger', 'view') "
            "ORDER BY type, name"
        ).all()
        problems += [f"{kind} {name!r} on {table}" for kind, name, table in rows]
    else:
        problems += _postgres_extras(conn)
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    for name, table in _schema.metadata.tables.items():
        if name not in tables:
            problems.append(f"table {name} is missing")
            continue
        found = {c["name"] for c in inspector.get_columns(name)}
        expected = {c.name for c in table.columns}
        problems += [f"column {name}.{c} is not nbtrail's" for c in sorted(found - expected)]
        problems += [f"column {name}.{c} is missing" for c in sorted(expected - found)]
        indexes = {i["name"] for i in inspector.get_indexes(name)}
        for index in sorted(i.name for i in table.indexes):
            if index not in indexes:
                problems.append(f"index {index} on {name} is missing")
    return problems


# What PostgreSQL can hold beside nbtrail's tables that changes what a read or write does.
_PG_EXTRAS = (
    (
        "trigger",
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = current_schema() ORDER BY 1",
    ),
    ("rule", "SELECT rulename, tablename FROM pg_rules WHERE schemaname = current_schema()"),
    (
        "row security policy",
        "SELECT policyname, tablename FROM pg_policies WHERE schemaname = current_schema()",
    ),
    (
        "view",
        "SELECT table_name, NULL FROM information_schema.views "
        "WHERE table_schema = current_schema()",
    ),
)


def _postgres_extras(conn: Connection) -> list[str]:
    found = []
    for kind, query in _PG_EXTRAS:
        for name, table in sorted(conn.execute(sa.text(query)).all()):
            found.append(f"{kind} {name!r}" + (f" on {table}" if table else ""))
    return found


def storage_problems(conn: Connection) -> tuple[list[str], list[str]]:
    """Ask the engine whether its pages are sound; return (problems, notes).

    SQLite: ``PRAGMA integrity_check`` (every page, every index against its table). PostgreSQL:
    the amcheck extension's B-tree checks on nbtrail's indexes when it is installed; without it
    the tables are still read in full by verify, which fails on a damaged heap page.
    """
    if conn.dialect.name == "sqlite":
        rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check").all()]
        # One row can hold several lines, the first naming the database ("*** in database").
        lines = [x for r in rows for x in r.splitlines() if x and not x.startswith("***")]
        if lines == ["ok"]:
            return [], []
        shown = lines[:_MAX_LINES]
        more = [f"... and {len(lines) - _MAX_LINES} more"] if len(lines) > _MAX_LINES else []
        return shown + more, []
    has_amcheck = conn.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")
    ).first()
    if not has_amcheck:
        return [], [
            "PostgreSQL: the amcheck extension is not installed, so index pages were not "
            "checked (every table was read in full)"
        ]
    problems = []
    for name, table in _schema.metadata.tables.items():
        for index in [i.name for i in table.indexes] + [f"{name}_pkey"]:
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.text("SELECT bt_index_check(CAST(:index AS regclass))"),
                        {"index": index},
                    )
            except sa.exc.DBAPIError as exc:
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                problems.append(f"index {index}: {reason}")
    return problems, []
