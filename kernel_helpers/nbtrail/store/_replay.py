"""Walking the event chain: every link checked, every fact's history replayed.

Each event carries what its write stored (the whole row for an insert, the columns set for an
update). Replaying a fact's events in order gives the row as nbtrail last wrote it, and each
step must give the digest its event recorded: a row edited between two legitimate writes
breaks the replay at the later write, even though that write recorded the edited row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from .._json import jsonable
from . import _schema
from ._audit import GENESIS, event_hash, json_text, row_digest, signature_matches
from ._db import error_reason

__all__ = [
    "NO_SEQ",
    "Chain",
    "Problem",
    "differing_columns",
    "duplicate_free",
    "readable_rows",
    "walk_chain",
]

NO_SEQ = float("inf")
# Facts nbtrail updates after inserting them; any other fact has exactly one event.
_UPDATED = frozenset({"runs", "artifacts"})


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold.

    Attributes
    ----------
    seq : int or float
        The event the problem is found at (``inf`` for facts or blobs with no event).
    subject : str
        What is broken: ``event 17``, ``runs 0193...``, ``blob ab12...``.
    message : str
        What is wrong with it.
    """

    seq: float
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass
class Chain:
    """What the walk learned: each fact's newest event and, where replayable, its row."""

    events: int = 0
    signed: int = 0
    head: str = GENESIS
    anchor: int | None = None
    latest: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    replayed: dict[tuple[str, str], str] = field(default_factory=dict)  # JSON text
    legacy: set[tuple[str, str]] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def state(self, subject: tuple[str, str]) -> dict | None:
        """The row as the fact's events say nbtrail wrote it, or None when not replayable."""
        text = self.replayed.get(subject)
        return None if text is None else json.loads(text)


def readable_rows(
    conn, table: sa.Table, key: sa.Column, chain_problems: list, label: str, skipped=None
):
    """Yield a table's rows in key order; a row that cannot be read becomes a problem.

    The key of a row that cannot be read is added to ``skipped``.

    A malformed value (a timestamp that does not parse) or a damaged page must name the row,
    not end verification with a traceback: on the first failure the rest is read row by row.
    """
    last = None
    try:
        with conn.begin_nested():
            result = conn.execute(
                sa.select(table).order_by(key), execution_options={"yield_per": 2000}
            )
            for row in result.mappings():
                last = row[key.name]
                yield row
        return
    except (ValueError, TypeError, OverflowError, sa.exc.DBAPIError):
        pass
    query = sa.select(key).order_by(key)
    if last is not None:
        query = query.where(key > last)
    try:
        with conn.begin_nested():
            keys = conn.execute(query).scalars().all()
    except sa.exc.DBAPIError as exc:
        chain_problems.append(Problem(NO_SEQ, label, f"cannot be read ({error_reason(exc)})"))
        return
    for value in keys:
        try:
            with conn.begin_nested():
                row = conn.execute(sa.select(table).where(key == value)).mappings().first()
        except (ValueError, TypeError, OverflowError, sa.exc.DBAPIError) as exc:
            chain_problems.append(
                Problem(NO_SEQ, f"{label} {value}", f"cannot be read ({error_reason(exc)})")
            )
            if skipped is not None:
                skipped.add(value)
            continue
        if row is not None:
            yield row


def walk_chain(conn, key: bytes | None, signing_key_id: str | None, expect_head=None) -> Chain:
    """Check every link and signature, and replay every fact's history."""
    chain = Chain()
    ev = _schema.events
    expected_seq, prev_hash = 1, GENESIS
    for row in readable_rows(conn, ev, ev.c.seq, chain.problems, "event"):
        chain.events += 1
        seq = row["seq"]
        where = f"event {seq}"
        problems = chain.problems
        if seq != expected_seq:
            missing = (
                f"event {expected_seq} is missing"
                if seq > expected_seq
                else f"event {seq} is out of order"
            )
            problems.append(Problem(min(seq, expected_seq), where, f"{missing} (deleted?)"))
        if row["prev_hash"] != prev_hash:
            problems.append(
                Problem(
                    seq,
                    where,
                    "does not follow the event before it (reordered, deleted or inserted events)",
                )
            )
        actual = event_hash(row)
        intact = actual == row["hash"]
        if not intact:
            problems.append(
                Problem(
                    seq,
                    where,
                    f"was altered: its hash does not match its content "
                    f"({row['action']} {row['subject_type']} {row['subject_id']})",
                )
            )
        _check_signature(chain, row, key, signing_key_id)
        _replay(chain, row)
        if expect_head is not None and intact and row["hash"].startswith(expect_head):
            chain.anchor = seq
        expected_seq = seq + 1
        prev_hash = row["hash"]
    chain.head = prev_hash
    return chain


def _check_signature(chain: Chain, row, key: bytes | None, signing_key_id: str | None) -> None:
    seq, where = row["seq"], f"event {row['seq']}"
    if row["signature"]:
        chain.signed += 1
    if signing_key_id is not None:
        if not row["signature"]:
            chain.problems.append(
                Problem(seq, where, "is not signed, but the trail was created signed")
            )
        elif row["key_id"] is None and row["change"] is not None:
            chain.problems.append(Problem(seq, where, "is signed but names no signing key"))
        elif row["key_id"] is not None and row["key_id"] != signing_key_id:
            chain.problems.append(
                Problem(
                    seq,
                    where,
                    f"was signed with another key ({row['key_id']}; the trail's key is "
                    f"{signing_key_id})",
                )
            )
    if key is not None:
        if not row["signature"]:
            chain.problems.append(Problem(seq, where, "is not signed, but a signing key was given"))
        elif not signature_matches(key, row["hash"], row["signature"]):
            chain.problems.append(
                Problem(
                    seq,
                    where,
                    "has a signature that does not match the signing key "
                    "(rewritten without the key?)",
                )
            )


def _replay(chain: Chain, row) -> None:
    table, ident, seq = row["subject_type"], row["subject_id"], row["seq"]
    subject = (table, ident)
    where = f"{table} {ident}"
    known = subject in chain.latest
    chain.latest[subject] = (seq, row["digest"], row["action"])
    if row["change"] is None:
        # Written before events carried their change: only the newest digest can be checked.
        chain.legacy.add(subject)
        chain.replayed.pop(subject, None)
        return
    try:
        change = json.loads(row["change"], object_pairs_hook=_no_duplicates)
        if not isinstance(change, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        chain.problems.append(
            Problem(seq, where, f"event {seq} records an unreadable change ({exc})")
        )
        chain.replayed.pop(subject, None)
        chain.legacy.add(subject)
        return
    if known:
        if table not in _UPDATED:
            chain.problems.append(
                Problem(
                    seq,
                    where,
                    f"event {seq} ({row['action']}) updates a fact nbtrail never updates",
                )
            )
            return
        before = chain.state(subject)
        if before is None:
            return  # its history starts before replay: checked by its newest digest only
        change = {**before, **change}
    if row_digest(change, table) != row["digest"]:
        what = (
            "the row was changed outside nbtrail before this write"
            if known
            else "what it records does not give the digest it records"
        )
        chain.problems.append(
            Problem(
                seq,
                where,
                f"event {seq} ({row['action']}) does not follow from the fact's history: {what}",
            )
        )
    if table in _UPDATED:
        chain.replayed[subject] = json_text(change)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
    return dict(pairs)


def differing_columns(row, state: dict) -> list[str]:
    """Columns whose stored value differs from the replayed one."""
    stored = jsonable(dict(row))
    return sorted(c for c in set(stored) | set(state) if stored.get(c) != state.get(c))


def duplicate_free(text: str):
    """Parse JSON text, refusing duplicate keys (two spellings of one value)."""
    return json.loads(text, object_pairs_hook=_no_duplicates)
