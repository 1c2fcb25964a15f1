"""Kernel capture, end to end: real notebooks, executed by nbclient in a real kernel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook

from nbtrail.store import open_trail

NOTEBOOKS = Path(__file__).parent / "notebooks"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(nb, cwd: Path, *, allow_errors: bool = False):
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb


def notebook(*cells: str):
    nb = new_notebook()
    nb.cells = [new_code_cell(c) for c in cells]
    return nb


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A trail for the kernels the test starts (they inherit the environment)."""
    folder = tmp_path / "trail-home"
    monkeypatch.setenv("NBTRAIL_HOME", str(folder))
    return folder


def _a_training_row() -> int:
    """Id of a row the notebook's split puts in the training set (the split ignores values)."""
    from sklearn.model_selection import train_test_split

    train, _ = train_test_split(np.arange(200), test_size=0.25, random_state=0)
    return int(train[0])


def _write_inputs(folder: Path, *, changed_age: int | None = None) -> None:
    rng = np.random.default_rng(0)
    people = pd.DataFrame(
        {
            "id": np.arange(200),
            "age": rng.integers(18, 80, 200),
            "city": rng.choice(list("abc"), 200),
        }
    )
    if changed_age is not None:
        people.loc[people.id == _a_training_row(), "age"] = changed_age
    people[["id", "age"]].to_csv(folder / "people.csv", index=False)
    incomes = pd.DataFrame(
        {
            "id": np.arange(200),
            "income": rng.normal(50, 10, 200).round(2),
            "label": rng.integers(0, 2, 200),
        }
    )
    incomes.to_parquet(folder / "incomes.parquet")


def _session(trail):
    (session,) = trail.runs(kind="session")
    return session


def _named_outputs(trail, session_id: str) -> dict[str, str]:
    """Variable or file name -> digest, for everything the session's cells produced."""
    out = {}
    for cell in trail.runs(parent=session_id):
        details = trail.run_details(cell.id)
        for usage in details.produced:
            key = Path(usage.path).name if usage.path else usage.name
            if key:
                out[key] = usage.artifact.id
    return out


def test_pipeline_notebook_links_the_saved_model_to_both_input_files(home, tmp_path):
    work = tmp_path / "work-a"
    work.mkdir()
    _write_inputs(work)
    nb = execute(nbformat.read(NOTEBOOKS / "capture_pipeline.ipynb", as_version=4), work)
    status = outputs_text(nb.cells[-1])
    assert re.search(r"^capture errors +0$", status, re.M), status

    with open_trail(work) as trail:
        session = _session(trail)
        assert session.status == "succeeded"
        cells = trail.runs(parent=session.id)
        assert len(cells) == 10 and all(c.kind == "cell" for c in cells)
        model_file = trail.get_artifact(work / "model.joblib")
        upstream = trail.lineage(model_file.id, direction="upstream")
        names = {Path(n["name"]).name for n in upstream.nodes.values() if n["type"] == "artifact"}
        assert {"people.csv", "incomes.parquet"} <= names
        assert {"model", "X_train", "y_train", "data", "people", "incomes"} <= names
        # The model was derived from exactly the data it was fitted on.
        outputs = _named_outputs(trail, session.id)
        derived = {(s, t) for s, t, kind in upstream.edges if kind == "derived"}
        model_key = f"artifact:{outputs['model']}"
        assert {s for s, t in derived if t == model_key} == {
            f"artifact:{outputs['X_train']}",
            f"artifact:{outputs['y_train']}",
        }
        # A Pipeline's inner fits are recorded once, as the pipeline.
        models = [a for a in trail.artifacts(kind="model")]
        assert len(models) == 1 and models[0].meta["class"].endswith("Pipeline")
        metrics = {m.key: m.value for m in trail.run_details(session.id).metrics}
        assert 0.0 <= metrics["accuracy"] <= 1.0
        # The environment is an artifact the session used, with every installed package.
        (environment,) = [u for u in trail.run_details(session.id).used if u.name == "environment"]
        described = trail.load(environment.artifact.id)
        assert any(p.startswith("scikit-learn==") for p in described["packages"])
        # Each cell's code is an artifact its run used; the cell's source can be restored.
        last_cell = trail.run_details(cells[0].id)
        (code,) = [u for u in last_cell.used if u.name == "code"]
        assert trail.load(code.artifact.id).decode() == "%trail"
        assert trail.verify().ok
        first = outputs

    # One byte changed in one input: exactly what depends on it gets new fingerprints.
    work_b = tmp_path / "work-b"
    work_b.mkdir()
    _write_inputs(work_b, changed_age=int(pd.read_csv(work / "people.csv").age.max()) + 1)
    execute(nbformat.read(NOTEBOOKS / "capture_pipeline.ipynb", as_version=4), work_b)
    with open_trail(work_b) as trail:
        sessions = trail.runs(kind="session")
        second = _named_outputs(trail, sessions[0].id)
        assert trail.verify().ok
    changed = {k for k in first if first[k] != second.get(k)}
    assert changed == {"people", "data", "features", "X_train", "model", "model.joblib"}, changed
    # Unchanged content keeps its fingerprint: the other input, the labels, the test rows.
    assert {"incomes", "target", "y_train", "y_test", "X_test"} <= set(first) - changed


def test_bad_input_is_skipped_and_counted_never_raised(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    nb = execute(nbformat.read(NOTEBOOKS / "capture_bad_input.ipynb", as_version=4), work)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
    report = json.loads(outputs_text(nb.cells[-1]).strip().splitlines()[-1])
    assert report["errors"] == 0, report["error_messages"]
    assert report["text"] == "temporary" and report["folder_error"] == "IsADirectoryError"
    skips = " | ".join(report["skip_messages"])
    assert "scratch.txt: no such file" in skips
    assert "is a folder" in skips
    assert "cannot fingerprint" in skips  # the frame of locks
    assert report["deferred"] >= 1  # the 320 MB array was not hashed at cell end
    with open_trail(work) as trail:
        session = _session(trail)
        names = _named_outputs(trail, session.id)
        assert "dup" in names and "dup_sum" in names and "odd_keys" in names
        assert "big" not in names and "numbers" not in names and "locks" not in names
        assert trail.verify().ok


def _error_outputs(nb):
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                found.append(
                    (out["ename"], out["evalue"], [ANSI.sub("", line) for line in out["traceback"]])
                )
    return found


ERROR_CELLS = (
    "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    'pd.read_csv("no-such-file.csv")',
    "LogisticRegression().fit([[1.0], [2.0]], [1, 1])",
    "class MyError(Exception):\n    pass\n\ndef explode(frame):\n    raise MyError('bad rows: 3')",
    "pd.DataFrame({'a': [1]}).pipe(explode)",
)


def test_user_exceptions_keep_their_type_and_traceback(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    plain = execute(notebook("pass", *ERROR_CELLS), work, allow_errors=True)
    captured = execute(notebook("%load_ext nbtrail", *ERROR_CELLS), work, allow_errors=True)
    plain_errors, captured_errors = _error_outputs(plain), _error_outputs(captured)
    assert [e[0] for e in plain_errors] == ["FileNotFoundError", "ValueError", "MyError"]
    # Same type, same message, same frames: the wrappers cut their own frame out of the
    # traceback, so there is not even a "[... skipping hidden 1 frame]" line.
    for (name, value, plain_tb), (cname, cvalue, captured_tb) in zip(
        plain_errors, captured_errors, strict=True
    ):
        assert (cname, cvalue) == (name, value)
        assert captured_tb == plain_tb
        assert "nbtrail" not in "".join(captured_tb)


def test_injected_capture_failure_leaves_results_unchanged_and_is_counted(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    nb = execute(
        notebook(
            "%load_ext nbtrail",
            "import pandas as pd\nimport nbtrail.capture.tracker as tracker",
            "def boom(*args, **kwargs):\n    raise RuntimeError('injected failure')\n"
            "tracker.Tracker.register = boom",
            "df = pd.DataFrame({'a': [1, 2, 3]})\ntotal = int(df.a.sum())\ntotal",
            "%trail",
        ),
        work,
    )
    assert outputs_text(nb.cells[3]).strip() == "6"
    status = outputs_text(nb.cells[4])
    errors = int(re.search(r"capture errors\s+(\d+)", status).group(1))
    assert errors >= 1
    assert "injected failure" in status


HOOKED = (
    "(pd.read_csv, pd.DataFrame.to_csv, np.load, joblib.dump, pickle.dump, "
    "LogisticRegression.fit, Pipeline.fit)"
)


def test_trail_off_restores_every_original_and_on_resumes(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    (work / "data.csv").write_text("a\n1\n2\n")
    nb = execute(
        notebook(
            "%load_ext nbtrail",
            "import joblib, pickle\nimport numpy as np\nimport pandas as pd\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "from sklearn.pipeline import Pipeline",
            f"wrapped = [f for f in {HOOKED} if hasattr(f, '__nbtrail_original__')]\n"
            "print(len(wrapped))",
            "%trail off",
            f"still = [f for f in {HOOKED} if hasattr(f, '__nbtrail_original__')]\n"
            "print(len(still))",
            'while_off = pd.read_csv("data.csv")',
            "%trail on",
            'while_on = pd.read_csv("data.csv")\n'
            'print(hasattr(pd.read_csv, "__nbtrail_original__"))',
        ),
        work,
    )
    assert outputs_text(nb.cells[2]).strip() == "7"
    assert outputs_text(nb.cells[4]).split()[0] == "0"
    assert outputs_text(nb.cells[7]).strip() == "True"
    with open_trail(work) as trail:
        names = _named_outputs(trail, _session(trail).id)
        assert "while_on" in names and "while_off" not in names


def test_steps_snapshots_and_metrics(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    nb = execute(
        notebook(
            "%load_ext nbtrail",
            "%%trail step prepare\nimport pandas as pd\n"
            "frame = pd.DataFrame({'x': [1, 2, 3]})\nlen(frame)",
            "%%trail step prepare\nframe['y'] = frame.x * 2",
            "%%trail step train\nraise ValueError('no model today')",
            "%trail snapshot frame",
            "%trail record rows len(frame)",
            "%trail lineage frame",
            "%trail lineage",
            "%trail frobnicate",
        ),
        work,
        allow_errors=True,
    )
    assert outputs_text(nb.cells[1]).strip() == "3"  # the step cell shows its last value
    assert "snapshot of frame stored" in outputs_text(nb.cells[4])
    assert "recorded rows = 3" in outputs_text(nb.cells[5])
    assert outputs_text(nb.cells[6]).startswith("frame [dataframe")
    assert [e[0] for e in _error_outputs(nb)] == ["ValueError"]
    # Misused magics answer with IPython's usage error, naming what is wrong.
    assert "UsageError: usage: %trail lineage NAME|PATH" in outputs_text(nb.cells[7])
    assert "UsageError: %trail: unknown command 'frobnicate'" in outputs_text(nb.cells[8])
    with open_trail(work) as trail:
        session = _session(trail)
        steps = {r.name: r for r in trail.runs(parent=session.id, kind="step")}
        assert steps["prepare"].status == "succeeded" and steps["train"].status == "failed"
        assert len(trail.runs(parent=steps["prepare"].id)) == 2
        frame = trail.load("frame")
        pd.testing.assert_frame_equal(frame, pd.DataFrame({"x": [1, 2, 3], "y": [2, 4, 6]}))
        assert {m.key: m.value for m in trail.run_details(session.id).metrics} == {"rows": 3.0}
        assert trail.verify().ok


def test_dead_kernel_session_is_marked_aborted(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    with pytest.raises(DeadKernelError):
        execute(notebook("%load_ext nbtrail", "import os\nos._exit(1)"), work)
    with open_trail(work) as trail:
        session = _session(trail)
        assert session.status == "aborted"
        assert "ended without ending the run" in session.error


SCRIPT = """
import joblib, pandas as pd, nbtrail
from sklearn.tree import DecisionTreeClassifier
with nbtrail.track("train-script", params={"depth": 2}) as run:
    frame = pd.read_csv("rows.csv")
    clean = frame.dropna()
    model = DecisionTreeClassifier(max_depth=2).fit(clean[["a"]], clean["b"])
    joblib.dump(model, "tree.joblib")
    run.log_metric("rows", len(clean))
"""


def test_track_captures_a_plain_script(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    (work / "rows.csv").write_text("a,b\n1,0\n2,1\n3,1\n4,0\n")
    (work / "train.py").write_text(textwrap.dedent(SCRIPT))
    subprocess.run([sys.executable, "train.py"], cwd=work, check=True)
    with open_trail(work) as trail:
        (run,) = trail.runs(kind="script")
        assert run.status == "succeeded" and run.params == {"depth": 2}
        tree = trail.get_artifact(work / "tree.joblib")
        upstream = trail.lineage(tree.id, direction="upstream")
        names = {Path(n["name"]).name for n in upstream.nodes.values() if n["type"] == "artifact"}
        assert "rows.csv" in names
        assert any(n["kind"] == "model" for n in upstream.nodes.values())
        assert trail.verify().ok


LIBRARY_CELLS = (
    "%load_ext nbtrail",
    "import pickle, joblib\nimport numpy as np, pandas as pd\nimport pyarrow.csv, pyarrow.parquet\n"
    "import sqlalchemy as sa\nimport matplotlib\nmatplotlib.use('Agg')\n"
    "import matplotlib.pyplot as plt",
    # 2: writers
    "frame = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})\n"
    "frame.to_csv('a.csv', index=False)\nframe.to_parquet('b.parquet')\n"
    "frame.to_json('c.json')\nframe.to_feather('d.feather')\nframe.to_pickle('e.pkl')",
    # 3: pandas readers, C and pyarrow engines
    "c_engine = pd.read_csv('a.csv')\narrow_engine = pd.read_csv('a.csv', engine='pyarrow')",
    # 4: more pandas readers
    "from_parquet = pd.read_parquet('b.parquet')\nfrom_json = pd.read_json('c.json')\n"
    "from_feather = pd.read_feather('d.feather')\nfrom_pickle = pd.read_pickle('e.pkl')",
    # 5: pyarrow directly
    "table = pyarrow.parquet.read_table('b.parquet')\ncsv_table = pyarrow.csv.read_csv('a.csv')",
    # 6: numpy, pickle with file objects, joblib
    "np.save('arr.npy', np.arange(5))\nback = np.load('arr.npy')\n"
    "with open('obj.pkl', 'wb') as fh:\n    pickle.dump({'k': 1}, fh)\n"
    "with open('obj.pkl', 'rb') as fh:\n    obj = pickle.load(fh)\n"
    "joblib.dump(back, 'arr.joblib')\nagain = joblib.load('arr.joblib')",
    # 7: plain open, and a figure
    "notes = open('a.csv').read()\nfig, ax = plt.subplots()\nax.plot(back)\n"
    "fig.savefig('plot.png')",
    # 8: SQL
    "engine = sa.create_engine('sqlite:///db.sqlite')\nframe.to_sql('t', engine, index=False)\n"
    "queried = pd.read_sql('SELECT a FROM t WHERE a > 1', engine)",
    "%trail",
)


def _cell_files(trail, session_id):
    by_count = {}
    for cell in trail.runs(parent=session_id):
        details = trail.run_details(cell.id)
        used = sorted(Path(u.path).name for u in details.used if u.path)
        produced = sorted(Path(u.path).name for u in details.produced if u.path)
        kinds = sorted(u.artifact.kind for u in details.used + details.produced if not u.path)
        by_count[cell.params["execution_count"]] = (used, produced, kinds)
    return by_count


def test_library_reads_and_writes_are_captured_once(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    nb = execute(notebook(*LIBRARY_CELLS), work)
    status = outputs_text(nb.cells[-1])
    assert re.search(r"capture errors\s+0\b", status), status
    with open_trail(work) as trail:
        session = _session(trail)
        cells = _cell_files(trail, session.id)
        assert cells[3][1] == ["a.csv", "b.parquet", "c.json", "d.feather", "e.pkl"]
        # The C parser and the pyarrow engine both: one used edge for a.csv in the cell.
        assert cells[4][0] == ["a.csv"]
        assert cells[5][0] == ["b.parquet", "c.json", "d.feather", "e.pkl"]
        assert cells[6][0] == ["a.csv", "b.parquet"]
        assert cells[7][0] == ["arr.joblib", "arr.npy", "obj.pkl"]
        assert cells[7][1] == ["arr.joblib", "arr.npy", "obj.pkl"]
        assert cells[8][0] == ["a.csv"] and cells[8][1] == ["plot.png"]
        assert "query" in cells[9][2] and "table" in cells[9][2]
        names = _named_outputs(trail, session.id)
        # Read back unchanged, a frame is the frame it was written from: the trail links the
        # read to that artifact, and records no edge that would make it its own ancestor.
        assert "c_engine" not in names and "from_parquet" not in names
        upstream = trail.lineage(names["from_json"], direction="upstream")  # JSON changes dtypes
        assert any(Path(n["name"]).name == "c.json" for n in upstream.nodes.values())
        query = next(a for a in trail.artifacts() if a.kind == "query")
        assert query.meta["query"] == "SELECT a FROM t WHERE a > 1"
        assert query.meta["url"].startswith("sqlite:///") and query.meta["url"].endswith(
            "db.sqlite"
        )
        assert trail.verify().ok


def test_connection_urls_never_keep_passwords():
    from nbtrail.capture._sql import connection_url as _connection_url

    assert _connection_url("postgresql://ana:s3cret@db.example/prod") == (
        "postgresql://ana:***@db.example/prod"
    )
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg://ana:s3cret@db.example/prod")
    assert "s3cret" not in _connection_url(engine)
    engine.dispose()


def test_checks_are_recorded_in_their_cell_and_shown_as_static_html(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    nb = execute(
        notebook(
            "%load_ext nbtrail",
            "import numpy as np, pandas as pd\nfrom nbtrail import checks\n"
            "frame = pd.DataFrame({'x': np.arange(200), 'y': ['a', 'b'] * 100})",
            "schema = checks.infer_schema(frame)\n"
            "bad = frame.assign(y=['a', 'zzz'] * 100)\n"
            "checks.validate(bad, schema)",
            "checks.data_quality(frame, target='y')",
        ),
        work,
    )
    shown = nb.cells[2]["outputs"][0]["data"]
    assert "text/html" in shown and "application/vnd.jupyter.widget-view+json" not in shown
    assert "data-status='fail'" in shown["text/html"] and "<script" not in shown["text/html"]
    assert len(shown["text/html"].encode()) < 1_000_000
    with open_trail(work) as trail:
        session = _session(trail)
        cells = {c.params["execution_count"]: c for c in trail.runs(parent=session.id)}
        (validation,) = trail.checks([cells[3].id])
        assert validation.name == "schema" and validation.status == "fail"
        assert validation.metrics["failures"] == 100
        details = pd.read_parquet(
            __import__("io").BytesIO(trail.blobs.get_bytes(validation.details))
        )
        assert details.loc[0, "column"] == "y"
        # The check names what it judged: the frame it validated, recorded as an artifact.
        assert trail.get_artifact(validation.artifact_id).kind == "dataframe"
        (quality,) = trail.checks([cells[4].id])
        assert quality.status == "pass"
        assert trail.verify().ok


ORDER_SCRIPT = """
import pandas as pd
import nbtrail

with nbtrail.track("order"):
    with open("first.txt", "w") as out:  # written before anything was read
        out.write("made from nothing read\\n")
    with open("rows.csv") as src:
        text = src.read()
    with open("second.txt", "w") as out:  # written after rows.csv was read
        out.write(text.upper())
    rows = pd.read_csv("rows.csv")
"""


def test_a_file_written_with_open_derives_only_from_what_was_read_before_it(home, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    (work / "rows.csv").write_text("a,b\n1,0\n2,1\n")
    (work / "order.py").write_text(ORDER_SCRIPT)
    subprocess.run([sys.executable, "order.py"], cwd=work, check=True)
    with open_trail(work) as trail:

        def sources(name):
            """The artifacts a file was derived from (not what its run used)."""
            key = f"artifact:{trail.get_artifact(work / name).id}"
            graph = trail.lineage(key.split(":")[1], direction="upstream", depth=1)
            return {
                Path(graph.nodes[source]["name"]).name
                for source, target, kind in graph.edges
                if kind == "derived" and target == key
            }

        assert sources("first.txt") == set()  # not rows.csv, not the frame read after it
        assert sources("second.txt") == {"rows.csv"}
        assert trail.verify().ok
