"""Federated training: Flower's real server and client processes on loopback, with SecAgg+."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

import psutil

from nbtrail import privacy
from nbtrail.cli import main
from nbtrail.datasets import load_adult
from nbtrail.errors import FederationFailed, MissingExtra, UsageError
from nbtrail.store import open_trail

TEMPLATE = Path(__file__).parents[1] / "templates" / "federated_train.ipynb"


def _flower_processes() -> list[str]:
    """Command lines of Flower processes this test session started (children or orphans)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if sys.prefix in line and ("flower-" in line or "flwr-" in line):
            found.append(line)
    return found


def _data(rows: int, seed: int):
    frame = load_adult("train").sample(rows, random_state=seed)
    X = np.column_stack(
        [(frame["age"] - 17) / 73, (frame["education_num"] - 1) / 15, frame["hours_per_week"] / 99]
    )
    return X, (frame["income"] == ">50K").to_numpy()


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A private TMPDIR, to see that the partitions' files are gone afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"partitions": 2}, "at least 3 clients .SecAgg"),
        ({"partitions": ["a"] * 10}, "10 labels for 600 rows"),
        ({"partitions": ["a", "b"] * 300}, "name 2 group.s.; at least 3"),
        ({"y": np.full(600, 2)}, "binary 0/1"),
        ({"X": np.full((600, 3), np.nan)}, "NaN or infinite"),
        ({"rounds": 0}, "rounds must be an integer >= 1"),
        ({"clipping_range": -1.0}, "clipping_range must be a finite number above 0"),
        ({"timeout": float("inf")}, "timeout must be a finite number"),
    ],
)
def test_bad_input_is_refused_before_any_process_starts(scratch, change, message):
    X, y = _data(600, 0)
    X_test, y_test = _data(200, 1)
    arguments = {"X": X, "y": y, "partitions": 3, "rounds": 1, **change}
    with pytest.raises(UsageError, match=message):
        privacy.federated_fit(
            arguments.pop("X"), arguments.pop("y"), X_test=X_test, y_test=y_test, **arguments
        )
    assert not _flower_processes() and not list(scratch.iterdir())


def test_a_partition_with_one_class_is_refused_naming_it(scratch):
    X, y = _data(600, 0)
    X_test, y_test = _data(200, 1)
    groups = np.array(["a", "b", "c"], dtype=object)[np.arange(len(y)) % 3]
    groups[np.flatnonzero(y)[:20]] = "rich"  # 20 positive rows and nothing else
    with pytest.raises(UsageError, match="partition 'rich' holds .* rows of a single class"):
        privacy.federated_fit(X, y, partitions=groups, X_test=X_test, y_test=y_test)


def test_without_flower_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "flwr", None)
    X, y = _data(100, 0)
    with pytest.raises(MissingExtra, match=r"pip install 'nbtrail\[federated\]'"):
        privacy.federated_fit(X, y, X_test=X, y_test=y)


@pytest.mark.slow
def test_an_update_secagg_would_clip_fails_the_run_instead_of_corrupting_it(scratch):
    X, y = _data(1200, 0)
    X_test, y_test = _data(300, 1)
    with pytest.raises(FederationFailed, match="clipping_range"):
        privacy.federated_fit(
            X, y, partitions=3, X_test=X_test, y_test=y_test, rounds=1, clipping_range=0.01
        )
    assert not _flower_processes(), "every Flower process is stopped after a failure"
    assert not list(scratch.iterdir()), "the partitions' files are removed after a failure"


@pytest.mark.slow
def test_a_federation_over_its_timeout_is_killed(scratch):
    X, y = _data(1200, 0)
    with pytest.raises(FederationFailed, match="timed out after 4 s"):
        privacy.federated_fit(X, y, partitions=3, X_test=X, y_test=y, rounds=1, timeout=4)
    assert not _flower_processes() and not list(scratch.iterdir())


@pytest.mark.slow
def test_the_template_trains_across_clients_and_records_partitions_not_rows(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / ".nbtrail"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    load_adult("train").dropna().sample(6000, random_state=0).to_parquet("train.parquet")
    load_adult("test").dropna().sample(3000, random_state=0).to_parquet("test.parquet")
    code = main(
        [
            "run",
            str(TEMPLATE),
            "-p",
            "train",
            "train.parquet",
            "-p",
            "test",
            "test.parquet",
            "-p",
            "clients",
            "3",
            "-p",
            "rounds",
            "1",
            "-p",
            "partition_by",
            "race",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert not _flower_processes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("nbtrail-federated-")]
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        (session,) = trail.runs(parent=run.id)
        metrics = {m.key: m.value for m in trail.run_details(session.id).metrics}
        # One round lifts the held-out accuracy off the all-zero model's 0.24 to above the
        # majority class; central training on the same features is the reference.
        assert metrics["federated_accuracy"] > 0.75 and metrics["central_accuracy"] > 0.75
        saved = trail.lineage("models/federated_model.joblib", direction="upstream", depth=1)
        assert "federated_model" in set(saved.artifacts["name"])
        model_id = saved.artifacts.set_index("name").loc["federated_model", "id"]
        verdicts = [c for c in trail.checks(artifact=model_id) if c.name == "federated_training"]
        assert [c.status for c in verdicts] == ["pass"]
        made_from = trail.lineage(model_id, direction="upstream", depth=1).artifacts
        parts = made_from[made_from["name"].str.startswith("partition ")]
        # race: its two largest groups get a client each, the rest share the third
        assert sorted(parts["name"]) == ["partition Black", "partition White", "partition other"]
        assert not parts["snapshot"].any(), "a partition is a fingerprint, never its rows"
        assert trail.verify().ok
    assert Path("models/federated_model.joblib").is_file()
