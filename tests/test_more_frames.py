"""Data frames besides pandas: polars, Arrow and DuckDB, fingerprinted and captured."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pytest

from nbtrail.fingerprints import _walk, fingerprint, schema_fingerprint

# -- fingerprints: Arrow -----------------------------------------------------------------------


def arrow_table(n: int = 1000) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "f": pa.array(rng.normal(size=n)),
            "i": pa.array([i if i % 7 else None for i in range(n)], pa.int64()),
            "s": pa.array([f"v{i}" if i % 5 else None for i in range(n)]),
            "b": pa.array([bool(i % 3) if i % 4 else None for i in range(n)]),
            "t": pa.array(np.arange(n).astype("datetime64[ms]")),
            "d": pa.array([["x", "y", "z"][i % 3] for i in range(n)]).dictionary_encode(),
            "l": pa.array([[i, i + 1] for i in range(n)]),
        }
    )


def rechunked(table: pa.Table, size: int) -> pa.Table:
    return pa.Table.from_batches(table.to_batches(max_chunksize=size))


def test_arrow_digest_ignores_chunking_and_slicing():
    table = arrow_table()
    one = fingerprint(table.combine_chunks()).digest
    assert fingerprint(rechunked(table, 97)).digest == one
    assert fingerprint(rechunked(table, 1)).digest == one
    fresh = pa.Table.from_pylist(table.slice(300, 500).to_pylist(), schema=table.schema)
    assert fingerprint(table.slice(300, 500)).digest == fingerprint(fresh).digest
    assert fingerprint(rechunked(table, 64).slice(300, 500)).digest == fingerprint(fresh).digest
    column = table.column("s")
    assert fingerprint(column).digest == fingerprint(column.combine_chunks()).digest
    batch = table.combine_chunks().to_batches()[0]
    assert fingerprint(batch).digest == one


@pytest.mark.parametrize("name", ["f", "i", "s", "b", "t", "d", "l"])
def test_one_changed_arrow_value_changes_the_digest(name):
    table = arrow_table(200)
    values = table.column(name).to_pylist()
    values[150], values[151] = values[151], values[150]
    if values[150] == values[151]:
        values[150], values[152] = values[152], values[150]
    column = pa.array(values, table.schema.field(name).type)
    changed = table.set_column(table.schema.get_field_index(name), name, column)
    a, b = fingerprint(table), fingerprint(changed)
    assert a.digest != b.digest and a.schema == b.schema


def test_arrow_nulls_are_not_zero_and_their_slots_do_not_matter():
    assert fingerprint(pa.array([1, None])).digest != fingerprint(pa.array([1, 0])).digest
    assert fingerprint(pa.array(["a", None])).digest != fingerprint(pa.array(["a", ""])).digest
    # The bytes under a null are undefined: two arrays differing only there hash alike.
    values = pa.py_buffer(np.array([1, 2, 3], dtype="<i8").tobytes())
    other = pa.py_buffer(np.array([1, 99, 3], dtype="<i8").tobytes())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    left = pa.Array.from_buffers(pa.int64(), 3, [validity, values], null_count=1)
    right = pa.Array.from_buffers(pa.int64(), 3, [validity, other], null_count=1)
    assert fingerprint(left).digest == fingerprint(right).digest


def test_arrow_string_layouts_hash_alike():
    small = pa.array(["a", "bc", None])
    assert fingerprint(small).digest == fingerprint(small.cast(pa.large_string())).digest
    if hasattr(pa, "string_view"):
        assert fingerprint(small).digest == fingerprint(small.cast(pa.string_view())).digest


def test_arrow_meta_and_schema():
    fp = fingerprint(arrow_table(10))
    assert fp.kind == "dataframe" and fp.meta["rows"] == 10 and fp.meta["n_columns"] == 7
    assert ["s", "string"] in fp.meta["columns"]
    assert schema_fingerprint(arrow_table(10)) == schema_fingerprint(arrow_table(20))
    assert schema_fingerprint(arrow_table(10)) != schema_fingerprint(
        arrow_table(10).rename_columns(list("abcdefg"))
    )


# -- fingerprints: polars ----------------------------------------------------------------------


def test_polars_digest_equals_its_arrow_table_and_ignores_chunks():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {
            "a": np.arange(1000),
            "b": [f"x{i}" if i % 3 else None for i in range(1000)],
            "c": np.linspace(0, 1, 1000),
        }
    )
    digest = fingerprint(frame).digest
    assert fingerprint(frame.to_arrow()).digest == digest
    pieces = pl.concat([frame[:400], frame[400:]], rechunk=False)
    assert pieces.n_chunks() == 2 and fingerprint(pieces).digest == digest
    assert fingerprint(frame.with_columns(pl.col("c") * 2)).digest != digest
    # pandas' definition includes its index and dtypes: the same values, another digest.
    assert fingerprint(frame.to_pandas()).digest != digest
    series = frame["b"]
    assert fingerprint(series).digest == fingerprint(series.rechunk()).digest
    assert fingerprint(series).digest != fingerprint(series.alias("other")).digest
    assert fingerprint(series).kind == "series"


# -- fingerprints: wide pandas frames ----------------------------------------------------------


def wide_frame(columns: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    data = {}
    for i in range(columns):
        kind = i % 4
        if kind == 0:
            data[f"f{i}"] = rng.normal(size=rows)
        elif kind == 1:
            data[f"i{i}"] = rng.integers(0, 9, size=rows)
        elif kind == 2:
            data[f"b{i}"] = rng.integers(0, 2, size=rows).astype(bool)
        else:
            data[f"s{i}"] = [f"s{j % 5}" for j in range(rows)]
    return pd.DataFrame(data)


def _every_dtype() -> pd.DataFrame:
    from test_fingerprint import mixed_frame

    return mixed_frame(300)


@pytest.mark.parametrize(
    "make",
    [
        lambda: wide_frame(40, 100),
        lambda: wide_frame(3, 200_000),  # columns of 1.6 MB: hashed as big buffers
        lambda: pd.DataFrame(np.arange(60.0).reshape(6, 10)),  # a Fortran-ordered block
        lambda: pd.DataFrame({"a": np.arange(5, dtype="int32"), "b": np.arange(5.0)})[["b", "a"]],
        _every_dtype,  # extension columns read from their blocks too
    ],
)
def test_block_reading_keeps_the_per_column_digest(make, monkeypatch):
    frame = make()
    blocks = fingerprint(frame).digest
    monkeypatch.setattr(_walk, "_block_columns", lambda df: {})
    assert fingerprint(frame).digest == blocks


def test_importing_nbtrail_imports_no_frame_library():
    code = (
        "import sys, json, nbtrail, nbtrail.capture.hooks, nbtrail.fingerprints;"
        "print(json.dumps([m for m in ('polars', 'duckdb', 'pyarrow') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# -- capture in a real kernel ------------------------------------------------------------------


def _kernel_helpers():
    from test_capture import _session, execute, notebook, outputs_text

    return _session, execute, notebook, outputs_text


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "trail-home"
    monkeypatch.setenv("NBTRAIL_HOME", str(folder))
    return folder


def _upstream_names(trail, digest: str) -> set[str]:
    graph = trail.lineage(digest, direction="upstream")
    return {Path(n["name"]).name for n in graph.nodes.values() if n["type"] == "artifact"}


def _cells(trail, session_id) -> dict:
    out = {}
    for cell in trail.runs(parent=session_id):
        details = trail.run_details(cell.id)
        used = sorted(Path(u.path).name for u in details.used if u.path)
        produced = sorted(Path(u.path).name for u in details.produced if u.path)
        out[cell.params["execution_count"]] = (used, produced)
    return out


FRAME_CELLS = (
    "%load_ext nbtrail",
    "import polars as pl\nimport pyarrow.dataset as ds\nimport duckdb\n"
    "from sklearn.linear_model import LogisticRegression",
    'df = pl.read_csv("train.csv")',
    'model = LogisticRegression().fit(df.select(["a", "b"]), df["label"])',
    'df.write_parquet("out.parquet")',
    'lazy = pl.scan_csv("train.csv").filter(pl.col("a") > 0)',
    "small = lazy.collect()",
    'table = ds.dataset("parts", format="parquet").to_table()',
    "counted = duckdb.sql(\"select count(*) as n from 'out.parquet'\").df()",
    "joined = duckdb.sql(\"select * from read_csv('train.csv')\").pl()",
    "%trail",
)


def test_polars_arrow_and_duckdb_reads_and_writes_are_recorded(home, tmp_path):
    pytest.importorskip("polars")
    pytest.importorskip("duckdb")
    _session, execute, notebook, outputs_text = _kernel_helpers()
    work = tmp_path / "frames"
    (work / "parts").mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.normal(size=200), "label": np.arange(200) % 2}
    )
    train.to_csv(work / "train.csv", index=False)
    train.iloc[:100].to_parquet(work / "parts" / "p1.parquet")
    train.iloc[100:].to_parquet(work / "parts" / "p2.parquet")
    nb = execute(notebook(*FRAME_CELLS), work)
    status = outputs_text(nb.cells[-1])
    assert re.search(r"capture errors\s+0\b", status), status

    from nbtrail.store import open_trail

    with open_trail(work) as trail:
        session = _session(trail)
        cells = _cells(trail, session.id)
        assert cells[3][0] == ["train.csv"]  # read_csv
        assert cells[5][1] == ["out.parquet"]  # write_parquet: produced
        assert cells[6][0] == []  # scan_csv: recorded when collected
        assert cells[7][0] == ["train.csv"]  # collect
        assert cells[8][0] == ["p1.parquet", "p2.parquet"]  # the dataset's files
        assert cells[9][0] == ["out.parquet"]  # a query over a parquet file
        assert cells[10][0] == ["train.csv"]  # read_csv inside the SQL
        # The model fitted on polars data traces back to the CSV it was read from.
        (model,) = trail.artifacts(kind="model")
        assert "train.csv" in _upstream_names(trail, model.id)
        # So does the parquet file written from the polars frame.
        written = trail.get_artifact(work / "out.parquet")
        assert "train.csv" in _upstream_names(trail, written.id)
        assert trail.verify().ok


REGISTRATION_CELLS = (
    "%load_ext nbtrail",
    "import sys\nsys.path.insert(0, '.')\nimport numbers_io",
    "from nbtrail.capture import register_reader\n"
    "register_reader('numbers_io', 'load', path_arg='where')",
    "arr = numbers_io.load('nums.bin')\nwrapped = hasattr(numbers_io.load, '__nbtrail_original__')"
    "\nwrapped",
)

THIRD_PARTY = '''
import pyarrow as pa
import pyarrow.ipc
import pyarrow.ipc


def load(where):
    """A reader capture does not know: Arrow maps the file in C++, unseen by the audit hook."""
    with pa.memory_map(where) as source:
        return pa.ipc.open_file(source).read_all().column(0).to_numpy()
'''


def test_a_third_party_reader_registers_like_the_built_in_ones(home, tmp_path):
    _session, execute, notebook, outputs_text = _kernel_helpers()
    work = tmp_path / "third"
    work.mkdir()
    (work / "numbers_io.py").write_text(THIRD_PARTY)
    table = pa.table({"x": np.arange(10.0)})
    with pa.OSFile(str(work / "nums.bin"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    nb = execute(notebook(*REGISTRATION_CELLS), work)
    assert outputs_text(nb.cells[3]).strip() == "True"

    from nbtrail.store import open_trail

    with open_trail(work) as trail:
        session = _session(trail)
        cells = _cells(trail, session.id)
        assert cells[4][0] == ["nums.bin"]
        arr = next(a for a in trail.artifacts(kind="ndarray"))
        assert "nums.bin" in _upstream_names(trail, arr.id)


# -- DuckDB statements that write, or read inside a write --------------------------------------

DUCK_STATEMENTS = [
    (
        "COPY (SELECT * FROM 'train.csv' WHERE a > 0) TO 'pos.parquet' (FORMAT parquet)",
        ["train.csv"],
        ["pos.parquet"],
    ),
    ("COPY t TO 'it''s.csv' (HEADER)", [], ["it's.csv"]),
    ("COPY t FROM 'train.csv'", ["train.csv"], []),
    ("CREATE TABLE t AS FROM 'train.csv'", ["train.csv"], []),
    (
        "CREATE OR REPLACE TABLE t AS WITH x AS (FROM 'train.csv') SELECT * FROM x",
        ["train.csv"],
        [],
    ),
    ("INSERT INTO t SELECT * FROM read_csv(['train.csv'])", ["train.csv"], []),
    ("select 1; copy (from 'train.csv') to 'x.csv'", ["train.csv"], ["x.csv"]),
    ("CREATE TABLE u (a INT)", [], []),
    ("COPY t TO", [], []),  # not a statement: DuckDB refuses it in the call
    ("garbage ((", [], []),
]


@pytest.mark.parametrize(("sql", "read", "written"), DUCK_STATEMENTS)
def test_duckdb_statements_are_read_for_their_files_by_duckdb_itself(
    sql, read, written, tmp_path, monkeypatch
):
    pytest.importorskip("duckdb")
    from nbtrail.capture._duck import sql_io

    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.csv").write_text("a,b\n1,2\n-3,4\n")
    assert tuple(sql_io(sql)) == (read, written)


DUCK_CELLS = (
    "%load_ext nbtrail",
    "import duckdb\ncon = duckdb.connect()",
    "duckdb.sql(\"COPY (SELECT * FROM 'train.csv' WHERE a > 0) TO 'pos.parquet'\")",
    "con.execute(\"CREATE TABLE t AS FROM 'train.csv'\")",
    "con.execute(\"COPY t TO 'again.csv' (HEADER)\")",
    "%trail",
)


def test_duckdb_copy_to_records_the_file_written_from_the_files_read(home, tmp_path):
    pytest.importorskip("duckdb")
    _session, execute, notebook, outputs_text = _kernel_helpers()
    work = tmp_path / "duck"
    work.mkdir()
    (work / "train.csv").write_text("a,b\n1,2\n-3,4\n5,6\n")
    nb = execute(notebook(*DUCK_CELLS), work)
    status = outputs_text(nb.cells[-1])
    assert re.search(r"capture errors\s+0\b", status), status

    from nbtrail.store import open_trail

    with open_trail(work) as trail:
        cells = _cells(trail, _session(trail).id)
        assert cells[3] == (["train.csv"], ["pos.parquet"])  # COPY (query) TO
        assert cells[4] == (["train.csv"], [])  # CREATE TABLE ... AS FROM the file
        assert cells[5][1] == ["again.csv"]  # COPY table TO
        pos = trail.get_artifact(work / "pos.parquet")
        assert "train.csv" in _upstream_names(trail, pos.id)
        assert trail.verify().ok
