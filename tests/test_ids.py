"""Run ids are UUIDv7: valid, time-ordered, unique under pressure."""

from __future__ import annotations

import time
import uuid

from nbtrail.ids import id_time_ms, new_id


def test_uuid7_layout_and_order():
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert abs(id_time_ms(ids[-1]) - time.time() * 1000) < 5_000
