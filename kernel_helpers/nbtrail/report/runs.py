"""What a report says about a run: its steps, their checks and metrics, its file lineage.

The JUnit writer and the HTML renderer both read a run through :func:`summarize`, so the two
always agree. A pipeline's steps are its child template runs (plus the steps that never ran,
from the pipeline's record); a single template run is a pipeline of one step. A reused step
reports the checks and metrics of the run it reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunSummary", "StepSummary", "summarize"]


@dataclass
class StepSummary:
    """One step of a report."""

    name: str
    status: str  # succeeded | failed | reused | not run | running | aborted
    run_id: str | None = None
    duration: float | None = None
    parameters: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    notebook: str | None = None
    error: str | None = None
    reused_from: str | None = None
    not_reused: str | None = None  # why an earlier run did not stand in for this one
    checks: list = field(default_factory=list)  # CheckRecord
    metrics: dict = field(default_factory=dict)
    used_files: list = field(default_factory=list)  # (path, digest)
    produced: list = field(default_factory=list)  # (name or path, digest, kind)


@dataclass
class RunSummary:
    """A run as a report shows it."""

    run: object  # RunRecord
    steps: list[StepSummary]

    @property
    def checks(self) -> list[tuple[str, object]]:
        """Every check, with the step it belongs to."""
        return [(s.name, c) for s in self.steps for c in s.checks]


def _step(trail, record, status: str | None = None) -> StepSummary:
    attrs = record.attrs or {}
    source_id = attrs.get("reused_from") or record.id
    details = trail.run_details(source_id, tree=True)
    metrics = {metric.key: metric.value for metric in details.metrics}
    used: dict[str, str] = {}
    produced: dict[str, tuple[str, str, str]] = {}
    for usage in details.used:
        if usage.path and usage.name != "template":
            used[usage.path] = usage.artifact.id
    for usage in details.produced:
        kind = usage.artifact.kind
        if usage.path and usage.name != "executed notebook":
            produced[usage.path] = (usage.path, usage.artifact.id, kind)
        elif kind == "model":
            label = usage.name or usage.artifact.name
            produced[f"model:{usage.artifact.id}"] = (label, usage.artifact.id, kind)
    # A file the step wrote and then read back is its output, not its input.
    used = {path: digest for path, digest in used.items() if path not in produced}
    return StepSummary(
        name=record.name,
        status=status or ("reused" if attrs.get("reused_from") else record.status),
        run_id=record.id,
        duration=record.duration,
        parameters=record.params or {},
        outputs=attrs.get("outputs", {}),
        notebook=attrs.get("executed_notebook"),
        error=record.error,
        reused_from=attrs.get("reused_from"),
        not_reused=attrs.get("not_reused"),
        checks=details.checks,
        metrics=metrics,
        used_files=sorted(used.items()),
        produced=sorted(produced.values()),
    )


def summarize(trail, run_id: str) -> RunSummary:
    """Read a pipeline or template run for a report."""
    record = trail.get_run(run_id)
    if record.kind != "pipeline":
        return RunSummary(record, [_step(trail, record)])
    children = [r for r in trail.runs(parent=record.id, kind="template")]
    children.sort(key=lambda r: (r.started_at, r.id))
    steps = [_step(trail, child) for child in children]
    recorded = {s.name for s in steps}
    planned = record.attrs.get("steps", {})
    for spec_step in record.params.get("steps", []):
        name = spec_step["name"]
        if name not in recorded and planned.get(name, "not run") == "not run":
            if name in record.attrs.get("selected", [name]):
                steps.append(
                    StepSummary(
                        name=name, status="not run", parameters=spec_step.get("parameters", {})
                    )
                )
    return RunSummary(record, steps)
