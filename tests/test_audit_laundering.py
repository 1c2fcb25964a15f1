"""Attacks on the audit trail that used to get through, each reproduced and now caught.

Each test edits the database the way someone with write access to it but no key would, then
lets nbtrail go on working normally, and shows that the edit is refused when nbtrail next
writes over it and reported by ``verify`` (which never writes).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import make_trail

from nbtrail.errors import SigningKeyError, StoreError, TamperedFact, TrailNotFound
from nbtrail.store import _batch

KEY = b"k" * 32
DEAD_PROCESS = {"pid": 2**22 - 7, "host": os.uname().nodename, "start": 1.0}


def _exec(trail, sql, **params):
    with trail.engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _events_about(trail, ident):
    with trail.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT seq, action FROM events WHERE subject_id = :i ORDER BY seq"),
            {"i": ident},
        )
        return [tuple(r) for r in rows]


def _finished_run(trail):
    with trail.start_run("train", params={"C": 1.0}) as run:
        run.log_metric("accuracy", 0.81)
    return run


# -- 1a: a finished run set back to running, then "recovered" --------------------------------


@pytest.mark.parametrize("signed", [False, True])
def test_run_reopened_with_forged_params_is_not_laundered_by_dead_run_recovery(
    store_url, tmp_path, signed
):
    key = KEY if signed else None
    trail = make_trail(store_url, tmp_path / "objects", key=key)
    run = _finished_run(trail)
    trail.close()
    attrs = json.dumps({"process": DEAD_PROCESS}, sort_keys=True, separators=(",", ":"))
    forged = json.dumps({"C": 1000.0}, sort_keys=True, separators=(",", ":"))
    cast = "CAST(:p AS JSON)" if store_url.startswith("postgresql") else ":p"
    cast_a = cast.replace(":p", ":a")
    _exec(
        trail,
        f"UPDATE runs SET status = 'running', ended_at = NULL, params = {cast}, attrs = {cast_a} "
        "WHERE id = :id",
        p=forged,
        a=attrs,
        id=run.id,
    )
    trail.engine.dispose()
    # The next writer's open would mark the "dead" run aborted: it refuses to write over it.
    writer = make_trail(store_url, tmp_path / "objects", key=key)
    assert writer.get_run(run.id).status == "running"
    assert [a for _, a in _events_about(writer, run.id)] == ["run.start", "run.end"]
    writer.close()
    viewer = make_trail(store_url, tmp_path / "objects", key=key, readonly=True)
    report = viewer.verify()
    viewer.close()
    assert not report.ok
    assert report.first.subject == f"runs {run.id}"
    assert "changed after event" in report.first.message
    for column in ("params", "status", "attrs"):
        assert column in report.first.message


def test_replay_catches_a_write_that_recorded_an_edited_row(trail, monkeypatch):
    """Even if a writer records over an edited row (an old nbtrail, or the check bypassed),
    replaying the fact's history shows the edit at that write."""
    run = trail.start_run("train", params={"C": 1.0})
    cast = "CAST(:p AS JSON)" if trail.engine.dialect.name == "postgresql" else ":p"
    _exec(trail, f"UPDATE runs SET params = {cast} WHERE id = :id", p='{"C":1000.0}', id=run.id)
    monkeypatch.setattr(_batch, "_check_untouched", lambda *a: None)
    run.end()
    report = trail.verify()
    assert not report.ok
    end_seq = _events_about(trail, run.id)[-1][0]
    problems = [str(p) for p in report.problems]
    assert any(
        f"event {end_seq} (run.end) does not follow from the fact's history" in p for p in problems
    ), problems
    assert any("params differ from what its events record" in p for p in problems), problems


# -- 1b: an artifact edited, then snapshotted ------------------------------------------------


def test_edited_artifact_is_not_blessed_by_a_later_snapshot(trail, tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3]})
    run = trail.start_run("prepare")
    artifact = run.use(frame, name="frame")
    cast = "CAST(:m AS JSON)" if trail.engine.dialect.name == "postgresql" else ":m"
    _exec(
        trail,
        f"UPDATE artifacts SET name = 'approved', meta = {cast} WHERE id = :id",
        m='{"approved":true}',
        id=artifact.id,
    )
    with pytest.raises(TamperedFact, match=f"artifacts {artifact.id} was changed outside"):
        run.use(frame, name="frame", snapshot=True)
    assert trail.get_artifact(artifact.id).snapshot is None
    report = trail.verify()
    assert not report.ok
    assert report.first.subject == f"artifacts {artifact.id}"
    assert "meta, name differ" in report.first.message


# -- 1c: a running run's params edited, then ended normally ----------------------------------


def test_running_run_edited_then_ended_is_refused_and_reported(trail):
    run = trail.start_run("train", params={"C": 1.0})
    cast = "CAST(:p AS JSON)" if trail.engine.dialect.name == "postgresql" else ":p"
    _exec(trail, f"UPDATE runs SET params = {cast} WHERE id = :id", p='{"C":1000.0}', id=run.id)
    with pytest.raises(TamperedFact, match="nothing was written over it"):
        run.end()
    assert trail.get_run(run.id).status == "running"
    assert [a for _, a in _events_about(trail, run.id)] == ["run.start"]
    report = trail.verify()
    assert report.first.subject == f"runs {run.id}"
    assert "params differ" in report.first.message


# -- triggers, views, extra columns ----------------------------------------------------------


def _trigger_sql(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            "CREATE TRIGGER sweeten AFTER INSERT ON metrics BEGIN "
            "UPDATE metrics SET value = 0.999 WHERE id = NEW.id; END"
        ]
    return [
        "CREATE FUNCTION sweeten() RETURNS trigger AS $$ BEGIN NEW.value := 0.999; "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER sweeten BEFORE INSERT ON metrics FOR EACH ROW EXECUTE FUNCTION sweeten()",
    ]


def test_a_trigger_is_refused_by_writers_and_reported_by_verify(store_url, tmp_path):
    trail = make_trail(store_url, tmp_path / "objects", key=KEY)
    run = trail.start_run("train")
    for sql in _trigger_sql(trail.engine.dialect.name):
        _exec(trail, sql)
    # A writer that was already open: the rewritten row is refused, nothing is recorded.
    with pytest.raises(TamperedFact, match=r"metrics .*stored something else .*value"):
        run.log_metric("accuracy", 0.61)
    assert trail.run_details(run.id).metrics == []
    trail.close()
    # A writer opening now refuses the trail, naming the trigger.
    with pytest.raises(StoreError, match="trigger 'sweeten' on metrics"):
        make_trail(store_url, tmp_path / "objects", key=KEY)
    viewer = make_trail(store_url, tmp_path / "objects", key=KEY, readonly=True)
    report = viewer.verify()
    viewer.close()
    assert not report.ok
    assert report.first.subject == "schema"
    assert "trigger 'sweeten' on metrics" in report.first.message


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("CREATE VIEW good_runs AS SELECT * FROM runs", "view 'good_runs'"),
        ("ALTER TABLE metrics ADD COLUMN note TEXT", "column metrics.note is not nbtrail's"),
        ("DROP INDEX ix_runs_status", "index ix_runs_status on runs is missing"),
    ],
)
def test_schema_changes_are_named_by_verify(trail, tmp_path, sql, named):
    _finished_run(trail)
    _exec(trail, sql)
    report = trail.verify()
    assert not report.ok
    assert any(p.subject == "schema" and named in p.message for p in report.problems), (
        report.problems
    )


# -- same meaning, other bytes ---------------------------------------------------------------


def test_a_duplicate_json_key_is_refused(trail):
    with trail.start_run("train") as run:
        run.record_check("accuracy", "pass", summary="ok", thresholds={"C": 1.0})
    assert trail.verify().ok
    table = "checks"
    if trail.engine.dialect.name == "sqlite":
        _exec(trail, f"UPDATE {table} SET thresholds = :t", t='{"C":1000,"C":1.0}')
        with trail.engine.connect() as conn:
            # What another reader of the database sees: the first key.
            seen = conn.execute(sa.text("SELECT json_extract(thresholds, '$.C') FROM checks"))
            assert seen.scalar() == 1000
    else:
        _exec(trail, f"UPDATE {table} SET thresholds = CAST(:t AS JSON)", t='{"C":1000,"C":1.0}')
    report = trail.verify()
    assert not report.ok
    assert report.first.subject.startswith("checks ")
    assert "thresholds is not valid JSON (duplicate key 'C')" in report.first.message


def test_json_in_another_spelling_is_reported(trail):
    _finished_run(trail)
    cast = "CAST(:p AS JSON)" if trail.engine.dialect.name == "postgresql" else ":p"
    _exec(trail, f"UPDATE runs SET params = {cast}", p='{ "C" : 1.0 }')
    report = trail.verify()
    assert [p.message for p in report.problems if p.subject.startswith("runs ")] == [
        "params is not stored as nbtrail writes it (another spelling of JSON can be read "
        "differently by other readers)"
    ]


# -- the trail's own metadata ----------------------------------------------------------------


def test_trail_metadata_is_on_the_chain(trail):
    _finished_run(trail)
    _exec(trail, "UPDATE nbtrail_meta SET value = 'another-trail' WHERE key = 'trail_id'")
    report = trail.verify()
    assert report.first.subject == "nbtrail_meta trail_id"
    assert "changed after event" in report.first.message


def test_a_signed_trail_rebuilt_with_another_key_fails_without_the_key(store_url, tmp_path):
    from nbtrail.store import _schema
    from nbtrail.store._audit import GENESIS, event_hash, key_id, sign

    trail = make_trail(store_url, tmp_path / "objects", key=KEY)
    _finished_run(trail)
    trail.close()
    other = b"o" * 32
    with trail.engine.begin() as conn:
        events = _schema.events
        query = sa.select(events).order_by(events.c.seq)
        rows = [dict(r) for r in conn.execute(query).mappings()]
        prev = GENESIS
        for event in rows:
            event["prev_hash"], event["key_id"] = prev, key_id(other)
            event["hash"] = event_hash(event)
            conn.execute(
                sa.text(
                    "UPDATE events SET prev_hash = :p, key_id = :k, hash = :h, signature = :s "
                    "WHERE seq = :q"
                ),
                {
                    "p": prev,
                    "k": event["key_id"],
                    "h": event["hash"],
                    "s": sign(other, event["hash"]),
                    "q": event["seq"],
                },
            )
            prev = event["hash"]
    trail.engine.dispose()
    viewer = make_trail(store_url, tmp_path / "objects", readonly=True)
    report = viewer.verify()
    viewer.close()
    assert not report.ok and not report.signatures_checked
    assert report.first.seq == 1
    assert "was signed with another key" in report.first.message
    # A writer with the other key is refused too.
    with pytest.raises(SigningKeyError):
        make_trail(store_url, tmp_path / "objects", key=other)


# -- blobs -----------------------------------------------------------------------------------


def test_stray_blobs_are_reported(trail):
    _finished_run(trail)
    digest = trail.blobs.put_bytes(b"nobody refers to me")
    report = trail.verify()
    assert report.ok
    assert report.stray_blobs == [digest]
    assert any("1 blobs are referred to by no fact" in n for n in report.notes)


# -- foreign databases -----------------------------------------------------------------------


def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path, monkeypatch):
    db = tmp_path / "people.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE persons (id INTEGER PRIMARY KEY, name TEXT)")
    monkeypatch.setenv("NBTRAIL_STORE_URL", f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    for argv in (["runs"], ["init"], ["verify"]):
        done = subprocess.run(
            [sys.executable, "-m", "nbtrail", *argv], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, (argv, done.stderr)
        assert "Traceback" not in done.stderr
        assert "persons" in done.stderr, done.stderr
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["persons"]


def test_a_foreign_postgres_database_is_refused_untouched(pg_database, tmp_path):
    from nbtrail import init_trail
    from nbtrail.config import Settings

    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE persons (id int PRIMARY KEY, name text)"))
    settings = Settings(actor="x", store_url=pg_database)
    with pytest.raises(TrailNotFound, match=r"not an nbtrail trail \(it holds tables persons\)"):
        init_trail(tmp_path, settings=settings)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["persons"]
    engine.dispose()


def test_only_init_creates_a_trail_in_a_configured_database(pg_database, tmp_path):
    from nbtrail import init_trail, open_trail
    from nbtrail.config import Settings

    settings = Settings(actor="x", store_url=pg_database, home=tmp_path / ".nbtrail")
    (tmp_path / ".nbtrail").mkdir()
    with pytest.raises(TrailNotFound, match="run `nbtrail init`"):
        open_trail(tmp_path, settings=settings)
    init_trail(tmp_path, settings=settings).close()
    with open_trail(tmp_path, settings=settings) as trail:
        assert trail.verify().ok


# -- storage -----------------------------------------------------------------------------------


def _checkpoint(db) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _sqlite_trail(tmp_path, runs=60):
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    trail = make_trail(url, tmp_path / "objects")
    for i in range(runs):
        with trail.start_run(f"run {i}", params={"i": i}) as run:
            run.log_metric("m", i)
    trail.close()
    _checkpoint(tmp_path / "trail.db")
    return url


def test_a_damaged_index_page_is_named_by_verify(tmp_path):
    url = _sqlite_trail(tmp_path)
    db = tmp_path / "trail.db"
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_runs_started_at'"
        ).fetchone()[0]
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page + 16)
        fh.write(b"\x00" * 24)
    viewer = make_trail(url, tmp_path / "objects", readonly=True)
    report = viewer.verify()
    viewer.close()
    assert not report.ok
    storage = [p for p in report.problems if p.subject == "storage"]
    assert storage, report.problems
    assert any("ix_runs_started_at" in p.message or "page" in p.message for p in storage), storage


def test_a_malformed_timestamp_is_named_not_a_traceback(tmp_path):
    url = _sqlite_trail(tmp_path, runs=3)
    with sqlite3.connect(tmp_path / "trail.db") as conn:
        ident = conn.execute("SELECT id FROM runs ORDER BY id LIMIT 1 OFFSET 1").fetchone()[0]
        conn.execute("UPDATE runs SET started_at = 'yesterday-ish' WHERE id = ?", (ident,))
    viewer = make_trail(url, tmp_path / "objects", readonly=True)
    report = viewer.verify()
    viewer.close()
    unreadable = [p for p in report.problems if p.subject == f"runs {ident}"]
    assert unreadable and "cannot be read" in unreadable[0].message
    # The other runs were still checked.
    assert report.facts >= 3 * 2


def test_postgres_indexes_are_checked_with_amcheck_when_installed(pg_database, tmp_path):
    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS amcheck"))
    trail = make_trail(pg_database, tmp_path / "objects")
    _finished_run(trail)
    report = trail.verify()
    trail.close()
    assert report.ok, report.problems
    assert not any("amcheck" in note for note in report.notes)
    # Without the extension the same verify says what it could not check.
    with engine.begin() as conn:
        conn.execute(sa.text("DROP EXTENSION amcheck"))
    engine.dispose()
    viewer = make_trail(pg_database, tmp_path / "objects", readonly=True)
    report = viewer.verify()
    viewer.close()
    assert report.ok and any("amcheck extension is not installed" in n for n in report.notes)
