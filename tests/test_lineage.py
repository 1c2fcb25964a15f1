"""Lineage: upstream, downstream, precision through derived edges, depth, renderings."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nbtrail.errors import ArtifactNotFound, UsageError


@pytest.fixture
def pipeline(trail, tmp_path):
    """raw.csv -> prepare -> clean -> train -> model ; other.csv used by train, unrelated."""
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n3,4\n")
    other = tmp_path / "other.csv"
    other.write_text("z\n9\n")
    with trail.start_run("prepare") as prepare:
        raw_art = prepare.use(raw)
        clean = prepare.produce(pd.read_csv(raw).assign(c=1), name="clean")
    with trail.start_run("train") as train:
        clean_in = train.use(clean, name="clean")
        other_art = train.use(other)
        model = train.produce({"weights": [1, 2, 3]}, name="model", derived_from=[clean_in])
        report = train.produce({"report": True}, name="report")  # no derivation recorded
    return {
        "trail": trail,
        "raw": raw_art,
        "other": other_art,
        "clean": clean,
        "model": model,
        "report": report,
        "prepare": prepare,
        "train": train,
        "raw_path": raw,
    }


def _names(graph, kind="artifact"):
    return {n["name"] for n in graph.nodes.values() if n["type"] == kind}


def test_upstream_follows_derivations_precisely(pipeline):
    graph = pipeline["trail"].lineage(pipeline["model"].id, direction="upstream")
    assert _names(graph) == {"model", "clean", pipeline["raw"].name}
    assert _names(graph, "run") == {"prepare", "train"}
    # other.csv was used by the same run but the model was not derived from it.
    assert pipeline["other"].name not in _names(graph)


def test_upstream_without_derivations_assumes_everything_the_run_used(pipeline):
    graph = pipeline["trail"].lineage(pipeline["report"].id, direction="upstream")
    assert _names(graph) == {"report", "clean", pipeline["other"].name, pipeline["raw"].name}


def test_downstream_of_a_file_by_path(pipeline):
    trail = pipeline["trail"]
    graph = trail.lineage(pipeline["raw_path"], direction="downstream")
    assert graph.root == f"artifact:{pipeline['raw'].id}"
    assert {"clean", "model", "report"} <= _names(graph)
    other = trail.lineage(pipeline["other"].id, direction="downstream")
    assert "report" in _names(other) and "model" not in _names(other)


def test_depth_limits_hops(pipeline):
    graph = pipeline["trail"].lineage(pipeline["model"].id, direction="upstream", depth=1)
    assert _names(graph) == {"model", "clean"}


def test_lineage_of_a_run(pipeline):
    graph = pipeline["trail"].lineage(pipeline["train"].id)
    assert graph.root == f"run:{pipeline['train'].id}"
    assert {"clean", "model", "report"} <= _names(graph)


def test_renderings(pipeline):
    graph = pipeline["trail"].lineage(pipeline["model"].id)
    text = graph.to_text()
    assert text.splitlines()[0].startswith("model [object")
    assert "derived from clean" in text and "produced by run train" in text
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert f'"artifact:{pipeline["clean"].id}" -> "artifact:{pipeline["model"].id}"' in dot
    data = json.loads(graph.to_json())
    assert {e["kind"] for e in data["edges"]} == {"derived", "produced", "used"}
    assert set(graph.artifacts.columns) >= {"id", "name", "kind"}
    assert "Lineage of 'model'" in repr(graph)


def test_bad_lineage_queries(pipeline):
    trail = pipeline["trail"]
    with pytest.raises(ArtifactNotFound, match="no artifact or run matches"):
        trail.lineage("nothing-like-this")
    with pytest.raises(UsageError, match="direction must be one of"):
        trail.lineage(pipeline["model"].id, direction="sideways")
    with pytest.raises(UsageError, match="depth must be a positive integer"):
        trail.lineage(pipeline["model"].id, depth=0)


def test_artifact_with_no_lineage_says_so(trail):
    art = trail.snapshot(pd.DataFrame({"a": [1]}), name="lonely")
    assert "no recorded lineage" in trail.lineage(art.id).to_text()
