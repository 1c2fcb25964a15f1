"""The server extension under attack: each test replays a probe that once got through, and shows
it refused. A real Jupyter server on loopback (pytest-jupyter, or a `jupyter server` process),
real HTTP requests, real `nbtrail run` job processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tornado
from tornado.httpclient import HTTPClientError

from nbtrail.store import init_trail

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NOTEBOOKS = Path(__file__).parent / "notebooks"
TEMPLATE = NOTEBOOKS / "template_modes.ipynb"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbtrail": True}}}


@pytest.fixture
def root(jp_root_dir, monkeypatch) -> Path:
    """The server's root with a trail in it and a template notebook, analysis.ipynb."""
    folder = Path(jp_root_dir)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    shutil.copy(TEMPLATE, folder / "analysis.ipynb")
    (folder / "data.csv").write_text("x\n1\n")
    init_trail(folder).close()
    return folder


async def call(jp_fetch, endpoint: str, *, params=None, body=None) -> tuple[int, dict]:
    """One API request: its status and its JSON body, errors included."""
    kwargs = {"params": params} if params is not None else {}
    if body is not None:
        kwargs.update(method="POST", body=body if isinstance(body, bytes) else json.dumps(body))
    try:
        response = await jp_fetch("nbtrail", "api", *endpoint.split("/"), **kwargs)
    except HTTPClientError as exc:
        response = exc.response
    return response.code, json.loads(response.body)


async def finish(jp_fetch, job: dict, timeout: float = 240) -> dict:
    """Poll a job until it ends."""
    deadline = time.monotonic() + timeout
    while job["status"] == "running" and time.monotonic() < deadline:
        await tornado.gen.sleep(0.5)
        _, job = await call(jp_fetch, f"jobs/{job['id']}")
    return job


def assert_clean(reply: dict, *private: Path) -> None:
    """An error reply names no absolute path of the machine and carries no traceback."""
    text = json.dumps(reply)
    assert "Traceback" not in text and 'File \\"' not in text, text
    for path in private:
        assert str(path) not in text, text
    assert reply["error"] and reply["status"] >= 400


def open_files(name: str) -> list[str]:
    """Files of this process (the server's, with pytest-jupyter) whose path contains ``name``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if name in target:
            found.append(target)
    return found


# -- 1. the trail's own files, hidden files, links out of the root ----------------------------


async def test_the_trail_database_is_refused_and_a_job_after_it_is_seen(
    jp_fetch, jp_serverapp, root
):
    """The probe: GET schema of .nbtrail/trail.db made the server open and close the database
    file itself, dropping its SQLite locks; the next job then removed -wal/-shm under it and
    the runs list went stale or answered 500 "database disk image is malformed".
    """
    code, before = await call(jp_fetch, "runs", params={"notebook": "analysis.ipynb"})
    assert code == 200
    for probe in (".nbtrail/trail.db", ".nbtrail/trail.db-wal", "./.nbtrail/../.nbtrail/trail.db"):
        code, reply = await call(jp_fetch, "schema", params={"notebook": probe})
        assert code == 403, (probe, reply)
        assert "trail" in reply["error"] or "hidden" in reply["error"]
        assert_clean(reply, root)
    assert open_files("trail.db") == []  # no connection of the server outlives its request
    code, job = await call(
        jp_fetch, "jobs", body={"notebook": "analysis.ipynb", "parameters": {"rows": 2}}
    )
    assert code == 202, job
    job = await finish(jp_fetch, job)
    assert job["status"] == "succeeded" and job["run_id"], job
    code, after = await call(jp_fetch, "runs", params={"notebook": "analysis.ipynb"})
    assert code == 200, after
    assert job["run_id"] in [r["id"] for r in after["runs"]]
    assert len(after["runs"]) > len(before["runs"])
    code, run = await call(jp_fetch, f"runs/{job['run_id']}")
    assert code == 200 and run["status"] == "succeeded", run
    assert open_files("trail.db") == []


async def test_the_servers_engine_keeps_no_connection_but_keeps_the_sqlite_settings(
    jp_fetch, jp_serverapp, root
):
    from sqlalchemy.pool import NullPool

    assert (await call(jp_fetch, "status"))[0] == 200
    engine = jp_serverapp.web_app.settings["nbtrail"].trail().engine
    assert isinstance(engine.pool, NullPool)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    assert open_files("trail.db") == []


def _links(root: Path, outside: Path) -> None:
    """Paths inside the root that lead somewhere the API must not serve."""
    outside.mkdir(exist_ok=True)
    shutil.copy(TEMPLATE, outside / "secret.ipynb")
    (root / "out.ipynb").symlink_to(outside / "secret.ipynb")
    (root / "outdir").symlink_to(outside, target_is_directory=True)
    (root / "db.ipynb").symlink_to(root / ".nbtrail" / "trail.db")
    (root / "csv.ipynb").symlink_to(root / "data.csv")
    (root / ".hidden").mkdir()
    shutil.copy(TEMPLATE, root / ".hidden" / "x.ipynb")
    shutil.copy(TEMPLATE, root / ".secret.ipynb")
    (root / "sub" / ".ipynb_checkpoints").mkdir(parents=True)
    shutil.copy(TEMPLATE, root / "sub" / ".ipynb_checkpoints" / "a-checkpoint.ipynb")
    (root / "loop.ipynb").symlink_to(root / "loop.ipynb")


REFUSED = {
    ".nbtrail/trail.db": 403,
    ".nbtrail/trail.db-shm": 403,
    "analysis.ipynb/../.nbtrail/trail.db": 403,
    ".hidden/x.ipynb": 403,
    ".secret.ipynb": 403,
    "sub/.ipynb_checkpoints/a-checkpoint.ipynb": 403,
    "out.ipynb": 403,  # a link to a notebook outside the root
    "outdir/secret.ipynb": 403,  # through a linked folder
    "db.ipynb": 403,  # a link to the trail's database
    "csv.ipynb": 400,  # a link to something that is not a notebook
    "data.csv": 400,
    "loop.ipynb": 400,  # a link to itself
    "": 400,
}


@pytest.mark.parametrize("path", sorted(REFUSED))
async def test_every_route_that_takes_a_path_refuses_it(jp_fetch, root, tmp_path, path):
    _links(root, tmp_path / "outside")
    expected = REFUSED[path]
    for endpoint in ("runs", "lineage", "checks", "schema"):
        code, reply = await call(jp_fetch, endpoint, params={"notebook": path})
        if path == "" and endpoint != "schema":
            assert code == 200, (endpoint, reply)  # no notebook: everything, not a path
            continue
        assert code == expected, (endpoint, path, reply)
        assert_clean(reply, root, tmp_path)
    code, reply = await call(jp_fetch, "jobs", body={"notebook": path, "parameters": {}})
    assert code == expected, (path, reply)
    assert_clean(reply, root, tmp_path)
    assert not (root / "nbtrail-runs").exists()  # no job was started


@pytest.fixture
def home_in_root(jp_root_dir, monkeypatch) -> Path:
    """A trail whose folder is a plain (not hidden) folder of the server's root."""
    home = Path(jp_root_dir) / "trail-home"
    monkeypatch.setenv("NBTRAIL_HOME", str(home))
    init_trail(jp_root_dir).close()
    shutil.copy(TEMPLATE, home / "planted.ipynb")
    return home


async def test_a_trail_folder_inside_the_root_is_not_served_even_if_not_hidden(
    home_in_root, jp_fetch
):
    for endpoint in ("runs", "lineage", "checks", "schema"):
        code, reply = await call(
            jp_fetch, endpoint, params={"notebook": "trail-home/planted.ipynb"}
        )
        assert code == 403 and "trail" in reply["error"], (endpoint, reply)
        assert_clean(reply, home_in_root)
    code, reply = await call(
        jp_fetch, "jobs", body={"notebook": "trail-home/planted.ipynb", "parameters": {}}
    )
    assert code == 403, reply


# -- 2. job bodies --------------------------------------------------------------------------

BAD_BODIES = {
    "not json": b"not json",
    "array": b"[1, 2]",
    "string": b'"analysis.ipynb"',
    "null": b"null",
    "bad utf-8": b'{"notebook": "\xff\xfe.ipynb"}',
    "raw NUL": b'{"notebook": "analysis\x00.ipynb"}',
    "escaped NUL": json.dumps({"notebook": "analysis\u0000.ipynb"}).encode(),
    "notebook a number": b'{"notebook": 5}',
    "notebook a list": b'{"notebook": ["analysis.ipynb"]}',
    "notebook missing": b'{"parameters": {}}',
    "parameters a list": b'{"notebook": "analysis.ipynb", "parameters": [1]}',
    "parameters a string": b'{"notebook": "analysis.ipynb", "parameters": "rows=1"}',
    "10,000 nested lists": b"[" * 10_000 + b"]" * 10_000,
    "deep parameters": (
        b'{"notebook": "analysis.ipynb", "parameters": {"label": ' + b"[" * 200 + b"]" * 200 + b"}}"
    ),
    "NaN": b'{"notebook": "analysis.ipynb", "parameters": {"scale": NaN}}',
    "path over 4096": json.dumps({"notebook": "a/" * 2100 + "x.ipynb"}).encode(),
    "huge body": json.dumps({"notebook": "analysis.ipynb", "pad": "x" * 400_000}).encode(),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_malformed_job_bodies_are_clean_400s(jp_fetch, root, name):
    code, reply = await call(jp_fetch, "jobs", body=BAD_BODIES[name])
    assert code == 400, (name, reply)
    assert_clean(reply, root)
    assert not (root / "nbtrail-runs").exists()


async def test_long_and_odd_query_paths_are_clean_400s(jp_fetch, root):
    for path in ("a/" * 2100 + "x.ipynb", "x" * 5000 + ".ipynb"):
        code, reply = await call(jp_fetch, "checks", params={"notebook": path})
        assert code == 400 and "longer than" in reply["error"], reply
    code, reply = await call(jp_fetch, "lineage", params={"run": "%' OR 1=1 --"})
    assert code == 400 and "'run'" in reply["error"], reply
    assert_clean(reply, root)


# -- 3. what a job is handed: its notebook's name, its outputs, its parameters ------------------


async def test_a_notebook_named_like_an_option_is_run_as_a_notebook(jp_fetch, root):
    shutil.copy(TEMPLATE, root / "--help.ipynb")
    code, job = await call(
        jp_fetch, "jobs", body={"notebook": "--help.ipynb", "parameters": {"rows": 3}}
    )
    assert code == 202, job
    job = await finish(jp_fetch, job)
    # Read as an option, `--help` printed the usage and exited 0 with no run at all.
    assert job["status"] == "succeeded" and job["run_id"], job
    assert (root / job["executed_notebook"]).is_file()
    code, runs = await call(jp_fetch, "runs", params={"notebook": "--help.ipynb"})
    assert job["run_id"] in [r["id"] for r in runs["runs"]]


async def test_an_output_folder_linked_out_of_the_root_is_refused(jp_fetch, root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "nbtrail-runs").symlink_to(elsewhere, target_is_directory=True)
    code, reply = await call(jp_fetch, "jobs", body={"notebook": "analysis.ipynb"})
    assert code == 409 and "nbtrail-runs" in reply["error"], reply
    assert_clean(reply, root, tmp_path)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("suffix", [".ipynb", ".html", ".json", ".log"])
async def test_an_output_file_linked_out_of_the_root_is_never_written(
    jp_fetch, root, tmp_path, monkeypatch, suffix
):
    import nbtrail.server.jobs as jobs_module

    monkeypatch.setattr(jobs_module, "_new_id", lambda: "0123456789ab")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (root / "nbtrail-runs").mkdir()
    (root / "nbtrail-runs" / f"analysis-0123456789ab{suffix}").symlink_to(victim)
    code, reply = await call(jp_fetch, "jobs", body={"notebook": "analysis.ipynb"})
    assert code == 409, reply
    assert_clean(reply, root, tmp_path)
    assert victim.read_text() == "untouched"
    created = sorted(p.name for p in (root / "nbtrail-runs").iterdir())
    assert created == [f"analysis-0123456789ab{suffix}"]  # nothing else, nothing started


def _settled_fd_count() -> int:
    """This process's open files, once connections that are closing have closed."""
    counts = []
    for _ in range(5):
        counts.append(len(os.listdir("/proc/self/fd")))
        time.sleep(0.2)
    return min(counts)


async def test_jobs_leave_no_file_descriptor_open_in_the_server(jp_fetch, root):
    async def run(count: int) -> None:
        started = []
        for i in range(count):
            code, job = await call(
                jp_fetch, "jobs", body={"notebook": "analysis.ipynb", "parameters": {"rows": i + 1}}
            )
            assert code == 202, job
            started.append(job)
        for job in started:
            assert (await finish(jp_fetch, job))["status"] == "succeeded"

    await run(1)  # warm up: whatever the first job loads lazily stays loaded
    before = _settled_fd_count()
    await run(3)
    assert (await call(jp_fetch, "status"))[1]["jobs_running"] == 0
    after = _settled_fd_count()
    assert after <= before, (before, after)


# -- 4. a server that stops while a job runs ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _job_processes(marker: str) -> list[int]:
    """Processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


def _kernel_of(pids: list[int]) -> list[int]:
    """Kernels (ipykernel processes) started by one of ``pids``."""
    kernels = []
    for pid in _job_processes("ipykernel"):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent in pids:
            kernels.append(pid)
    return kernels


def _request(url: str, token: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_server_stopped_mid_job_ends_it_and_leaves_no_parameter_file(tmp_path):
    root, temp, config = tmp_path / "root", tmp_path / "tmp", tmp_path / "config"
    for folder in (root, temp, config):
        folder.mkdir()
    shutil.copy(TEMPLATE, root / "analysis.ipynb")
    init_trail(root).close()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"nbtrail": True}}})
    )
    port, token = _free_port(), "hardening-token"
    env = dict(
        os.environ,
        TMPDIR=str(temp),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/nbtrail/api"
    marker = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _request(f"{base}/status", token)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "server.log"
                ).read_text()
                time.sleep(0.3)
        job = _request(
            f"{base}/jobs", token, {"notebook": "analysis.ipynb", "parameters": {"mode": "hang"}}
        )
        marker = Path(job["report"]).stem  # analysis-<job id>, in the job's command line
        deadline = time.monotonic() + 90
        while not _kernel_of(_job_processes(marker)):
            # The job has read its parameters once its kernel runs (the notebook then hangs).
            assert time.monotonic() < deadline, (
                root / "nbtrail-runs" / f"{marker}.log"
            ).read_text()
            time.sleep(0.3)
        assert _request(f"{base}/jobs/{job['id']}", token)["status"] == "running"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) is not None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    deadline = time.monotonic() + 15
    while _job_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _job_processes(marker) == [], "the job outlived the server"
    leftovers = [p for p in (*temp.rglob("*"), *root.rglob("*")) if "param" in p.name.lower()]
    assert leftovers == []
    assert not [p for p in temp.rglob("*") if "nbtrail" in p.name]
