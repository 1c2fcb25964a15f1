"""Writing facts: a batch of facts and their events, committed in one transaction.

Every write to the trail goes through a :class:`Batch`, whether it holds one fact (a metric
logged by hand) or hundreds (a notebook cell's captured reads and writes). On commit, under the
writer lock, it

1. drops what the trail already holds (an artifact is stored once; the same edge is one fact),
2. inserts the new rows table by table, then applies updates,
3. reads every touched row back, and
4. appends one event per fact, in the order the facts were added, each with the digest of the
   row exactly as the database stored it.

So a fact and its event are committed together or not at all, and a batch of any size costs
a handful of statements. An update to a row inserted in the same batch is folded into the
insert: one row, one event (action ``run.start+end``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import _db, _schema
from ._audit import GENESIS, event_hash, jsonable, row_digest, sign

__all__ = ["Batch"]

_BATCH_IN = 5000  # ids per IN (...) list


@dataclass
class _Op:
    kind: str  # insert | update | artifact | edge
    table: sa.Table
    key: str
    values: dict
    action: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _edge_key(values: dict) -> tuple:
    return tuple(
        values.get(k) for k in ("kind", "run_id", "artifact_id", "source_id", "name", "path")
    )


class Batch:
    """Facts collected to be written together; see the module docstring.

    Parameters
    ----------
    trail : Trail
        Where the facts go; its actor and signing key sign the events.
    """

    def __init__(self, trail):
        self.trail = trail
        self._ops: list[_Op] = []

    def __len__(self) -> int:
        return len(self._ops)

    def insert(self, table: sa.Table, row: dict, action: str) -> None:
        """Add a new fact row (its ``id`` must be new)."""
        self._ops.append(_Op("insert", table, row["id"], row, action))

    def update(self, table: sa.Table, key: str, values: dict, action: str) -> None:
        """Change columns of an existing fact row."""
        self._ops.append(_Op("update", table, key, values, action))

    def artifact(self, row: dict) -> None:
        """Add an artifact unless the trail holds it; attach a snapshot it lacks."""
        self._ops.append(_Op("artifact", _schema.artifacts, row["id"], row, "artifact.add"))

    def edge(self, row: dict) -> None:
        """Add an edge unless the same edge is already recorded."""
        self._ops.append(_Op("edge", _schema.edges, row["id"], row, f"edge.{row['kind']}"))

    # -- commit ---------------------------------------------------------------------------

    def commit(self) -> dict[tuple[str, str], dict]:
        """Write everything; return the stored rows by (table name, id)."""
        if not self._ops:
            return {}
        trail = self.trail
        with _db.write(trail.engine) as conn:
            ops = self._resolve(conn)
            self._apply(conn, ops)
            stored = self._read_back(conn, ops)
            self._append_events(conn, ops, stored)
        self._ops = []
        return stored

    def _resolve(self, conn: Connection) -> list[_Op]:
        """Turn artifact and edge ops into inserts or updates, dropping what already exists."""
        a = _schema.artifacts
        digests = [op.key for op in self._ops if op.kind == "artifact"]
        existing: dict[str, str | None] = {}
        for chunk in _chunks(digests):
            for ident, snapshot in conn.execute(
                sa.select(a.c.id, a.c.snapshot).where(a.c.id.in_(chunk))
            ):
                existing[ident] = snapshot
        run_ids = list({op.values["run_id"] for op in self._ops if op.kind == "edge"})
        known_edges: set[tuple] = set()
        e = _schema.edges
        for chunk in _chunks(run_ids):
            rows = conn.execute(
                sa.select(
                    e.c.kind, e.c.run_id, e.c.artifact_id, e.c.source_id, e.c.name, e.c.path
                ).where(e.c.run_id.in_(chunk))
            )
            known_edges.update(tuple(r) for r in rows)

        resolved: list[_Op] = []
        inserted: dict[tuple[str, str], _Op] = {}
        for op in self._ops:
            if op.kind == "artifact":
                snapshot = op.values.get("snapshot")
                if op.key not in existing:
                    existing[op.key] = snapshot
                    op = _Op("insert", op.table, op.key, op.values, "artifact.add")
                elif snapshot and existing[op.key] is None:
                    existing[op.key] = snapshot
                    values = {"snapshot": snapshot, "snapshot_format": op.values["snapshot_format"]}
                    op = _Op("update", op.table, op.key, values, "artifact.snapshot")
                else:
                    continue
            elif op.kind == "edge":
                key = _edge_key(op.values)
                if key in known_edges:
                    continue
                known_edges.add(key)
                op = _Op("insert", op.table, op.key, op.values, op.action)
            if op.kind == "update" and (op.table.name, op.key) in inserted:
                # Fold into the insert made earlier in this batch: one row, one event.
                first = inserted[(op.table.name, op.key)]
                first.values = {**first.values, **op.values}
                first.action = f"{first.action}+{op.action.rsplit('.', 1)[-1]}"[:32]
                continue
            if op.kind == "insert":
                op = _Op("insert", op.table, op.key, dict(op.values), op.action)
                inserted[(op.table.name, op.key)] = op
            resolved.append(op)
        return resolved

    @staticmethod
    def _apply(conn: Connection, ops: list[_Op]) -> None:
        by_table: dict[str, list[dict]] = defaultdict(list)
        tables = {}
        for op in ops:
            if op.kind == "insert":
                by_table[op.table.name].append(op.values)
                tables[op.table.name] = op.table
        for name, rows in by_table.items():
            conn.execute(tables[name].insert(), rows)
        for op in ops:
            if op.kind == "update":
                result = conn.execute(
                    op.table.update().where(op.table.c.id == op.key).values(**op.values)
                )
                if result.rowcount != 1:
                    raise LookupError(f"no {op.table.name} row {op.key} to update")

    @staticmethod
    def _read_back(conn: Connection, ops: list[_Op]) -> dict[tuple[str, str], dict]:
        keys: dict[str, set[str]] = defaultdict(set)
        tables = {}
        for op in ops:
            keys[op.table.name].add(op.key)
            tables[op.table.name] = op.table
        stored = {}
        for name, ids in keys.items():
            table = tables[name]
            for chunk in _chunks(list(ids)):
                for row in conn.execute(sa.select(table).where(table.c.id.in_(chunk))).mappings():
                    stored[(name, row["id"])] = dict(row)
        return stored

    def _append_events(self, conn: Connection, ops: list[_Op], stored: dict) -> None:
        events = _schema.events
        head = conn.execute(
            sa.select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
        ).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        at = _now()
        actor, key = self.trail.actor, self.trail._key
        rows = []
        for op in ops:
            seq += 1
            event = {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": op.action,
                "subject_type": op.table.name,
                "subject_id": op.key,
                "digest": row_digest(stored[(op.table.name, op.key)]),
                "prev_hash": prev,
            }
            event["hash"] = event_hash(event)
            event["signature"] = sign(key, event["hash"]) if key else None
            prev = event["hash"]
            rows.append(event)
        if rows:
            conn.execute(events.insert(), rows)


def _chunks(ids: list) -> list[list]:
    return [ids[i : i + _BATCH_IN] for i in range(0, len(ids), _BATCH_IN)]


def artifact_row(fp, name: str, snapshot: tuple[str, str] | None) -> dict:
    """Return the ``artifacts`` row for a fingerprint."""
    meta = {k: v for k, v in fp.meta.items() if k != "path"}
    return {
        "id": fp.digest,
        "kind": fp.kind,
        "name": name[:255],
        "schema": fp.schema,
        "size": int(fp.size),
        "meta": jsonable(meta),
        "snapshot": snapshot[0] if snapshot else None,
        "snapshot_format": snapshot[1] if snapshot else None,
        "created_at": _now(),
    }
