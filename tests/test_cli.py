"""The nbtrail command: every subcommand, its JSON, and its exit codes (0 ok, 1 check, 2 usage)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import run_cli

from nbtrail.store import open_trail


@pytest.fixture
def project(tmp_path, capsys):
    """A project folder with a trail holding one run that read a CSV and wrote a model."""
    folder = Path.cwd()
    assert run_cli(capsys, "init")[0] == 0
    (folder / "data.csv").write_text("x,y\n1,0\n2,1\n3,1\n")
    with open_trail() as trail, trail.start_run("train", params={"C": 0.5}) as run:
        src = run.use("data.csv", snapshot=True)
        frame = pd.read_csv("data.csv")
        clean = run.produce(frame, name="frame", derived_from=[src], snapshot=True)
        run.log_metric("accuracy", 0.75)
        run.record_check("schema", "fail", artifact=clean, summary="column y has 1 problem")
    return {"folder": folder, "run": run, "src": src, "clean": clean}


def test_init_creates_a_trail_once(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "init")
    assert code == 0 and "trail ready in" in out
    home = Path.cwd() / ".nbtrail"
    assert (home / "trail.db").is_file() and (home / "objects").is_dir()
    assert (home / ".gitignore").read_text().strip().endswith("*")
    assert run_cli(capsys, "init")[0] == 0  # idempotent


def test_trail_is_found_from_a_subfolder(capsys, project):
    sub = project["folder"] / "notebooks" / "deep"
    sub.mkdir(parents=True)
    os.chdir(sub)
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and project["run"].id in out


def test_runs_and_show(capsys, project):
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["RUN", "STARTED", "(UTC)"]
    assert project["run"].id in out and "succeeded" in out
    code, out, _ = run_cli(capsys, "runs", "--json")
    (record,) = json.loads(out)
    assert record["id"] == project["run"].id and record["params"] == {"C": 0.5}
    code, out, _ = run_cli(capsys, "show", project["run"].id[:20])
    assert code == 0
    for expected in ("train", "data.csv", "accuracy = 0.75", "FAIL  schema", "C = 0.5"):
        assert expected in out
    code, out, _ = run_cli(capsys, "show", project["run"].id, "--json")
    data = json.loads(out)
    assert data["used"][0]["path"].endswith("data.csv")
    assert data["produced"][0]["as_name"] == "frame"
    assert data["checks"][0]["status"] == "fail"


def test_lineage_formats(capsys, project):
    code, out, _ = run_cli(capsys, "lineage", "data.csv", "--downstream")
    assert code == 0 and "derived into frame" in out
    code, out, _ = run_cli(capsys, "lineage", "frame", "--upstream", "--format", "json")
    data = json.loads(out)
    assert data["root"] == f"artifact:{project['clean'].id}"
    code, out, _ = run_cli(capsys, "lineage", project["clean"].id[:10], "--format", "dot")
    assert out.startswith("digraph lineage")


def test_verify_ok_then_tampered(capsys, project):
    code, out, _ = run_cli(capsys, "verify")
    assert code == 0 and out.startswith("trail verifies")
    with open_trail() as trail, trail.engine.begin() as conn:
        conn.execute(sa.text("UPDATE metrics SET value = 0.99"))
    code, out, _ = run_cli(capsys, "verify")
    assert code == 1
    assert "does NOT verify" in out and "metrics" in out
    code, out, _ = run_cli(capsys, "verify", "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_verify_against_a_kept_head(capsys, project):
    code, out, _ = run_cli(capsys, "verify")
    head = out.rsplit("head ", 1)[1].strip()  # the 16 digits a person would copy
    code, out, _ = run_cli(capsys, "verify", "--expect-head", head)
    assert code == 0 and "note: anchored head" in out
    code, out, _ = run_cli(capsys, "verify", "--expect-head", "0" * 32)
    assert code == 1 and "not in the chain" in out
    code, _, err = run_cli(capsys, "verify", "--expect-head", "abc")
    assert code == 2 and "at least 16 hex digits" in err


def test_checkout(capsys, project, tmp_path):
    target = tmp_path / "restored.csv"
    code, out, _ = run_cli(capsys, "checkout", "data.csv", str(target))
    assert code == 0 and target.read_bytes() == Path("data.csv").read_bytes()
    code, _, err = run_cli(capsys, "checkout", "data.csv", str(target))
    assert code == 2 and "exists" in err and "--force" in err
    assert run_cli(capsys, "checkout", "data.csv", str(target), "--force")[0] == 0
    code, out, _ = run_cli(capsys, "checkout", "frame", str(tmp_path))
    written = Path(out.split("wrote ", 1)[1].strip())
    pd.testing.assert_frame_equal(pd.read_parquet(written), pd.read_csv("data.csv"))


def test_export_openlineage(capsys, project, tmp_path):
    target = tmp_path / "events.jsonl"
    code, out, _ = run_cli(capsys, "export", "openlineage", project["run"].id, "-o", str(target))
    assert code == 0 and "wrote 2 OpenLineage events" in out
    events = [json.loads(line) for line in target.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    code, out, _ = run_cli(capsys, "export", "openlineage", project["run"].id)
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "ffffffff"], "no run matches 'ffffffff'"),
        (["lineage", "no-such-artifact"], "no artifact or run matches"),
        (["checkout", "no-such-artifact", "x"], "no artifact matches"),
        (["export", "openlineage", "0000"], "no run matches"),
        (["runs", "--limit", "0"], "not a positive integer"),
        (["lineage", "x", "--format", "svg"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_and_input_errors_exit_2_with_one_line(capsys, project, args, message):
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


def test_no_trail_here(capsys):
    code, _, err = run_cli(capsys, "runs")
    assert code == 2
    assert err.strip() == (
        "nbtrail: error: no trail here: no .nbtrail folder in this folder or any parent; "
        "run `nbtrail init` or set NBTRAIL_HOME"
    )
    assert len(err.strip().splitlines()) == 1


def test_home_that_is_a_file_is_not_a_trail(capsys, monkeypatch, tmp_path):
    bogus = tmp_path / "home-file"
    bogus.write_text("x")
    monkeypatch.setenv("NBTRAIL_HOME", str(bogus))
    code, _, err = run_cli(capsys, "runs")
    assert code == 2 and "is a file, not a trail folder" in err


def test_database_that_is_not_a_trail(capsys, monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "trail.db").write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("NBTRAIL_HOME", str(home))
    code, _, err = run_cli(capsys, "runs")
    assert code == 2 and "not an nbtrail trail" in err


def test_unwritable_folder(capsys, unprivileged):
    locked = unprivileged / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    assert not os.access(locked, os.W_OK, effective_ids=True)  # the mode applies to this user
    code, _, err = run_cli(capsys, "init", str(locked))
    assert code == 2
    assert err.strip() == f"nbtrail: error: cannot create a trail in {locked}: permission denied"
    assert not (locked / ".nbtrail").exists()


def test_permission_error_is_one_line_exit_2_as_any_user(capsys, monkeypatch, tmp_path):
    # As root nothing is unwritable, so make mkdir fail as it does for an ordinary user.
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, _, err = run_cli(capsys, "init", str(tmp_path))
    assert code == 2
    assert err.strip() == f"nbtrail: error: cannot create a trail in {tmp_path}: permission denied"


def test_path_under_a_file_is_not_a_folder(capsys, tmp_path):
    # Works as root too: a path under a regular file can never be created.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "init", str(blocker))
    assert code == 2 and "is not a folder" in err


def test_newer_schema_is_one_line_exit_2(capsys, project):
    with open_trail() as trail, trail.engine.begin() as conn:
        conn.execute(sa.text("UPDATE nbtrail_alembic_version SET version_num = '0099'"))
    code, _, err = run_cli(capsys, "runs")
    assert code == 2
    assert "written by a newer nbtrail" in err and len(err.strip().splitlines()) == 1


def test_console_script_and_module_entry_points(project):
    exe = shutil.which("nbtrail") or str(Path(sys.executable).parent / "nbtrail")
    out = subprocess.run([exe, "runs", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)[0]["id"] == project["run"].id
    bad = subprocess.run(
        [sys.executable, "-m", "nbtrail", "show", "zzzz"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("nbtrail: error: no run matches")
    piped = subprocess.run(f"'{exe}' runs | head -c 1", shell=True, capture_output=True, text=True)
    assert "Traceback" not in piped.stderr


def test_store_url_puts_the_trail_in_postgresql(capsys, monkeypatch, pg_database, tmp_path):
    monkeypatch.setenv("NBTRAIL_STORE_URL", pg_database)
    code, out, _ = run_cli(capsys, "init")
    assert code == 0 and "postgresql+psycopg://" in out
    with open_trail() as trail, trail.start_run("on-postgres") as run:
        run.use(pd.DataFrame({"a": [1]}), name="frame", snapshot=True)
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert [r["name"] for r in json.loads(out)] == ["on-postgres"]
    assert run_cli(capsys, "verify")[0] == 0
    engine = sa.create_engine(pg_database)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM runs")).scalar() == "on-postgres"
    engine.dispose()
    # No SQLite database appeared beside the blobs.
    assert not (Path.cwd() / ".nbtrail" / "trail.db").exists()


def test_runs_lists_top_level_runs_unless_all(capsys, project):
    with open_trail() as trail:
        parent = trail.start_run("pipeline", kind="pipeline")
        parent.start_run("step-one", kind="step").end()
        parent.end()
    _, out, _ = run_cli(capsys, "runs", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == ["pipeline", "train"]
    _, out, _ = run_cli(capsys, "runs", "--all", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == ["pipeline", "step-one", "train"]
    _, out, _ = run_cli(capsys, "runs", "--kind", "step", "--json")
    assert [r["name"] for r in json.loads(out)] == ["step-one"]
