"""`nbtrail demo`: the whole job on the bundled data, from the command line."""

from __future__ import annotations

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


def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    # Even with a PostgreSQL store configured, the demo uses its own embedded SQLite trail.
    monkeypatch.setenv("NBTRAIL_STORE_URL", "postgresql://nobody@127.0.0.1:1/none")
    folder = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "nbtrail", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "trail verifies" in out
    assert "lineage of models/adult-model.joblib" in out
    assert "derived from adult.csv" in out
    assert str(folder / ".nbtrail" / "trail.db") in out
    monkeypatch.delenv("NBTRAIL_STORE_URL")
    monkeypatch.chdir(folder)
    with open_trail() as trail:
        names = [r.name for r in trail.runs()]
        assert names == ["train", "prepare"]
        assert all(r.status == "succeeded" for r in trail.runs())
        model = trail.get_artifact(Path("models/adult-model.joblib"))
        upstream = trail.lineage(model.id, direction="upstream")
        assert any(n["name"] == "adult.csv" for n in upstream.nodes.values())
        metrics = {m.key: m.value for m in trail.run_details(trail.runs()[0].id).metrics}
        assert 0.8 < metrics["accuracy"] < 0.9
        clean = trail.load("clean")
        assert len(clean) > 30_000 and clean.isna().sum().sum() == 0
    # Running it again reuses the trail and the content-addressed artifacts.
    again = subprocess.run(
        [sys.executable, "-m", "nbtrail", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    with open_trail() as trail:
        assert len(trail.runs()) == 4
        assert trail.verify().ok
