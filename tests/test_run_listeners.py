"""The store tells run listeners (live exports) that a run started or ended, after the commit."""

from __future__ import annotations

import logging

import pytest
from conftest import make_trail

from nbtrail.store import NewRun, RunEnd, add_run_listener, remove_run_listener


@pytest.fixture
def heard():
    calls = []

    def listener(trail, run_id, change):
        calls.append((run_id, change, trail.get_run(run_id).status))

    add_run_listener(listener)
    yield calls
    remove_run_listener(listener)


def test_start_and_end_are_heard_after_they_are_committed(heard, store_url, tmp_path):
    with make_trail(store_url, tmp_path / "blobs") as trail:
        run = trail.start_run("train")
        run.log_metric("accuracy", 0.9)  # not a start or an end: not heard
        run.end("failed", error="boom")
    # The listener read the run back: each change was committed before it was told.
    assert heard == [(run.id, "start", "running"), (run.id, "end", "failed")]


def test_a_run_started_and_ended_in_one_batch_is_heard_twice(heard, store_url, tmp_path):
    with make_trail(store_url, tmp_path / "blobs") as trail:
        batch = trail.batch()
        new = NewRun("cell", kind="cell")
        batch.add(new, RunEnd(new.id, "succeeded"))
        batch.commit()
    assert [(r, c) for r, c, _ in heard] == [(new.id, "start"), (new.id, "end")]


def test_a_failing_listener_never_fails_the_write(store_url, tmp_path, caplog):
    def broken(trail, run_id, change):
        raise RuntimeError("receiver exploded")

    add_run_listener(broken)
    try:
        with make_trail(store_url, tmp_path / "blobs") as trail, caplog.at_level(logging.WARNING):
            run = trail.start_run("train")
            run.end()
            assert trail.get_run(run.id).status == "succeeded"
    finally:
        remove_run_listener(broken)
    assert "receiver exploded" in caplog.text
