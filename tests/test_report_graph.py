"""The report's lineage graph: a layered left-to-right layout, few crossings, escaped SVG."""

from __future__ import annotations

import itertools
import random
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import networkx as nx
import pytest

from nbtrail.report.graph import build_graph, count_crossings, layout_graph, lineage_svg

SVG = "{http://www.w3.org/2000/svg}"


def step(name, used=(), produced=(), status="succeeded"):
    return SimpleNamespace(
        name=name,
        status=status,
        used_files=[(path, f"digest-of-{path}") for path in used],
        produced=[
            (label, f"digest-of-{label}", "model" if label.startswith("model ") else "file")
            for label in produced
        ],
    )


def summary(*steps):
    return SimpleNamespace(steps=list(steps))


def demo():
    return summary(
        step(
            "prepare_data",
            ["data/adult.csv", "data/adult.test"],
            ["data/train.parquet", "data/test.parquet"],
        ),
        step(
            "validate_data",
            ["data/train.parquet", "data/test.parquet"],
            ["data/schema.yaml", "data/checks.html"],
        ),
        step(
            "train",
            ["data/train.parquet", "data/test.parquet"],
            ["models/model.joblib", "model logistic"],
        ),
    )


def _cross(p, q, r, s):
    """Whether segments pq and rs cross at a point inside both (touching does not count)."""

    def side(a, b, c):
        value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (value > 1e-9) - (value < -1e-9)

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def drawn_crossings(layout, skip=()):
    """Crossings of the drawn edges, computed from the points alone, not from the layout's count."""
    pieces = [
        (edge, a, b)
        for edge, points in layout.edges.items()
        if edge not in skip
        for a, b in itertools.pairwise(points)
    ]
    return sum(
        _cross(a, b, c, d)
        for (e1, a, b), (e2, c, d) in itertools.combinations(pieces, 2)
        if e1 != e2 and not {a, b} & {c, d}
    )


def assert_drawn_sanely(graph, layout):
    """Every edge runs left to right, no two boxes overlap, everything fits in the SVG."""
    width, height = 190, 42
    for (u, v), points in layout.edges.items():
        xs = [x for x, _ in points]
        if layout.layer[u] < layout.layer[v]:
            assert xs == sorted(xs) and xs[0] < xs[-1], (u, v, points)
        else:  # an edge closing a cycle, drawn back through its own waypoints
            assert nx.has_path(graph, v, u), (u, v)
            assert xs == sorted(xs, reverse=True), (u, v, points)
        assert points[0][0] == pytest.approx(layout.boxes[u][0] + (width if xs[0] < xs[-1] else 0))
    boxes = sorted(layout.boxes.values())
    for (x1, y1), (x2, y2) in itertools.combinations(boxes, 2):
        assert x1 != x2 or abs(y1 - y2) >= height + 20 - 1e-6, "boxes overlap"
    for x, y in boxes:
        assert 0 <= x and x + width <= layout.width and 0 <= y and y + height <= layout.height
    for points in layout.edges.values():
        for x, y in points:
            assert 0 <= x <= layout.width and 0 <= y <= layout.height


# -- the demo pipeline ------------------------------------------------------------------------


def test_demo_pipeline_lays_out_by_generation_without_crossings():
    graph = build_graph(demo())
    layout = layout_graph(graph)
    layer = {key.split(":", 1)[1]: depth for key, depth in layout.layer.items()}
    model = next(key for key in layout.layer if key.startswith("model:"))
    assert layer["data/adult.csv"] == layer["data/adult.test"] == 0
    assert layer["prepare_data"] == 1
    assert layer["data/train.parquet"] == layer["data/test.parquet"] == 2
    assert layer["validate_data"] == 3
    assert layer["data/schema.yaml"] == layer["data/checks.html"] == 4
    # train reads the same two files as validate_data: beside it, one of the four edges would
    # cross another; one generation later, its edges pass above and below validate_data.
    assert layer["train"] == 5
    assert layer["models/model.joblib"] == layout.layer[model] == 6
    assert layout.crossings == 0
    assert count_crossings(layout.rows, layout.segments) == 0
    assert drawn_crossings(layout) == 0
    for u, v in graph.edges:
        assert layout.layer[u] < layout.layer[v]
    assert_drawn_sanely(graph, layout)
    # the long edges to train go through one waypoint per column they cross
    assert len(layout.edges["file:data/train.parquet", "step:train"]) == 2 + 2 * 2
    # sources and what a step writes sit level with it, not stacked at the bottom
    prepare_y = layout.boxes["step:prepare_data"][1]
    sources = [layout.boxes[f"file:data/{name}"][1] for name in ("adult.csv", "adult.test")]
    assert min(sources) < prepare_y < max(sources)
    assert sum(sources) / 2 == pytest.approx(prepare_y)


def test_demo_as_recorded_with_read_backs_keeps_its_generations():
    # The trail records a step reading back what it wrote (snapshots) and passing its inputs on
    # as outputs: every such pair is a two-node cycle, each drawn as one edge back.
    parquets = ["data/test.parquet", "data/train.parquet"]
    run = summary(
        step("prepare_data", ["data/adult.csv", *parquets], ["data/adult.csv", *parquets]),
        step("validate_data", parquets, ["data/checks.html", "data/schema.yaml", *parquets]),
        step("train", parquets, ["models/model.joblib", "model pipeline"]),
    )
    graph = build_graph(run)
    layout = layout_graph(graph)
    layer = {key.rsplit("/", 1)[-1]: depth for key, depth in layout.layer.items()}
    assert [layer[n] for n in ("adult.csv", "step:prepare_data", "test.parquet")] == [0, 1, 2]
    assert layer["train.parquet"] == 2 and layer["step:validate_data"] == 3
    assert layer["checks.html"] == layer["schema.yaml"] == 4 and layer["step:train"] == 5
    back = sorted((u, v) for u, v in graph.edges if layout.layer[u] > layout.layer[v])
    assert back == [
        ("file:data/test.parquet", "step:prepare_data"),
        ("file:data/train.parquet", "step:prepare_data"),
        ("step:prepare_data", "file:data/adult.csv"),
        ("step:validate_data", "file:data/test.parquet"),
        ("step:validate_data", "file:data/train.parquet"),
    ]
    assert layout.crossings == 0
    assert drawn_crossings(layout, skip=back) == 0
    assert_drawn_sanely(graph, layout)


def test_demo_svg_has_every_node_and_edge():
    svg = lineage_svg(demo())
    root = ET.fromstring(svg)
    nodes = root.findall(f"{SVG}g")
    kinds = sorted(node.get("class") for node in nodes)
    assert kinds == ["node file"] * 7 + ["node model"] + ["node step"] * 3
    for node in nodes:
        assert node.find(f"{SVG}title").text and node.find(f"{SVG}rect") is not None
    title = next(n for n in nodes if n.get("data-node") == "file:data/adult.csv")
    assert title.find(f"{SVG}title").text == "data/adult.csv\nxxh3-128 digest-of-data/adult.csv"
    edges = root.findall(f"{SVG}path[@class='edge']")
    assert len(edges) == 12
    assert "script" not in svg.lower()
    assert float(root.get("width")) == 20 * 2 + 6 * 250 + 190


# -- crossing reduction ------------------------------------------------------------------------


def test_count_crossings_is_exact():
    rows = [["a", "b", "c"], ["x", "y", "z"]]
    assert count_crossings(rows, [("a", "x"), ("b", "y"), ("c", "z")]) == 0
    assert count_crossings(rows, [("a", "z"), ("b", "y"), ("c", "x")]) == 3
    assert count_crossings(rows, [("a", "y"), ("a", "z"), ("b", "x")]) == 2
    assert count_crossings(rows, [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]) == 1
    k33 = [(u, v) for u in "abc" for v in "xyz"]
    assert count_crossings(rows, k33) == 9  # C(3,2) * C(3,2), whatever the order
    assert count_crossings(rows, [("x", "a"), ("y", "b")]) == 0  # either direction
    with pytest.raises(ValueError, match="neighbouring"):
        count_crossings([["a"], ["b"], ["c"]], [("a", "c")])


def test_a_twisted_input_is_untangled():
    # Step i reads inputs i and i+1 and writes output i; a last step reads every output. Names
    # are shuffled so that sorting by name (the starting order) gives many crossings.
    names = ["m", "c", "x", "a", "q", "h", "t"]
    files = ["k", "z", "b", "r", "e", "w", "d", "n"]
    steps = [
        step(f"s-{name}", [f"in/{files[i]}", f"in/{files[i + 1]}"], [f"out/{files[-1 - i]}"])
        for i, name in enumerate(names)
    ]
    steps.append(step("merge", [f"out/{files[-1 - i]}" for i in range(len(names))], ["report"]))
    graph = build_graph(summary(*steps))
    layout = layout_graph(graph)
    by_name = [sorted(n for n in layout.layer if layout.layer[n] == d) for d in range(5)]
    assert count_crossings(by_name, list(graph.edges)) > 10  # the input really is twisted
    assert [len(row) for row in layout.rows] == [8, 7, 7, 1, 1]
    assert layout.crossings == 0
    assert drawn_crossings(layout) == 0
    assert_drawn_sanely(graph, layout)


def test_a_permutation_between_stages_is_untangled():
    # Stage-one steps write files that stage-two steps read in a scrambled order.
    rng = random.Random(3)
    order = list(range(12))
    rng.shuffle(order)
    first = [step(f"a{i:02d}", [f"raw/{i:02d}.csv"], [f"mid/{i:02d}.parquet"]) for i in range(12)]
    second = [
        step(f"b{j:02d}", [f"mid/{i:02d}.parquet"], [f"final/{j:02d}.parquet"])
        for j, i in enumerate(order)
    ]
    layout = layout_graph(build_graph(summary(*first, *second)))
    assert [len(row) for row in layout.rows] == [12] * 5
    assert layout.crossings == 0
    assert drawn_crossings(layout) == 0


def test_a_graph_that_must_cross_still_renders():
    # Three steps each reading the same three files: K(3,3) is not planar, so no layered
    # drawing avoids every crossing, but moving steps apart removes most of the nine.
    files = ["f1.csv", "f2.csv", "f3.csv"]
    run = summary(*(step(name, files, [f"{name}.out"]) for name in ("s1", "s2", "s3")))
    graph = build_graph(run)
    layout = layout_graph(graph)
    assert 1 <= layout.crossings < 9
    assert drawn_crossings(layout) == layout.crossings
    assert_drawn_sanely(graph, layout)
    root = ET.fromstring(lineage_svg(run))
    assert len(root.findall(f"{SVG}g")) == 9
    assert len(root.findall(f"{SVG}path[@class='edge']")) == 12


# -- cycles, sources, long edges ---------------------------------------------------------------


def test_a_step_that_rewrites_what_it_reads_renders():
    run = summary(
        step("clean", ["data/a.csv", "data/b.csv"], ["data/a.csv"]),
        step("train", ["data/a.csv"], ["model"]),
    )
    graph = build_graph(run)
    layout = layout_graph(graph)
    layer = layout.layer
    assert layer["file:data/a.csv"] == layer["file:data/b.csv"] == layer["step:clean"] - 1
    assert layer["step:train"] > layer["file:data/a.csv"]
    back = [(u, v) for u, v in graph.edges if layer[u] > layer[v]]
    assert back == [("step:clean", "file:data/a.csv")]
    # The rewrite runs right to left, from the step's left side to the file's right side, a
    # little lower than the read it answers, so the two are told apart and never cross.
    (sx, sy), (fx, fy) = layout.boxes["step:clean"], layout.boxes["file:data/a.csv"]
    read = layout.edges["file:data/a.csv", "step:clean"]
    rewrite = layout.edges["step:clean", "file:data/a.csv"]
    assert read == [(fx + 190, fy + 21), (sx, sy + 21)]
    assert rewrite == [(sx, sy + 21 + 8), (fx + 190, fy + 21 + 8)]
    # (beside the read, it may touch the edges leaving the same file: not a crossing to count)
    assert layout.crossings == 0 and drawn_crossings(layout, skip=back) == 0
    assert_drawn_sanely(graph, layout)
    root = ET.fromstring(lineage_svg(run))
    edges = root.findall(f"{SVG}path[@class='edge']")
    assert len(edges) == 5
    (drawn,) = [e for e in edges if e.get("data-source") == "step:clean"]
    assert drawn.get("d").startswith(f"M {sx:.1f} {sy + 29:.1f} C ")
    assert drawn.get("d").endswith(f"{fx + 190:.1f} {fy + 29:.1f}")


def test_a_cycle_through_two_steps_renders():
    run = summary(
        step("a", ["x.csv", "seed.csv"], ["y.csv"]),
        step("b", ["y.csv"], ["x.csv", "out.csv"]),
    )
    graph = build_graph(run)
    layout = layout_graph(graph)
    back = [(u, v) for u, v in graph.edges if layout.layer[u] > layout.layer[v]]
    assert back == [("step:b", "file:x.csv")]  # the one edge that closes the cycle
    assert layout.layer["file:x.csv"] < layout.layer["step:a"] < layout.layer["step:b"]
    assert_drawn_sanely(graph, layout)
    assert len(ET.fromstring(lineage_svg(run)).findall(f"{SVG}g")) == 6


def test_a_source_sits_just_before_its_first_reader():
    run = summary(
        step("one", ["raw.csv"], ["a.csv"]),
        step("two", ["a.csv"], ["b.csv"]),
        step("three", ["b.csv", "late.csv", "shared.csv"], ["c.csv"]),
        step("four", ["c.csv", "shared.csv"], ["d.csv"]),
    )
    graph = build_graph(run)
    layout = layout_graph(graph)
    layer = layout.layer
    assert layer["file:raw.csv"] == 0
    assert layer["step:three"] == 5
    assert layer["file:late.csv"] == layer["file:shared.csv"] == 4  # not 0
    assert layer["step:four"] == 7
    # shared.csv is read two generations later too: that edge has waypoints, left to right
    points = layout.edges["file:shared.csv", "step:four"]
    assert len(points) == 2 + 2 * 2
    assert layout.crossings == 0 and drawn_crossings(layout) == 0
    assert_drawn_sanely(graph, layout)


def test_a_step_that_recorded_nothing_is_still_drawn():
    run = summary(step("skipped", status="not run"), step("one", ["a.csv"], ["b.csv"]))
    layout = layout_graph(build_graph(run))
    assert set(layout.boxes) == {"step:skipped", "step:one", "file:a.csv", "file:b.csv"}
    svg = lineage_svg(run)
    assert "skipped · not run" in svg
    assert lineage_svg(summary()) == "<p class='muted'>No files or models were recorded.</p>"


# -- scale, determinism, escaping ---------------------------------------------------------------


def big_pipeline(seed, steps=70):
    rng = random.Random(seed)
    files = [f"raw/source{i}.csv" for i in range(5)]
    made = []
    for i in range(steps):
        used = sorted(rng.sample(files, k=min(len(files), rng.randint(1, 3))))
        produced = [f"data/s{i}_{j}.parquet" for j in range(rng.randint(1, 2))]
        made.append(step(f"step{i:03d}", used, produced))
        files += produced
    return summary(*made)


def test_a_large_graph_draws_every_node():
    # How fast it is drawn is a benchmark's business, not a test's (timed asserts are flaky
    # on a loaded CI machine: 0.17 s quiet, 1.85 s once under load).
    run = big_pipeline(0, steps=80)
    graph = build_graph(run)
    assert graph.number_of_nodes() >= 200
    svg = lineage_svg(run)
    assert len(ET.fromstring(svg).findall(f"{SVG}g")) == graph.number_of_nodes()
    layout = layout_graph(graph)
    for u, v in graph.edges:
        assert layout.layer[u] < layout.layer[v]
    assert_drawn_sanely(graph, layout)
    # crossing reduction did its job: far fewer than the order the nodes came in
    by_name = [[] for _ in layout.rows]
    for row, ordered in zip(by_name, layout.rows, strict=True):
        row.extend(sorted(ordered))
    assert layout.crossings < count_crossings(by_name, layout.segments) / 2


def test_the_layout_is_deterministic():
    first = layout_graph(build_graph(big_pipeline(1)))
    second = layout_graph(build_graph(big_pipeline(1)))
    assert first == second


def test_labels_are_escaped():
    nasty = "<script>alert('x')</script> & \"quotes\""
    run = summary(
        step(f"step {nasty}", [f"data/{nasty}.csv"], [f"model {nasty}"], status="failed"),
    )
    svg = lineage_svg(run)
    assert "<script" not in svg and "alert('x')" not in svg
    assert "&lt;script&gt;" in svg and "&amp;" in svg and "&quot;" in svg
    root = ET.fromstring(svg)  # well-formed: every attribute and text escaped
    keys = {node.get("data-node") for node in root.findall(f"{SVG}g")}
    assert f"file:data/{nasty}.csv" in keys and f"step:step {nasty}" in keys
    titles = [node.find(f"{SVG}title").text for node in root.findall(f"{SVG}g")]
    assert f"data/{nasty}.csv\nxxh3-128 digest-of-data/{nasty}.csv" in titles
    sources = {edge.get("data-source") for edge in root.findall(f"{SVG}path")}
    assert f"file:data/{nasty}.csv" in sources
