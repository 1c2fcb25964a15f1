"""Lineage per statement: a name a cell binds derives from what its own statement read.

The first half tests the source analysis alone (no kernel); the second runs real notebooks in
real kernels (nbclient) and reads the lineage back from the trail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbtrail.capture.names import analyze

# -- the analysis, without a kernel ------------------------------------------------------------

SPLIT = (
    "X_train, y_train = frame[cols][:400], frame['y'][:400]\n"
    "X_test = frame[cols][400:]\n"
    "model = Tree().fit(X_train, y_train)\n"
)


def test_each_binding_derives_from_its_own_statement():
    names = analyze(SPLIT)
    assert names.fallback is None
    assert [(s.start, s.end) for s in names.statements] == [(1, 1), (2, 2), (3, 3)]
    assert names.statements[1].refs == {("frame", -1), ("cols", -1)}
    assert names.statements[2].refs == {("Tree", -1), ("X_train", 0), ("y_train", 0)}
    assert names.origins("X_test") == {"frame", "cols"}
    assert names.origins("model") == {"Tree", "frame", "cols"}
    assert names.statement_at(2) == 1 and names.statement_at(9) is None


def test_rebinding_refers_to_the_version_before():
    names = analyze("df = load(path)\ndf = df.dropna()\nout = df[df.a > limit]")
    assert names.statements[1].refs == {("df", 0)}
    assert names.statements[2].refs == {("df", 1), ("limit", -1)}
    assert names.last_binding("df") == 1
    assert names.origins("out") == {"load", "path", "limit"}


@pytest.mark.parametrize(
    ("source", "name", "refs"),
    [
        # Item assignment: a new version of df, from its previous self and the value.
        ("df['c'] = other['v'] * k", "df", {("df", -1), ("other", -1), ("k", -1)}),
        # A mutating method: the list's new version depends on the call's arguments.
        ("lst.append(x)", "lst", {("lst", -1), ("x", -1)}),
        ("df.drop(columns=['a'], inplace=True)", "df", {("df", -1)}),
        ("df.loc[mask, 'b'] = 0", "df", {("df", -1), ("mask", -1)}),
    ],
)
def test_in_place_changes_are_new_versions_of_the_changed_name(source, name, refs):
    names = analyze("unrelated = elsewhere * 2\n" + source)
    statement = names.statements[1]
    assert name in statement.binds and statement.refs == refs


def test_a_loop_is_one_statement_binding_from_all_it_reads():
    source = (
        "side = other.copy()\n"
        "for path in paths:\n"
        "    part = load(path)\n"
        "    parts.append(part)\n"
        "combined = concat(parts)\n"
    )
    names = analyze(source)
    loop = names.statements[1]
    assert (loop.start, loop.end) == (2, 4)
    assert loop.binds == {"path", "part", "parts"}
    assert {"paths", "load", "parts"} <= {n for n, _ in loop.refs}
    assert names.statements[2].refs == {("concat", -1), ("parts", 1)}
    assert names.origins("side") == {"other"}
    assert names.statement_at(3) == 1


def test_calling_a_function_defined_in_the_cell_reads_its_globals_at_the_call():
    source = (
        "scale = 2\n"
        "def rescale(v, factor=base):\n"
        "    local = v * scale\n"
        "    return local + offset\n"
        "scale = 3\n"
        "y = rescale(x)\n"
    )
    names = analyze(source)
    define = names.statements[1]
    assert define.refs == {("base", -1)}  # a def reads its defaults, not its body
    assert names.statements[3].refs == {
        ("rescale", 1),
        ("x", -1),
        ("scale", 2),  # the value at the call, not at the def
        ("offset", -1),
    }


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("exec('a = b')\nc = d", "calls exec()"),
        ("globals()['a'] = frame\nc = d", "calls globals()"),
        ("from helpers import *\nc = d", "a star import"),
        ("def f():\n    global a\n    a = 1\nc = d", "declares global names"),
        ("get_ipython().run_line_magic('time', 'a = b')\nc = d", "the magic %time"),
    ],
)
def test_what_the_source_cannot_show_makes_the_cell_one_statement(source, why):
    names = analyze(source)
    assert names.fallback == why
    (whole,) = names.statements
    assert "c" in whole.binds and ("d", -1) in whole.refs
    assert names.statement_at(1) == 0 and names.statement_at(500) == 0


def test_two_statements_on_one_line_cannot_be_told_apart_at_run_time():
    names = analyze("a = f(); b = g()\nc = a")
    assert len(names.statements) == 3
    assert names.statement_at(1) is None and names.statement_at(2) == 2


def test_harmless_magics_keep_statements():
    names = analyze("get_ipython().run_line_magic('trail', 'record n 3')\na = b")
    assert names.fallback is None and len(names.statements) == 2


def test_unparseable_source_has_no_statements():
    names = analyze("df = (")
    assert names.statements == [] and names.statement_at(1) is None


def test_ancestry_refuses_an_edge_that_closes_a_cycle():
    from types import SimpleNamespace

    from nbtrail.capture.tracker import Ancestry
    from nbtrail.store import NewEdge

    frame, file, other = "a" * 32, "b" * 32, "c" * 32
    ancestry = Ancestry(lambda source: [source])
    run = "01900000-0000-7000-8000-00000000000b"
    ancestry.learn([NewEdge("derived", run, file, source_id=frame, path="/p/mi.parquet")])
    unit = SimpleNamespace(run_id=run, facts=[], created=[], inputs=[], file_digests=set())
    assert ancestry.reaches(file, frame)
    edges, cycles = ancestry.edges(unit, frame, [file])  # the frame read back from its file
    assert (edges, cycles) == ([], 1)
    edges, cycles = ancestry.edges(unit, other, [file])  # something new made from the file
    assert cycles == 0 and [e.source_id for e in edges] == [file]
    # Produced with no derived edge, lineage takes it to depend on all its run used.
    ancestry.learn([NewEdge("produced", run, other), NewEdge("used", run, file)])
    assert ancestry.reaches(other, frame)


# -- real kernels ------------------------------------------------------------------------------

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

SETUP = (
    "import joblib, numpy as np, pandas as pd\n"
    "from sklearn.model_selection import GridSearchCV, cross_val_score\n"
    "from sklearn.tree import DecisionTreeClassifier"
)


def _execute(work: Path, *cells: str):
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    nb.cells = [new_code_cell(c) for c in ("%load_ext nbtrail", SETUP, *cells, "%trail")]
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(work)}}
    ).execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
    return nb


def _write_inputs(work: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=600), "b": rng.normal(size=600), "y": rng.integers(0, 2, 600)}
    )
    frame.to_csv(work / "a.csv", index=False)
    frame.iloc[:50].to_csv(work / "b.csv", index=False)
    (work / "notes.txt").write_text("twelve chars")


STATEMENTS = (
    # 2: three files, each feeding only the statement that read it
    "frame = pd.read_csv('a.csv')\n"
    "other = pd.read_csv('b.csv')\n"
    "notes = open('notes.txt').read()\n"
    "tagged = frame.assign(n=len(notes))",
    # 3: the issue's example
    "cols = ['a', 'b']\n"
    "X_train, y_train = frame[cols][:400], frame['y'][:400]\n"
    "X_test = frame[cols][400:]\n"
    "model = DecisionTreeClassifier(random_state=0).fit(X_train, y_train)",
    # 4: in-place changes
    "unrelated = frame * 2\n"
    "other['c'] = tagged['a'].sum()\n"
    "extra = frame.copy()\n"
    "extra.drop(columns=['b'], inplace=True)",
    # 5: a loop is one statement
    "side = other.head(10)\n"
    "parts = []\n"
    "for name in ['a.csv', 'b.csv']:\n"
    "    parts.append(pd.read_csv(name))\n"
    "combined = pd.concat(parts)",
    # 6: model evaluation: quiet fits, results derived from the data they used
    "scores = cross_val_score(DecisionTreeClassifier(max_depth=2), X_train, y_train, cv=3)\n"
    "search = GridSearchCV(\n"
    "    DecisionTreeClassifier(random_state=0), {'max_depth': [1, 2, 3]}, cv=3\n"
    ").fit(X_train, y_train)\n"
    "best = search.best_estimator_\n"
    "unseen = X_test.iloc[:5]",
)


@pytest.fixture(scope="module")
def statements_trail(tmp_path_factory):
    work = tmp_path_factory.mktemp("statements")
    home = work / ".trail-home"
    _write_inputs(work)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBTRAIL_HOME", str(home))
        nb = _execute(work, *STATEMENTS)
    return work, home, nb


@pytest.fixture
def trail_of(monkeypatch):
    from nbtrail.store import open_trail

    def _open(work: Path, home: Path):
        monkeypatch.setenv("NBTRAIL_HOME", str(home))
        return open_trail(work)

    return _open


class _Graph:
    """Names bound by the session's cells, and what each was derived from."""

    def __init__(self, trail, work: Path):
        (session,) = trail.runs(kind="session")
        self.trail, self.work = trail, work
        self.by_name: dict[str, str] = {}  # the newest version of each name
        self.by_cell: dict[int, dict[str, str]] = {}  # execution count -> name -> digest
        cells = trail.runs(parent=session.id)
        for cell in sorted(cells, key=lambda c: c.params["execution_count"]):
            made = self.by_cell.setdefault(cell.params["execution_count"], {})
            for usage in trail.run_details(cell.id).produced:
                if usage.name:
                    self.by_name[usage.name] = made[usage.name] = usage.artifact.id
        self.names = {v: k for k, v in self.by_name.items()}

    def file(self, name: str) -> str:
        return self.trail.get_artifact(self.work / name).id

    def sources(self, name: str, cell: int | None = None) -> set[str]:
        """What ``name`` (as cell ``cell`` left it) was derived from: variable or file names."""
        digest = self.by_name[name] if cell is None else self.by_cell[cell][name]
        key = f"artifact:{digest}"
        graph = self.trail.lineage(digest, direction="upstream", depth=1)
        out = set()
        for source, target, kind in graph.edges:
            if kind == "derived" and target == key:
                digest = source.split(":", 1)[1]
                node = graph.nodes[source]
                out.add(self.names.get(digest) or Path(node["name"]).name)
        return out


def test_bindings_derive_from_their_own_statement(statements_trail, trail_of):
    work, home, nb = statements_trail
    status = "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in nb.cells[-1].outputs
    )
    assert re.search(r"capture errors\s+0\b", status), status
    with trail_of(work, home) as trail:
        graph = _Graph(trail, work)
        # Files feed the statement that read them: `tagged` is not derived from b.csv.
        assert graph.sources("frame") == {"a.csv"}
        assert graph.sources("other", cell=3) == {"b.csv"}
        assert graph.sources("tagged") == {"frame", "notes.txt"}  # not b.csv, not other
        # The issue's example.
        assert graph.sources("X_test") == {"frame"}
        assert graph.sources("X_train") == {"frame"}
        assert graph.sources("model") == {"X_train", "y_train"}
        assert trail.verify().ok


def test_in_place_changes_derive_from_the_previous_version_and_the_arguments(
    statements_trail, trail_of
):
    work, home, _ = statements_trail
    with trail_of(work, home) as trail:
        graph = _Graph(trail, work)
        # other['c'] = tagged['a'].sum(): other as it was, and tagged; not the cell's others.
        assert graph.sources("other") == {"other", "tagged"}
        assert graph.sources("unrelated") == {"frame"}
        # extra = frame.copy(); extra.drop(inplace=True): from frame, through the copy.
        assert graph.sources("extra") == {"frame"}


def test_a_loop_binds_from_everything_it_read_and_nothing_else(statements_trail, trail_of):
    work, home, _ = statements_trail
    with trail_of(work, home) as trail:
        graph = _Graph(trail, work)
        combined = graph.sources("combined")
        assert len(combined) == 2  # the two frames the loop read (the list is not tracked)
        upstream = trail.lineage(graph.by_name["combined"], direction="upstream", depth=2)
        files = {Path(n["name"]).name for n in upstream.nodes.values() if n["kind"] == "file"}
        assert files == {"a.csv", "b.csv"}
        assert graph.sources("side") == {"other"}


def test_cross_validation_and_search_results_derive_from_their_data(statements_trail, trail_of):
    work, home, _ = statements_trail
    with trail_of(work, home) as trail:
        graph = _Graph(trail, work)
        assert graph.sources("scores") == {"X_train", "y_train"}
        assert graph.sources("search") == {"X_train", "y_train"}
        assert graph.sources("best") == {"search"}
        assert graph.sources("unseen") == {"X_test"}
        # Fold fits are quiet: the tree, the search and its best estimator, nothing per fold.
        models = {a.id for a in trail.artifacts(kind="model")}
        assert graph.by_name["model"] in models and graph.by_name["search"] in models
        assert graph.by_name["best"] in models and len(models) == 3


def _cycles(edges) -> list:
    """Nodes that are their own ancestors in a set of (source, target, kind) edges."""
    children: dict[str, set[str]] = {}
    for source, target, _ in edges:
        children.setdefault(source, set()).add(target)
    found = []
    for start in children:
        stack, seen = list(children[start]), set()
        while stack:
            node = stack.pop()
            if node == start:
                found.append(start)
                break
            if node not in seen:
                seen.add(node)
                stack.extend(children.get(node, ()))
    return found


READ_BACK = (
    "frame = pd.read_csv('a.csv')\n"
    "mi = frame.groupby('y', as_index=False).mean()\n"
    "mi.to_parquet('mi.parquet')\n"
    "back = pd.read_parquet('mi.parquet')",
    "again = pd.read_parquet('mi.parquet')\n"
    "from nbtrail.fingerprints import fingerprint\n"
    "print(fingerprint(again).digest == fingerprint(mi).digest)",
    "model = DecisionTreeClassifier(random_state=0).fit(frame[['a', 'b']], frame['y'])\n"
    "joblib.dump(model, 'model.joblib')",
    "loaded = joblib.load('model.joblib')\n"
    "print(fingerprint(loaded).digest == fingerprint(model).digest)\n"
    "preds = loaded.predict(frame[['a', 'b']])",
)


def test_a_file_written_and_read_back_is_not_its_own_ancestor(tmp_path, trail_of, monkeypatch):
    work = tmp_path / "read-back"
    work.mkdir()
    home = work / ".trail-home"
    _write_inputs(work)
    monkeypatch.setenv("NBTRAIL_HOME", str(home))
    nb = _execute(work, *READ_BACK)
    # The values read back are the very artifacts written (so the cycle was possible).
    assert [c.outputs[0]["text"].strip() for c in nb.cells[3:6:2]] == ["True", "True"]
    # A second session reads them back again: the trail's history is checked as well.
    _execute(work, "mi = pd.read_parquet('mi.parquet')\nm = joblib.load('model.joblib')")
    with trail_of(work, home) as trail:
        assert len(trail.runs(kind="session")) == 2
        for artifact in trail.artifacts():
            lineage = trail.lineage(artifact.id, direction="upstream")
            assert _cycles(lineage.edges) == [], artifact.name
        # The frame read back is linked to the file it came from only where it is new.
        mi_file = trail.get_artifact(work / "mi.parquet")
        upstream = trail.lineage(mi_file.id, direction="upstream")
        names = {Path(n["name"]).name for n in upstream.nodes.values() if n["type"] == "artifact"}
        assert {"mi", "frame", "a.csv"} <= names
        assert trail.verify().ok
