"""Verification: re-derive the whole trail from its event chain, its database and its blobs.

Every pass runs whatever the others found, and never writes:

1. The database itself: the engine's integrity check (SQLite ``PRAGMA integrity_check``,
   PostgreSQL amcheck when installed) and the schema, exactly nbtrail's (no trigger, view,
   rule or extra column; every index present).
2. The chain: sequence numbers run 1, 2, 3... without gaps, each event names the hash of the
   one before it, each event's hash matches its content, signatures match the key (or, without
   it, the key id the trail was created with), and every fact's history replays: each write's
   change applied in order gives the digest that write recorded.
3. The facts: every row of every fact table (and the trail's own metadata) must be the row its
   events replay to; every fact an event speaks of must still exist; every JSON value must be
   stored in its one canonical spelling.
4. The blobs: every stored blob's bytes hash to its name, every blob a fact refers to exists,
   and blobs no fact refers to are listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..errors import UsageError
from . import _db, _schema
from ._audit import GENESIS, json_text, row_digest
from ._blobs import LocalBlobStore
from ._db import error_reason
from ._integrity import schema_problems, storage_problems
from ._replay import NO_SEQ, Problem, differing_columns, duplicate_free, readable_rows, walk_chain

__all__ = ["Problem", "VerifyReport", "verify_trail"]


@dataclass
class VerifyReport:
    """The outcome of :meth:`Trail.verify`.

    Attributes
    ----------
    problems : list of Problem
        Sorted so the first broken fact comes first. Empty when the trail verifies.
    events, facts, blobs : int
        How many of each were checked.
    head : str
        Hash of the last event: write it down somewhere else to detect later truncation.
    signed : int
        Events that carry a signature.
    signatures_checked : bool
        Whether signatures were verified (a key was available).
    stray_blobs : list of str
        Blobs no fact refers to (left by interrupted writes, or put there by someone else).
    notes : list of str
        Things worth knowing that are not problems.
    """

    problems: list[Problem] = field(default_factory=list)
    events: int = 0
    facts: int = 0
    blobs: int = 0
    head: str = GENESIS
    signed: int = 0
    signatures_checked: bool = False
    stray_blobs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first broken fact, or None."""
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        """One line: verified, or the first problem and how many more."""
        counts = f"{self.events} events, {self.facts} facts, {self.blobs} blobs"
        if self.ok:
            return f"trail verifies: {counts}; head {self.head[:16]}"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"trail does NOT verify: {self.first}{more}"

    def __repr__(self) -> str:
        return f"<VerifyReport {self.summary()}>"

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return {
            "ok": self.ok,
            "events": self.events,
            "facts": self.facts,
            "blobs": self.blobs,
            "head": self.head,
            "signed": self.signed,
            "signatures_checked": self.signatures_checked,
            "problems": [
                {
                    "seq": None if p.seq == NO_SEQ else p.seq,
                    "subject": p.subject,
                    "message": p.message,
                }
                for p in self.problems
            ],
            "stray_blobs": list(self.stray_blobs),
            "notes": list(self.notes),
        }


def verify_trail(trail, expect_head: str | None = None) -> VerifyReport:
    """Verify a trail; see the module docstring for what is checked.

    ``expect_head`` is a head hash (or a prefix of at least 16 hex digits) that an earlier
    verify printed and someone kept elsewhere: it must still be an event of the chain, which
    catches the one change no chain shows by itself, the newest events cut off.
    """
    if expect_head is not None:
        expect_head = expect_head.strip().lower()
        if len(expect_head) < 16 or not re.fullmatch(r"[0-9a-f]+", expect_head):
            raise UsageError(
                "expect_head must be a head hash as verify prints it (at least 16 hex digits)"
            )
    report = VerifyReport()
    key = trail._key
    report.signatures_checked = key is not None
    referenced: set[str] = set()
    try:
        with _db.read(trail.engine) as conn:
            _verify_database(conn, report)
            meta = _read_meta(conn, report)
            chain = walk_chain(conn, key, meta.get("signing_key_id"), expect_head)
            report.problems += chain.problems
            report.events, report.signed, report.head = chain.events, chain.signed, chain.head
            _check_anchor(report, chain, expect_head)
            referenced = _verify_facts(conn, report, chain, meta)
            _verify_json(conn, report)
    except Exception as exc:  # noqa: BLE001 - a damaged database is a finding, not a crash
        report.problems.append(Problem(NO_SEQ, "database", f"cannot be read ({error_reason(exc)})"))
    _verify_blobs(trail, report, referenced)
    if report.signed and key is None:
        report.notes.append(
            f"{report.signed} events carry signatures; set NBTRAIL_SIGNING_KEY to check them"
        )
    report.problems.sort(key=lambda p: (p.seq, p.subject))
    return report


def _verify_database(conn, report: VerifyReport) -> None:
    try:
        with conn.begin_nested():
            problems, notes = storage_problems(conn)
    except sa.exc.DBAPIError as exc:
        problems, notes = [error_reason(exc)], []
    report.problems += [Problem(0, "storage", p) for p in problems]
    report.notes += notes
    report.problems += [
        Problem(0, "schema", f"{p} (not made by nbtrail)" if "missing" not in p else p)
        for p in schema_problems(conn)
    ]


def _read_meta(conn, report: VerifyReport) -> dict[str, str]:
    meta = _schema.meta
    rows = list(readable_rows(conn, meta, meta.c.key, report.problems, meta.name))
    return {r["key"]: r["value"] for r in rows}


def _check_anchor(report: VerifyReport, chain, expect_head: str | None) -> None:
    if expect_head is None:
        return
    if chain.anchor is None:
        report.problems.append(
            Problem(
                report.events + 1,
                "chain",
                f"the anchored head {expect_head[:16]} is not in the chain: events up "
                "to it were removed or rewritten",
            )
        )
    else:
        report.notes.append(
            f"anchored head {expect_head[:16]} is event {chain.anchor}; "
            f"{report.events - chain.anchor} events written since"
        )


def _verify_facts(conn, report: VerifyReport, chain, meta: dict) -> set[str]:
    referenced: set[str] = set()
    seen: set[tuple[str, str]] = set()
    tables = {**_schema.FACT_TABLES, _schema.meta.name: _schema.meta}
    for name, table in tables.items():
        key = table.c.key if table is _schema.meta else table.c.id
        unreadable: set[str] = set()
        for row in readable_rows(conn, table, key, report.problems, name, unreadable):
            report.facts += 1
            ident = row[key.name]
            subject = (name, ident)
            seen.add(subject)
            _check_fact(report, chain, name, ident, row)
            for column in ("snapshot", "details"):
                if row.get(column):
                    referenced.add(row[column])
        seen.update((name, ident) for ident in unreadable)
    for subject, (seq, _digest, action) in chain.latest.items():
        if subject[0] in tables and subject not in seen:
            report.problems.append(
                Problem(
                    seq,
                    f"{subject[0]} {subject[1]}",
                    f"was deleted (event {seq}, {action}, recorded it)",
                )
            )
    if chain.legacy:
        report.notes.append(
            f"{len(chain.legacy)} facts were written before events recorded their changes "
            "(nbtrail before schema 0004): each is checked against its newest event only"
        )
    return referenced


def _check_fact(report: VerifyReport, chain, name: str, ident: str, row) -> None:
    where = f"{name} {ident}"
    event = chain.latest.get((name, ident))
    if event is None:
        report.problems.append(
            Problem(NO_SEQ, where, "is not in the audit log (added behind nbtrail's back)")
        )
        return
    state = chain.state((name, ident))
    if state is not None:
        if row_digest(row, name) != row_digest(state, name):
            columns = ", ".join(differing_columns(row, state)) or "its values"
            report.problems.append(
                Problem(
                    event[0],
                    where,
                    f"was changed after event {event[0]} ({event[2]}) recorded it: {columns} "
                    "differ from what its events record",
                )
            )
    elif row_digest(row, name) != event[1]:
        report.problems.append(
            Problem(event[0], where, f"was changed after event {event[0]} ({event[2]}) recorded it")
        )


def _verify_json(conn, report: VerifyReport) -> None:
    """Every JSON value has one spelling: canonical, no duplicate keys."""
    for name, columns in _schema.JSON_COLUMNS.items():
        table = _schema.FACT_TABLES[name]
        for column in columns:
            query = sa.select(table.c.id, sa.cast(table.c[column], sa.Text)).where(
                table.c[column].is_not(None)
            )
            try:
                with conn.begin_nested():
                    rows = conn.execute(query).all()
            except sa.exc.DBAPIError as exc:
                report.problems.append(
                    Problem(NO_SEQ, f"{name}.{column}", f"cannot be read ({error_reason(exc)})")
                )
                continue
            for ident, text in rows:
                try:
                    canonical = json_text(duplicate_free(text))
                except ValueError as exc:
                    report.problems.append(
                        Problem(NO_SEQ, f"{name} {ident}", f"{column} is not valid JSON ({exc})")
                    )
                    continue
                if canonical != text:
                    report.problems.append(
                        Problem(
                            NO_SEQ,
                            f"{name} {ident}",
                            f"{column} is not stored as nbtrail writes it (another spelling of "
                            "JSON can be read differently by other readers)",
                        )
                    )


def _verify_blobs(trail, report: VerifyReport, referenced: set[str]) -> None:
    blobs = trail._blobs
    if blobs is None:
        if referenced:
            report.problems.append(
                Problem(
                    NO_SEQ,
                    "blobs",
                    f"{len(referenced)} facts refer to blobs, but this "
                    "trail has no blob store configured",
                )
            )
        return
    present = set()
    for digest in blobs.digests():
        report.blobs += 1
        present.add(digest)
        try:
            actual = blobs.rehash(digest)
        except OSError as exc:
            report.problems.append(Problem(NO_SEQ, f"blob {digest}", f"cannot be read ({exc})"))
            continue
        if actual != digest:
            report.problems.append(
                Problem(
                    NO_SEQ,
                    f"blob {digest}",
                    f"bytes do not match its fingerprint (they hash to {actual[:12]})",
                )
            )
    for digest in sorted(referenced - present):
        report.problems.append(
            Problem(NO_SEQ, f"blob {digest}", "is referred to by a fact but missing")
        )
    report.stray_blobs = sorted(present - referenced)
    if report.stray_blobs:
        shown = ", ".join(d[:12] for d in report.stray_blobs[:5])
        report.notes.append(
            f"{len(report.stray_blobs)} blobs are referred to by no fact ({shown}"
            f"{', ...' if len(report.stray_blobs) > 5 else ''}): left by interrupted writes, "
            "or put there outside nbtrail"
        )
    stale = blobs.stale_temporaries()
    if stale:
        where = blobs.root / "tmp" if isinstance(blobs, LocalBlobStore) else f"{blobs.url}/tmp"
        report.notes.append(
            f"{len(stale)} temporary files from interrupted writes in {where} "
            "(never visible as blobs; safe to delete)"
        )
