"""The audit log: every fact written to the trail is also an event in a hash chain.

An event records who did what to which fact, and the SHA-256 digest of the fact's row as
canonical JSON. Each event's hash covers its own fields and the previous event's hash, so an
edited, deleted, inserted or reordered event breaks the chain at that point. With
``NBTRAIL_SIGNING_KEY`` set, each event also carries an HMAC-SHA256 signature of its hash:
someone who can write to the database but does not hold the key cannot rebuild a chain that
verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
from collections.abc import Mapping

import numpy as np

__all__ = ["GENESIS", "canonical", "event_hash", "jsonable", "row_digest", "sign"]

GENESIS = "0" * 64


def jsonable(value):
    """Convert a value to plain JSON data that reads back identically from any database.

    numpy scalars and arrays become Python numbers and lists; non-finite floats become the
    strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (JSON has no spelling for them and
    PostgreSQL's json type refuses them); paths, datetimes and other objects become strings.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, dt.datetime):
        return _iso(value)
    return str(value)


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(data: Mapping) -> bytes:
    """Serialise a mapping as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def row_digest(row: Mapping) -> str:
    """Return the SHA-256 hex digest of a fact row as canonical JSON."""
    return hashlib.sha256(canonical(row)).hexdigest()


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
