"""The audit log: every fact written to the trail is also an event in a hash chain.

An event records who did what to which fact, and the SHA-256 digest of the fact's row as
canonical JSON. Each event's hash covers its own fields and the previous event's hash, so an
edited, deleted, inserted or reordered event breaks the chain at that point. With
``NBTRAIL_SIGNING_KEY`` set, each event also carries an HMAC-SHA256 signature of its hash:
someone who can write to the database but does not hold the key cannot rebuild a chain that
verifies.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from .._json import canonical
from ._schema import LATER_COLUMNS

__all__ = ["GENESIS", "event_hash", "row_digest", "sign", "signature_matches"]

GENESIS = "0" * 64


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


def event_hash(event: Mapping) -> str:
    """Return the chain hash of an event: SHA-256 over its fields, the previous hash included."""
    return hashlib.sha256(canonical({k: event[k] for k in _EVENT_FIELDS})).hexdigest()


def sign(key: bytes, hash_hex: str) -> str:
    """Return the HMAC-SHA256 signature of an event hash."""
    return hmac.new(key, hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def signature_matches(key: bytes, hash_hex: str, signature: str | None) -> bool:
    """Whether ``signature`` is the key's signature of ``hash_hex`` (constant time)."""
    return bool(signature) and hmac.compare_digest(signature, sign(key, hash_hex))
