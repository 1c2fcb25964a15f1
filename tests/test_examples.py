"""The example notebooks (what Binder opens) run top to bottom and leave the trail they promise."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbtrail.store import open_trail

EXAMPLES = Path(__file__).resolve().parents[1] / "example_notebooks"


def _execute(name: str, folder: Path):
    """Run an example in a fresh folder with a real kernel; no trail exists beforehand."""
    shutil.copy(EXAMPLES / name, folder)
    nb = nbformat.read(folder / name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return nb


def _texts(nb) -> list[str]:
    """Every output's text (stream text or the plain-text form of a result)."""
    return [
        o.get("text") or o.get("data", {}).get("text/plain", "")
        for c in nb.cells
        for o in c.get("outputs", [])
    ]


@pytest.fixture
def executed(tmp_path):
    return tmp_path, _execute("adult_income.ipynb", tmp_path)


def test_adult_income_example_records_checks_and_the_models_lineage(executed):
    folder, nb = executed
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    with open_trail(folder) as trail:
        session = trail.runs(kind="session")[0]
        tree = [session.id] + [r.id for r in trail.descendants(session.id)]
        checks = {c.name: c.status for c in trail.checks(tree)}
        assert set(checks) == {"data_quality", "schema", "leakage", "label_issues"}
        assert checks["schema"] == "pass"
        upstream = trail.lineage("models/income.joblib", direction="upstream").to_dict()
        labels = {node.get("name") for node in upstream["nodes"]}
        # The saved model comes from the training file, not from the held-out test file.
        assert any(str(label).endswith("data/adult_train.csv") for label in labels), labels
        assert not any(str(label).endswith("data/adult_test.csv") for label in labels), labels
        assert trail.verify().ok
    # The status magic reports no capture errors, and the notebook stays small.
    status = nb.cells[-1].outputs[0]["data"]["text/plain"]
    assert re.search(r"^capture errors +0$", status, re.MULTILINE), status
    assert (folder / "adult_income.ipynb").stat().st_size < 1_000_000


def test_checks_as_evidence_example_records_roles_kinds_and_a_product(tmp_path):
    nb = _execute("checks_as_evidence.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    with open_trail(tmp_path, readonly=True) as trail:
        session = trail.runs(kind="session")[0]
        tree = [session.id] + [r.id for r in trail.descendants(session.id)]
        found = {c.name: c for c in trail.checks(tree)}
        assert set(found) == {"leakage", "class_balance", "schema"}
        assert [s.role for s in found["leakage"].subjects] == ["train", "test"]
        assert (found["class_balance"].kind, found["class_balance"].version) == (
            "class_balance",
            "1",
        )
        assert found["class_balance"].params == {"target": "income", "minimum_share": 0.1}
        upstream = trail.lineage(tmp_path / "data" / "schema.yaml", direction="upstream")
        names = {n["name"] for n in upstream.nodes.values()}
        assert "data/adult_train.csv" in names and "data/adult_test.csv" not in names
        assert trail.verify().ok
    # The table of verdicts about the training data names each check and the role it played.
    table = next(c for c in nb.cells if "trail.checks(artifact=digest)" in c.source)
    text = table.outputs[0]["data"]["text/plain"]
    assert "class_balance" in text and "leakage" in text and "train" in text
    rendered = next(c for c in nb.cells if "register_renderer" in c.source)
    assert "<table class='bars'>" in rendered.outputs[0]["data"]["text/html"]
    assert "<meter" in rendered.outputs[0]["data"]["text/html"]


def test_audit_and_privacy_example_keeps_secrets_out_and_catches_the_edit(tmp_path):
    nb = _execute("audit_and_privacy.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    texts = _texts(nb)
    assert any("'password in the trail': False" in t for t in texts), texts
    assert any(t.startswith("trail verifies:") for t in texts), texts
    assert any("trail does NOT verify: metrics" in t for t in texts), texts
    folder = tmp_path / "audit_demo" / ".nbtrail"
    stored = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    for secret in (b"hunter2", b"tok-0123456789", b"C000003"):
        assert secret not in stored, secret
    with open_trail(tmp_path / "audit_demo", readonly=True) as trail:
        (check,) = [c for c in trail.checks() if c.name == "schema"]
        assert check.status == "fail"
        problems = trail.verify().problems
        assert [p.subject.split()[0] for p in problems] == ["metrics"]


def test_german_credit_example_leaves_audit_mitigation_explanation_and_recourse(tmp_path):
    pytest.importorskip("fairlearn")
    pytest.importorskip("shap")
    nb = _execute("fairness_german_credit.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    with open_trail(tmp_path, readonly=True) as trail:
        session = trail.runs(kind="session")[0]
        tree = [session.id] + [r.id for r in trail.descendants(session.id)]
        found = {}
        for record in trail.checks(tree):
            found.setdefault(record.kind, []).append(record)
        assert {"fairness", "fairness_mitigation", "explanations", "recourse"} <= set(found)
        (mitigation,) = found["fairness_mitigation"]
        after = mitigation.metrics["demographic_parity_difference_after"]
        assert after < mitigation.metrics["demographic_parity_difference_before"]
        # The audit, the mitigation and the explanation all judged the same model artifact.
        model = {s.artifact_id for s in found["explanations"][0].subjects if s.role == "model"}
        assert model and model <= {s.artifact_id for s in mitigation.subjects if s.role == "model"}
        # The mitigated model and the SHAP values are products derived from that model.
        for product in ("fairness_mitigation_model", "shap_values"):
            (artifact,) = [a for a in trail.artifacts() if a.name == product]
            graph = trail.lineage(artifact.id, direction="upstream", depth=1)
            sources = {s.split(":", 1)[1] for s, t, kind in graph.edges if kind == "derived"}
            assert model <= sources, product
        assert trail.verify().ok
    page = (tmp_path / "reports" / "german_credit.html").read_text()
    assert "<script" not in page.lower() and page.count("data:image/svg+xml") >= 7


def test_export_example_exports_with_parity_and_runs_the_file_on_new_rows(tmp_path):
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    nb = _execute("export_adult.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    with open_trail(tmp_path, readonly=True) as trail:
        session = trail.runs(kind="session")[0]
        tree = [session.id] + [r.id for r in trail.descendants(session.id)]
        found = {c.kind: c for c in trail.checks(tree)}
        assert found["onnx_parity"].status == "pass"
        assert found["onnx_parity"].metrics["label_agreement"] == 1.0  # scaler folded: exact
        assert {"latency", "compression"} <= set(found)
        onnx_file = trail.get_artifact(tmp_path / "models" / "adult.onnx")
        upstream = trail.lineage(onnx_file.id, direction="upstream", depth=1)
        assert "model" in {n["kind"] for n in upstream.nodes.values()}
        assert trail.verify().ok
    # The last cell ran the exported file on new rows: the same labels as the pipeline's.
    printed = next(o["text"] for o in nb.cells[-1].outputs if o.output_type == "stream")
    onnx_labels, sklearn_labels = printed.strip().split("] [")
    assert onnx_labels + "]" == "[" + sklearn_labels


def test_privacy_budgets_example_spends_refuses_and_keeps_identifiers_out(tmp_path):
    pytest.importorskip("diffprivlib")
    nb = _execute("privacy_budgets.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    texts = _texts(nb)
    assert any("exceeded: asked epsilon 1, 0.5 of 3 remains" in t for t in texts), texts
    assert any("fitted anyway? False" in t for t in texts), texts
    with open_trail(tmp_path / "privacy_demo", readonly=True) as trail:
        from nbtrail.store import budget_status

        (budget,) = [b for b in budget_status(trail) if b.name == "adult.csv"]
        assert budget.spent_epsilon == pytest.approx(2.5) and len(budget.spends) == 2
        kinds = {c.name: c.status for c in trail.checks()}
        assert kinds["pii"] == "fail"
        # without bounds the check fails; with a public schema's bounds it passes
        bounds = [c.status for c in trail.checks() if c.name == "privacy_bounds"]
        assert bounds == ["pass", "pass", "fail", "pass"]  # two fits, the leak, the schema
        assert trail.verify().ok
    stored = b"".join(
        p.read_bytes() for p in (tmp_path / "privacy_demo" / ".nbtrail").rglob("*") if p.is_file()
    )
    assert b"user7@example.org" not in stored  # the pii check recorded no value


def test_monitoring_example_alerts_on_drift_retrains_and_compares(tmp_path):
    nb = _execute("monitoring_adult.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    texts = "\n".join(_texts(nb))
    assert "drift fail: 2 of 14 columns drifted: age" in texts and "workclass" in texts
    assert "1 alert(s), 1 trigger(s)" in texts
    assert "<CheckResult shadow_comparison:" in texts
    folder = tmp_path / "monitoring_demo"
    assert (folder / "models" / "challenger.joblib").is_file()
    alert = json.loads((folder / "alerts.jsonl").read_text().splitlines()[0])
    assert alert["check"] == "drift" and alert["run_id"]
    with open_trail(folder, readonly=True) as trail:
        (pipeline,) = trail.runs(kind="pipeline")
        assert pipeline.status == "succeeded"
        assert trail.verify().ok


def test_registry_example_refuses_on_failing_fairness_and_documents_the_evidence(tmp_path):
    nb = _execute("registry_model_card.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    texts = "\n".join(_texts(nb))
    # First refused for three reasons, then (assessed and approved) for the failing audit only.
    assert "fairness: failed" in texts and "impact_assessment: missing" in texts
    refusals = [t for t in _texts(nb) if "cannot become champion" in t]
    assert len(refusals) == 2 and "approvals" not in refusals[1]
    assert "impact_assessment" not in refusals[1]
    folder = tmp_path / "governance_demo"
    with open_trail(folder) as trail:
        from nbtrail import registry

        model = registry.get_model("adult-income", trail=trail)
        assert model.aliases == {"challenger": 1}  # rolled back from 2
        assert [v.registered_by for v in model.versions] == ["bob", "bob"]
        approvals = registry.approvals_of(model.rows, 1, {})
        assert [a.approver for a in approvals] == ["carol"]
        assert trail.verify().ok
    card = (folder / "model_card.md").read_text()
    assert "| fairness | fail |" in card and "Approved by carol (risk)" in card
    index = (folder / "annex-iv" / "index.md").read_text()
    assert "Items without evidence: 1(h), 4, 7, 8, 9." in index
    assert "signature verifies" in card and "all verify" in texts


def test_team_example_runs_steps_on_dask_posts_lineage_and_streams_a_dataset(tmp_path):
    pytest.importorskip("distributed")
    nb = _execute("running_for_a_team.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    texts = "\n".join(_texts(nb))
    assert "succeeded prepare_data" in " ".join(texts.split())
    assert re.search(r"prepare_data: ran on worker tcp://127\.0\.0\.1:\d+", texts)
    for job in ("prepare-and-validate", "prepare_data", "validate_data"):
        assert re.search(rf"START\s+{job}\s", texts) and re.search(rf"COMPLETE\s+{job}\s", texts)
    assert "drift fail: 1 of 4 columns drifted: age" in texts
    assert "schema pass: all 7,535 rows match" in texts
    assert re.search(r"ok\s+openlineage\s+http://127\.0\.0\.1:\d+: answered HTTP 200", texts)
    folder = tmp_path / "team_demo"
    with open_trail(folder, readonly=True) as trail:
        (pipeline,) = trail.runs(kind="pipeline")
        assert pipeline.status == "succeeded"
        (monitoring,) = trail.runs(kind="monitor")
        assert {c.name for c in trail.checks([monitoring.id])} >= {"drift", "schema"}
        assert trail.verify().ok
