"""Capture's recording logic without a kernel, and failure injected at every point of capture.

:class:`~nbtrail.capture.Recording` turns what the hooks saw into facts; here it is driven by
hand, with a list as its writer. The failure-injection tests run a real capture session (the
one ``nbtrail.track`` uses) and break each place capture touches the user's code: the writer,
the audit hook, argument binding, the estimator subclass hook, the import hook, and loading
the extension. Each time the user's code goes on unchanged and the failure is counted.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nbtrail
from nbtrail.capture import CaptureSession, Recording
from nbtrail.capture._unit import Unit
from nbtrail.capture.names import analyze
from nbtrail.store import NewArtifact, NewCheck, NewEdge, NewRun, init_trail, open_trail


@pytest.fixture
def home(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    trail = init_trail(project)
    yield trail
    trail.close()


def _recording(trail, namespace=None):
    sent: list = []
    recording = Recording(
        trail,
        run_id="01900000-0000-7000-8000-00000000000a",
        submit=sent.extend,
        namespace=(lambda: namespace) if namespace is not None else None,
    )
    return recording, sent


def _unit(code: str = "") -> Unit:
    return Unit(
        run_id="01900000-0000-7000-8000-00000000000b",
        parent_id="01900000-0000-7000-8000-00000000000a",
        kind="cell",
        name="cell 1",
        source=code,
        names=analyze(code),
    )


def _edges(facts, kind):
    return [f for f in facts if isinstance(f, NewEdge) and f.kind == kind]


def test_a_cell_that_read_a_project_file_and_derived_a_frame(home):
    data = home.project_root / "data.csv"
    data.write_text("x\n1\n2\n")
    frame = pd.read_csv(data)
    recording, _ = _recording(home, {"frame": frame})
    unit = _unit("frame = load('data.csv')")
    recording.unit = unit
    recording.saw_file(str(data), write=False)
    recording.unit = None
    facts = recording.finish(unit, None)
    assert isinstance(facts[0], NewRun) and facts[0].status == "succeeded"
    (used,) = [e for e in _edges(facts, "used") if e.path]
    assert used.path == str(data)
    (derived,) = _edges(facts, "derived")
    assert derived.source_id == used.artifact_id
    produced = _edges(facts, "produced")
    assert [e.name for e in produced] == ["frame"]
    assert derived.artifact_id == produced[0].artifact_id
    assert recording.health.healthy


def test_which_files_count(home, tmp_path):
    recording, _ = _recording(home)
    root = home.project_root
    (root / "__pycache__").mkdir()
    (root / "helper.py").write_text("x = 1\n")
    outside = tmp_path / "elsewhere.csv"
    classify = recording.paths.classify
    assert classify(str(root / "data.csv")) == ("project", str(root / "data.csv"))
    assert classify(str(root / "__pycache__" / "helper.cpython-311.pyc")) == (
        "project",
        str(root / "helper.py"),
    )
    assert classify(str(outside)) == ("outside", str(outside))
    assert classify(str(home.home / "trail.db")) is None
    assert classify(str(Path(sys.prefix) / "lib" / "thing.csv")) is None
    assert classify(np.__file__) is None
    assert classify("/etc/hosts") is None
    assert classify(str(root / ".ipynb_checkpoints" / "a-checkpoint.ipynb")) is None


def test_reads_outside_any_unit_and_unverifiable_reads_are_counted(home):
    recording, _ = _recording(home)
    recording.saw_file(str(home.project_root / "between-cells.csv"), write=False)
    assert recording.health.unattributed == 1 and not recording.health.healthy
    recording.unit = _unit()
    recording.saw_process("subprocess.Popen: cat")
    recording.saw_url("https://example.org/data.csv")
    health = recording.health.to_dict()
    assert health["unverifiable"] == 2
    assert [r["kind"] for r in health["unverifiable_reads"]] == ["subprocess", "url"]
    assert health["unattributed_paths"] == [str(home.project_root / "between-cells.csv")]


def test_checks_and_products_go_to_the_unit_or_straight_out(home):
    recording, sent = _recording(home)
    unit = _unit()
    recording.unit = unit
    digest = recording.subject(pd.DataFrame({"a": [1, 2]}), name="train")
    check_id = recording.record_check(
        "probe", "warn", subjects=[("data", digest)], details=pd.DataFrame({"column": ["a"]})
    )
    (check,) = [f for f in unit.facts if isinstance(f, NewCheck)]
    assert check.id == check_id and check.run_id == unit.run_id
    assert check.subjects == (("data", digest),) and check.details
    recording.unit = None
    recording.record_check("later", "pass")
    assert [f.name for f in sent if isinstance(f, NewCheck)] == ["later"]
    model_digest = recording.produce(np.arange(3), name="product", derived_from={"model": digest})
    (edge,) = [f for f in sent if isinstance(f, NewEdge) and f.kind == "derived"]
    assert (edge.role, edge.source_id, edge.artifact_id) == ("model", digest, model_digest)
    assert any(isinstance(f, NewArtifact) and f.id == model_digest for f in sent)


def test_nested_metrics_are_refused_naming_the_findings_table(home):
    from nbtrail.errors import UsageError

    recording, _ = _recording(home)
    with pytest.raises(UsageError, match="per-group or per-feature values go in the findings"):
        recording.record_check("fair", "pass", metrics={"by_group": {"a": 1.0}})


# -- a real session, broken on purpose ---------------------------------------------------------


@pytest.fixture
def session(home):
    with open_trail() as trail:
        capture = CaptureSession(trail, name="script", kind="script", owns_trail=False)
        capture.start()
        capture.begin_script()
        try:
            yield capture
        finally:
            capture.end_script(None)
            capture.close()


def _session_health(run_id: str) -> dict:
    with open_trail(readonly=True) as trail:
        return trail.get_run(run_id).attrs["capture"]


def test_a_writer_that_cannot_commit_loses_facts_not_the_users_work(session, monkeypatch):
    from nbtrail.store import Batch

    real = Batch.commit
    calls = {"n": 0}

    def failing_once(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full (injected)")
        return real(self)

    assert session.writer.flush()  # what the session queued at start is written
    monkeypatch.setattr(Batch, "commit", failing_once)
    session.writer.submit([NewRun("doomed", kind="cell", parent_id=session.run.id)])
    assert session.writer.flush()
    assert session.health.lost == 1 and session.health.errors == 1
    frame = pd.DataFrame({"a": [1]})  # the user's work goes on
    assert len(frame) == 1
    monkeypatch.setattr(Batch, "commit", real)
    run_id = session.run.id
    session.end_script(None)
    session.close()
    health = _session_health(run_id)
    assert health["healthy"] is False and health["lost"] == 1
    assert "disk full (injected)" in health["last_errors"][0]


def test_an_audit_hook_failure_never_reaches_open(session, monkeypatch, tmp_path):
    def broken(path, write):
        raise RuntimeError("audit hook (injected)")

    monkeypatch.setattr(session, "saw_file", broken)
    target = Path("written.txt")
    target.write_text("user data")
    assert target.read_text() == "user data"
    assert session.health.errors >= 2
    assert "audit hook" in session.health.error_messages[-1]


def test_binding_arguments_fails_inside_the_guard(session, monkeypatch):
    from nbtrail.capture import hooks

    def broken(original, args, kwargs):
        raise TypeError("signature (injected)")

    monkeypatch.setattr(hooks, "bind_arguments", broken)
    Path("in.csv").write_text("x\n1\n")
    frame = pd.read_csv("in.csv")
    assert list(frame["x"]) == [1]
    assert any("signature (injected)" in m for m in session.health.error_messages)


def test_the_estimator_subclass_hook_fails_without_breaking_the_class(session, monkeypatch):
    from sklearn.base import BaseEstimator

    def broken(cls):
        raise RuntimeError("subclass hook (injected)")

    monkeypatch.setattr(session.patcher, "_patch_estimator_class", broken)

    class Custom(BaseEstimator):
        def fit(self, X, y=None):
            self.fitted_ = True
            return self

    assert Custom().fit([[1]]).fitted_
    assert any("subclass hook (injected)" in m for m in session.health.error_messages)


def test_the_import_hook_fails_without_breaking_the_import(session, monkeypatch, tmp_path):
    from nbtrail.capture import hooks

    module = tmp_path / "nbtrail_probe_module.py"
    module.write_text("def load(path):\n    with open(path) as fh:\n        return fh.read()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(hooks, "_WATCHED", hooks._WATCHED | {"nbtrail_probe_module"})

    def broken(ready=None):
        raise RuntimeError("import hook (injected)")

    monkeypatch.setattr(session.patcher, "apply_available", broken)
    monkeypatch.delitem(sys.modules, "nbtrail_probe_module", raising=False)
    import nbtrail_probe_module

    assert nbtrail_probe_module.load(__file__)
    assert any("import hook (injected)" in m for m in session.health.error_messages)


def test_the_extension_that_cannot_start_says_why_in_one_line(home, monkeypatch, capsys, tmp_path):
    from nbtrail.capture import magics

    signed = tmp_path / "signed"
    monkeypatch.setenv("NBTRAIL_HOME", str(signed))
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", "the key")
    with open_trail() as trail:  # a trail created signed
        trail.start_run("signed").end()
    monkeypatch.delenv("NBTRAIL_SIGNING_KEY")
    status = tmp_path / "capture-status.txt"
    monkeypatch.setenv("NBTRAIL_CAPTURE_STATUS", str(status))

    class Shell:
        def __init__(self):
            self.user_ns = {}

    magics.load_ipython_extension(Shell())
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("nbtrail: not recording: this trail is signed")
    assert "this trail is signed" in status.read_text()
    assert nbtrail.recording.active() is None


def test_user_threads_fitting_models_while_a_script_records(session):
    from sklearn.linear_model import LogisticRegression

    errors = []

    def fit(seed: int):
        try:
            rng = np.random.default_rng(seed)
            X = rng.normal(size=(200, 3))
            for _ in range(5):
                LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert session.health.errors == 0
    assert session.counts["models"] == 20  # every fit, from every thread
    run_id = session.run.id
    session.end_script(None)
    session.close()
    with open_trail(readonly=True) as trail:
        models = {
            u.artifact.id for u in trail.run_details(run_id).produced if u.artifact.kind == "model"
        }
        assert len(models) == 4  # a thread's five fits on the same data are the same model
        assert trail.verify().ok
