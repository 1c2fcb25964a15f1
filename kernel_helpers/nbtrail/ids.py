"""Identifiers that sort by creation time: UUID version 7 (RFC 9562).

Run ids are UUIDv7: a 48-bit Unix millisecond timestamp, then a 12-bit counter that keeps ids
made in the same millisecond by one process in order, then 62 random bits. They sort by time
as text, are valid UUIDs for OpenLineage, and never collide across processes in practice.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["id_time_ms", "new_id"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """Return a new UUIDv7 as a 36-character string."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same millisecond (or the clock stepped back): count up, borrowing the next
            # millisecond when the 12-bit counter runs out, so ids stay strictly increasing.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


def id_time_ms(value: str) -> int:
    """Return the Unix millisecond timestamp embedded in a UUIDv7."""
    return uuid.UUID(value).int >> 80
