"""The trail's tables, as SQLAlchemy Core.

Facts live in ``runs``, ``artifacts``, ``edges``, ``checks`` and ``metrics``, and privacy
budgets and what was spent from them in ``budgets`` and ``spends``; every write to them also
appends a row to ``events``, the hash-chained audit log. The migration scripts in
``migrations/versions`` create and change these tables; this module is what the code reads
and writes through, and a test checks that the two agree.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

__all__ = [
    "FACT_TABLES",
    "HEAD_REVISION",
    "KNOWN_REVISIONS",
    "LATER_COLUMNS",
    "UTCDateTime",
    "artifacts",
    "budgets",
    "checks",
    "edges",
    "events",
    "meta",
    "metadata",
    "metrics",
    "registry",
    "runs",
    "spends",
]

# The newest migration this code knows, and every one before it. A trail whose revision is
# not in this list was written by a newer nbtrail and is refused.
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006")
HEAD_REVISION = KNOWN_REVISIONS[-1]
VERSION_TABLE = "nbtrail_alembic_version"


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("nbtrail stores only timezone-aware timestamps")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


metadata = sa.MetaData()

meta = sa.Table(
    "nbtrail_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("parent_id", sa.String(36), nullable=True, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False, index=True),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("attrs", sa.JSON, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("notebook", sa.Text, nullable=True, index=True),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False, index=True),
    sa.Column("schema", sa.String(32), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("snapshot", sa.String(32), nullable=True),
    sa.Column("snapshot_format", sa.String(16), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

edges = sa.Table(
    "edges",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # vocabulary.EDGE_KINDS
    sa.Column("run_id", sa.String(36), nullable=False, index=True),
    sa.Column("artifact_id", sa.String(32), nullable=False, index=True),
    sa.Column("source_id", sa.String(32), nullable=True, index=True),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("path", sa.Text, nullable=True, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("check_id", sa.String(36), nullable=True, index=True),
    sa.Column("role", sa.String(64), nullable=True),
)

checks = sa.Table(
    "checks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False, index=True),
    sa.Column("artifact_id", sa.String(32), nullable=True, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("thresholds", sa.JSON, nullable=False),
    sa.Column("details", sa.String(32), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(64), nullable=True),
    sa.Column("version", sa.String(32), nullable=True),
    sa.Column("params", sa.JSON, nullable=True),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False, index=True),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

budgets = sa.Table(
    "budgets",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("artifact_id", sa.String(32), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("slack", sa.Float, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("replaces", sa.String(36), nullable=True),
)

spends = sa.Table(
    "spends",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("budget_id", sa.String(36), nullable=False, index=True),
    sa.Column("artifact_id", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=True),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("mechanism", sa.String(255), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
)

registry = sa.Table(
    "registry",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model", sa.String(255), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("alias", sa.String(64), nullable=True),
    sa.Column("artifact_id", sa.String(32), nullable=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("data", sa.JSON, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("subject_type", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(64), nullable=True),
    # What the write stored, as canonical JSON (NULL on events written before revision 0004).
    sa.Column("change", sa.Text, nullable=True),
    # Which key signed the event (see _audit.key_id); NULL when unsigned.
    sa.Column("key_id", sa.String(16), nullable=True),
    sa.Index("ix_events_subject", "subject_type", "subject_id"),
)

# Tables whose rows are facts: each row is covered by its newest event.
FACT_TABLES = {
    t.name: t for t in (runs, artifacts, edges, checks, metrics, budgets, spends, registry)
}

# Columns added after the first schema. Rows written before them hold NULL there, and a NULL
# in one of these columns is left out of the row's audit digest, so those rows still verify.
LATER_COLUMNS = {
    "runs": frozenset({"notebook"}),
    "edges": frozenset({"check_id", "role"}),
    "checks": frozenset({"kind", "version", "params"}),
}

# JSON columns of each fact table: stored as canonical text (see _audit.json_text).
JSON_COLUMNS = {
    name: tuple(c.name for c in table.columns if isinstance(c.type, sa.JSON))
    for name, table in FACT_TABLES.items()
}
