"""Registry facts on the trail: versions registered, aliases moved, versions approved.

The registry (``nbtrail.registry``) decides; the store keeps what it decided as insert-only
rows of ``registry``, each with its event on the audit chain. A write reads the model's
history and adds its facts in one transaction under the trail's writer lock, so two people
registering at once get versions N and N+1, never two N, and an alias move is checked against
the history as it is when it is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..errors import UsageError
from ..ids import new_id
from . import _db, _schema

__all__ = ["REGISTRY_VERBS", "NewRegistryFact", "registry_history", "write_registry"]

REGISTRY_VERBS = ("register", "alias", "approve")


@dataclass(frozen=True)
class NewRegistryFact:
    """One registry fact: ``register`` a version, move an ``alias``, ``approve`` a version."""

    model: str
    verb: str
    version: int | None = None
    alias: str | None = None
    artifact_id: str | None = None
    comment: str | None = None
    data: dict = field(default_factory=dict)
    actor: str = ""
    id: str = field(default_factory=new_id)
    TABLE = "registry"

    def __post_init__(self):
        if self.verb not in REGISTRY_VERBS:
            raise UsageError(f"registry: unknown verb {self.verb!r}")

    @property
    def action(self) -> str:
        """The audit event's action."""
        return f"registry.{self.verb}"

    def row(self) -> dict:
        return {
            "id": self.id,
            "model": self.model,
            "action": self.verb,
            "version": self.version,
            "alias": self.alias,
            "artifact_id": self.artifact_id,
            "actor": self.actor,
            "created_at": dt.datetime.now(dt.UTC),
            "comment": self.comment,
            "data": dict(self.data),
        }


def _history(conn, model: str | None) -> list[dict]:
    r = _schema.registry
    query = sa.select(r).order_by(r.c.created_at, r.c.id)
    if model is not None:
        query = query.where(r.c.model == model)
    return [dict(row) for row in conn.execute(query).mappings()]


def registry_history(trail, model: str | None = None) -> list[dict]:
    """Every registry fact (of one registered model), oldest first, as stored rows."""
    with _db.read(trail.engine) as conn:
        return _history(conn, model)


def write_registry(trail, model: str, decide) -> list[dict]:
    """Add the facts ``decide(history)`` returns, deciding under the writer lock.

    ``decide`` gets the model's history as it is inside the write transaction and returns the
    :class:`NewRegistryFact` values to add (their actor is the trail's), or raises to write
    nothing. Returns the stored rows.
    """

    def guard(conn) -> list:
        facts = decide(_history(conn, model))
        return [
            f if f.actor else NewRegistryFact(**{**f.__dict__, "actor": trail.actor}) for f in facts
        ]

    stored = trail.batch().commit(guard=guard)
    rows = [row for (table, _), row in stored.items() if table == "registry"]
    return sorted(rows, key=lambda row: (row["created_at"], row["id"]))
