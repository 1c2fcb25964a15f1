"""`nbtrail demo`: the whole job on the bundled data, from the command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd

from nbtrail.datasets import ADULT_COLUMNS, load_adult, write_adult_csv
from nbtrail.store import open_trail


def test_bundled_adult_dataset(tmp_path):
    train, test = load_adult("train"), load_adult("test")
    assert len(train) == 32_561 and len(test) == 16_281
    assert list(train.columns) == ADULT_COLUMNS
    assert set(test["income"].unique()) == {"<=50K", ">50K"}
    csv = write_adult_csv(tmp_path / "adult.csv")
    frame = pd.read_csv(csv, na_values="?")
    assert len(frame) == 32_561 and frame["workclass"].isna().sum() == 1_836


def test_demo_runs_the_template_pipeline_end_to_end(tmp_path, monkeypatch):
    # Even with a PostgreSQL store configured, the demo uses its own embedded SQLite trail.
    monkeypatch.setenv("NBTRAIL_STORE_URL", "postgresql://nobody@127.0.0.1:1/none")
    folder = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "nbtrail", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "succeeded prepare_data" in out and "succeeded validate_data" in out
    assert "succeeded train" in out and "succeeded fairness_audit" in out
    assert "succeeded export_model" in out and "succeeded train_private" in out
    assert "budget    epsilon 10 on adult.csv, 0 spent" in out
    assert "trail verifies" in out
    assert "lineage of models/model.joblib" in out
    assert "registry  adult-income@1 registered" in out
    card = (folder / "model_card.md").read_text()
    assert card.startswith("---\nmodel_name: adult-income@1\n")
    assert "| accuracy | 0.84" in card and "| business_value |" in card
    for name in ("report.html", "junit.xml", ".nbtrail/trail.db", "models/model.joblib"):
        assert (folder / name).exists(), name
        assert str(folder / name) in out, f"the demo does not say where {name} is"
    monkeypatch.delenv("NBTRAIL_STORE_URL")
    monkeypatch.chdir(folder)
    with open_trail() as trail:
        (pipeline,) = trail.runs(kind="pipeline")
        assert pipeline.status == "succeeded"
        steps = {r.name: r for r in trail.runs(parent=pipeline.id)}
        assert set(steps) == {
            "prepare_data",
            "validate_data",
            "train",
            "train_private",
            "fairness_audit",
            "export_model",
        }
        audit = [steps["fairness_audit"].id] + [
            r.id for r in trail.descendants(steps["fairness_audit"].id)
        ]
        verdicts = {c.kind: c for c in trail.checks(audit)}
        # Adult's model selects men far more often than women: the audit fails, and the demo
        # reports it (gate_on is empty in the demo's pipeline) rather than stopping.
        assert verdicts["fairness"].status == "fail"
        assert verdicts["fairness"].metrics["demographic_parity_difference"] > 0.1
        # It judged the very model train saved: the one models/model.joblib was derived from.
        judged = {s.role: s.artifact_id for s in verdicts["fairness"].subjects}
        assert {"model", "data", "sensitive"} <= set(judged)
        saved = trail.lineage(Path("models/model.joblib"), direction="upstream", depth=1)
        assert f"artifact:{judged['model']}" in saved.nodes
        if importlib.util.find_spec("shap") is not None:  # the explain extra
            assert verdicts["explanations"].status == "pass"
        else:
            assert "explanations" not in verdicts
        exported = [steps["export_model"].id] + [
            r.id for r in trail.descendants(steps["export_model"].id)
        ]
        accepted = {c.kind: c for c in trail.checks(exported)}
        if importlib.util.find_spec("skl2onnx") is not None:  # the export extra
            assert accepted["onnx_parity"].status == "pass"
            assert accepted["onnx_parity"].metrics["label_agreement"] == 1.0
            assert accepted["latency"].status == "pass" and "compression" in accepted
            onnx_file = trail.get_artifact(Path("models/model.onnx"))
            upstream = trail.lineage(onnx_file.id, direction="upstream", depth=1)
            assert f"artifact:{judged['model']}" in upstream.nodes  # model -> onnx
        else:
            assert not accepted and not (folder / "models" / "model.onnx").exists()
        private = [steps["train_private"].id] + [
            r.id for r in trail.descendants(steps["train_private"].id)
        ]
        judged_private = {c.kind: c for c in trail.checks(private)}
        if importlib.util.find_spec("diffprivlib") is not None:  # the privacy extra
            # paid from data/adult.csv's budget, found through lineage (adult.csv -> splits)
            from nbtrail.store import budget_status

            (budget,) = budget_status(trail)
            assert budget.name.endswith("adult.csv") and budget.spent_epsilon == 3.0
            assert budget.spends[0]["run_id"] in private
            assert judged_private["privacy_bounds"].status == "pass"
            utility = judged_private["privacy_utility"]
            assert utility.status == "pass" and utility.metrics["lift"] > 0
        else:
            assert not judged_private
        tree = [steps["validate_data"].id] + [
            r.id for r in trail.descendants(steps["validate_data"].id)
        ]
        found = {c.name: c.status for c in trail.checks(tree)}
        assert set(found) == {"schema", "data_quality", "leakage", "label_issues"}
        assert found["schema"] in ("pass", "warn") and found["leakage"] == "pass"
        metrics = {}
        for run in trail.descendants(steps["train"].id):
            metrics.update({m.key: m.value for m in trail.run_details(run.id).metrics})
        assert 0.8 < metrics["accuracy"] < 0.9 and 0.85 < metrics["roc_auc"] < 0.95
        model = trail.get_artifact(Path("models/model.joblib"))
        upstream = trail.lineage(model.id, direction="upstream")
        names = {Path(n["name"]).name for n in upstream.nodes.values()}
        assert "adult.csv" in names
        # The training table read back is the frame prepare_data wrote (same content, one
        # artifact): the model derives from it, and the train step used the file.
        assert "train.parquet" not in names  # never its own ancestor: no cycle through the file
        train_runs = [steps["train"].id] + [r.id for r in trail.descendants(steps["train"].id)]
        used = {
            Path(u.path or u.artifact.name).name
            for run_id in train_runs
            for u in trail.run_details(run_id).used
        }
        assert "train.parquet" in used
        # The inferred schema is a product: derived from the training table, in its role.
        schema = trail.lineage(Path("data/schema.yaml"), direction="upstream", depth=1)
        kinds = {n["kind"] for n in schema.nodes.values() if n["type"] == "artifact"}
        assert "dataframe" in kinds and trail.get_artifact(Path("data/schema.yaml")).snapshot
        train_split = trail.load(trail.get_artifact(Path("data/train.parquet")).id)
        assert len(pd.read_parquet(__import__("io").BytesIO(train_split))) > 20_000
    # Running it again reuses both steps: nothing they depend on changed.
    again = subprocess.run(
        [sys.executable, "-m", "nbtrail", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stderr
    # The first run spent 3 (nothing without the privacy extra); the reused step spends nothing.
    spent = 3 if importlib.util.find_spec("diffprivlib") is not None else 0
    assert f"budget    epsilon 10 on adult.csv, {spent} spent" in again.stdout
    steps_run = ("prepare_data", "validate_data", "train", "train_private", "fairness_audit")
    for step in (*steps_run, "export_model"):
        assert f"reused    {step}" in again.stdout
    assert "registry  adult-income@1 registered" in again.stdout  # the same bytes: version 1
    with open_trail() as trail:
        assert len(trail.runs(kind="pipeline")) == 2
        assert trail.verify().ok
    # The audit as a gate (its template's default): the run fails, naming the failing check.
    template = Path(__file__).resolve().parents[1] / "templates" / "fairness_audit.ipynb"
    gated = subprocess.run(
        [sys.executable, "-m", "nbtrail", "run", str(template), "-p", "explain_rows", "0"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert gated.returncode != 0, gated.stdout
    assert "fairness" in gated.stdout + gated.stderr
    assert "demographic parity" in gated.stdout + gated.stderr
