"""Bad input gets one line on stderr and exit 2 from the real ``nbtrail`` command, never a
traceback; input refused before running leaves nothing in the trail."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbtrail.cli import main
from nbtrail.pipeline.spec import load_spec
from nbtrail.safe_yaml import load_yaml_text
from nbtrail.store import open_or_create_trail

NOTEBOOKS = Path(__file__).parent / "notebooks"
NBTRAIL = Path(sys.executable).parent / "nbtrail"
TEMPLATE = "template_modes.ipynb"  # rows: int in [1, 1000], mode, scale: float, label: str
TEMPLATE_BYTES = (NOTEBOOKS / TEMPLATE).read_bytes()


def nbtrail(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed command here; arguments may be bytes (not UTF-8 on purpose)."""
    command = [str(NBTRAIL), *(a if isinstance(a, bytes) else str(a) for a in args)]
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, capture_output=True, timeout=timeout, env=env, check=False)


def refused(result: subprocess.CompletedProcess, *culprits: str) -> str:
    """Assert exit 2 and exactly one line on stderr naming the culprits; return that line."""
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err, err
    assert result.returncode == 2, (result.returncode, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    for culprit in culprits:
        assert culprit in lines[0], (culprit, lines[0])
    return lines[0]


def recorded() -> list[dict]:
    """Every run in the trail, as ``nbtrail runs --json --all`` lists them."""
    result = nbtrail("runs", "--json", "--all")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def project():
    """A trail (with one run recorded through the Python API) and a copy of a template."""
    folder = Path.cwd()
    shutil.copy(NOTEBOOKS / TEMPLATE, folder / TEMPLATE)
    assert nbtrail("init").returncode == 0
    with open_or_create_trail() as trail, trail.start_run("seed", params={"n": 1}) as run:
        run.log_metric("m", 1.0)
    return folder


def _spec(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _laughs(last_key: str) -> str:
    """A billion laughs: nine levels of nine aliases each, 9**10 strings once expanded."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + f"\n{last_key}: *l9\n"


# -- 1. parameter values that are not UTF-8 --------------------------------------------------


def test_parameter_not_utf8_is_refused_and_nothing_is_recorded(project):
    before = recorded()
    line = refused(nbtrail("run", TEMPLATE, "-p", "label", b"ab\xffcd"), "label", "UTF-8")
    assert "-p label" in line
    refused(nbtrail("run", TEMPLATE, "-p", b"lab\xffel", "x"), "lab\\xffel", "UTF-8")
    assert recorded() == before


def test_other_arguments_not_utf8_are_refused_naming_them(project):
    run_id = recorded()[0]["id"]
    for args, culprit in (
        (("show", b"01\xff"), "run 01\\xff"),
        (("lineage", b"data\xff.csv"), "ref data\\xff.csv"),
        (("runs", "--kind", b"\xfe"), "kind \\xfe"),
        (("checks", b"\xff"), "run \\xff"),
        (("checkout", b"\xff", "out.csv"), "artifact \\xff"),
        (("export", "openlineage", run_id.encode() + b"\xff"), "\\xff"),
        (("reproduce", b"\xff"), "run \\xff"),
    ):
        refused(nbtrail(*args), culprit, "UTF-8")
    # A file name that is not UTF-8 is a file name: it is looked for, not refused as text.
    refused(nbtrail("run", b"\xff.ipynb"), "\\xff.ipynb: no such template notebook")


# -- 2. output paths are checked before anything runs -----------------------------------------


@pytest.mark.parametrize("option", ["--junit", "--report", "--output"])
def test_run_output_path_naming_a_folder_is_refused_before_running(project, option):
    before = recorded()
    (project / "somewhere").mkdir()
    refused(nbtrail("run", TEMPLATE, option, "somewhere"), option, "somewhere", "folder")
    assert recorded() == before


@pytest.mark.parametrize("option", ["--junit", "--report"])
def test_pipeline_output_path_naming_a_folder_is_refused_before_running(project, option):
    before = recorded()
    spec = _spec(project, "p.yaml", f"name: p\nsteps:\n  - name: a\n    template: {TEMPLATE}\n")
    (project / "out").mkdir()
    refused(nbtrail("pipeline", "run", spec, option, "out"), option, "out", "folder")
    assert recorded() == before


def test_output_paths_in_unwritable_places_are_refused_before_running(project):
    before = recorded()
    (project / "a-file").write_text("not a folder")
    refused(nbtrail("run", TEMPLATE, "--junit", "a-file/j.xml"), "--junit", "a-file")
    refused(nbtrail("run", TEMPLATE, "--report", "/proc/nbtrail/r.html"), "--report", "/proc")
    refused(
        nbtrail("run", TEMPLATE, "--junit", "same.xml", "--report", "same.xml"),
        "same.xml",
    )
    refused(
        nbtrail("export", "openlineage", recorded()[0]["id"], "-o", str(project)),
        "--output",
        "folder",
    )
    assert recorded() == before


def test_output_path_unwritable_for_an_ordinary_user(unprivileged, capsys, monkeypatch):
    # In-process: the unprivileged user may not run this interpreter from root's home.
    monkeypatch.chdir(unprivileged)
    # Written from bytes read as root: the project folder may be closed to the unprivileged user.
    (unprivileged / TEMPLATE).write_bytes(TEMPLATE_BYTES)
    locked = unprivileged / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    assert main(["run", TEMPLATE, "--junit", str(locked / "j.xml")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--junit" in line and "locked" in line and "Permission denied" in line
    assert not (unprivileged / ".nbtrail").exists()  # refused before a trail was even made


def test_outputs_in_new_folders_are_still_written(project):
    """A missing folder that can be made is not bad input: the writers make it."""
    params = _spec(project, "params.yaml", "rows: &n 3\nscale: *n\nlabel: hi\n")
    result = nbtrail(
        "run", TEMPLATE, "-f", params, "--junit", "new/deeper/j.xml", "--output", "nb/out.ipynb"
    )
    assert result.returncode == 0, result.stderr
    assert (project / "new" / "deeper" / "j.xml").is_file()
    assert (project / "nb" / "out.ipynb").is_file()
    (run,) = [r for r in recorded() if r["kind"] == "template"]
    assert (run["params"]["rows"], run["params"]["scale"], run["params"]["label"]) == (3, 3.0, "hi")


# -- 3. a damaged trail.db ---------------------------------------------------------------------


def _damage(db: Path, how: str) -> None:
    size = db.stat().st_size
    if how == "truncated":
        os.truncate(db, size // 2)
    elif how == "overwritten":
        with open(db, "r+b") as handle:
            handle.seek(size // 4)
            handle.write(os.urandom(size // 2))
    else:
        db.write_bytes(os.urandom(64 * 1024))


@pytest.mark.parametrize("how", ["truncated", "overwritten", "random"])
def test_damaged_trail_gets_one_line_from_every_command(project, how):
    with open_or_create_trail() as trail:
        for index in range(40):  # enough pages that damage lands in the tables
            with trail.start_run(f"r{index}", params={"i": index, "pad": "x" * 500}) as run:
                run.log_metric("m", float(index))
    (run_id,) = [r["id"] for r in recorded() if r["name"] == "r0"]
    spec = _spec(project, "p.yaml", f"name: p\nsteps:\n  - name: a\n    template: {TEMPLATE}\n")
    db = project / ".nbtrail" / "trail.db"
    _damage(db, how)
    damaged = hashlib.sha256(db.read_bytes()).hexdigest()
    commands = [
        ("runs",),
        ("runs", "--all", "--json"),
        ("show", run_id),
        ("lineage", run_id),
        ("verify",),
        ("checks",),
        ("export", "openlineage", run_id),
        ("run", TEMPLATE),
        ("pipeline", "run", spec),
    ]
    for command in commands:
        result = nbtrail(*command)
        err = result.stderr.decode("utf-8", "backslashreplace")
        assert "Traceback" not in err, (command, err)
        if (
            how == "overwritten"
            and result.returncode in (0, 1)
            and command[0] in ("runs", "checks")
        ):
            continue  # the garbage may miss what this command reads; verify reads everything
        refused(result, "trail.db")
    # Writers refused too: nothing was recorded in (or "repaired" into) the damaged file.
    assert hashlib.sha256(db.read_bytes()).hexdigest() == damaged


@pytest.mark.parametrize("kind", ["sqlalchemy", "sqlite3"])
def test_database_errors_nobody_anticipated_are_one_line_naming_the_store(
    project, capsys, monkeypatch, kind
):
    """The last resort at the command line's boundary, whatever the store maps itself."""
    import sqlite3

    import sqlalchemy.exc

    import nbtrail.cli

    def damaged(args):
        error = sqlite3.DatabaseError("database disk image is malformed")
        if kind == "sqlalchemy":
            raise sqlalchemy.exc.DatabaseError("SELECT 1", {}, error)
        raise error

    monkeypatch.setattr(nbtrail.cli, "cmd_runs", damaged)
    assert main(["runs"]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert str(project / ".nbtrail" / "trail.db") in line
    assert "database disk image is malformed" in line and "damaged" in line
    assert "Traceback" not in err and out == ""


# -- 4. YAML that is not UTF-8, too deep, or a billion laughs ----------------------------------


def test_spec_that_is_not_utf8_is_refused_naming_the_line(project):
    text = (
        f"name: p\nsteps:\n  - name: a\n    template: {TEMPLATE}\n    parameters: {{label: \xff}}\n"
    )
    spec = _spec(project, "latin.yaml", text.encode("latin-1"))
    before = recorded()
    refused(nbtrail("pipeline", "run", spec), "latin.yaml:5", "UTF-8", "0xff")
    params = _spec(project, "params.yaml", b"label: caf\xe9\n")
    refused(nbtrail("run", TEMPLATE, "-f", params), "params.yaml:1", "UTF-8")
    assert recorded() == before


def test_deeply_nested_yaml_is_refused(project):
    before = recorded()
    spec = _spec(project, "deep.yaml", "[" * 100_000)
    refused(nbtrail("pipeline", "run", spec), "deep.yaml:1:", "nested deeper than")
    params = _spec(project, "deep-params.yaml", "label: " + "[" * 100_000)
    refused(nbtrail("run", TEMPLATE, "-f", params), "deep-params.yaml:1:", "nested deeper")
    assert recorded() == before


def test_billion_laughs_is_refused_promptly(project):
    before = recorded()
    spec = _spec(project, "laughs.yaml", _laughs("steps"))
    refused(nbtrail("pipeline", "run", spec, timeout=60), "laughs.yaml:", "aliases expand")
    params = _spec(project, "laughs-params.yaml", _laughs("label"))
    refused(nbtrail("run", TEMPLATE, "-f", params, timeout=60), "laughs-params.yaml:")
    assert recorded() == before


def test_invalid_and_oversized_yaml_are_one_line_naming_file_line_and_column(project):
    spec = _spec(project, "broken.yaml", "name: p\nsteps: [a, b\nother: 1\n")
    line = refused(nbtrail("pipeline", "run", spec), "broken.yaml:3:")
    assert "not valid YAML" in line
    big = _spec(project, "big.yaml", "steps:\n" + "# padding\n" * 500_000)
    refused(nbtrail("pipeline", "run", big), "big.yaml", "larger than")


def test_bounded_loader_keeps_anchors_merge_keys_and_ordinary_shapes():
    text = (
        "defaults: &d {rows: 3, scale: 1.5}\n"
        "steps:\n"
        "  - {<<: *d, name: a}\n"
        "  - {<<: *d, name: b, rows: 4}\n"
        "nested: " + "[" * 50 + "1" + "]" * 50 + "\n"
    )
    data = load_yaml_text(text, "ok.yaml")
    assert data["steps"][1] == {"rows": 4, "scale": 1.5, "name": "b"}
    with pytest.raises(ValueError, match=r"ok\.yaml:1:.*refers to a node that contains it"):
        load_yaml_text("&a [*a]", "ok.yaml")


# -- 5. a 3,000-step pipeline listed consumer-first -------------------------------------------


def _chain(folder: Path, steps: int, *, cycle: bool = False) -> Path:
    lines = ["name: chain", "steps:"]
    for index in range(steps):
        lines += [f"  - name: s{index}", f"    template: {TEMPLATE}"]
        if index < steps - 1:
            lines.append(f"    needs: [s{index + 1}]")
        elif cycle:
            lines.append("    needs: [s0]")
    return _spec(folder, "chain.yaml", "\n".join(lines) + "\n")


def test_long_consumer_first_chain_is_ordered_without_recursion(project):
    spec = load_spec(_chain(project, 3000))
    assert spec.names == [f"s{i}" for i in reversed(range(3000))]
    # The command reaches its own checks (an unknown --only step) without a RecursionError.
    before = recorded()
    line = refused(nbtrail("pipeline", "run", project / "chain.yaml", "--only", "nosuch"))
    assert "no step named 'nosuch'" in line and "more" in line
    assert recorded() == before


def test_long_cycle_is_refused_in_one_line(project):
    before = recorded()
    line = refused(nbtrail("pipeline", "run", _chain(project, 3000, cycle=True)), "cycle")
    assert len(line) < 400
    assert recorded() == before


# -- 6. parameter types are checked before the pipeline run is recorded ------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("rows: [1, 2]", "parameter 'rows' must be int"),
        ("rows: {a: 1}", "parameter 'rows' must be int"),
        ("label: 2024-01-01", "parameter 'label' holds a date"),
        ("scale: !!binary aGVsbG8=", "parameter 'scale' holds a bytes"),
        ("label: ${nowhere.outputs.x}", "unknown step 'nowhere'"),
    ],
)
def test_wrong_parameter_types_in_a_spec_are_refused_before_running(project, value, message):
    text = f"name: p\nsteps:\n  - name: a\n    template: {TEMPLATE}\n    parameters:\n"
    spec = _spec(project, "types.yaml", text + f"      {value}\n")
    before = recorded()
    refused(nbtrail("pipeline", "run", spec), "types.yaml", message)
    assert recorded() == before


def test_referenced_values_must_be_plain_data(project):
    text = (
        f"name: p\nsteps:\n  - name: a\n    template: {TEMPLATE}\n"
        f"  - name: b\n    template: {TEMPLATE}\n    parameters:\n"
        "      label:\n        - ${a.outputs.total}\n        - 2024-01-01\n"
    )
    before = recorded()
    refused(nbtrail("pipeline", "run", _spec(project, "ref.yaml", text)), "'label'", "date")
    params = _spec(project, "params.yaml", "rows: [1, 2]\n")
    refused(nbtrail("run", TEMPLATE, "-f", params), "parameter 'rows' must be int")
    assert recorded() == before


# -- 7. names and paths are printed with control characters escaped ----------------------------


def test_control_characters_in_names_and_paths_are_escaped(project):
    evil = "a\x1b[31mRED\nfake line"
    data = project / "data\x1b[2J\n.csv"
    data.write_text("x\n1\n")
    with open_or_create_trail() as trail, trail.start_run(evil, params={evil: evil}) as run:
        used = run.use(str(data))
        run.record_check("schema", "fail", artifact=used, summary="bad\rrow\x07")
    run_id = run.id
    for command in (
        ("runs",),
        ("show", run_id),
        ("checks",),
        ("checks", run_id, "--findings"),
        ("lineage", run_id),
    ):
        result = nbtrail(*command)
        assert result.returncode == 0, (command, result.stderr)
        out = result.stdout.decode("utf-8")
        assert "\x1b" not in out and "\r" not in out and "\x07" not in out, (command, out)
        assert not any(line.startswith("fake line") for line in out.splitlines()), out
        if command[0] in ("runs", "show", "lineage"):
            assert "a\\x1b[31mRED\\nfake line" in out, (command, out)
    show = nbtrail("show", run_id).stdout.decode()
    assert "data\\x1b[2J\\n.csv" in show and "bad\\rrow\\x07" in show
    # A refusal quoting the name is one line too.
    refused(nbtrail("show", "zz\x1b[2J\nzz"), "zz\\x1b[2")
