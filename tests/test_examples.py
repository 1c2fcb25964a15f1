"""The example notebooks (what Binder opens) run top to bottom and leave the trail they promise."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbtrail.store import open_trail

EXAMPLES = Path(__file__).resolve().parents[1] / "example_notebooks"


@pytest.fixture
def executed(tmp_path):
    """Run adult_income.ipynb in a fresh folder with a real kernel; no trail exists beforehand."""
    shutil.copy(EXAMPLES / "adult_income.ipynb", tmp_path)
    nb = nbformat.read(tmp_path / "adult_income.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    return tmp_path, nb


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
