"""Concurrent writers and writers killed mid-write leave a trail that verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import make_trail

WRITER = Path(__file__).parent / "helpers" / "writer.py"
WORKERS, FACTS = 8, 200


def _count(trail, table: str) -> int:
    with trail.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


@pytest.mark.slow
def test_concurrent_writers_lose_and_duplicate_nothing(store_url, tmp_path):
    blobs = tmp_path / "objects"
    make_trail(store_url, blobs).close()  # create the schema once, as `nbtrail init` would
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), store_url, str(blobs), str(w), str(FACTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    trail = make_trail(store_url, blobs)
    try:
        assert _count(trail, "runs") == WORKERS
        assert _count(trail, "metrics") == WORKERS * 99
        unique = (FACTS - 100) // 2
        assert _count(trail, "artifacts") == WORKERS * unique + 1  # the shared frame once
        assert _count(trail, "edges") == WORKERS * (unique + 1)
        facts = WORKERS * FACTS + 1 + WORKERS  # + shared artifact, + one shared edge each
        meta = 3  # the trail's own metadata: id, created_at, created_by; recorded once
        assert _count(trail, "events") == facts + WORKERS + meta  # + each run's end
        with trail.engine.connect() as conn:
            seqs = [r[0] for r in conn.execute(sa.text("SELECT seq FROM events ORDER BY seq"))]
        assert seqs == list(range(1, len(seqs) + 1))
        report = trail.verify()
        assert report.ok, report.problems[:5]
        assert all(r.status == "succeeded" for r in trail.runs())
    finally:
        trail.close()


@pytest.mark.slow
def test_writer_killed_mid_write_leaves_a_trail_that_verifies(store_url, tmp_path):
    blobs = tmp_path / "objects"
    make_trail(store_url, blobs).close()
    rng = random.Random(20261125)
    kills = 20
    for attempt in range(kills):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), store_url, str(blobs), str(attempt), "forever"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.02, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)  # reap it and close its pipes
        assert proc.returncode == -signal.SIGKILL
        trail = make_trail(store_url, blobs)
        try:
            report = trail.verify()
            assert report.ok, (attempt, report.problems[:5])
            # No partial blob is visible: every blob's bytes hash to its name (verify checked
            # that), and interrupted writes exist only as temporaries outside the blob fan-out.
            for entry in blobs.iterdir():
                assert entry.name == "tmp" or len(entry.name) == 2
        finally:
            trail.close()
    trail = make_trail(store_url, blobs)
    try:
        runs = trail.runs()
        assert len(runs) >= 1
        # Opening the trail marked the runs of killed writers aborted; none is left running.
        statuses = {r.status for r in runs}
        assert "aborted" in statuses and statuses <= {"aborted", "succeeded"}
        assert all("ended without ending the run" in r.error for r in runs if r.status == "aborted")
        assert trail.verify().ok
    finally:
        trail.close()
