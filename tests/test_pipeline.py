"""Template runs and pipelines, with real papermill executions in real kernels."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_cli

from nbtrail.pipeline.parameters import ParameterError, read_schema, validate
from nbtrail.store import open_trail

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a trail and copies of the test templates."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("template_modes.ipynb", "template_copy.ipynb", "template_random.ipynb"):
        shutil.copy(NOTEBOOKS / name, folder / name)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NBTRAIL_HOME", str(folder / ".nbtrail"))
    return folder


# -- parameters ------------------------------------------------------------------------------


def test_schema_is_read_from_the_parameters_cell():
    schema = read_schema(NOTEBOOKS / "template_modes.ipynb")
    assert list(schema) == ["rows", "mode", "scale", "label"]
    rows = schema["rows"]
    assert (rows.type, rows.default, rows.low, rows.high, rows.help) == (
        "int",
        5,
        1,
        1000,
        "how many rows",
    )
    assert schema["mode"].choices == ("ok", "fail", "gate", "die", "hang")
    assert schema["scale"].low_open and schema["scale"].constraint() == "in (0, 10]"
    assert schema["label"].type == "str" and schema["label"].constraint() == ""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colour": "red"}, "unknown parameter 'colour'; the template declares: rows, mode"),
        ({"rows": "seven"}, "parameter 'rows' must be int, got 'seven'"),
        ({"rows": 0}, "parameter 'rows' must be in [1, 1000]; got 0"),
        ({"rows": 2.5}, "parameter 'rows' must be int"),
        ({"scale": 0}, "parameter 'scale' must be in (0, 10]; got 0.0"),
        ({"scale": "nan"}, "parameter 'scale' is NaN"),
        ({"mode": "explode"}, "parameter 'mode' must be one of ok, fail, gate, die, hang"),
        ({"rows": True}, "parameter 'rows' must be int"),
    ],
)
def test_bad_parameters_are_refused_naming_them(values, message):
    schema = read_schema(NOTEBOOKS / "template_modes.ipynb")
    with pytest.raises(ParameterError) as exc:
        validate(schema, values)
    assert message in str(exc.value)


def test_cli_values_are_converted_by_type():
    schema = read_schema(NOTEBOOKS / "template_modes.ipynb")
    assert validate(schema, {"rows": "7", "scale": "2", "label": "7"}) == {
        "rows": 7,
        "scale": 2.0,
        "label": "7",
    }


def test_describe_and_parameter_refusal_from_the_cli(capsys, project):
    code, out, _ = run_cli(capsys, "run", "template_modes.ipynb", "--describe")
    assert code == 0
    assert "rows   int    5" in out and "one of ok, fail, gate, die, hang" in out
    code, _, err = run_cli(capsys, "run", "template_modes.ipynb", "-p", "rows", "0")
    assert code == 2 and "parameter 'rows' must be in [1, 1000]; got 0" in err
    code, _, err = run_cli(capsys, "run", "template_modes.ipynb", "-p", "colour", "red")
    assert code == 2 and "unknown parameter 'colour'" in err
    (project / "bad.yaml").write_text("rows: [unclosed\n")
    code, _, err = run_cli(capsys, "run", "template_modes.ipynb", "-f", "bad.yaml")
    assert code == 2 and "bad.yaml:2:1: not valid YAML" in err
    code, _, err = run_cli(capsys, "run", "missing.ipynb")
    assert code == 2 and "missing.ipynb: no such template notebook" in err
    # Nothing ran, so nothing was recorded.
    with open_trail() as trail:
        assert trail.runs(kind="template") == []


# -- nbtrail run ------------------------------------------------------------------------------


def test_successful_run_records_everything(capsys, project):
    (project / "params.yaml").write_text("rows: 4\nlabel: from-yaml\n")
    code, out, err = run_cli(
        capsys,
        "run",
        "template_modes.ipynb",
        "-f",
        "params.yaml",
        "-p",
        "rows",
        "6",
        "--junit",
        "junit.xml",
        "--report",
        "report.html",
    )
    assert code == 0, err
    assert "succeeded" in out
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        assert run.status == "succeeded"
        assert run.params == {"rows": 6, "mode": "ok", "scale": 1.0, "label": "from-yaml"}
        assert sorted(run.attrs["given"]) == ["label", "rows"]
        assert run.attrs["template_digest"] and "git" in run.attrs
        assert run.attrs["outputs"] == {"total": 15.0}
        details = trail.run_details(run.id)
        used = {u.name: u for u in details.used}
        assert used["template"].artifact.snapshot is not None
        assert used["environment"].artifact.kind == "environment"
        (notebook,) = [u for u in details.produced if u.name == "executed notebook"]
        assert notebook.artifact.kind == "notebook" and notebook.artifact.snapshot
        # The kernel's capture session is a child of the run, and its cells below it.
        (session,) = trail.runs(parent=run.id)
        assert session.kind == "session" and session.status == "succeeded"
        assert len(trail.runs(parent=session.id)) >= 7
        metrics = {m.key: m.value for m in trail.run_details(session.id).metrics}
        assert metrics == {"total": 15.0}
        assert trail.verify().ok
    suite = ET.parse(project / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert (project / "report.html").read_text().count("<tr class='step'") == 1


def test_failing_cell_shows_source_and_traceback_and_keeps_the_notebook(capsys, project):
    code, _, err = run_cli(
        capsys, "run", "template_modes.ipynb", "-p", "mode", "fail", "--junit", "junit.xml"
    )
    assert code == 1
    assert "raise ValueError(f'asked to fail with {rows} rows')" in err  # the cell's source
    assert "ValueError: asked to fail with 5 rows" in err  # the traceback
    assert "failed: cell 5 (In [5]) raised ValueError: asked to fail with 5 rows" in err
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        assert run.status == "failed" and "ValueError" in run.error
        (notebook,) = [
            u for u in trail.run_details(run.id).produced if u.name == "executed notebook"
        ]
        executed = json.loads(Path(notebook.path).read_text())
        assert any(
            o.get("ename") == "ValueError" for c in executed["cells"] for o in c.get("outputs", [])
        )
    failure = ET.parse(project / "junit.xml").getroot().find(".//failure")
    assert "asked to fail" in failure.get("message")


def test_failed_gate_fails_the_run_naming_the_check(capsys, project):
    code, _, err = run_cli(capsys, "run", "template_modes.ipynb", "-p", "mode", "gate")
    assert code == 1
    assert "gate 'row_count' failed: 5 rows is too few" in err
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        assert run.status == "failed" and "row_count" in run.error


def test_dying_kernel_fails_promptly(capsys, project):
    started = time.monotonic()
    code, _, err = run_cli(capsys, "run", "template_modes.ipynb", "-p", "mode", "die")
    assert code == 1
    assert time.monotonic() - started < 60
    assert "the kernel died while running cell 7" in err
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        assert run.status == "failed" and "kernel died" in run.error
        (session,) = trail.runs(parent=run.id)
        assert session.status == "aborted"  # its process is gone: marked on open


def test_cell_timeout(capsys, project):
    started = time.monotonic()
    code, _, err = run_cli(
        capsys, "run", "template_modes.ipynb", "-p", "mode", "hang", "--timeout", "3"
    )
    assert code == 1
    assert time.monotonic() - started < 60
    assert "ran longer than the 3 s cell timeout" in err


def test_templates_run_unchanged_under_plain_papermill(project):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            "template_modes.ipynb",
            "plain.ipynb",
            "-p",
            "rows",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "done demo" in (project / "plain.ipynb").read_text()


# -- pipelines --------------------------------------------------------------------------------


def _spec(project: Path, text: str) -> Path:
    path = project / "pipeline.yaml"
    path.write_text(text)
    return path


COPY_CHAIN = """
name: copy-chain
steps:
  - name: first
    template: template_copy.ipynb
    parameters: {source: input.csv, threshold: 1, target: out/first.csv}
  - name: second
    template: template_copy.ipynb
    parameters:
      source: ${first.outputs.kept}
      threshold: 2
      target: out/second.csv
"""


def _statuses(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("succeeded", "failed", "reused", "not"):
            status = "not run" if parts[0] == "not" else parts[0]
            found[parts[2] if status == "not run" else parts[1]] = status
    return found


def test_pipeline_skips_unchanged_steps_and_reruns_on_one_changed_byte(capsys, project):
    (project / "input.csv").write_text("value\n1\n2\n3\n4\n")
    spec = _spec(project, COPY_CHAIN)
    code, out, err = run_cli(capsys, "pipeline", "run", spec)
    assert code == 0, err
    assert _statuses(out) == {"first": "succeeded", "second": "succeeded"}
    assert (project / "out" / "second.csv").read_text() == "value\n3\n4\n"
    code, out, _ = run_cli(capsys, "pipeline", "run", spec)
    assert _statuses(out) == {"first": "reused", "second": "reused"}
    # Same size, same mtime second: one changed byte is still seen.
    before = (project / "input.csv").stat()
    (project / "input.csv").write_text("value\n1\n2\n3\n5\n")
    import os

    os.utime(project / "input.csv", ns=(before.st_atime_ns, before.st_mtime_ns))
    code, out, _ = run_cli(capsys, "pipeline", "run", spec)
    assert _statuses(out) == {"first": "succeeded", "second": "succeeded"}
    assert (project / "out" / "second.csv").read_text() == "value\n3\n5\n"
    code, out, _ = run_cli(capsys, "pipeline", "run", spec, "--force")
    assert _statuses(out) == {"first": "succeeded", "second": "succeeded"}
    code, out, _ = run_cli(capsys, "pipeline", "run", spec, "--only", "second", "--force")
    assert _statuses(out) == {"second": "succeeded"}
    code, out, _ = run_cli(capsys, "pipeline", "run", spec, "--from", "first")
    assert _statuses(out) == {"first": "reused", "second": "reused"}
    # A deleted output makes its step run again.
    (project / "out" / "second.csv").unlink()
    code, out, _ = run_cli(capsys, "pipeline", "run", spec)
    assert _statuses(out) == {"first": "reused", "second": "succeeded"}
    with open_trail() as trail:
        assert trail.verify().ok


FAN_OUT = """
name: fan-out
steps:
  - {name: a, template: template_modes.ipynb, parameters: {rows: 2, label: a}}
  - {name: b, template: template_modes.ipynb, parameters: {rows: 3, label: b}}
  - {name: c, template: template_modes.ipynb, parameters: {rows: 4, label: c}}
  - name: join
    template: template_modes.ipynb
    needs: [a, b, c]
    parameters: {rows: 5, label: "${a.outputs.total}+${b.outputs.total}"}
"""


def test_independent_steps_run_in_parallel_and_record_consistently(capsys, project):
    spec = _spec(project, FAN_OUT)
    started = time.monotonic()
    code, out, err = run_cli(capsys, "pipeline", "run", spec, "--workers", "3", "--json")
    assert code == 0, err
    result = json.loads(out[: out.rindex("}") + 1])
    assert [s["status"] for s in result["steps"]] == ["succeeded"] * 4
    with open_trail() as trail:
        steps = {r.name: r for r in trail.runs(kind="template")}
        join = steps["join"]
        assert join.params["label"] == "1.0+3.0"
        # a, b and c overlapped in time; join started after all three ended.
        first_end = min(steps[n].ended_at for n in "abc")
        assert max(steps[n].started_at for n in "abc") < first_end
        assert join.started_at >= max(steps[n].ended_at for n in "abc")
        for name in "abc":
            (session,) = trail.runs(parent=steps[name].id)
            assert session.status == "succeeded"
        report = trail.verify()
        assert report.ok, report.problems[:3]
    assert time.monotonic() - started < 300


FAILING = """
name: failing
steps:
  - {name: ok, template: template_modes.ipynb}
  - {name: gated, template: template_modes.ipynb, needs: [ok], parameters: {mode: gate}}
  - {name: after, template: template_modes.ipynb, needs: [gated]}
"""


def test_pipeline_stops_at_a_failed_gate_and_records_the_partial_run(capsys, project):
    spec = _spec(project, FAILING)
    code, out, err = run_cli(
        capsys, "pipeline", "run", spec, "--junit", "junit.xml", "--report", "report.html"
    )
    assert code == 1
    assert _statuses(out) == {"ok": "succeeded", "gated": "failed", "after": "not run"}
    assert "gate 'row_count' failed" in err
    with open_trail() as trail:
        (pipeline,) = trail.runs(kind="pipeline")
        assert pipeline.status == "failed" and "gated" in pipeline.error
        assert pipeline.attrs["steps"] == {"ok": "succeeded", "gated": "failed", "after": "not run"}
    suite = ET.parse(project / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    html = (project / "report.html").read_text()
    assert html.count("<tr class='step'") == 3 and "badge not-run" in html


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: []", "'steps' must be a non-empty list"),
        ("name: x\nstepz: []", "unknown key 'stepz'"),
        ("steps:\n  - {name: a, template: nope.ipynb}", "template"),
        (
            "steps:\n  - {name: a, template: template_copy.ipynb, parameters: {colour: 1}}",
            "unknown parameter 'colour' for template_copy.ipynb",
        ),
        (
            "steps:\n  - {name: a, template: template_copy.ipynb}\n"
            "  - {name: a, template: template_copy.ipynb}",
            "two steps are named 'a'",
        ),
        (
            "steps:\n  - {name: a, template: template_copy.ipynb, needs: [b]}\n"
            "  - {name: b, template: template_copy.ipynb, needs: [a]}",
            "cycle",
        ),
        (
            "steps:\n  - {name: a, template: template_copy.ipynb, "
            "parameters: {source: '${ghost.outputs.x}'}}",
            "unknown step 'ghost'",
        ),
        ("steps: [unclosed", "not valid YAML"),
    ],
)
def test_bad_pipeline_specs_are_refused_before_anything_runs(capsys, project, text, message):
    spec = _spec(project, text)
    code, _, err = run_cli(capsys, "pipeline", "run", spec)
    assert code == 2 and message in err
    with open_trail() as trail:
        assert trail.runs() == []


# -- reproduce --------------------------------------------------------------------------------


def test_reproduce_restores_a_changed_input_from_its_snapshot(capsys, project):
    (project / "input.csv").write_text("value\n1\n2\n3\n")
    code, out, err = run_cli(capsys, "run", "template_copy.ipynb", "--json")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, out, _ = run_cli(capsys, "reproduce", run_id)
    assert code == 0 and "REPRODUCED" in out
    # Change the input: without a snapshot the run cannot be reproduced here.
    (project / "input.csv").write_text("value\n9\n9\n9\n")
    code, out, _ = run_cli(capsys, "reproduce", run_id)
    assert code == 1 and "input.csv is changed and has no snapshot" in out
    # Snapshot the original bytes: reproduce restores them, keeping the changed file aside.
    (project / "input.csv").write_text("value\n1\n2\n3\n")
    with open_trail() as trail:
        trail.snapshot(project / "input.csv")
    (project / "input.csv").write_text("value\n9\n9\n9\n")
    code, out, _ = run_cli(capsys, "reproduce", run_id)
    assert code == 0, out
    assert "restored" in out and (project / "input.csv").read_text() == "value\n1\n2\n3\n"
    assert (project / "input.csv.before-reproduce").read_text() == "value\n9\n9\n9\n"


def test_reproduce_detects_a_non_deterministic_metric(capsys, project):
    code, out, err = run_cli(capsys, "run", "template_random.ipynb", "--json")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, out, _ = run_cli(capsys, "reproduce", run_id)
    assert code == 1 and "metric score was" in out
    code, out, _ = run_cli(capsys, "run", "template_random.ipynb", "-p", "seed", "7", "--json")
    seeded = json.loads(out)["run_id"]
    code, out, _ = run_cli(capsys, "reproduce", seeded, "--json")
    assert code == 0 and json.loads(out)[0]["reproduced"] is True


# -- the report in a real browser -------------------------------------------------------------


def test_report_opens_offline_in_a_real_browser(capsys, project, browser, screenshot_dir):
    (project / "input.csv").write_text("value\n1\n2\n3\n4\n")
    spec = _spec(project, COPY_CHAIN)
    code, _, err = run_cli(capsys, "pipeline", "run", spec, "--report", "site/report.html")
    assert code == 0, err
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((project / "site" / "report.html").as_uri())
    verdict = page.locator("section.verdict")
    assert verdict.count() == 1 and "It worked" in verdict.inner_text()
    assert verdict.bounding_box()["y"] < page.locator("tr.step").first.bounding_box()["y"]
    assert page.locator("tr.step").count() == 2
    assert page.locator("svg.lineage g.node.step").count() == 2
    assert page.locator("svg.lineage g.node.file").count() >= 3
    box = page.locator("svg.lineage").bounding_box()
    assert box["width"] > 300 and box["height"] > 40
    # Left to right by generation: the input file, the first step, its output, the second step.
    x = {
        key: page.locator(f"svg.lineage g.node[data-node='{key}']").bounding_box()["x"]
        for key in ("step:first", "step:second")
    }
    source = page.locator("svg.lineage g.node.file", has_text="input.csv").bounding_box()["x"]
    assert source < x["step:first"] < x["step:second"]
    links = page.locator("tr.step a")
    assert links.count() == 2
    href = links.first.get_attribute("href")
    assert (project / "site" / href).resolve().is_file()  # relative link to the notebook
    assert requests == [(project / "site" / "report.html").as_uri()]  # nothing external
    assert errors == []
    page.screenshot(path=str(screenshot_dir / "report.png"), full_page=True)
    page.close()


def test_validate_data_template_fails_its_gate_on_bad_data(capsys, project):
    from nbtrail.datasets import load_adult
    from nbtrail.demo import templates_dir

    adult = load_adult().dropna().drop_duplicates().head(3000)
    adult.iloc[:2000].to_parquet(project / "train.parquet")
    test = adult.iloc[2000:].copy()
    test.loc[test.index[:100], "workclass"] = "Astronaut"  # 10% unseen category
    test.to_parquet(project / "test.parquet")
    template = templates_dir() / "validate_data.ipynb"
    code, _, err = run_cli(
        capsys,
        "run",
        template,
        "-p",
        "train",
        "train.parquet",
        "-p",
        "test",
        "test.parquet",
        "-p",
        "schema",
        "schema.yaml",
        "-p",
        "label_rows",
        "0",
    )
    assert code == 1
    assert "gate 'schema' failed" in err and "workclass" in err
    assert (project / "schema.yaml").is_file() and (project / "checks.html").is_file()
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        tree = [run.id] + [r.id for r in trail.descendants(run.id)]
        found = {c.name: c.status for c in trail.checks(tree)}
        assert found["schema"] == "fail" and found["leakage"] == "pass"
    # `nbtrail show` names the checks and metrics recorded in the run's cells, and where.
    code, out, _ = run_cli(capsys, "show", run.id)
    assert code == 0
    checks_section = out[out.index("\nchecks\n") :]
    assert "FAIL  schema" in checks_section and "[cell " in checks_section
    assert "PASS  leakage" in checks_section
    code, out, _ = run_cli(capsys, "checks", run.id, "--status", "fail", "--findings")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("FAIL   schema") and len([ln for ln in lines if "PASS" in ln]) == 0
    assert any("workclass" in ln and "isin" in ln for ln in lines[1:])
    code, out, _ = run_cli(capsys, "checks", run.id, "--json")
    verdicts = json.loads(out)
    assert {v["name"]: v["status"] for v in verdicts}["schema"] == "fail"
    assert {s["role"] for v in verdicts for s in v["subjects"]} >= {"data", "train", "test"}


def test_templates_read_csv_or_parquet_and_name_the_parameter_otherwise(capsys, project):
    from nbtrail.datasets import load_adult
    from nbtrail.demo import templates_dir

    adult = load_adult().dropna().drop_duplicates().head(1200)
    adult.iloc[:900].to_csv(project / "train.csv", index=False)
    adult.iloc[900:].to_csv(project / "test.csv", index=False)
    template = templates_dir() / "validate_data.ipynb"
    args = [
        "run",
        template,
        "-p",
        "test",
        "test.csv",
        "-p",
        "label_rows",
        "0",
        "-p",
        "gate_on",
        "leakage",
    ]
    code, _, err = run_cli(capsys, *args, "-p", "train", "train.csv")
    assert code == 0, err
    (project / "train.txt").write_text("not a table")
    code, _, err = run_cli(capsys, *args, "-p", "train", "train.txt")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2, err  # the failure, then where the executed notebook is
    assert "parameter 'train': train.txt is not a table nbtrail reads" in lines[0]
    assert "Traceback" not in err
