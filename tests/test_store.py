"""The store on both backends: runs, artifacts, edges, checks, metrics, snapshots, schema."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import make_trail

from nbtrail.errors import (
    ArtifactNotFound,
    RunAlreadyEnded,
    RunNotFound,
    SchemaTooNew,
    SnapshotError,
    TrailNotFound,
    UsageError,
)
from nbtrail.ids import id_time_ms
from nbtrail.store import _schema


def test_run_lifecycle_success(trail):
    with trail.start_run("train", kind="script", params={"alpha": 0.5, "layers": [1, 2]}) as run:
        assert run.record.status == "running"
        run.log_metric("accuracy", 0.91)
        run.log_metric("loss", 0.3, step=2)
    stored = trail.get_run(run.id)
    assert stored.status == "succeeded"
    assert stored.ended_at is not None and stored.ended_at >= stored.started_at
    assert stored.params == {"alpha": 0.5, "layers": [1, 2]}
    assert stored.actor == "tester"
    details = trail.run_details(run.id)
    assert [(m.key, m.value, m.step) for m in details.metrics] == [
        ("accuracy", 0.91, None),
        ("loss", 0.3, 2),
    ]


def test_run_that_raises_is_failed_and_the_exception_passes_through(trail):
    class Boom(Exception):
        pass

    with pytest.raises(Boom, match="bad data"):
        with trail.start_run("prepare") as run:
            raise Boom("bad data")
    stored = trail.get_run(run.id)
    assert stored.status == "failed"
    assert stored.error == "Boom: bad data"


def test_keyboard_interrupt_marks_run_aborted(trail):
    with pytest.raises(KeyboardInterrupt):
        with trail.start_run("long") as run:
            raise KeyboardInterrupt
    assert trail.get_run(run.id).status == "aborted"


def test_run_cannot_end_twice(trail):
    run = trail.start_run("x")
    run.end("succeeded")
    with pytest.raises(RunAlreadyEnded, match="already ended"):
        run.end("failed")
    batch = trail.batch()
    batch.end_run(run.id, "aborted")
    with pytest.raises(RunAlreadyEnded, match=r"already ended \(succeeded\)"):
        batch.commit()
    assert trail.get_run(run.id).status == "succeeded"
    with pytest.raises(UsageError, match="a run ends as one of"):
        trail.start_run("y").end("done")
    assert issubclass(RunAlreadyEnded, ValueError)


def test_concurrent_enders_one_wins(store_url, tmp_path):
    """Two processes end the same run at once: exactly one succeeds, the other is refused."""
    import subprocess
    import sys

    trail = make_trail(store_url, tmp_path / "o")
    run = trail.start_run("contested")
    code = (
        "import sys, time; from nbtrail.config import Settings; "
        "from nbtrail.store import Trail, LocalBlobStore\n"
        f"t = Trail({store_url!r}, blobs=LocalBlobStore({str(tmp_path / 'o')!r}), home=None, "
        "settings=Settings(actor='x'))\n"
        "b = t.batch(); b.end_run(sys.argv[1], sys.argv[2])\n"
        "time.sleep(max(0, float(sys.argv[3]) - time.time()))\n"
        "try:\n    b.commit(); print('ended')\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
    )
    start = str(__import__("time").time() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, run.id, status, start], stdout=subprocess.PIPE, text=True
        )
        for status in ("succeeded", "failed")
    ]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["RunAlreadyEnded", "ended"]
    assert trail.get_run(run.id).status in ("succeeded", "failed")
    ends = [a for a, s in _events(trail) if s == run.id and a == "run.end"]
    assert len(ends) == 1
    assert trail.verify().ok
    trail.close()


def test_run_ids_sort_by_time_and_resolve_by_prefix(trail):
    ids = [trail.start_run(f"r{i}").id for i in range(5)]
    assert ids == sorted(ids)
    assert all(id_time_ms(i) > 0 for i in ids)
    assert [r.id for r in trail.runs()] == ids[::-1]
    assert trail.get_run(ids[2][-36:]).id == ids[2]
    unique = ids[3]
    assert trail.get_run(unique.upper()).id == unique
    with pytest.raises(RunNotFound, match="no run matches"):
        trail.get_run("ffffffff")
    with pytest.raises(UsageError, match="more than one run"):
        trail.get_run(ids[0][:4])


def test_child_runs_and_filters(trail):
    parent = trail.start_run("pipeline", kind="pipeline")
    child = parent.start_run("step-a", kind="step")
    child.end("failed", error="x")
    parent.end()
    assert [r.id for r in trail.runs(parent=parent.id)] == [child.id]
    assert [r.id for r in trail.runs(status="failed")] == [child.id]
    assert [r.id for r in trail.runs(kind="pipeline")] == [parent.id]
    assert len(trail.runs(limit=1)) == 1
    with pytest.raises(RunNotFound):
        trail.start_run("orphan", parent="0000-nope")
    assert [c.id for c in trail.run_details(parent.id).children] == [child.id]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "run name must be a non-empty string"),
        ({"name": "x" * 300}, "longer than 255"),
        ({"name": "ok", "kind": "Bad Kind"}, "run kind"),
        ({"name": "ok", "params": [1, 2]}, "params must be a mapping"),
        ({"name": "ok", "params": {1: "a"}}, "every name must be a string"),
    ],
)
def test_bad_run_arguments_are_refused_and_nothing_is_written(trail, kwargs, message):
    before = trail.verify().events  # the trail's own metadata
    with pytest.raises(UsageError, match=message):
        trail.start_run(**kwargs)
    assert trail.runs() == []
    assert trail.verify().events == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "must be finite"),
        (float("inf"), "must be finite"),
        ("0.5", "must be a real number"),
        (True, "must be a real number"),
    ],
)
def test_bad_metrics_are_refused(trail, value, message):
    with trail.start_run("m") as run:
        with pytest.raises(UsageError, match=message):
            run.log_metric("acc", value)
        with pytest.raises(UsageError, match="'acc'"):
            run.log_metrics({"ok": 1.0, "acc": value})
    assert trail.run_details(run.id).metrics == []


def test_params_are_merged_and_nan_is_stored_as_text(trail):
    with trail.start_run("p", params={"a": 1}) as run:
        run.log_params({"b": np.float64("nan")}, c=np.int64(3))
    assert trail.get_run(run.id).params == {"a": 1, "b": "NaN", "c": 3}


def test_artifacts_are_deduplicated_by_content(trail, tmp_path):
    frame = pd.DataFrame({"x": [1, 2, 3]})
    with trail.start_run("a") as run:
        first = run.use(frame, name="frame")
        again = run.use(frame.copy(), name="frame")
        other = run.use(frame.assign(x=[1, 2, 4]), name="frame")
    assert first.id == again.id != other.id
    assert len(trail.artifacts()) == 2
    assert len(trail.run_details(run.id).used) == 2  # the same use twice is one fact


def test_file_artifacts_record_their_path(trail, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    with trail.start_run("read") as run:
        art = run.use(path)
    assert art.kind == "file" and art.size == path.stat().st_size
    (usage,) = trail.run_details(run.id).used
    assert usage.path == str(path.resolve())
    assert trail.get_artifact(path).id == art.id
    assert trail.get_artifact(art.id[:8]).id == art.id
    assert trail.get_artifact(art.name).id == art.id
    # The file changes: the path still finds the newest artifact recorded there.
    path.write_text("a,b\n1,3\n")
    assert trail.get_artifact(path).id == art.id
    with pytest.raises(ArtifactNotFound, match="no artifact matches"):
        trail.get_artifact("no-such-thing")
    with pytest.raises(ArtifactNotFound):
        trail.get_artifact(tmp_path / "missing.csv")


def test_snapshot_and_checkout_restore_exact_bytes(trail, tmp_path):
    path = tmp_path / "raw.bin"
    payload = bytes(range(256)) * 1000
    path.write_bytes(payload)
    with trail.start_run("s") as run:
        art = run.use(path, snapshot=True)
    path.unlink()
    out = trail.checkout(art.id, tmp_path / "restored.bin")
    assert out.read_bytes() == payload
    with pytest.raises(UsageError, match="exists"):
        trail.checkout(art.id, out)
    trail.checkout(art.id, out, overwrite=True)
    assert out.read_bytes() == payload


def test_dataframe_snapshot_checks_out_as_parquet_that_reads_back_equal(trail, tmp_path):
    frame = pd.DataFrame(
        {
            "n": [1.5, np.nan, 3.0],
            "s": pd.Series(["a", None, "c"], dtype="str"),
            "c": pd.Categorical(["x", "y", "x"]),
            "t": pd.date_range("2024-01-01", periods=3, tz="Europe/Berlin"),
            "i": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    with trail.start_run("s") as run:
        art = run.use(frame, name="frame", snapshot=True)
    assert art.snapshot_format == "parquet"
    out = trail.checkout("frame", tmp_path)
    assert out.suffix == ".parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)
    pd.testing.assert_frame_equal(trail.load(art.id), frame)


def test_objects_parquet_cannot_carry_fall_back_to_joblib(trail):
    mixed = pd.DataFrame({"m": [1, "two", 3.0]})
    art = trail.snapshot(mixed, name="mixed")
    assert art.snapshot_format == "joblib"
    pd.testing.assert_frame_equal(trail.load(art.id), mixed)
    array = np.arange(12.0).reshape(3, 4)
    assert trail.snapshot(array).snapshot_format == "npy"
    np.testing.assert_array_equal(trail.load(trail.snapshot(array).id), array)


def test_checkout_without_snapshot_is_a_clear_error(trail):
    with trail.start_run("x") as run:
        art = run.use(pd.DataFrame({"a": [1]}), name="nosnap")
    with pytest.raises(SnapshotError, match="has no snapshot"):
        trail.checkout(art.id, "out.parquet")


def test_snapshot_of_a_file_that_changes_while_copied_stores_nothing(trail, tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("before")
    fp = trail.fingerprint(path)
    path.write_text("after!")
    with pytest.raises(SnapshotError, match="changed after it was fingerprinted"):
        trail.blobs.put_file(path, expected=fp.digest)
    assert list(trail.blobs.digests()) == []
    assert trail.blobs.stale_temporaries() == []


def test_checks_are_recorded_with_details(trail):
    data = pd.DataFrame({"x": [1, 2]})
    details = pd.DataFrame({"column": ["x"], "failures": [0]})
    with trail.start_run("c") as run:
        art = run.use(data, name="data")
        check = run.record_check(
            "schema",
            "pass",
            artifact=art,
            summary="all columns as expected",
            metrics={"failures": 0},
            thresholds={"max_failures": 0},
            details=details,
        )
        implicit = run.record_check("drift", "warn", artifact=data.assign(x=[3, 4]))
        with pytest.raises(UsageError, match="check status must be one of"):
            run.record_check("x", "ok")
    (first, second) = trail.run_details(run.id).checks
    assert first.id == check.id and first.artifact_id == art.id
    assert first.metrics == {"failures": 0}
    stored = pd.read_parquet(io.BytesIO(trail.blobs.get_bytes(first.details)))
    pd.testing.assert_frame_equal(stored, details)
    assert second.id == implicit.id
    assert trail.get_artifact(second.artifact_id)  # the judged object was recorded
    assert trail.verify().ok


def test_details_json_round_trip(trail):
    with trail.start_run("j", params={"x": 1}) as run:
        run.log_metric("m", 1.0)
    data = trail.run_details(run.id).to_dict()
    assert json.loads(json.dumps(data))["metrics"][0]["key"] == "m"


# -- schema versions -------------------------------------------------------------------------


def test_schema_matches_the_migrations(store_url, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    t = make_trail(store_url, tmp_path / "objects")
    try:
        with t.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": _schema.VERSION_TABLE}
            )
            diff = compare_metadata(context, _schema.metadata)
        assert diff == []
        with t.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM nbtrail_alembic_version"))
            assert version.scalar() == _schema.HEAD_REVISION
    finally:
        t.close()


def test_trail_from_newer_schema_is_refused_and_not_altered(store_url, tmp_path):
    t = make_trail(store_url, tmp_path / "objects")
    t.start_run("x").end()
    with t.engine.begin() as conn:
        conn.execute(sa.text("UPDATE nbtrail_alembic_version SET version_num = '9999'"))
    t.close()
    with pytest.raises(SchemaTooNew, match="newer nbtrail.*9999.*not changed"):
        make_trail(store_url, tmp_path / "objects")
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT version_num FROM nbtrail_alembic_version")
        ).scalar() == ("9999")
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
    engine.dispose()


def test_database_with_foreign_tables_is_refused(store_url, tmp_path):
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (x INTEGER)"))
    engine.dispose()
    with pytest.raises(TrailNotFound, match="not an nbtrail trail"):
        make_trail(store_url, tmp_path / "objects")


def test_sqlite_file_that_is_not_a_database(tmp_path):
    bogus = tmp_path / "trail.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(TrailNotFound, match="not an nbtrail trail"):
        make_trail(f"sqlite:///{bogus}", tmp_path / "objects")


def test_sqlite_runs_in_wal_mode(tmp_path):
    t = make_trail(f"sqlite:///{tmp_path / 't.db'}", tmp_path / "objects")
    with t.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    t.close()


def test_unsupported_store_url(tmp_path):
    with pytest.raises(TrailNotFound, match="SQLite and PostgreSQL"):
        make_trail("mysql://x@localhost/db", tmp_path)
    with pytest.raises(TrailNotFound, match="not a SQLAlchemy database URL"):
        make_trail("not a url", tmp_path)


# -- batches ---------------------------------------------------------------------------------


def _events(trail):
    with trail.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT action, subject_id FROM events WHERE subject_type != 'nbtrail_meta' "
                "ORDER BY seq"
            )
        ).all()


def test_batch_folds_an_update_of_a_row_it_inserted(trail):
    batch = trail.batch()
    run_id = batch.start_run("cell 1", kind="cell")
    batch.end_run(run_id, "succeeded", attrs={"seconds": 0.1})
    stored = batch.commit()
    assert stored[("runs", run_id)]["status"] == "succeeded"
    assert stored[("runs", run_id)]["attrs"] == {"seconds": 0.1}
    assert _events(trail) == [("run.start+end", run_id)]
    assert trail.verify().ok


def test_batch_deduplicates_artifacts_and_edges(trail):
    from nbtrail.fingerprints import fingerprint

    run = trail.start_run("dedupe")
    fp = fingerprint(pd.DataFrame({"a": [1]}))
    for _ in range(2):
        batch = trail.batch()
        batch.add_artifact(fp, "a")
        batch.add_artifact(fp, "a")
        batch.add_edge("used", run.id, fp.digest, name="a")
        batch.add_edge("used", run.id, fp.digest, name="a")
        batch.commit()
    actions = [a for a, _ in _events(trail)]
    assert actions == ["run.start", "artifact.add", "edge.used"]


def test_failed_batch_writes_nothing(trail):
    run = trail.start_run("atomic")
    before = _events(trail)
    batch = trail.batch()
    batch.add_metric(run.id, "k", 1.0)
    batch.end_run("no-such-run", "failed")
    with pytest.raises(LookupError, match="no run no-such-run"):
        batch.commit()
    assert _events(trail) == before
    assert trail.run_details(run.id).metrics == []


# -- dead processes and migrations -----------------------------------------------------------


def test_runs_of_dead_processes_are_marked_aborted_on_open(store_url, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from nbtrail.config import Settings; from nbtrail.store import Trail, "
        "LocalBlobStore\n"
        f"t = Trail({store_url!r}, blobs=LocalBlobStore({str(tmp_path / 'o')!r}), home=None, "
        "settings=Settings(actor='x'), create=True)\n"
        "run = t.start_run('doomed'); print(run.id, flush=True)\n"
        "import os; os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    doomed = out.stdout.strip()
    trail = make_trail(store_url, tmp_path / "o")
    alive = trail.start_run("alive")  # this process lives on
    trail.close()
    trail = make_trail(store_url, tmp_path / "o")
    try:
        record = trail.get_run(doomed)
        assert record.status == "aborted"
        assert "ended without ending the run" in record.error
        assert trail.get_run(alive.id).status == "running"
        assert trail.verify().ok
    finally:
        trail.close()


def test_runs_of_other_hosts_are_left_alone(trail):
    run = trail.start_run("remote")
    batch = trail.batch()
    batch.update_run(run.id, attrs={"process": {"host": "elsewhere", "pid": 1, "start": None}})
    batch.commit()
    assert trail.recover_dead_runs() == []
    assert trail.get_run(run.id).status == "running"


def test_an_older_trail_is_migrated_on_open(store_url, tmp_path):
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "nbtrail.store:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT version_num FROM nbtrail_alembic_version")
        ).scalar() == ("0001")
        assert "ix_runs_status" not in {i["name"] for i in sa.inspect(conn).get_indexes("runs")}
    engine.dispose()
    trail = make_trail(store_url, tmp_path / "o")
    try:
        trail.start_run("after upgrade").end()
        with trail.engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT version_num FROM nbtrail_alembic_version")).scalar()
                == _schema.HEAD_REVISION
            )
            assert "ix_runs_status" in {i["name"] for i in sa.inspect(conn).get_indexes("runs")}
        assert trail.verify().ok
    finally:
        trail.close()
