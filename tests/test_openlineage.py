"""OpenLineage export: events conform to the RunEvent schema and carry nbtrail's facts."""

from __future__ import annotations

import json
import uuid

import jsonschema
import pandas as pd
import pytest

from nbtrail.export.openlineage import run_events, to_json_lines

# The parts of the OpenLineage 2-0-2 RunEvent schema every consumer relies on, transcribed from
# the specification (https://openlineage.io/spec/2-0-2/OpenLineage.json).
_FACET = {
    "type": "object",
    "required": ["_producer", "_schemaURL"],
    "properties": {
        "_producer": {"type": "string", "format": "uri"},
        "_schemaURL": {"type": "string", "format": "uri"},
    },
}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "facets": {"type": "object", "additionalProperties": _FACET},
    },
}
RUN_EVENT_SCHEMA = {
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "additionalProperties": _FACET},
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {"facets": {"type": "object", "additionalProperties": _FACET}},
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


def _validate(event: dict) -> None:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.validate(event, RUN_EVENT_SCHEMA, format_checker=checker)
    uuid.UUID(event["run"]["runId"])


def test_completed_run_exports_start_and_complete(trail, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n")
    parent = trail.start_run("pipeline", kind="pipeline")
    with parent.start_run("step", kind="step") as run:
        src = run.use(path)
        run.produce(pd.read_csv(path), name="frame", derived_from=[src])
    parent.end()
    events = [json.loads(line) for line in to_json_lines(run_events(trail, run.id)).splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        _validate(event)
    start, complete = events
    assert start["run"]["runId"] == run.id
    assert start["job"] == complete["job"] and start["job"]["name"] == "step"
    assert start["run"]["facets"]["parent"]["run"]["runId"] == parent.id
    (inp,) = complete["inputs"]
    assert inp["namespace"] == "file" and inp["name"] == str(path.resolve())
    assert inp["facets"]["version"]["datasetVersion"] == f"xxh3-128:{src.id}"
    (out,) = complete["outputs"]
    assert out["namespace"] == f"nbtrail://{trail.trail_id}" and out["name"] == "frame"
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == ["a", "b"]
    assert complete["eventTime"] >= start["eventTime"]


def test_failed_and_running_runs(trail):
    with pytest.raises(RuntimeError):
        with trail.start_run("broken") as failed:
            raise RuntimeError("disk full")
    events = run_events(trail, failed.id)
    assert [e.eventType.value for e in events] == ["START", "FAIL"]
    assert events[1].run.facets["errorMessage"].message == "RuntimeError: disk full"
    running = trail.start_run("ongoing")
    assert [e.eventType.value for e in run_events(trail, running.id)] == ["START"]
