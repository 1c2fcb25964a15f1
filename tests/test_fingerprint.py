"""Fingerprints: full content, every dtype, stable across processes, independent of layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xxhash

from nbtrail.errors import FingerprintError
from nbtrail.fingerprints import (
    StatCache,
    fingerprint,
    fingerprint_file,
    schema_fingerprint,
)
from nbtrail.fingerprints import _core as fpcore
from nbtrail.fingerprints import _files as fpfiles


def mixed_frame(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "float": rng.normal(size=n),
            "int": rng.integers(0, 100, size=n),
            "bool": rng.integers(0, 2, size=n).astype(bool),
            "str": pd.Series([f"s{i % 7}" for i in range(n)], dtype="str"),
            "obj": pd.Series([f"o{i}" for i in range(n)], dtype=object),
            "cat": pd.Categorical([["a", "b", "c"][i % 3] for i in range(n)]),
            "ts": pd.date_range("2024-03-01", periods=n, freq="h"),
            "tstz": pd.date_range("2024-03-01", periods=n, freq="h", tz="America/New_York"),
            "delta": pd.to_timedelta(np.arange(n), unit="s"),
            "Int64": pd.array([i if i % 5 else None for i in range(n)], dtype="Int64"),
            "Float64": pd.array([i / 2 if i % 4 else None for i in range(n)], dtype="Float64"),
            "boolean": pd.array([bool(i % 2) if i % 3 else None for i in range(n)], "boolean"),
            "period": pd.period_range("2024-01", periods=n, freq="M"),
        }
    )


def test_every_column_type_contributes_to_the_digest():
    base = mixed_frame()
    digest = fingerprint(base).digest
    for column in base.columns:
        changed = base.copy()
        changed[column] = changed[column].iloc[::-1].to_numpy()
        assert fingerprint(changed).digest != digest, column


def test_one_changed_cell_changes_the_digest_but_not_the_schema():
    base = mixed_frame(10_000)
    changed = base.copy()
    changed.loc[9_999, "float"] += 1e-12
    a, b = fingerprint(base), fingerprint(changed)
    assert a.digest != b.digest
    assert a.schema == b.schema
    assert len(a.digest) == 32 and a.kind == "dataframe"
    assert a.meta["rows"] == 10_000 and ["float", "float64"] in a.meta["columns"]


def test_schema_fingerprint_follows_names_and_dtypes():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert schema_fingerprint(frame) == schema_fingerprint(pd.DataFrame({"a": [5], "b": ["z"]}))
    assert schema_fingerprint(frame) != schema_fingerprint(frame.astype({"a": "float64"}))
    assert schema_fingerprint(frame) != schema_fingerprint(frame.rename(columns={"a": "A"}))
    assert schema_fingerprint(object()) is None


def test_digest_is_independent_of_pandas_block_layout():
    rng = np.random.default_rng(1)
    data = {f"c{i}": rng.normal(size=1000) for i in range(8)}
    consolidated = pd.DataFrame(data)
    split = pd.DataFrame({"c0": data["c0"]})
    for name in list(data)[1:]:
        split[name] = data[name]  # one block per column
    assert fingerprint(consolidated).digest == fingerprint(split).digest
    transposed_copy = pd.DataFrame(np.asfortranarray(consolidated.to_numpy()), columns=list(data))
    assert fingerprint(transposed_copy).digest == fingerprint(consolidated).digest


def test_digest_is_independent_of_arrow_chunking_and_slicing():
    values = [f"value-{i}" if i % 11 else None for i in range(1000)]
    one = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(values)])))
    many = pd.Series(
        pd.arrays.ArrowStringArray(
            pa.chunked_array([pa.array(values[i : i + 97]) for i in range(0, 1000, 97)])
        )
    )
    assert fingerprint(one).digest == fingerprint(many).digest
    sliced = one.iloc[300:].reset_index(drop=True)
    fresh = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(values[300:])])))
    assert fingerprint(sliced).digest == fingerprint(fresh).digest


def test_missing_is_not_empty_and_masked_values_do_not_matter():
    assert (
        fingerprint(pd.Series(["a", None], dtype="str")).digest
        != fingerprint(pd.Series(["a", ""], dtype="str")).digest
    )
    left = pd.arrays.IntegerArray(np.array([1, 2, 3]), np.array([False, True, False]))
    right = pd.arrays.IntegerArray(np.array([1, 99, 3]), np.array([False, True, False]))
    assert fingerprint(pd.Series(left)).digest == fingerprint(pd.Series(right)).digest
    assert fingerprint(pd.Series([1.0, None])).digest != fingerprint(pd.Series([1.0, 0.0])).digest


def test_index_names_order_and_duplicates_all_count():
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert fingerprint(frame).digest != fingerprint(frame[["b", "a"]]).digest
    assert fingerprint(frame).digest != fingerprint(frame.set_axis([10, 11])).digest
    assert fingerprint(frame).digest != fingerprint(frame.rename_axis("row")).digest
    duplicated = pd.DataFrame([[1, 2]], columns=["x", "x"])
    swapped = pd.DataFrame([[2, 1]], columns=["x", "x"])
    assert fingerprint(duplicated).digest != fingerprint(swapped).digest
    multi = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    assert (
        fingerprint(multi).digest
        != fingerprint(multi.set_axis([("a", "y"), ("a", "x")], axis=1)).digest
    )
    assert (
        fingerprint(pd.Series([1], name="a")).digest != fingerprint(pd.Series([1], name="b")).digest
    )


def test_empty_and_degenerate_objects():
    assert fingerprint(pd.DataFrame()).digest != fingerprint(pd.DataFrame({"a": []})).digest
    assert fingerprint(np.empty((0, 3))).digest != fingerprint(np.empty((3, 0))).digest
    assert (
        fingerprint(np.array([1, 2], dtype=">i4")).digest
        == fingerprint(np.array([1, 2], dtype="<i4")).digest
    )
    assert fingerprint(np.arange(6).reshape(2, 3)).digest != fingerprint(np.arange(6)).digest
    assert (
        fingerprint(np.arange(6).reshape(2, 3).T).digest
        == fingerprint(np.ascontiguousarray(np.arange(6).reshape(2, 3).T)).digest
    )


def test_large_buffers_hash_the_same_serially_and_in_parallel(monkeypatch):
    big = np.random.default_rng(2).normal(size=(3 * (1 << 21) + 17,))  # ~48 MiB, 3+ blocks
    parallel = fingerprint(big).digest
    monkeypatch.setattr(fpcore, "_PARALLEL_MIN", 1 << 62)
    assert fingerprint(big).digest == parallel
    big[-1] += 1.0
    assert fingerprint(big).digest != parallel


def test_plain_python_values():
    assert (
        fingerprint({"b": 1, "a": [1, 2.0, "x"]}).digest
        == fingerprint({"a": [1, 2.0, "x"], "b": 1}).digest
    )
    assert fingerprint([1, 2]).digest != fingerprint((1, 2)).digest
    assert len({fingerprint(v).digest for v in (1, 1.0, "1", True, b"1", None)}) == 6
    assert fingerprint({1, 2, 3}).digest == fingerprint({3, 2, 1}).digest
    assert fingerprint(True).digest != fingerprint(1).digest


def test_generators_and_cycles_are_refused_clearly():
    with pytest.raises(FingerprintError, match="iterator"):
        fingerprint(i for i in range(3))
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(FingerprintError, match="refers to itself"):
        fingerprint(cycle)


def test_objects_without_state_fall_back_to_pickle_or_refuse():
    class Point:
        def __init__(self, x):
            self.x = x

    assert fingerprint(Point(1)).digest != fingerprint(Point(2)).digest
    with pytest.raises(FingerprintError, match="cannot fingerprint an object of type"):
        fingerprint(_Unpicklable())


class _Unpicklable:
    __slots__ = ()

    def __reduce__(self):
        raise TypeError("no")

    def __getstate__(self):
        raise TypeError("no")


# -- estimators ------------------------------------------------------------------------------


def _fit(estimator_name: str, seed_data: int = 0):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(n_samples=300, n_features=8, random_state=seed_data)
    if estimator_name == "forest":
        model = RandomForestClassifier(n_estimators=10, random_state=0)
    elif estimator_name == "pipeline":
        model = make_pipeline(StandardScaler(), LogisticRegression())
    else:
        model = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3)
    return model.fit(X, y)


@pytest.mark.parametrize("name", ["forest", "pipeline", "search"])
def test_fitted_estimators_hash_by_content(name):
    first, second = _fit(name), _fit(name)
    assert fingerprint(first).digest == fingerprint(second).digest
    assert fingerprint(first).digest != fingerprint(_fit(name, seed_data=1)).digest
    assert fingerprint(first).kind == "model"


def test_unfitted_and_fitted_differ_and_params_count():
    from sklearn.linear_model import LogisticRegression

    assert fingerprint(LogisticRegression()).digest != fingerprint(_fit("pipeline")[-1]).digest
    assert (
        fingerprint(LogisticRegression(C=1.0)).digest
        != fingerprint(LogisticRegression(C=2.0)).digest
    )


_CHILD = r"""
import json, sys
sys.path.insert(0, {tests!r})
from test_fingerprint import mixed_frame, _fit
from nbtrail.fingerprints import fingerprint
import numpy as np
print(json.dumps({{
    "frame": fingerprint(mixed_frame(5000)).digest,
    "array": fingerprint(np.arange(1_000_000, dtype="float64")).digest,
    "forest": fingerprint(_fit("forest")).digest,
    "search": fingerprint(_fit("search")).digest,
    "dict": fingerprint({{"b": 2, "a": [1, "x"]}}).digest,
}}))
"""


def test_digests_are_stable_across_processes_and_hash_seeds():
    here = os.path.dirname(__file__)
    code = _CHILD.format(tests=here)
    results = []
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout))
    assert results[0] == results[1]
    here_now = {
        "frame": fingerprint(mixed_frame(5000)).digest,
        "array": fingerprint(np.arange(1_000_000, dtype="float64")).digest,
        "forest": fingerprint(_fit("forest")).digest,
        "search": fingerprint(_fit("search")).digest,
        "dict": fingerprint({"b": 2, "a": [1, "x"]}).digest,
    }
    assert results[0] == here_now


# -- files -----------------------------------------------------------------------------------


def test_file_digest_is_xxh3_128_of_the_bytes(tmp_path):
    path = tmp_path / "data.bin"
    payload = os.urandom(3 * 1024 * 1024 + 5)
    path.write_bytes(payload)
    fp = fingerprint_file(path, cache=None)
    assert fp.digest == xxhash.xxh3_128_hexdigest(payload)
    assert fp.kind == "file" and fp.size == len(payload)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert fingerprint_file(empty, cache=None).digest == xxhash.xxh3_128_hexdigest(b"")


def test_stat_cache_avoids_rereading_unchanged_files(tmp_path, monkeypatch):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    old = time.time_ns() - 10 * 1_000_000_000
    os.utime(path, ns=(old, old))
    reads = []
    real = fpfiles._hash_open_file
    monkeypatch.setattr(
        fpfiles, "_hash_open_file", lambda fh, size: reads.append(1) or real(fh, size)
    )
    cache = StatCache(tmp_path / "cache.json")
    first = fingerprint_file(path, cache=cache)
    second = fingerprint_file(path, cache=cache)
    assert first == second and len(reads) == 1
    cache.save()
    reloaded = StatCache(tmp_path / "cache.json")
    assert fingerprint_file(path, cache=reloaded) == first and len(reads) == 1
    path.write_text("a\n2\n")  # same size, new mtime
    os.utime(path, ns=(old + 1, old + 1))
    assert fingerprint_file(path, cache=reloaded) != first and len(reads) == 2


def test_recently_modified_files_are_not_cached(tmp_path, monkeypatch):
    path = tmp_path / "fresh.txt"
    path.write_text("x")
    reads = []
    real = fpfiles._hash_open_file
    monkeypatch.setattr(
        fpfiles, "_hash_open_file", lambda fh, size: reads.append(1) or real(fh, size)
    )
    cache = StatCache()
    fingerprint_file(path, cache=cache)
    fingerprint_file(path, cache=cache)
    assert len(reads) == 2  # mtime within the racy window: never trusted


def test_file_errors_name_the_path(tmp_path):
    with pytest.raises(FingerprintError, match="missing.csv: no such file"):
        fingerprint_file(tmp_path / "missing.csv")
    with pytest.raises(FingerprintError, match="is a folder"):
        fingerprint_file(tmp_path)


def test_an_unreadable_file_is_named(unprivileged):
    locked = unprivileged / "locked"
    locked.write_text("x")
    locked.chmod(0)
    assert not os.access(locked, os.R_OK, effective_ids=True)
    with pytest.raises(FingerprintError, match="locked: permission denied"):
        fingerprint_file(locked, cache=None)


def test_damaged_stat_cache_is_ignored(tmp_path):
    cache_file = tmp_path / "cache.json"
    cache_file.write_text("{not json")
    path = tmp_path / "f"
    path.write_text("x")
    assert fingerprint_file(path, cache=StatCache(cache_file)).digest


def test_private_fitted_state_counts():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    a = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    b = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X * 1.5 + 3, y)
    assert a.n_iter_ == b.n_iter_  # the public attributes alone could not tell them apart
    assert fingerprint(a).digest != fingerprint(b).digest
    again = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    assert fingerprint(a).digest == fingerprint(again).digest


def test_stat_cache_is_not_fooled_by_a_restored_mtime(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")
    old = time.time_ns() - 10 * 1_000_000_000
    os.utime(path, ns=(old, old))
    cache = StatCache()
    first = fingerprint_file(path, cache=cache)
    path.write_text("a\n2\n")  # same size
    os.utime(path, ns=(old, old))  # and the same mtime, as `touch -r` or `cp -p` would leave
    time.sleep(0.01)
    assert fingerprint_file(path, cache=cache) != first


def test_functions_and_bound_methods_fingerprint_by_their_qualified_name():
    class Scaler:
        def fit(self):
            return self

        def transform(self):
            return self

    first, second = Scaler(), Scaler()
    assert fingerprint(first.fit).digest == fingerprint(second.fit).digest
    assert fingerprint(first.fit).digest != fingerprint(first.transform).digest
    assert fingerprint(len).digest != fingerprint(sorted).digest
