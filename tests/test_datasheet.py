"""Datasheets for datasets: every section filled from trail evidence, every gap said plainly."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nbtrail import checks, registry
from nbtrail.errors import UsageError
from nbtrail.privacy import set_budget
from nbtrail.report import datasheet
from nbtrail.store import init_trail, open_trail, spend

HOSTILE = "<script>alert(1)</script>"


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "email": [f"user{i}@example.org" for i in range(n)],
            "age": rng.integers(18, 60, n),
            "income": rng.normal(50, 10, n).round(2),
            HOSTILE: rng.integers(0, 3, n),
        }
    )
    frame.loc[100:, "age"] = 140  # outside the range the first rows allow: the schema fails
    frame.loc[5, "income"] = np.nan
    frame["y"] = (frame["income"] > 50).astype(int)
    return frame


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A trail where raw.json was extracted into data.csv, checked, budgeted, trained on."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRAIL_USER", "bob")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nbtrail.privacy]\nidentifiers = ["customer_id"]\n'
    )
    raw, data, model_path = tmp_path / "raw.json", tmp_path / "data.csv", tmp_path / "m.joblib"
    frame = _frame()
    raw.write_text(frame.to_json())
    frame.to_csv(data, index=False)
    ids = {}
    with init_trail(tmp_path) as trail:
        with trail.start_run("extract", kind="session") as run:
            source = run.use(raw)
            ids["data"] = run.produce(data, derived_from=[source]).id
            ids["extract"] = run.id
        set_budget(data, epsilon=3, trail=trail)
        with trail.start_run("train", kind="session") as run:
            read = run.use(data, name="data")
            table = run.produce(frame, name="frame", derived_from=[read])
            schema = checks.infer_schema(frame.iloc[:100], range_tolerance=0.0)
            ids["schema"] = checks.validate(frame, schema).record(run).record_id
            ids["pii"] = checks.pii(frame).record(run).record_id
            adults = run.produce(frame[frame["age"] > 30], name="adults", derived_from=[table])
            model = LogisticRegression().fit(frame[["age", "income"]].fillna(0), frame["y"])
            fitted = run.produce(model, name="churn model", derived_from=[adults])
            joblib.dump(model, model_path)
            run.produce(model_path, name="model file", derived_from=[fitted])
            spend(trail, [ids["data"]], 1.0, mechanism="laplace", run_id=run.id)
            ids["train"], ids["frame"] = run.id, table.id
        registry.register(model_path, name="churn", trail=trail)
    return tmp_path, ids


def test_the_datasheet_names_fingerprint_columns_findings_budget_and_models(project):
    root, ids = project
    with open_trail(root, readonly=True) as trail:
        doc = datasheet(root / "data.csv", trail=trail)
    md = doc.markdown()
    assert doc.kind == "datasheet" and doc.title == "Datasheet: data.csv"
    assert ids["data"] in md  # the full fingerprint
    assert "described from the file data.csv, whose bytes still match" in md
    for column in ("customer_id", "email", "age", "income"):
        assert f"| {column} |" in md
    assert "| email | str | 0.0 | 120 | e-mail |" in md  # dtype, missing share, distinct
    assert "| income | float64 | 0.0083 |" in md
    assert "**Rows:** 120" in md
    # the failing schema verdict, with its check and run ids
    schema_line = next(line for line in md.splitlines() if "Finding (schema, fail)" in line)
    assert f"run {ids['train']}, check {ids['schema']}" in schema_line  # whole ids
    assert "| age |" in md.split("Finding (schema, fail)")[1]  # its findings table follows
    # identifiers: found by the pii check, and declared in the project settings
    email = next(line for line in md.splitlines() if line.startswith("| email | e-mail"))
    assert f"check {ids['pii']}" in email
    assert any(
        line.startswith("| customer_id | declared | [tool.nbtrail.privacy]")
        for line in md.splitlines()
    )
    # provenance: the extract run produced it from raw.json
    collection = md.split("## Collection process")[1].split("## Preprocessing")[0]
    assert "| extract | session | bob |" in collection and "raw.json" in collection
    assert f"run {ids['extract']}" in collection
    # preprocessing, uses, privacy
    assert "| adults |" in md.split("## Preprocessing")[1].split("## Uses")[0]
    uses = md.split("## Uses")[1].split("## Privacy")[0]
    assert "| churn model | train | bob |" in uses and f"run {ids['train']}" in uses
    assert "| churn | 1 | bob |" in uses
    privacy = md.split("## Privacy")[1]
    assert "**Budget:** epsilon 3 (owner bob)" in privacy
    assert "**Spent:** epsilon 1" in privacy and "**Remaining:** epsilon 2" in privacy
    assert "laplace" in privacy and f"run {ids['train']}" in privacy


def test_missing_declarations_are_listed_and_a_declared_yaml_fills_them(project):
    root, ids = project
    with open_trail(root, readonly=True) as trail:
        bare = datasheet(ids["data"][:12], trail=trail)
        assert bare.markdown().lstrip().startswith("# Datasheet: data.csv\n")  # no YAML header
        missing = "\n".join(bare.missing)
        for gap in ("Motivation: Why it was created", "Distribution: Licence", "Maintainer"):
            assert gap in missing
        declared = root / "datasheet.yaml"
        declared.write_text(
            "motivation: churn prediction for the retention team\n"
            "license: CC-BY-4.0\n"
            "maintainer: data-team@example.org\n"
            "intended_use: [churn models, dashboards]\n"
        )
        filled = datasheet(root / "data.csv", declared=declared, trail=trail)
    md = filled.markdown()
    assert md.startswith("---\npretty_name: data.csv\nlicense: CC-BY-4.0\n---\n")
    assert "**Why it was created:** churn prediction for the retention team <sub>(declared)" in md
    assert "**Intended uses:** churn models; dashboards" in md
    still = "\n".join(filled.missing)
    assert "Why it was created" not in still and "Licence" not in still
    assert "Out-of-scope uses" in still and "Funded by" in still


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"motivation": "x", "purpose": "y"}, "unknown key 'purpose'"),
        ({"licence": "MIT", "license": "MIT"}, "given twice"),
        ({"maintainer": {"name": "x"}}, "'maintainer' must be text"),
        ({"funding": True}, "'funding' must be text"),  # YAML's `yes` is no declaration
        ("nowhere.yaml", "nowhere.yaml: no such declarations file"),
        (["motivation"], "must be a mapping"),
    ],
)
def test_bad_declarations_are_refused_naming_the_key(project, declared, message):
    root, ids = project
    with open_trail(root, readonly=True) as trail, pytest.raises(UsageError, match=message):
        datasheet(ids["data"], declared=declared, trail=trail)


def test_a_declarations_file_that_is_not_a_mapping_or_not_yaml_is_refused(project):
    root, ids = project
    (root / "list.yaml").write_text("- motivation\n")
    (root / "broken.yaml").write_text("motivation: [unclosed\n")
    with open_trail(root, readonly=True) as trail:
        with pytest.raises(UsageError, match="must be a mapping"):
            datasheet(ids["data"], declared=root / "list.yaml", trail=trail)
        with pytest.raises(UsageError, match="broken.yaml:2:1: not valid YAML"):
            datasheet(ids["data"], declared=root / "broken.yaml", trail=trail)


def test_bytes_not_on_the_trail_are_refused_not_confused_with_the_path(project):
    root, ids = project
    stray = root / "stray.csv"
    stray.write_text("a,b\n1,2\n")
    changed = root / "data.csv"
    changed.write_text(changed.read_text() + "1,x@y.org,20,1.0,0,0\n")  # same path, new bytes
    with open_trail(root, readonly=True) as trail:
        for path in (stray, changed):
            with pytest.raises(UsageError, match="are not on the trail"):
                datasheet(path, trail=trail)
        with pytest.raises(UsageError, match="no such file, and no recorded artifact"):
            datasheet("nothing-here.csv", trail=trail)
        with pytest.raises(UsageError, match="is a folder"):
            datasheet(root, trail=trail)
        # the recorded bytes, by id: columns now come from the frame read from them
        doc = datasheet(ids["data"], trail=trail)
    md = doc.markdown()
    assert "names and types recorded with a frame read from it" in md
    assert f"artifact {ids['frame'][:12]}" in md and "| email | str" in md


def test_html_escapes_a_hostile_column_name(project):
    root, ids = project
    with open_trail(root, readonly=True) as trail:
        page = datasheet(ids["data"], trail=trail).html()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_file_only_ever_read_says_what_the_trail_lacks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "plain.csv"
    data.write_text("a,b\n1,x\n2,\n")
    with init_trail(tmp_path) as trail:
        with trail.start_run("look", kind="session") as run:
            run.use(data, snapshot=True)
        data.unlink()  # the snapshot still describes it
        (recorded,) = trail.artifacts(kind="file")
        doc = datasheet(recorded.id, trail=trail)
    md, missing = doc.markdown(), "\n".join(doc.missing)
    assert "described from the snapshot stored on the trail" in md
    assert "| b | str | 0.5 | 1 |" in md or "| b | object | 0.5 | 1 |" in md
    assert "which run produced or collected these bytes" in missing
    assert "quality findings: no check has judged" in missing
    assert "identifier columns: no pii check" in missing
    assert "No model on the trail derives from it." in md
    assert "No privacy budget is set" in md


def test_without_a_trail_argument_the_projects_trail_is_opened(project):
    root, ids = project
    doc = datasheet(Path("data.csv"))
    assert ids["data"] in doc.markdown()
    saved = doc.save(root / "sheet.html")
    assert saved.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
