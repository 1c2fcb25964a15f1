"""``nbtrail reproduce RUN``: run it again and prove the results are the same, or say why not.

For a template run (each step, for a pipeline run):

1. Inputs: every file the run read (as capture recorded it, not as parameters suggest) must
   still have the bytes it had. A file that changed is restored from its snapshot, the current
   file kept beside it as ``<name>.before-reproduce``; a file that changed and was never
   snapshotted makes the run irreproducible here, and nothing is executed.
2. The template is executed again from its recorded bytes (snapshotted when it first ran) with
   the recorded parameters.
3. Metrics are compared within a relative tolerance; every file the run produced, and every
   declared output, must come out the same.
4. Environment differences (Python, platform, packages added, removed, changed) are listed.
   They are reported, not judged: a different environment that gives the same results has
   reproduced the run.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._json import jsonable
from ..errors import FingerprintError, UsageError
from ..fingerprints import fingerprint_file
from ._evidence import environment_diff, evidence
from .runner import run_template

__all__ = ["ReproduceReport", "reproduce"]


@dataclass
class ReproduceReport:
    """The outcome of reproducing one template run."""

    original: str
    name: str
    rerun: str | None = None
    inputs: list[dict] = field(default_factory=list)  # path, status
    metrics: list[dict] = field(default_factory=list)  # key, original, rerun, same
    outputs: list[dict] = field(default_factory=list)  # what, original, rerun, same
    environment: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """Whether the re-run gave the same metrics and outputs from the same inputs."""
        return self.rerun is not None and not self.problems

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return jsonable(asdict(self) | {"reproduced": self.reproduced})

    def text(self) -> str:
        """Return the report as text for a terminal."""
        verdict = "REPRODUCED" if self.reproduced else "DID NOT REPRODUCE"
        lines = [f"{self.name} (run {self.original}): {verdict}"]
        if self.rerun:
            lines.append(f"  re-run: {self.rerun}")
        for item in self.inputs:
            lines.append(f"  input   {item['status']:<10} {item['path']}")
        for item in self.metrics:
            mark = "same" if item["same"] else "DIFFERS"
            lines.append(
                f"  metric  {mark:<10} {item['key']}: {item['original']} -> {item['rerun']}"
            )
        for item in self.outputs:
            mark = "same" if item["same"] else "DIFFERS"
            lines.append(f"  output  {mark:<10} {item['what']}")
        env = self.environment
        if any(env.get(k) for k in ("added", "removed", "changed", "python", "platform")):
            lines.append("  environment differences (reported, not judged):")
            for key in ("python", "platform"):
                if env.get(key):
                    lines.append(f"    {key}: {env[key][0]} -> {env[key][1]}")
            for name, (old, new) in sorted(env.get("changed", {}).items()):
                lines.append(f"    {name}: {old} -> {new}")
            for name in env.get("added", []):
                lines.append(f"    added {name}")
            for name in env.get("removed", []):
                lines.append(f"    removed {name}")
        else:
            lines.append("  environment: the same packages")
        for problem in self.problems:
            lines.append(f"  problem: {problem}")
        return "\n".join(lines)


def _metrics(trail, run_id: str) -> dict[str, float]:
    return {m.key: m.value for m in trail.run_details(run_id, tree=True).metrics}


def _close(a, b, tolerance: float) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance * 1e-3)
    return a == b


def _check_inputs(trail, report: ReproduceReport, inputs: dict) -> None:
    for path, artifact in sorted(inputs.items()):
        try:
            current = fingerprint_file(path, cache=trail.stat_cache).digest
        except FingerprintError:
            current = None
        if current == artifact.id:
            report.inputs.append({"path": path, "status": "same"})
            continue
        if artifact.snapshot and artifact.snapshot_format == "raw":
            if current is not None:
                shutil.move(path, path + ".before-reproduce")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            trail.blobs.copy_to(artifact.snapshot, path)
            report.inputs.append({"path": path, "status": "restored"})
            continue
        status = "missing" if current is None else "changed"
        report.inputs.append({"path": path, "status": status})
        report.problems.append(
            f"input {path} is {status} and has no snapshot to restore (snapshot inputs with "
            "nbtrail.snapshot(path) to make runs reproducible)"
        )


def _reproduce_template(trail, record, tolerance: float) -> ReproduceReport:
    source = (
        trail.get_run(record.attrs["reused_from"]) if record.attrs.get("reused_from") else record
    )
    report = ReproduceReport(original=source.id, name=source.name)
    found = evidence(trail, source.id)
    produced = found.produced
    _check_inputs(trail, report, found.inputs)
    report.environment = environment_diff(trail, found.environment)
    if report.problems:
        return report
    template = next((u for u in trail.run_details(source.id).used if u.name == "template"), None)
    if template is None or template.artifact.snapshot is None:
        report.problems.append("the run recorded no template snapshot; it cannot be re-run")
        return report
    given = {k: source.params[k] for k in source.attrs.get("given", []) if k in source.params}
    with tempfile.TemporaryDirectory(prefix="nbtrail-reproduce-") as folder:
        template_path = Path(template.path or "")
        try:
            intact = fingerprint_file(template_path).digest == template.artifact.id
        except FingerprintError:
            intact = False
        if not intact:
            template_path = Path(folder) / Path(template.artifact.name).name
            trail.blobs.copy_to(template.artifact.snapshot, template_path)
        result = run_template(template_path, given, trail=trail, name=source.name)
    report.rerun = result.run_id
    if not result.ok:
        report.problems.append(f"the re-run failed: {result.error}")
        return report
    old_metrics, new_metrics = _metrics(trail, source.id), _metrics(trail, result.run_id)
    for key in sorted(old_metrics.keys() | new_metrics.keys()):
        a, b = old_metrics.get(key), new_metrics.get(key)
        same = a is not None and b is not None and _close(a, b, tolerance)
        report.metrics.append({"key": key, "original": a, "rerun": b, "same": same})
        if not same:
            report.problems.append(f"metric {key} was {a}, is now {b}")
    for path, artifact in sorted(produced.items()):
        # What is at the path after the re-run: rewritten by it, or left as the original made it.
        try:
            again = fingerprint_file(path, cache=trail.stat_cache).digest
        except FingerprintError:
            again = None
        same = again == artifact.id
        report.outputs.append({"what": path, "original": artifact.id, "rerun": again, "same": same})
        if not same:
            report.problems.append(f"output {path} came out different")
    for key, value in (source.attrs.get("outputs") or {}).items():
        again = result.outputs.get(key)
        if isinstance(value, str) and Path(value).exists():
            continue  # a file: compared by fingerprint above
        same = _close(value, again, tolerance)
        report.outputs.append(
            {"what": f"output {key}", "original": value, "rerun": again, "same": same}
        )
        if not same:
            report.problems.append(f"output {key} was {value!r}, is now {again!r}")
    return report


def reproduce(trail, ref: str, *, tolerance: float = 1e-9) -> list[ReproduceReport]:
    """Reproduce a template run, or every step of a pipeline run, in order.

    Parameters
    ----------
    trail : Trail
        The trail holding the run.
    ref : str
        Run id or unique prefix.
    tolerance : float
        Relative tolerance for metrics and numeric outputs.

    Returns
    -------
    list of ReproduceReport
        One per template run; the run reproduced when every report says so.
    """
    if not (isinstance(tolerance, int | float) and 0 <= tolerance < 1):
        raise UsageError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    record = trail.get_run(ref)
    if record.kind == "template":
        records = [record]
    elif record.kind == "pipeline":
        records = sorted(
            trail.runs(parent=record.id, kind="template"), key=lambda r: (r.started_at, r.id)
        )
        if not records:
            raise UsageError(f"pipeline run {record.id} has no steps to reproduce")
    else:
        raise UsageError(
            f"run {record.id} is a {record.kind} run; nbtrail reproduces template and pipeline "
            "runs (a notebook run with nbtrail run)"
        )
    if record.status == "running":
        raise UsageError(f"run {record.id} is still running")
    reports = []
    for step in records:
        report = _reproduce_template(trail, step, tolerance)
        reports.append(report)
        if not report.reproduced:
            break  # later steps read what this one produced
    return reports
