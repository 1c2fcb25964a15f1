"""The audit log: every fact written to the trail is also an event in a hash chain.

An event records who did what to which fact, what the write changed (the whole row for an
insert; the columns set for an update, as stored) and the SHA-256 digest of the fact's row
afterwards, as canonical JSON. Replaying a fact's events in order must give the row the
database holds, so an edit slipped in between two legitimate writes is found, not blessed by
the later one. Each event's hash covers its own fields and the previous event's hash, so an
edited, deleted, inserted or reordered event breaks the chain at that point. With
``NBTRAIL_SIGNING_KEY`` set, each event also carries an HMAC-SHA256 signature of its hash and
the id of the key: someone who can write to the database but does not hold the key cannot
rebuild a chain that verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from .._json import canonical, jsonable
from ._schema import LATER_COLUMNS, events

__all__ = [
    "GENESIS",
    "append_events",
    "event_hash",
    "json_text",
    "key_id",
    "row_digest",
    "sign",
    "signature_matches",
]

GENESIS = "0" * 64


def json_text(value) -> str:
    """The one way a JSON column is written: canonical (sorted keys, no spaces, UTF-8).

    Verification insists on it, so a stored value has exactly one spelling: a duplicate key
    (``{"C":1000,"C":1.0}``) that one reader takes as 1000 and another as 1.0 cannot pass.
    """
    return json.dumps(
        jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def row_digest(row: Mapping, table: str) -> str:
    """Return the SHA-256 hex digest of a fact row of ``table`` as canonical JSON.

    A NULL in a column added after the first schema is left out, so rows written before the
    column existed keep the digest their events recorded.
    """
    later = LATER_COLUMNS.get(table, ())
    data = {k: v for k, v in row.items() if v is not None or k not in later}
    return hashlib.sha256(canonical(data)).hexdigest()


_EVENT_FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "digest",
    "prev_hash",
)
# Fields added later: hashed when present, so events written before them keep their hash.
_LATER_EVENT_FIELDS = ("change", "key_id")


def event_hash(event: Mapping) -> str:
    """Return the chain hash of an event: SHA-256 over its fields, the previous hash included."""
    data = {k: event[k] for k in _EVENT_FIELDS}
    for k in _LATER_EVENT_FIELDS:
        if event.get(k) is not None:
            data[k] = event[k]
    return hashlib.sha256(canonical(data)).hexdigest()


def sign(key: bytes, hash_hex: str) -> str:
    """Return the HMAC-SHA256 signature of an event hash."""
    return hmac.new(key, hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def signature_matches(key: bytes, hash_hex: str, signature: str | None) -> bool:
    """Whether ``signature`` is the key's signature of ``hash_hex`` (constant time)."""
    return bool(signature) and hmac.compare_digest(signature, sign(key, hash_hex))


def key_id(key: bytes) -> str:
    """A public name for a signing key: tells keys apart without revealing or weakening them."""
    return hmac.new(key, b"nbtrail signing key id", hashlib.sha256).hexdigest()[:16]


def append_events(
    conn, actor: str, key: bytes | None, items: Iterable[tuple[str, str, str, str, Mapping]]
) -> None:
    """Append one event per ``(action, subject_type, subject_id, digest, change)``, in order.

    ``digest`` is the row's digest after the write; ``change`` is what the write stored: the
    whole row for an insert, the columns set for an update, each value as read back.
    """
    head = conn.execute(
        sa.select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    at = dt.datetime.now(dt.UTC)
    kid = key_id(key) if key else None
    rows = []
    for action, subject_type, subject_id, digest, change in items:
        seq += 1
        event = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "digest": digest,
            "prev_hash": prev,
            "change": json_text(change),
            "key_id": kid,
        }
        event["hash"] = event_hash(event)
        event["signature"] = sign(key, event["hash"]) if key else None
        prev = event["hash"]
        rows.append(event)
    if rows:
        conn.execute(events.insert(), rows)
