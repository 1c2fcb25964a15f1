"""Reads that never write: viewers leave a (signed) trail exactly as it was; writers must sign.

A signed trail with a run left ``running`` by a dead process is the trap: a reader that
"helpfully" marked it aborted, or migrated the schema, would append unsigned events and the
trail would never verify with its key again.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from nbtrail.cli import main
from nbtrail.errors import ReadOnlyTrail, SigningKeyError
from nbtrail.store import open_trail

KEY = "the signing key"


def _events(home) -> int:
    engine = sa.create_engine(f"sqlite:///{home / 'trail.db'}")
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
    engine.dispose()
    return count


def _dead_run(monkeypatch) -> str:
    """Start a run in a process that dies without ending it."""
    code = (
        "import os; from nbtrail.store import open_trail\n"
        "run = open_trail().start_run('doomed'); print(run.id, flush=True); os._exit(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def signed(tmp_path, monkeypatch, capsys):
    """A signed trail with a finished pipeline-like run, a file, a check and a dead run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / ".nbtrail"))
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", KEY)
    (tmp_path / "data.csv").write_text("x\n1\n")
    with open_trail() as trail, trail.start_run("good") as run:
        data = run.use(tmp_path / "data.csv", snapshot=True)
        run.record_check("schema", "pass", artifact=data, summary="fine")
        good = run.id
    dead = _dead_run(monkeypatch)
    monkeypatch.delenv("NBTRAIL_SIGNING_KEY")
    capsys.readouterr()
    return {"home": tmp_path / ".nbtrail", "good": good, "dead": dead, "folder": tmp_path}


READERS = [
    ["runs"],
    ["runs", "--all", "--json"],
    ["show", "{good}"],
    ["show", "{dead}", "--json"],
    ["checks", "--findings"],
    ["lineage", "data.csv"],
    ["verify"],
    ["export", "openlineage", "{good}"],
    ["checkout", "data.csv", "restored.csv"],
]


@pytest.mark.parametrize("command", READERS, ids=[" ".join(c) for c in READERS])
def test_read_only_commands_leave_a_signed_trail_verifiable(signed, command, capsys, monkeypatch):
    before = _events(signed["home"])
    args = [part.format(**signed) for part in command]
    assert main(args) == 0, capsys.readouterr().err
    assert _events(signed["home"]) == before
    with open_trail(readonly=True) as trail:
        assert trail.get_run(signed["dead"]).status == "running"  # not "recovered" by a reader
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", KEY)
    with open_trail(readonly=True) as trail:
        report = trail.verify()
    assert report.ok and report.signatures_checked, report.problems


def test_a_keyless_writer_is_refused_in_one_line(signed, capsys):
    before = _events(signed["home"])
    with pytest.raises(SigningKeyError, match="this trail is signed: set NBTRAIL_SIGNING_KEY"):
        open_trail()
    assert main(["upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "this trail is signed" in err
    assert _events(signed["home"]) == before


def test_a_wrong_key_is_refused_and_the_right_one_recovers(signed, monkeypatch):
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", "not the key")
    with pytest.raises(SigningKeyError, match="not the key this trail is signed with"):
        open_trail()
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", KEY)
    with open_trail() as writer:  # the writer recovers the dead run, signed
        assert writer.get_run(signed["dead"]).status == "aborted"
        assert writer.verify().ok


def test_a_key_cannot_start_signing_an_unsigned_history(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / ".nbtrail"))
    with open_trail() as trail:
        trail.start_run("unsigned").end()
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", KEY)
    with pytest.raises(SigningKeyError, match="a key cannot sign the history it already has"):
        open_trail()


def test_the_server_leaves_a_signed_trail_verifiable(signed, monkeypatch):
    from nbtrail.server import State, views
    from nbtrail.server.config import NbtrailServer

    before = _events(signed["home"])
    state = State(NbtrailServer(), signed["folder"])
    trail = state.trail()
    assert trail is not None and trail.readonly
    views.notebook_runs(trail, None)
    views.lineage_view(trail, signed["good"])
    views.checks_view(trail, signed["good"])
    views.failing_checks(trail, [signed["good"], signed["dead"]])
    state.close()
    assert _events(signed["home"]) == before
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", KEY)
    with open_trail(readonly=True) as check:
        assert check.get_run(signed["dead"]).status == "running"
        assert check.verify().ok


def test_a_reader_never_migrates_an_older_trail(tmp_path, monkeypatch, capsys):
    from alembic import command
    from alembic.config import Config

    from nbtrail.store import _schema

    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".nbtrail"
    home.mkdir()
    monkeypatch.setenv("NBTRAIL_HOME", str(home))
    engine = sa.create_engine(f"sqlite:///{home / 'trail.db'}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "nbtrail.store:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    with pytest.raises(ReadOnlyTrail, match="run `nbtrail upgrade`"):
        open_trail(readonly=True)
    assert main(["runs"]) == 2
    assert "nbtrail upgrade" in capsys.readouterr().err
    with engine.connect() as conn:
        revision = conn.execute(sa.text(f"SELECT version_num FROM {_schema.VERSION_TABLE}"))
        assert revision.scalar() == "0002"
    assert main(["upgrade"]) == 0
    with engine.connect() as conn:
        revision = conn.execute(sa.text(f"SELECT version_num FROM {_schema.VERSION_TABLE}"))
        assert revision.scalar() == _schema.HEAD_REVISION
    engine.dispose()
    assert main(["runs"]) == 0


def test_a_read_only_trail_refuses_every_write(signed):
    with open_trail(readonly=True) as trail:
        for write in (
            lambda: trail.start_run("x"),
            lambda: trail.batch(),
            lambda: trail.snapshot(signed["folder"] / "data.csv"),
        ):
            with pytest.raises(ReadOnlyTrail, match="opened to read"):
                write()
