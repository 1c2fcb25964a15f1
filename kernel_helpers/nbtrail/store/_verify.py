"""Verification: re-derive the whole trail from its event chain and blobs.

Three passes, each independent of what the others found:

1. The chain: sequence numbers run 1, 2, 3... without gaps, each event names the hash of the
   one before it, each event's hash matches its content, and (with a signing key) each
   signature matches. This finds edited, deleted, inserted and reordered events.
2. The facts: every row of every fact table must match, by digest of its canonical JSON, the
   newest event about it; every fact an event speaks of must still exist. This finds facts
   edited or deleted without a matching event, and facts added behind nbtrail's back.
3. The blobs: every stored blob's bytes must hash to its name, and every snapshot or details
   blob a fact refers to must exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..errors import UsageError
from . import _db, _schema
from ._audit import GENESIS, event_hash, row_digest, signature_matches
from ._blobs import LocalBlobStore

__all__ = ["Problem", "VerifyReport", "verify_trail"]

_NO_SEQ = float("inf")


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
                    "seq": None if p.seq == _NO_SEQ else p.seq,
                    "subject": p.subject,
                    "message": p.message,
                }
                for p in self.problems
            ],
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
    latest: dict[tuple[str, str], tuple[int, str, str]] = {}
    with _db.read(trail.engine) as conn:
        anchor = _verify_chain(conn, key, report, latest, expect_head)
        if expect_head is not None:
            if anchor is None:
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
                    f"anchored head {expect_head[:16]} is event {anchor}; "
                    f"{report.events - anchor} events written since"
                )
        referenced = _verify_facts(conn, report, latest)
    _verify_blobs(trail, report, referenced)
    if report.signed and key is None:
        report.notes.append(
            f"{report.signed} events carry signatures; set NBTRAIL_SIGNING_KEY to check them"
        )
    report.problems.sort(key=lambda p: (p.seq, p.subject))
    return report


def _verify_chain(conn, key, report: VerifyReport, latest: dict, expect_head=None) -> int | None:
    """Check every link; return the sequence number of the event ``expect_head`` names."""
    ev = _schema.events
    expected_seq, prev_hash = 1, GENESIS
    anchor = None
    rows = conn.execution_options(yield_per=5000).execute(sa.select(ev).order_by(ev.c.seq))
    for row in rows.mappings():
        report.events += 1
        seq = row["seq"]
        where = f"event {seq}"
        if seq != expected_seq:
            missing = (
                f"event {expected_seq} is missing"
                if seq > expected_seq
                else f"event {seq} is out of order"
            )
            report.problems.append(Problem(min(seq, expected_seq), where, f"{missing} (deleted?)"))
        if row["prev_hash"] != prev_hash:
            report.problems.append(
                Problem(
                    seq,
                    where,
                    "does not follow the event before it (reordered, deleted or inserted events)",
                )
            )
        actual = event_hash(row)
        if actual != row["hash"]:
            report.problems.append(
                Problem(
                    seq,
                    where,
                    f"was altered: its hash does not match its content "
                    f"({row['action']} {row['subject_type']} {row['subject_id']})",
                )
            )
        if row["signature"]:
            report.signed += 1
        if key is not None:
            if not row["signature"]:
                report.problems.append(
                    Problem(seq, where, "is not signed, but a signing key was given")
                )
            elif not signature_matches(key, row["hash"], row["signature"]):
                report.problems.append(
                    Problem(
                        seq,
                        where,
                        "has a signature that does not match the signing key "
                        "(rewritten without the key?)",
                    )
                )
        latest[(row["subject_type"], row["subject_id"])] = (seq, row["digest"], row["action"])
        intact = actual == row["hash"]
        if expect_head is not None and intact and row["hash"].startswith(expect_head):
            anchor = seq
        expected_seq = seq + 1
        prev_hash = row["hash"]
    report.head = prev_hash
    return anchor


def _verify_facts(conn, report: VerifyReport, latest: dict) -> set[str]:
    referenced: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for name, table in _schema.FACT_TABLES.items():
        rows = conn.execution_options(yield_per=5000).execute(sa.select(table))
        for row in rows.mappings():
            report.facts += 1
            subject = (name, row["id"])
            seen.add(subject)
            where = f"{name} {row['id']}"
            event = latest.get(subject)
            if event is None:
                report.problems.append(
                    Problem(_NO_SEQ, where, "is not in the audit log (added behind nbtrail's back)")
                )
            elif row_digest(row, name) != event[1]:
                report.problems.append(
                    Problem(
                        event[0],
                        where,
                        f"was changed after event {event[0]} ({event[2]}) recorded it",
                    )
                )
            for column in ("snapshot", "details"):
                if row.get(column):
                    referenced.add(row[column])
    for subject, (seq, _digest, action) in latest.items():
        if subject[0] in _schema.FACT_TABLES and subject not in seen:
            report.problems.append(
                Problem(
                    seq,
                    f"{subject[0]} {subject[1]}",
                    f"was deleted (event {seq}, {action}, recorded it)",
                )
            )
    return referenced


def _verify_blobs(trail, report: VerifyReport, referenced: set[str]) -> None:
    blobs = trail._blobs
    if blobs is None:
        if referenced:
            report.problems.append(
                Problem(
                    _NO_SEQ,
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
            report.problems.append(Problem(_NO_SEQ, f"blob {digest}", f"cannot be read ({exc})"))
            continue
        if actual != digest:
            report.problems.append(
                Problem(
                    _NO_SEQ,
                    f"blob {digest}",
                    f"bytes do not match its fingerprint (they hash to {actual[:12]})",
                )
            )
    for digest in sorted(referenced - present):
        report.problems.append(
            Problem(_NO_SEQ, f"blob {digest}", "is referred to by a fact but missing")
        )
    if isinstance(blobs, LocalBlobStore):
        stale = blobs.stale_temporaries()
        if stale:
            report.notes.append(
                f"{len(stale)} temporary files from interrupted writes in {blobs.root / 'tmp'} "
                "(never visible as blobs; safe to delete)"
            )
