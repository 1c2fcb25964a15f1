"""JSON that reads back identically from any database: the one conversion every layer uses.

Facts are stored as JSON in SQLite and PostgreSQL, hashed as canonical JSON in the audit log,
and sent to the browser. All three need the same answer to "what is this value as JSON", so it
is given once, here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping

import numpy as np

__all__ = ["canonical", "iso_time", "jsonable"]


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
        return iso_time(value)
    return str(value)


def iso_time(value: dt.datetime) -> str:
    """A timestamp as ISO 8601 UTC with microseconds (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(data: Mapping) -> bytes:
    """Serialise a mapping as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
