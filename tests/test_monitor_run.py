"""nbtrail monitor SPEC: checks on the logged traffic, alerts, retraining triggers; shadow runs."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import joblib
import numpy as np
import pytest
from conftest import run_cli
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nbtrail import monitor
from nbtrail.datasets import load_adult
from nbtrail.store import init_trail, open_trail

NUM = ["age", "education_num", "hours_per_week", "capital_gain"]
KEY = "test-key-0123456789abcdef"
NOTEBOOKS = Path(__file__).parent / "notebooks"
TEMPLATES = Path(__file__).parents[1] / "templates"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A trail, a model, its reference table, and a pipeline a trigger can start."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    monkeypatch.setenv("NBTRAIL_PSEUDONYM_KEY", KEY)
    init_trail(tmp_path).close()
    train = load_adult("train").head(6000)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        train[NUM], train["income"] == ">50K"
    )
    (tmp_path / "models").mkdir()
    joblib.dump(model, "models/model.joblib")
    train[NUM].to_parquet("reference.parquet")
    shutil.copy(NOTEBOOKS / "template_modes.ipynb", tmp_path / "template_modes.ipynb")
    (tmp_path / "retrain.yaml").write_text(
        "name: retrain\nsteps:\n  - name: fit\n    template: template_modes.ipynb\n"
    )
    return {"model": model, "test": load_adult("test")}


def _log(project, rows: np.ndarray, *, shift: float = 0.0, outcomes: bool = True):
    frame = project["test"].iloc[rows].copy()
    frame["age"] = frame["age"] + shift
    model = project["model"]
    with monitor.PredictionLog("models/model.joblib") as log:
        log.predictions(
            frame[NUM],
            model.predict(frame[NUM]),
            scores=model.predict_proba(frame[NUM]),
            ids=frame.index.to_numpy(),
        )
        if outcomes:
            log.outcomes(frame.index.to_numpy(), (frame["income"] == ">50K").to_numpy())


def _spec(tmp: Path, text: str) -> Path:
    path = tmp / "monitor.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: m\ncolour: red\n", "unknown key(s) 'colour'"),
        ("model: m\nchecks:\n  drift: {}\n  vibes: {}\n", "checks: unknown key(s) 'vibes'"),
        ("model: m\nalerts:\n  - webhook: ftp://x\n", "must be an http(s) URL"),
        ("model: m\nalerts:\n  - webhook: http://x\n    tries: 3\n", "unknown key(s) 'tries'"),
        (
            "model: m\ntriggers:\n  - when: {check: drift, metric: drifted}\n    pipeline: p\n",
            "needs one of at_least, above, below",
        ),
        ("checks: {}\n", "'model' (the model whose log is watched) is required"),
        ("model: m\ntimeout: -1\n", "timeout must be a number of seconds above 0"),
    ],
)
def test_a_bad_spec_exits_2_naming_the_key_before_anything_runs(
    capsys, project, tmp_path, text, message
):
    code, _, err = run_cli(capsys, "monitor", _spec(tmp_path, text))
    assert code == 2 and message in err
    with open_trail() as trail:
        assert not trail.runs(kind="monitor")


def test_the_shadow_comparison_promotes_a_better_challenger_and_waits_on_little_data(project):
    test = project["test"]
    train = load_adult("train").iloc[6000:16000]
    y = train["income"] == ">50K"
    weak = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[["age"]], y)
    strong = project["model"]
    traffic = test[NUM].iloc[:4000].assign(outcome=(test["income"] == ">50K").iloc[:4000])

    class AgeOnly:  # the weak model takes the same frame as the strong one
        classes_ = weak.classes_

        def predict(self, X):
            return weak.predict(X[["age"]])

        def predict_proba(self, X):
            return weak.predict_proba(X[["age"]])

    promote = monitor.shadow_compare(AgeOnly(), strong, traffic=traffic, positive=True)
    assert promote.status == "pass" and promote.summary.startswith("promote")
    assert promote.metrics["accuracy_gain"] > 0.02 and promote.metrics["p_value"] < 1e-6
    assert promote.metrics["roc_auc_gain_low"] > 0
    keep = monitor.shadow_compare(strong, AgeOnly(), traffic=traffic, positive=True)
    assert keep.status == "fail" and keep.summary.startswith("keep")
    few = traffic.head(100)
    wait = monitor.shadow_compare(AgeOnly(), strong, traffic=few, positive=True)
    assert wait.status == "warn" and "only 100 rows with outcomes" in wait.summary
    same = monitor.shadow_compare(strong, strong, traffic=traffic, positive=True, max_rows=10**6)
    assert same.status == "warn" and same.metrics["p_value"] == 1.0


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


SPEC = """\
name: adult
model: models/model.joblib
reference: reference.parquet
timeout: 60
checks:
  drift: {{}}
  domain_classifier: {{}}
  prediction_drift: {{}}
  performance: {{positive: true, window: 1D, max_drop: 0.05, reference: {{accuracy: 0.80}}}}
alerts:
  - file: alerts.jsonl
  - webhook: {hook}
    retries: 1
triggers:
  - name: a drifted column
    when: {{check: drift, metric: columns_drifted, at_least: 1}}
    pipeline: retrain.yaml
  - name: a typo never fires silently
    when: {{check: drift, metric: drifed, at_least: 1}}
    pipeline: retrain.yaml
"""


@pytest.mark.slow
def test_monitoring_quiet_traffic_passes_and_drifted_traffic_alerts_and_retrains(
    capsys, project, tmp_path, hook
):
    spec = _spec(tmp_path, SPEC.format(hook=hook))
    _log(project, np.arange(0, 3000))
    code, out, err = run_cli(capsys, "monitor", spec)
    assert code == 0, out + err
    assert "pass  drift" in out and not _Hook.received
    # A week later the ages have shifted by 8 years: drift fires, alerts go out, retraining runs.
    _log(project, np.arange(3000, 6000), shift=8.0)
    code, out, err = run_cli(capsys, "monitor", spec, "--json")
    assert code == 1, out + err
    result = json.loads(out)
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses["drift"] == "fail" and statuses["domain_classifier"] == "fail", result["checks"]
    assert statuses["performance_decay"] in {"pass", "warn"}
    assert statuses["prediction_drift"] != "error"  # judged: the model's answers on the reference
    (alert,) = [a for a in result["alerts"] if a["check"] == "drift"]
    assert any(f.get("column") == "age" for f in alert["findings"])
    assert alert["run_id"] == result["run_id"] and alert["check_id"]
    assert [d["ok"] for d in result["deliveries"]] == [True] * len(result["deliveries"])
    assert _Hook.received and _Hook.received[0]["check"] == "drift"
    assert json.loads(Path("alerts.jsonl").read_text().splitlines()[0])["check"] == "drift"
    trigger, typo = result["triggers"]
    assert trigger["rule"] == "a drifted column" and trigger["status"] == "warn"
    assert typo["status"] == "error" and "reports no metric 'drifed'" in typo["summary"]
    with open_trail() as trail:
        pipeline = trail.get_run(trigger["pipeline_run"])
        assert pipeline.kind == "pipeline" and pipeline.status == "succeeded"
        monitors = trail.runs(kind="monitor")
        assert [r.status for r in monitors] == ["succeeded", "succeeded"]
        assert trail.verify().ok
    # The age rule: a model is retrained after so many days, whatever the checks say.
    aged = _spec(
        tmp_path,
        "model: models/model.joblib\ntriggers:\n  - when: "
        "{days_since_training: 0}\n    pipeline: retrain.yaml\n",
    )
    code, out, err = run_cli(capsys, "monitor", aged, "--json")
    assert code == 0, out + err
    (trigger,) = json.loads(out)["triggers"]
    assert trigger["reason"] == "model trained 0 days ago (limit 0)"


@pytest.mark.slow
def test_the_shadow_template_records_its_decision_from_logged_traffic(capsys, project):
    from sklearn.dummy import DummyClassifier

    train = load_adult("train").head(500)
    worse = DummyClassifier(strategy="constant", constant=True)  # says yes to everyone
    joblib.dump(worse.fit(train[NUM], train["income"] == ">50K"), "models/challenger.joblib")
    _log(project, np.arange(0, 2000))
    code, out, err = run_cli(
        capsys,
        "run",
        TEMPLATES / "shadow_eval.ipynb",
        "-p",
        "challenger",
        "models/challenger.joblib",
        "-p",
        "positive",
        "True",
    )
    assert code == 0, out + err
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        assert run.attrs["outputs"] == {"decision": "keep"}
        verdicts = [c for c in trail.checks() if c.name == "shadow_comparison"]
        assert [c.status for c in verdicts] == ["fail"]


def test_a_profile_reference_takes_its_rows_for_the_multivariate_checks_from_reference_rows(
    capsys, project, tmp_path
):
    reference = load_adult("train").head(6000)[NUM]
    monitor.profile(reference).save("profile.json")
    reference.sample(2000, random_state=0).to_parquet("sample.parquet")
    _log(project, np.arange(0, 2000), shift=8.0, outcomes=False)
    checks = "checks:\n  drift: {}\n  domain_classifier: {}\n  prediction_drift: {}\n"
    alone = _spec(tmp_path, "model: models/model.joblib\nreference: profile.json\n" + checks)
    code, out, err = run_cli(capsys, "monitor", alone, "--json")
    statuses = {c["name"]: c for c in json.loads(out)["checks"]}
    assert statuses["drift"]["status"] == "fail"  # the profile serves drift
    for name in ("domain_classifier", "prediction_drift"):
        assert statuses[name]["status"] == "error"
        assert "'reference_rows' beside a profile" in statuses[name]["summary"]
    rows = _spec(
        tmp_path,
        "model: models/model.joblib\nreference: profile.json\n"
        "reference_rows: sample.parquet\n" + checks,
    )
    code, out, err = run_cli(capsys, "monitor", rows, "--json")
    assert code == 1, out + err
    statuses = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
    assert statuses == {"drift": "fail", "domain_classifier": "fail", "prediction_drift": "fail"}
    missing = _spec(tmp_path, "model: models/model.joblib\nreference_rows: nowhere.parquet\n")
    code, _, err = run_cli(capsys, "monitor", missing)
    assert code == 2 and "reference_rows" in err and "nowhere.parquet" in err


def test_a_parquet_dataset_named_by_current_is_judged_streamed_with_drift_and_schema(
    capsys, project, tmp_path
):
    from nbtrail.checks import infer_schema

    reference = load_adult("train").head(6000)[NUM]
    infer_schema(reference).to_yaml(tmp_path / "schema.yaml")
    batches = tmp_path / "batches"
    batches.mkdir()
    test = project["test"][NUM].head(6000).copy()
    test["age"] = test["age"] + 8
    test.loc[test.index[:10], "hours_per_week"] = 500  # outside the schema's range
    for i in range(3):
        test.iloc[i * 2000 : (i + 1) * 2000].to_parquet(batches / f"part-{i}.parquet")
    spec = _spec(
        tmp_path,
        "model: models/model.joblib\nreference: reference.parquet\ncurrent: batches\n"
        "checks:\n  drift: {}\n  schema: {schema: schema.yaml}\n",
    )
    code, out, err = run_cli(capsys, "monitor", spec, "--json")
    assert code == 1, out + err
    result = json.loads(out)
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses == {"drift": "fail", "schema": "fail"}, result["checks"]
    (drift,) = [a for a in result["alerts"] if a["check"] == "drift"]
    assert {f.get("column") for f in drift["findings"] if f.get("drifted", True)} >= {"age"}
    (schema,) = [a for a in result["alerts"] if a["check"] == "schema"]
    assert any(f.get("column") == "hours_per_week" for f in schema["findings"])
    with open_trail() as trail:
        assert [r.status for r in trail.runs(kind="monitor")] == ["succeeded"]
        assert trail.verify().ok


def test_a_schema_check_without_a_current_dataset_is_refused(capsys, project, tmp_path):
    spec = _spec(tmp_path, "model: models/model.joblib\nchecks:\n  schema: {schema: s.yaml}\n")
    code, _, err = run_cli(capsys, "monitor", spec)
    assert code == 2 and "give 'current'" in err
