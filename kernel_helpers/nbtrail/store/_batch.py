"""Writing facts: a batch of facts and their events, committed in one transaction.

Every write to the trail goes through a :class:`Batch`, whether it holds one fact (a metric
logged by hand) or hundreds (a notebook cell's captured reads and writes). Facts are added
with its verbs (:meth:`Batch.start_run`, :meth:`Batch.end_run`, :meth:`Batch.add_check`...)
or as validated values from :mod:`._facts`. On commit it

1. stores the blobs the facts refer to (content-addressed, idempotent),
2. then, in one transaction under the writer lock, drops what the trail already holds (an
   artifact is stored once; the same edge is one fact), inserts the new rows, applies updates
   (merging attributes into what the row holds now; refusing to end a run that has ended),
3. reads every touched row back and appends one event per fact, in the order the facts were
   added, each with what the write stored (the whole row for an insert, the columns set for
   an update) and the digest of the row exactly as the database stored it.

Before an update it checks the row against the digest of its newest event, and refuses
(:class:`~nbtrail.errors.TamperedFact`) a row changed outside nbtrail: a legitimate write must
never record, and so bless, someone else's edit.

So a fact and its event are committed together or not at all, and a batch of any size costs
a handful of statements. An update to a row inserted or updated earlier in the same batch is
folded into that write: one row, one event (action ``run.start+end``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .._json import jsonable
from ..errors import RunAlreadyEnded, RunNotFound, TamperedFact, UsageError
from . import _db, _schema
from ._audit import append_events, row_digest
from ._facts import (
    NewArtifact,
    NewCheck,
    NewEdge,
    NewMetric,
    NewRun,
    RunEnd,
    RunUpdate,
    edge_key,
)
from ._listeners import notify_runs

__all__ = ["Batch"]

_BATCH_IN = 5000  # ids per IN (...) list
_HANDLERS = {
    NewRun: "_op_new_run",
    RunEnd: "_op_run_end",
    RunUpdate: "_op_run_update",
    NewArtifact: "_op_artifact",
    NewEdge: "_op_edge",
    NewMetric: "_op_metric",
    NewCheck: "_op_check",
}


# Facts that are one inserted row each (see _ledger and _registry).
_INSERT_ONLY = ("budgets", "spends", "registry")


@dataclass
class _Op:
    kind: str  # insert | update | artifact | edge
    table: sa.Table
    key: str
    values: dict
    action: str
    merge: tuple[str, ...] = ()  # JSON columns merged into the row's current value
    must_run: bool = False  # the run must still be running (ending it)
    extra: dict = field(default_factory=dict)


def _run_changes(ops: list[_Op], stored: dict) -> list[tuple[str, str]]:
    """The runs this commit started or ended (one op may do both: capture folds them)."""
    changes = []
    for op in ops:
        if op.table is not _schema.runs:
            continue
        if op.kind == "insert":
            changes.append((op.key, "start"))
        if "status" in op.values and stored[("runs", op.key)]["status"] != "running":
            changes.append((op.key, "end"))
    return changes


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
        self._blobs: list[bytes] = []

    def __len__(self) -> int:
        return len(self._ops)

    # -- verbs ------------------------------------------------------------------------------

    def add(self, *facts) -> None:
        """Add validated facts (:mod:`nbtrail.store._facts` values), in order."""
        for fact in facts:
            handler = _HANDLERS.get(type(fact))
            if handler is not None:
                getattr(self, handler)(fact)
            elif getattr(fact, "TABLE", None) in _INSERT_ONLY:  # ledger facts: one row each
                table = _schema.FACT_TABLES[fact.TABLE]
                self._ops.append(_Op("insert", table, fact.id, fact.row(), fact.action))
            else:
                raise UsageError(f"not a trail fact: {type(fact).__name__}")

    def start_run(self, name: str, **fields) -> str:
        """Start a run (see :class:`NewRun` for the fields); return its id."""
        fact = NewRun(name, **fields)
        self.add(fact)
        return fact.id

    def end_run(self, run_id: str, status: str = "succeeded", **fields) -> None:
        """End a running run; the commit refuses a run that has already ended."""
        self.add(RunEnd(run_id, status, **fields))

    def update_run(self, run_id: str, *, params=None, attrs=None, action="run.update") -> None:
        """Merge parameters or attributes into a run's."""
        self.add(RunUpdate(run_id, params=params, attrs=attrs, action=action))

    def add_artifact(self, fp, name: str, snapshot=None, *, kind=None) -> str:
        """Add the artifact of a fingerprint (once); return its fingerprint."""
        fact = NewArtifact.of(fp, name, snapshot, kind=kind)
        self.add(fact)
        return fact.id

    def add_edge(self, kind: str, run_id: str, artifact_id: str, **fields) -> None:
        """Add an edge (see :class:`NewEdge`) unless the same edge is recorded."""
        self.add(NewEdge(kind, run_id, artifact_id, **fields))

    def add_metric(self, run_id: str, key: str, value, step=None) -> None:
        """Add a metric of a run."""
        self.add(NewMetric(run_id, key, value, step))

    def add_check(self, fact: NewCheck) -> str:
        """Add a check's verdict and an edge to each of its subjects; return the check's id."""
        self.add(fact)
        return fact.id

    def add_blob(self, data: bytes) -> str:
        """Store bytes in the blob store at commit, before the facts that refer to them."""
        from ..fingerprints import digest_bytes

        self._blobs.append(bytes(data))
        return digest_bytes(data)

    # -- facts to operations ------------------------------------------------------------------

    def _op_new_run(self, fact: NewRun) -> None:
        row = fact.row(self.trail.actor)
        self._ops.append(_Op("insert", _schema.runs, fact.id, row, fact.action))

    def _op_run_end(self, fact: RunEnd) -> None:
        values = {"status": fact.status, "ended_at": fact.ended_at, "error": fact.error}
        merge = ()
        if fact.attrs is not None:
            values["attrs"], merge = fact.attrs, ("attrs",)
        op = _Op("update", _schema.runs, fact.run_id, values, fact.action, merge, must_run=True)
        self._ops.append(op)

    def _op_run_update(self, fact: RunUpdate) -> None:
        values = {k: v for k, v in (("params", fact.params), ("attrs", fact.attrs)) if v}
        if values:
            self._ops.append(
                _Op("update", _schema.runs, fact.run_id, values, fact.action, tuple(values))
            )

    def _op_artifact(self, fact: NewArtifact) -> None:
        self._ops.append(_Op("artifact", _schema.artifacts, fact.id, fact.row(), "artifact.add"))

    def _op_edge(self, fact: NewEdge) -> None:
        row = fact.row()
        self._ops.append(_Op("edge", _schema.edges, fact.id, row, f"edge.{fact.kind}"))

    def _op_metric(self, fact: NewMetric) -> None:
        self._ops.append(_Op("insert", _schema.metrics, fact.id, fact.row(), "metric.add"))

    def _op_check(self, fact: NewCheck) -> None:
        digest = self.add_blob(fact.details) if fact.details is not None else None
        self._ops.append(_Op("insert", _schema.checks, fact.id, fact.row(digest), "check.add"))
        for edge in fact.edges():
            self._op_edge(edge)

    # -- commit ---------------------------------------------------------------------------

    def commit(self, guard=None) -> dict[tuple[str, str], dict]:
        """Write everything; return the stored rows by (table name, id).

        ``guard(conn)``, when given, runs first inside the write transaction, under the writer
        lock: it may read the trail and raise to write nothing (a spend over its budget), and
        returns the facts to add, decided under the lock.
        """
        if not self._ops and not self._blobs and guard is None:
            return {}
        trail = self.trail
        trail._check_writable()
        for data in self._blobs:
            trail.blobs.put_bytes(data)
        self._blobs = []
        if not self._ops and guard is None:
            return {}
        with _db.write(trail.engine) as conn:
            if guard is not None:
                self.add(*guard(conn))
            ops = self._resolve(conn)
            self._apply(conn, ops)
            stored = self._read_back(conn, ops)
            _check_stored(ops, stored)
            self._append_events(conn, ops, stored)
        self._ops = []
        notify_runs(trail, _run_changes(ops, stored))
        return stored

    def _resolve(self, conn: Connection) -> list[_Op]:
        """Turn artifact and edge ops into inserts or updates, dropping what already exists."""
        a, e = _schema.artifacts, _schema.edges
        digests = [op.key for op in self._ops if op.kind == "artifact"]
        existing: dict[str, str | None] = {}
        for chunk in _chunks(digests):
            for ident, snapshot in conn.execute(
                sa.select(a.c.id, a.c.snapshot).where(a.c.id.in_(chunk))
            ):
                existing[ident] = snapshot
        run_ids = list({op.values["run_id"] for op in self._ops if op.kind == "edge"})
        known_edges: set[tuple] = set()
        for chunk in _chunks(run_ids):
            rows = conn.execute(sa.select(e).where(e.c.run_id.in_(chunk))).mappings()
            known_edges.update(edge_key(r) for r in rows)

        resolved: list[_Op] = []
        written: dict[tuple[str, str], _Op] = {}
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
                key = edge_key(op.values)
                if key in known_edges:
                    continue
                known_edges.add(key)
                op = _Op("insert", op.table, op.key, op.values, op.action)
            if op.kind == "update" and (op.table.name, op.key) in written:
                _fold(written[(op.table.name, op.key)], op)
                continue
            # A copy: folding changes it, and the caller's op must stay as it was.
            op = _Op(op.kind, op.table, op.key, dict(op.values), op.action, op.merge, op.must_run)
            written[(op.table.name, op.key)] = op
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
                _update(conn, op)

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
        items = []
        for op in ops:
            row = stored[(op.table.name, op.key)]
            change = row if op.kind == "insert" else {c: row[c] for c in op.values}
            items.append((op.action, op.table.name, op.key, row_digest(row, op.table.name), change))
        append_events(conn, self.trail.actor, self.trail._key, items)


def _fold(first: _Op, op: _Op) -> None:
    """Apply an update to a row written earlier in the same batch: one row, one event."""
    status = first.values.get("status", "running" if first.kind == "update" else None)
    if op.must_run and status != "running":
        raise RunAlreadyEnded(f"run {op.key} has already ended ({status})")
    values = dict(op.values)
    for column in op.merge:
        values[column] = {**(first.values.get(column) or {}), **values[column]}
    first.values = {**first.values, **values}
    if first.kind == "update":
        # Columns merged earlier keep merging into the row; a column set outright stays so.
        first.merge = tuple(dict.fromkeys(first.merge + op.merge))
        first.must_run = first.must_run or op.must_run
    first.action = f"{first.action}+{op.action.rsplit('.', 1)[-1]}"[:32]


def _update(conn: Connection, op: _Op) -> None:
    """Apply one update: merge JSON columns into their current value; guard run endings."""
    table = op.table
    values = dict(op.values)
    current = conn.execute(sa.select(table).where(table.c.id == op.key)).mappings().first()
    if current is None and table is _schema.runs:
        raise RunNotFound(f"no run {op.key}")
    if current is None:
        raise LookupError(f"no {table.name} row {op.key} to update")
    _check_untouched(conn, table.name, op.key, current)
    for column in op.merge:
        values[column] = {**(current[column] or {}), **values[column]}
    op.extra["written"] = values
    query = table.update().where(table.c.id == op.key)
    if op.must_run:
        query = query.where(table.c.status == "running")
    result = conn.execute(query.values(**values))
    if result.rowcount != 1:
        if op.must_run:
            status = current["status"] if current is not None else "?"
            raise RunAlreadyEnded(f"run {op.key} has already ended ({status})")
        raise LookupError(f"no {table.name} row {op.key} to update")


def _check_stored(ops: list[_Op], stored: dict) -> None:
    """The database must store what nbtrail wrote.

    A trigger or rule that rewrites a row as it is written (so that its event would record,
    and bless, the rewritten value) is refused.
    """
    for op in ops:
        row = stored[(op.table.name, op.key)]
        written = op.values if op.kind == "insert" else op.extra.get("written", op.values)
        changed = [c for c, v in written.items() if jsonable(v) != jsonable(row.get(c))]
        if changed:
            raise TamperedFact(
                f"{op.table.name} {op.key}: the database stored something else than nbtrail "
                f"wrote ({', '.join(sorted(changed))}); is there a trigger or rule? Nothing was "
                "written. Run `nbtrail verify`."
            )


def _check_untouched(conn: Connection, table: str, key: str, row) -> None:
    """Refuse to write over a row that is not what its newest event recorded."""
    ev = _schema.events
    recorded = conn.execute(
        sa.select(ev.c.seq, ev.c.digest)
        .where(ev.c.subject_type == table, ev.c.subject_id == key)
        .order_by(ev.c.seq.desc())
        .limit(1)
    ).first()
    if recorded is None:
        raise TamperedFact(
            f"{table} {key} is not in the audit log (added outside nbtrail); nothing was written. "
            "Run `nbtrail verify`."
        )
    if row_digest(row, table) != recorded.digest:
        raise TamperedFact(
            f"{table} {key} was changed outside nbtrail after event {recorded.seq}; nothing was "
            "written over it. Run `nbtrail verify`."
        )


def _chunks(ids: list) -> list[list]:
    return [ids[i : i + _BATCH_IN] for i in range(0, len(ids), _BATCH_IN)]
