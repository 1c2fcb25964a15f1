"""Reuse that is never stale: every way a step can depend on something capture once missed.

Each test runs a one-step pipeline of ``template_blind_spots.ipynb`` (real papermill, real
kernel with capture), runs it again (reused while nothing changed, where capture can verify
what was read), then changes the input the way the blind spot hid it and checks the step
runs again and says why.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nbtrail.pipeline.pipelines import run_pipeline
from nbtrail.store import open_trail

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.fixture
def project(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(NOTEBOOKS / "template_blind_spots.ipynb", folder / "blind.ipynb")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NBTRAIL_HOME", str(folder / ".nbtrail"))
    return folder


def _spec(project: Path, mode: str, source: str = "", inputs: str = "") -> Path:
    path = project / "pipeline.yaml"
    extra = f"\n    inputs: [{inputs}]" if inputs else ""
    path.write_text(
        textwrap.dedent(
            f"""\
            name: blind
            steps:
              - name: step
                template: blind.ipynb
                parameters: {{mode: {mode}, source: "{source}"}}"""
        )
        + extra
        + "\n"
    )
    return path


def _run(spec: Path):
    result = run_pipeline(spec)
    (step,) = result.steps
    assert step.status in ("succeeded", "reused"), step.error
    return step


def _reused_then_rerun(spec: Path, change) -> str:
    """Run, run again (reused), change the input, run again: return why it was not reused."""
    first = _run(spec)
    assert first.status == "succeeded"
    second = _run(spec)
    assert second.status == "reused", second.not_reused
    change()
    third = _run(spec)
    assert third.status == "succeeded"
    assert third.not_reused
    return third.not_reused


def test_files_read_inside_a_hooked_fit(project):
    (project / "docs").mkdir()
    (project / "docs" / "a.txt").write_text("red green blue")
    (project / "docs" / "b.txt").write_text("green yellow")
    reason = _reused_then_rerun(
        _spec(project, "tfidf"), lambda: (project / "docs" / "b.txt").write_text("green purple")
    )
    assert "input docs/b.txt is changed" in reason


def test_a_file_read_under_cross_val_score(project):
    (project / "threshold.txt").write_text("20")
    reason = _reused_then_rerun(
        _spec(project, "cv"), lambda: (project / "threshold.txt").write_text("10")
    )
    assert "input threshold.txt is changed" in reason


def test_plain_open_of_a_file_outside_the_project(project, tmp_path):
    outside = tmp_path / "elsewhere" / "data.txt"
    outside.parent.mkdir()
    outside.write_text("one")
    reason = _reused_then_rerun(
        _spec(project, "outside", str(outside)), lambda: outside.write_text("two")
    )
    assert f"input {outside} is changed" in reason


def test_a_project_module_imported_from_a_valid_pycache(project):
    import compileall

    helper = project / "helper.py"
    helper.write_text("VALUE = 1\n")
    assert compileall.compile_file(str(helper), quiet=1)  # a valid __pycache__, as after any import
    spec = _spec(project, "module")
    assert _run(spec).status == "succeeded"
    assert _run(spec).status == "reused"  # imported from the valid .pyc: still its source counts
    with open_trail(readonly=True) as trail:
        used = {u.path for u in trail.run_details(trail.runs(kind="session")[0].id, tree=True).used}
    assert str(helper) in used
    helper.write_text("VALUE = 2\n")
    third = _run(spec)
    assert third.status == "succeeded"
    assert "input helper.py is changed" in third.not_reused


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("sql", "query"), ("url", "url"), ("subprocess", "subprocess")],
)
def test_what_capture_cannot_verify_is_never_reused(project, mode, kind):
    with sqlite3.connect(project / "db.sqlite") as connection:
        connection.execute("create table t (x integer)")
        connection.execute("insert into t values (1), (2)")
    (project / "note.txt").write_text("hello")
    (project / "remote.csv").write_text("x\n1\n2\n")
    spec = _spec(project, mode, (project / "remote.csv").as_uri() if mode == "url" else "")
    assert _run(spec).status == "succeeded"
    again = _run(spec)
    assert again.status == "succeeded"
    assert f"read what capture cannot verify: {kind}" in again.not_reused
    with open_trail(readonly=True) as trail:
        session = trail.runs(kind="session")[0]
        health = session.attrs["capture"]
    assert health["healthy"] and health["unverifiable"] >= 1
    assert health["unverifiable_reads"][0]["kind"] == kind


def test_capture_errors_are_recorded_and_block_reuse(project):
    spec = _spec(project, "broken")
    assert _run(spec).status == "succeeded"
    with open_trail(readonly=True) as trail:
        health = trail.runs(kind="session")[0].attrs["capture"]
    assert health["healthy"] is False and health["errors"] >= 1
    assert "ZeroDivisionError" in " ".join(health["last_errors"])
    again = _run(spec)
    assert again.status == "succeeded"
    assert "was not healthy: " in again.not_reused and "capture errors" in again.not_reused


def test_a_changed_environment_is_not_reused(project, monkeypatch):
    spec = _spec(project, "plain")
    assert _run(spec).status == "succeeded"
    assert _run(spec).status == "reused"
    from nbtrail.capture import environment

    real = environment.describe_environment

    def upgraded():
        env = real()
        env["packages"] = [
            "scikit-learn==99.0.0" if p.startswith("scikit-learn==") else p for p in env["packages"]
        ]
        return env

    monkeypatch.setattr(environment, "describe_environment", upgraded)
    third = _run(spec)
    assert third.status == "succeeded"
    assert "the environment changed" in third.not_reused
    assert "scikit-learn" in third.not_reused and "99.0.0" in third.not_reused


def test_declared_inputs_are_fingerprinted_and_recorded(project):
    (project / "extra").mkdir()
    (project / "extra" / "a.csv").write_text("x\n1\n")
    (project / "extra" / "b.csv").write_text("x\n2\n")
    spec = _spec(project, "plain", inputs="'extra/*.csv'")
    first = _run(spec)
    assert first.status == "succeeded"
    with open_trail(readonly=True) as trail:
        used = trail.run_details(first.run_id).used
    declared = sorted(Path(u.path).name for u in used if u.name == "declared input")
    assert declared == ["a.csv", "b.csv"]
    assert _run(spec).status == "reused"
    (project / "extra" / "b.csv").write_text("x\n3\n")  # the template never reads it
    third = _run(spec)
    assert third.status == "succeeded"
    assert "no earlier successful run with these parameters and inputs" in third.not_reused
    (project / "extra" / "a.csv").unlink()
    (project / "extra" / "b.csv").unlink()
    result = run_pipeline(spec)
    assert result.steps[0].status == "failed"
    assert "declared input 'extra/*.csv' matches no file" in result.steps[0].error


def _break_capture_at_kernel_start(tmp_path, monkeypatch, code: str) -> None:
    """A kernel where capture cannot start: a sitecustomize the kernel imports first."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbtrail", *args], capture_output=True, text=True, timeout=300
    )


def test_nbtrail_run_fails_loudly_when_capture_does_not_start(project, tmp_path, monkeypatch):
    _break_capture_at_kernel_start(
        tmp_path,
        monkeypatch,
        "import nbtrail.capture.session as session\n"
        "from nbtrail.errors import StoreError\n"
        "def refuse(*args, **kwargs):\n"
        "    raise StoreError('the trail database is on a read-only disk (injected)')\n"
        "session.CaptureSession.__init__ = refuse\n",
    )
    done = _run_cli("run", "blind.ipynb")
    assert done.returncode == 1, done.stderr
    # nbtrail's own report is one line (seen once: a libzmq assertion printed before it).
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("nbtrail: run ")]
    assert "failed: capture did not start" in line and "read-only disk (injected)" in line
    with open_trail(readonly=True) as trail:
        (run,) = trail.runs(kind="template")
        assert run.status == "failed" and "capture did not start" in run.error


def test_a_kernel_without_the_extension_fails_the_run_too(project, tmp_path, monkeypatch):
    _break_capture_at_kernel_start(
        tmp_path, monkeypatch, "import sys\nsys.modules['nbtrail.capture.magics'] = None\n"
    )
    done = _run_cli("run", "blind.ipynb")
    assert done.returncode == 1
    assert "the nbtrail kernel extension did not load" in done.stderr
