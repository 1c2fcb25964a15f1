"""JUnit XML for CI: one test case per step and one per check.

A failed step is a ``failure`` with the failing cell's message; a step that never ran is
``skipped``; a reused step passes and says which run it reused. A check that failed is a
``failure``, one that errored an ``error``; a warning passes with the warning in its output.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from .runs import summarize

__all__ = ["junit_xml", "write_junit"]


def junit_xml(trail, run_id: str) -> str:
    """Return the JUnit XML document for a pipeline or template run."""
    summary = summarize(trail, run_id)
    suite = ET.Element("testsuite", name=summary.run.name)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for step in summary.steps:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"nbtrail.{summary.run.kind}.{summary.run.name}",
            name=f"step {step.name}",
            time=f"{step.duration or 0:.3f}",
        )
        total_time += step.duration or 0
        counts["tests"] += 1
        if step.status == "failed":
            counts["failures"] += 1
            failure = ET.SubElement(case, "failure", message=step.error or "failed")
            failure.text = step.error or ""
        elif step.status in ("not run", "aborted", "running"):
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=step.error or step.status)
        elif step.status == "reused":
            out = ET.SubElement(case, "system-out")
            out.text = f"reused run {step.reused_from}: nothing it depends on changed"
        for check in step.checks:
            counts["tests"] += 1
            check_case = ET.SubElement(
                suite,
                "testcase",
                classname=f"nbtrail.check.{step.name}",
                name=check.name,
                time="0",
            )
            message = check.summary or check.status
            if check.status == "fail":
                counts["failures"] += 1
                ET.SubElement(check_case, "failure", message=message).text = _detail(check)
            elif check.status == "error":
                counts["errors"] += 1
                ET.SubElement(check_case, "error", message=message).text = _detail(check)
            elif check.status == "warn":
                ET.SubElement(check_case, "system-out").text = f"warning: {message}"
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total_time:.3f}")
    suites = ET.Element("testsuites", name="nbtrail")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _detail(check) -> str:
    lines = [check.summary or ""]
    for key, value in sorted((check.metrics or {}).items()):
        limit = (check.thresholds or {}).get(key)
        lines.append(f"{key} = {value}" + (f" (threshold {limit})" if limit is not None else ""))
    return "\n".join(line for line in lines if line)


def write_junit(trail, run_id: str, path: str | os.PathLike) -> Path:
    """Write the JUnit XML of a run to ``path``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(junit_xml(trail, run_id), encoding="utf-8")
    return target
