"""Drift and schema validation streamed over Parquet datasets: same verdicts, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nbtrail import checks
from nbtrail.checks._streaming import dataset_summary, drift_dataset
from nbtrail.checks._streaming_io import open_dataset
from nbtrail.checks._streaming_validate import validate_dataset
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.monitor import profile


def _write(frame: pd.DataFrame, folder, parts: int = 4, row_group: int = 3000):
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        table = pa.Table.from_pandas(frame.iloc[rows], preserve_index=False)
        pq.write_table(table, folder / f"part-{i}.parquet", row_group_size=row_group)
    return folder


@pytest.fixture(scope="module")
def halves():
    adult = load_adult()
    order = np.random.default_rng(0).permutation(len(adult))
    half = len(adult) // 2
    ref = adult.iloc[order[:half]].reset_index(drop=True)
    cur = adult.iloc[order[half:]].reset_index(drop=True)
    return ref, cur


def _same(memory, streamed):
    """Same verdict, metrics and findings (floats within 1e-9); histograms are display only."""
    assert streamed.status == memory.status
    assert streamed.summary == memory.summary
    assert streamed.metrics.keys() == memory.metrics.keys()
    for key, value in memory.metrics.items():
        assert streamed.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    pd.testing.assert_frame_equal(
        streamed.details.drop(columns="histogram"),
        memory.details.drop(columns="histogram"),
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("as_profile", [False, True])
def test_shifted_column_flagged_by_both_with_the_same_statistics(tmp_path, halves, as_profile):
    ref, cur = halves
    cur = cur.assign(age=cur["age"] + 3)
    folder = _write(cur, tmp_path / "current")
    reference = profile(ref) if as_profile else ref
    memory = checks.drift(reference, pd.read_parquet(folder), psi=True)
    streamed = drift_dataset(reference, folder, psi=True, batch_size=1000)
    _same(memory, streamed)
    assert streamed.status == "fail"
    drifted = streamed.details[streamed.details["drifted"]]["column"].tolist()
    assert drifted == ["age"]
    assert streamed.kind == "drift" and streamed.params["streamed"] is True
    assert streamed.params["files"] == 4 and streamed.params["rows"] == len(cur)


def test_random_split_passes_both_and_reference_may_be_a_dataset(tmp_path, halves):
    ref, cur = halves
    folder = _write(cur, tmp_path / "current")
    ref_folder = _write(ref, tmp_path / "reference", parts=2)
    memory = checks.drift(ref, pd.read_parquet(folder))
    streamed = drift_dataset(ref_folder, folder, batch_size=4096)
    _same(memory, streamed)
    assert streamed.status in ("pass", "warn") and streamed.metrics["columns_drifted"] == 0
    by_url = drift_dataset(ref, f"file://{folder}")  # an fsspec URL: read through fsspec
    _same(memory, by_url)
    assert by_url.params["current"] == f"file://{folder}"


def _awkward(n: int, rng, *, current: bool) -> pd.DataFrame:
    """Missing values, infinities, a spike, new categories, booleans and timestamps."""
    x = rng.normal(size=n) + (0.5 if current else 0.0)
    x[rng.random(n) < (0.2 if current else 0.01)] = np.nan
    if current:
        x[:7] = np.inf
    words = np.array(["a", "b", "c", "d"], dtype=object)
    color = words[rng.integers(0, 4, size=n)]
    if current:
        color[rng.random(n) < 0.05] = "new-1"
        color[rng.random(n) < 0.02] = "new-2"
    color[rng.random(n) < 0.03] = None
    frame = pd.DataFrame(
        {
            "x": x,
            "gain": np.where(rng.random(n) < 0.9, 0.0, rng.exponential(1000, size=n)),
            "count": rng.integers(0, 60, size=n) + (5 if current else 0),
            "color": color,
            "flag": rng.random(n) < (0.5 if current else 0.3),
            "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="min"),
            "code": (rng.integers(0, 9, size=n)).astype(str),
        }
    )
    if current:  # a type change: numbers in the reference, text now
        frame["code"] = rng.integers(0, 9, size=n)
        frame = frame.rename(columns={"gain": "gain_renamed"})
    return frame


def test_every_kind_of_finding_matches_the_in_memory_path(tmp_path):
    rng = np.random.default_rng(3)
    ref = _awkward(20_000, rng, current=False)
    ref["code"] = rng.integers(0, 9, size=len(ref)).astype(float)
    cur = _awkward(12_000, rng, current=True)
    cur["code"] = cur["code"].astype(str)
    folder = _write(cur, tmp_path / "current", parts=3)
    _same(checks.drift(ref, pd.read_parquet(folder)), drift_dataset(ref, folder, batch_size=777))
    memory = checks.drift(profile(ref), pd.read_parquet(folder))
    streamed = drift_dataset(profile(ref), folder, batch_size=777)
    _same(memory, streamed)
    rows = streamed.details.set_index("column")
    assert rows.loc["code", "status"] == "error" and "type changed" in rows.loc["code", "reason"]
    assert rows.loc["gain", "reason"] == "not in current"
    assert rows.loc["gain_renamed", "reason"] == "not in reference"
    assert rows.loc["when", "status"] == "skipped"
    assert rows.loc["color", "new_categories"] == 2
    assert rows.loc["x", "drifted"] and rows.loc["count", "drifted"]


def test_dataset_summary_matches_pandas(tmp_path):
    rng = np.random.default_rng(5)
    frame = _awkward(9_001, rng, current=False)
    frame.loc[::13, "x"] = np.nan
    folder = _write(frame, tmp_path / "data", parts=3, row_group=500)
    summary = dataset_summary(folder, batch_size=256).set_index("column")
    for column in ("x", "gain", "count"):
        values = frame[column].to_numpy(dtype="float64")
        finite = values[np.isfinite(values)]
        row = summary.loc[column]
        assert row["rows"] == len(frame)
        assert row["missing"] == len(values) - len(finite)
        assert row["min"] == finite.min() and row["max"] == finite.max()
        assert row["mean"] == pytest.approx(finite.mean(), rel=1e-9)
        assert row["std"] == pytest.approx(finite.std(), rel=1e-9)
    assert summary.loc["color", "missing"] == frame["color"].isna().sum()
    with pytest.raises(UsageError, match="nope"):
        dataset_summary(folder, columns=["nope"])


def _sorted(details: pd.DataFrame) -> pd.DataFrame:
    return details.sort_values(["column", "rule"]).reset_index(drop=True)


def test_schema_validation_matches_the_in_memory_path(tmp_path):
    adult = load_adult()
    adult["id"] = np.arange(len(adult))
    schema = checks.infer_schema(adult.iloc[:20_000])
    cur = adult.iloc[20_000:].reset_index(drop=True)
    cur.loc[5:50, "age"] = 500
    cur.loc[100:110, "workclass"] = "Alien"
    cur.loc[[10, 7000], "id"] = cur.loc[8000, "id"]  # duplicates across files
    cur["extra"] = 1
    folder = _write(cur, tmp_path / "current", parts=3)
    memory = checks.validate(pd.read_parquet(folder), schema)
    streamed = validate_dataset(folder, schema, batch_size=1000)
    assert streamed.status == memory.status == "fail"
    assert streamed.metrics == pytest.approx(memory.metrics, rel=1e-12)
    pd.testing.assert_frame_equal(_sorted(streamed.details), _sorted(memory.details))
    rules = set(streamed.details["rule"])
    assert {"field_uniqueness", "column_in_schema"} <= rules
    unique = streamed.details.set_index("rule").loc["field_uniqueness"]
    assert unique["rows"] == [10, 7000, 8000] and unique["failures"] == 3


def test_schema_validation_of_clean_and_empty_data(tmp_path, halves):
    ref, cur = halves
    schema = checks.infer_schema(ref)
    folder = _write(cur.iloc[:2000], tmp_path / "clean", parts=2)
    memory = checks.validate(pd.read_parquet(folder), schema, max_failure_share=0.5)
    streamed = validate_dataset(folder, schema, max_failure_share=0.5, batch_size=300)
    assert streamed.status == memory.status
    assert streamed.metrics == pytest.approx(memory.metrics)
    empty = _write(cur.iloc[:0], tmp_path / "empty", parts=1)
    assert validate_dataset(empty, schema).status == checks.validate(cur.iloc[:0], schema).status
    capped = validate_dataset(folder, checks.infer_schema(cur.assign(k=np.arange(len(cur)))))
    assert "k" in capped.details["column"].tolist()  # declared but missing: a structural fail


def test_uniqueness_past_the_limit_is_reported_not_passed(tmp_path):
    frame = pd.DataFrame({"id": np.arange(5000), "v": np.ones(5000)})
    schema = checks.infer_schema(frame)
    folder = _write(frame, tmp_path / "ids", parts=2)
    result = validate_dataset(folder, schema, max_unique_rows=1000, batch_size=500)
    assert result.status == "fail"
    assert "not verified past 1,000 rows" in result.details["rule"].iloc[0]


# -- bad input -------------------------------------------------------------------------------


def test_bad_datasets_are_refused_naming_the_file_or_column(tmp_path, halves):
    ref, cur = halves
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match=r"no \.parquet files in .*empty"):
        drift_dataset(ref, empty)
    with pytest.raises(UsageError, match="no such file or folder"):
        drift_dataset(ref, tmp_path / "nowhere")
    broken = _write(cur.iloc[:100], tmp_path / "broken", parts=1)
    (broken / "part-9.parquet").write_text("not parquet at all")
    with pytest.raises(UsageError, match=r"part-9\.parquet is not a Parquet file"):
        drift_dataset(ref, broken)
    mixed = _write(cur.iloc[:200], tmp_path / "mixed", parts=1)
    cur.iloc[:10].assign(age=lambda f: f["age"].astype(str)).to_parquet(mixed / "z.parquet")
    with pytest.raises(UsageError, match=r"z\.parquet: column 'age' is (large_)?string"):
        validate_dataset(mixed, checks.infer_schema(ref))
    good = _write(cur.iloc[:100], tmp_path / "good", parts=1)
    with pytest.raises(UsageError, match="nope"):
        drift_dataset(ref, good, columns=["age", "nope"])
    with pytest.raises(UsageError, match="batch_size"):
        drift_dataset(ref, good, batch_size=0)
    with pytest.raises(UsageError, match="no rows"):
        drift_dataset(ref, _write(cur.iloc[:0], tmp_path / "zero", parts=1))
    with pytest.raises(UsageError, match="current must be a path"):
        drift_dataset(ref, cur)
    with pytest.raises(UsageError, match="alpha"):
        drift_dataset(ref, good, alpha=2)
    with pytest.raises(UsageError, match="nosuchscheme"):
        open_dataset("nosuchscheme://bucket/x")


# -- memory ----------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
    from pathlib import Path
    folder = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    if sys.argv[2] == "write":
        folder.mkdir()
        for i in range(12):  # about 25 MB a file, written one at a time
            n = 1_000_000
            frame = pd.DataFrame({f"x{j}": rng.normal(size=n) + (i >= 6) for j in range(3)})
            frame["c"] = np.array(["a", "b", "c", "d"], dtype=object)[rng.integers(0, 4, n)]
            pq.write_table(pa.Table.from_pandas(frame), folder / f"p{i}.parquet",
                           row_group_size=131072)
        sys.exit(0)
    from nbtrail.checks._streaming import drift_dataset
    from nbtrail.monitor import profile
    n = 100_000
    ref = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(3)})
    ref["c"] = np.array(["a", "b", "c", "d"], dtype=object)[rng.integers(0, 4, n)]
    reference = profile(ref)
    del ref
    def peak():  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(x for x in status if x.startswith("VmHWM:")).split()[1])
    before = peak()
    result = drift_dataset(reference, folder)
    after = peak()
    print(json.dumps({"before_kb": before, "after_kb": after, "status": result.status,
                      "drifted": int(result.metrics["columns_drifted"])}))
    """
)


def test_streamed_drift_memory_stays_well_below_the_data(tmp_path):
    folder = tmp_path / "big"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    subprocess.run([sys.executable, str(script), str(folder), "write"], check=True)
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    rows_bytes = 12 * 1_000_000 * (3 * 8 + 1)  # what the rows take in memory, at least
    assert size > 250e6
    out = subprocess.run(
        [sys.executable, str(script), str(folder), "run"], check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["status"] == "fail" and found["drifted"] == 3
    grown = (found["after_kb"] - found["before_kb"]) * 1024
    # measured: about 85 MB over the interpreter for 365 MB of Parquet (300 MB of rows)
    assert grown < 0.3 * size, (grown, size)
    assert grown < 0.4 * rows_bytes, (grown, rows_bytes)


def test_a_saved_pandas_index_is_not_judged_as_a_column(tmp_path):
    # Rows sliced from a frame keep their index; to_parquet saves it as __index_level_0__,
    # which read_parquet restores as the index. The streamed path must not see a new column.
    from nbtrail.checks import drift_dataset, open_dataset
    from nbtrail.datasets import load_adult

    frame = load_adult("test")[["age", "hours_per_week"]]
    folder = tmp_path / "batches"
    folder.mkdir()
    shuffled = frame.sample(4000, random_state=0)  # an index that is no range: saved
    shuffled.iloc[:2000].to_parquet(folder / "a.parquet")
    shuffled.iloc[2000:].rename_axis("request").to_parquet(folder / "b.parquet")
    assert open_dataset(str(folder)).columns == ["age", "hours_per_week"]
    result = drift_dataset(frame.iloc[:3000], str(folder))
    assert set(result.details["column"]) == {"age", "hours_per_week"}, result.details
    assert "not in current" not in result.summary and "__index" not in result.summary
