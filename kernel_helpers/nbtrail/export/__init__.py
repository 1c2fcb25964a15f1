"""Exports of the trail to other systems: OpenLineage now; ONNX models in a later issue."""

from .openlineage import run_events, to_json_lines

__all__ = ["run_events", "to_json_lines"]
