"""The ``dask`` executor: pipeline steps on real Dask clusters on 127.0.0.1.

A local cluster (the executor's own), and a scheduler and workers started here with the
``dask scheduler`` / ``dask worker`` command lines: steps run on workers and their runs say
which; a worker killed mid-step (SIGKILL, its pid found through a marker file the step
writes) fails the step cleanly or is retried per ``retries:``, and the trail verifies with
exactly one succeeded run per step; what a worker lacks is named before anything runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import run_cli, throwaway_database

from nbtrail.errors import UsageError
from nbtrail.pipeline.executors import get_executor
from nbtrail.pipeline.pipelines import run_pipeline
from nbtrail.store import init_trail, open_trail

pytest.importorskip("distributed")

DASK = Path(sys.executable).parent / "dask"

STEP_SOURCE = """\
import os, pathlib, time
import nbtrail
if marker and not pathlib.Path(marker).exists():
    # First attempt: say which worker runs this kernel, then wait to be killed.
    tmp = pathlib.Path(marker + ".tmp")
    tmp.write_text(f"{os.getppid()} {os.getpid()}")
    tmp.replace(marker)
    time.sleep(60)
nbtrail.output("label", label)
nbtrail.output("worker_pid", os.getppid())
"""


def _template(path: Path, *, kernel: str = "python3") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    params = nbformat.v4.new_code_cell(
        'label: str = "demo"  # free text\nmarker: str = ""  # a file to write, then hang'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(STEP_SOURCE)]
    nbformat.write(nb, path)
    return path


def _spec(folder: Path, *, retries: int | None = None, marker: Path | None = None) -> Path:
    first = {"name": "first", "template": "dask_step.ipynb", "parameters": {"label": "one"}}
    if marker is not None:
        first["parameters"]["marker"] = str(marker)
    if retries is not None:
        first["retries"] = retries
    second = {
        "name": "second",
        "template": "dask_step.ipynb",
        "parameters": {"label": "${first.outputs.label}-two"},
    }
    path = folder / "pipeline.yaml"
    path.write_text(json.dumps({"name": "dask-pair", "steps": [first, second]}))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a SQLite trail and the step template."""
    folder = tmp_path / "project"
    folder.mkdir()
    _template(folder / "dask_step.ipynb")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NBTRAIL_HOME", str(folder / ".nbtrail"))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(pid: int, limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _kill_when_marked(marker: Path) -> dict:
    """SIGKILL the worker whose kernel writes ``marker``; the pids it killed, in a dict."""
    seen: dict = {}

    def watch():
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if marker.exists():
            seen["worker"], seen["kernel"] = map(int, marker.read_text().split())
            os.kill(seen["worker"], signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    return seen


def _template_runs(trail, name: str):
    return [r for r in trail.runs(kind="template") if r.name == name]


def _check_ran_on_workers(result, workers=None) -> list[int]:
    """Each step's run names the worker whose kernel executed it; the workers' pids."""
    pids = []
    with open_trail() as trail:
        for outcome in result.steps:
            run = trail.get_run(outcome.run_id)
            worker = run.attrs["worker"]
            assert worker["address"].startswith("tcp://127.0.0.1:")
            assert workers is None or worker["address"] in workers
            # The worker recorded is the process whose kernel executed the notebook.
            assert worker["pid"] == run.attrs["outputs"]["worker_pid"] != os.getpid()
            assert worker["host"] == socket.gethostname()
            (session,) = trail.runs(parent=run.id)
            assert session.status == "succeeded"
            pids.append(worker["pid"])
        assert trail.get_run(result.step("second").run_id).params["label"] == "one-two"
    return pids


def _check_trail(expect: dict[str, list[str]]) -> None:
    """Template runs per step have exactly these statuses; one success at most; it verifies."""
    with open_trail() as trail:
        for name, statuses in expect.items():
            runs = _template_runs(trail, name)
            assert sorted(r.status for r in runs) == sorted(statuses), name
            assert [r.status for r in runs].count("succeeded") <= 1
            for run in runs:  # nothing of a step's run is left running
                assert all(c.status != "running" for c in trail.runs(parent=run.id))
        report = trail.verify()
        assert report.ok, report.problems[:3]


# -- a local cluster ---------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1])
def test_a_killed_worker_fails_its_step_cleanly_or_is_retried(project, retries):
    marker = project / "marker.txt"
    killed = _kill_when_marked(marker)
    spec = _spec(project, retries=retries or None, marker=marker)  # 0: the default
    result = run_pipeline(spec, executor="dask", workers=2)
    assert killed, "the step never wrote its marker"
    assert _gone(killed["kernel"]), "the dead worker's kernel is still running"
    with open_trail() as trail:
        (aborted,) = [r for r in _template_runs(trail, "first") if r.status == "aborted"]
        worker = aborted.attrs["worker"]
        assert worker["pid"] == killed["worker"]
        assert str(killed["worker"]) in aborted.error  # ended by nbtrail or the trail's recovery
        assert f"worker {worker['address']} (pid {killed['worker']}" in aborted.attrs["worker_lost"]
    if retries == 0:
        assert not result.ok
        first = result.step("first")
        assert first.status == "failed" and first.run_id == aborted.id
        assert f"worker {worker['address']} (pid {killed['worker']}" in first.error
        assert result.step("second").status == "not run"
        _check_trail({"first": ["aborted"], "second": []})
    else:
        assert result.ok, result
        pids = _check_ran_on_workers(result)
        assert all(_gone(pid) for pid in pids), "the executor's cluster left workers running"
        with open_trail() as trail:
            (retried,) = [r for r in _template_runs(trail, "first") if r.status == "succeeded"]
            assert retried.attrs["worker"]["pid"] != killed["worker"]
            assert result.step("first").run_id == retried.id
        _check_trail({"first": ["aborted", "succeeded"], "second": ["succeeded"]})


def test_a_negative_retries_is_refused_naming_the_step(project):
    spec = _spec(project, retries=-1)
    with pytest.raises(UsageError, match=r"step 'first': 'retries' must be a non-negative"):
        run_pipeline(spec, executor="dask")


def test_unreachable_scheduler_is_refused_naming_it_and_nothing_is_recorded(project, monkeypatch):
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("NBTRAIL_DASK_SCHEDULER", address)
    started = time.monotonic()
    with pytest.raises(UsageError) as exc:
        run_pipeline(_spec(project), executor="dask")
    assert address in str(exc.value) and "--scheduler" in str(exc.value)
    assert time.monotonic() - started < 10
    with pytest.raises(UsageError, match="--scheduler"):
        get_executor("dask", scheduler=address)
    with pytest.raises(UsageError, match="not a Dask scheduler address"):
        get_executor("dask", scheduler="tcp://127.0.0.1")
    with open_trail() as trail:
        assert trail.runs() == []


def test_the_command_line_runs_steps_on_a_local_cluster_and_refuses_bad_schedulers(project, capsys):
    code, out, err = run_cli(capsys, "pipeline", "run", _spec(project), "--executor", "dask")
    assert code == 0, out + err
    assert "succeeded first" in " ".join(out.split()) and "pipeline dask-pair succeeded" in out
    with open_trail() as trail:
        (run,) = [r for r in _template_runs(trail, "first") if r.status == "succeeded"]
        assert run.attrs["worker"]["address"].startswith("tcp://127.0.0.1:")
    with open_trail() as trail:
        before = len(trail.runs())
    address = f"tcp://127.0.0.1:{_free_port()}"
    code, out, err = run_cli(
        capsys, "pipeline", "run", _spec(project), "--executor", "dask", "--scheduler", address
    )
    assert code == 2 and address in err and "--scheduler" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(capsys, "pipeline", "run", _spec(project), "--scheduler", address)
    assert code == 2 and "--scheduler is for --executor dask" in err
    with open_trail() as trail:
        assert len(trail.runs()) == before  # refused before anything was recorded


# -- a scheduler and workers started from the command line ------------------------------------


def _start(command: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _wait_for_workers(address: str, count: int, limit: float = 60) -> list[str]:
    from distributed import Client

    with Client(address, timeout="20s", set_as_default=False) as client:
        client.wait_for_workers(count, timeout=limit)
        return sorted(client.scheduler_info(n_workers=-1)["workers"])


def _cluster(folder: Path, env: dict, *, workers: int, prefix: list[str] = ()):
    """A ``dask scheduler`` and ``dask worker`` processes; (address, processes)."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "scheduler.json"
    scheduler = _start(
        [
            str(DASK),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(file),
        ],
        env,
        folder,
        folder / "scheduler.log",
    )
    processes = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            assert scheduler.poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        processes.append(
            _start(
                [
                    *prefix,
                    str(DASK),
                    "worker",
                    address,
                    "--nworkers",
                    str(workers),
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--local-directory",
                    str(folder / "space"),
                ],
                env,
                folder,
                folder / "workers.log",
            )
        )
        _wait_for_workers(address, workers)
    except BaseException:
        for process in reversed(processes):
            _stop(process)
        raise
    return address, processes


def _worker_env(**values) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBTRAIL_")}
    return {**env, "NBTRAIL_USER": "tester", "PYTHONDONTWRITEBYTECODE": "1", **values}


@pytest.fixture(scope="module")
def pg_trail_url(pg_server_url):
    """A PostgreSQL database for this module's trails, made here and dropped after."""
    with throwaway_database(pg_server_url, "nbtrail_dask") as url:
        yield url


@pytest.fixture(scope="module")
def remote(tmp_path_factory, pg_trail_url):
    """A scheduler with two workers, each told the trail's database in its own environment."""
    folder = tmp_path_factory.mktemp("dask-cluster")
    env = _worker_env(NBTRAIL_STORE_URL=pg_trail_url, NBTRAIL_BLOB_URL=str(folder / "objects"))
    address, processes = _cluster(folder, env, workers=2)
    try:
        yield address, env["NBTRAIL_BLOB_URL"]
    finally:
        for process in reversed(processes):
            _stop(process)


@pytest.fixture
def remote_project(project, monkeypatch, remote, pg_trail_url):
    """The project, its trail in the database and blob folder the remote workers use."""
    monkeypatch.setenv("NBTRAIL_STORE_URL", pg_trail_url)
    monkeypatch.setenv("NBTRAIL_BLOB_URL", remote[1])
    monkeypatch.setenv("NBTRAIL_DASK_SCHEDULER", remote[0])
    init_trail(project).close()  # only init creates a trail in a configured database
    return project


def test_a_sqlite_trail_is_refused_with_a_scheduler_elsewhere(project, monkeypatch, remote):
    address = remote[0]
    monkeypatch.setenv("NBTRAIL_DASK_SCHEDULER", address)
    with pytest.raises(UsageError) as exc:
        run_pipeline(_spec(project), executor="dask")
    message = str(exc.value)
    assert "NBTRAIL_STORE_URL" in message and address in message and "SQLite" in message
    with open_trail() as trail:
        assert trail.runs() == []


def test_steps_run_on_a_running_scheduler_with_a_postgresql_trail(remote_project, remote):
    workers = _wait_for_workers(remote[0], 2)
    result = run_pipeline(_spec(remote_project), executor="dask", workers=2)
    assert result.ok, [s.error for s in result.steps]
    _check_ran_on_workers(result, workers)
    with open_trail() as trail:
        assert trail.url.startswith("postgresql")
        assert trail.verify().ok


def test_dask_does_not_rerun_a_killed_workers_step_unseen(remote_project, remote):
    # This scheduler keeps Dask's default allowed-failures (3): it re-runs the task of a dead
    # worker elsewhere by itself. The re-run refuses; the step fails naming the dead worker.
    marker = remote_project / "marker.txt"
    killed = _kill_when_marked(marker)
    result = run_pipeline(_spec(remote_project, marker=marker), executor="dask", workers=2)
    assert killed and not result.ok
    first = result.step("first")
    assert first.status == "failed" and f"pid {killed['worker']}" in first.error
    with open_trail() as trail:
        runs = [r for r in _template_runs(trail, "first") if r.parent_id == result.run_id]
        assert [r.status for r in runs] == ["aborted"]
        assert runs[0].id == first.run_id
        assert trail.verify().ok
    assert _gone(killed["kernel"])
    _wait_for_workers(remote[0], 2)  # the nanny brought a worker back for the next test


def test_a_worker_that_cannot_see_the_project_is_named(
    project, tmp_path, pg_trail_url, monkeypatch
):
    # A worker in its own mount namespace, the project hidden under an empty tmpfs: it runs
    # on this machine, but the files are not there for it, as on a machine without the share.
    hide = ["unshare", "--mount", "sh", "-c", f'mount -t tmpfs none "{project}" && exec "$0" "$@"']
    probe = subprocess.run([*hide[:-1], hide[-1].replace('exec "$0" "$@"', "true")], check=False)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here (unshare --mount needs privileges)")
    monkeypatch.setenv("NBTRAIL_STORE_URL", pg_trail_url)
    init_trail(project).close()
    env = _worker_env(NBTRAIL_STORE_URL=pg_trail_url)
    address, processes = _cluster(tmp_path / "hidden", env, workers=1, prefix=hide)
    try:
        (worker,) = _wait_for_workers(address, 1)
        monkeypatch.setenv("NBTRAIL_DASK_SCHEDULER", address)
        with open_trail() as trail:
            before = len(trail.runs())
        with pytest.raises(UsageError) as exc:
            run_pipeline(_spec(project), executor="dask")
        message = str(exc.value)
        assert f"worker {worker} lacks {project / 'dask_step.ipynb'} (no such file there)" in (
            message
        )
        assert "shared file system" in message
        with open_trail() as trail:
            assert len(trail.runs()) == before
    finally:
        for process in reversed(processes):
            _stop(process)


def test_preflight_names_the_worker_and_what_it_lacks(remote_project, remote):
    absent = remote_project / "inputs" / "missing.csv"
    executor = get_executor("dask", workers=2)
    try:
        found = executor.check_workers([remote_project / "dask_step.ipynb"])
        assert sorted(w["address"] for w in found) == _wait_for_workers(remote[0], 2)
        assert os.getpid() not in {w["pid"] for w in found}
        with pytest.raises(UsageError) as exc:
            executor.check_workers([absent])
        for worker in found:
            assert f"worker {worker['address']} lacks {absent} (no such file there)" in str(
                exc.value
            )
    finally:
        executor.shutdown()


def test_a_step_no_worker_can_run_fails_before_anything_is_recorded(remote_project):
    _template(remote_project / "dask_step.ipynb", kernel="no-such-kernel")
    with open_trail() as trail:
        before = len(trail.runs())
    with pytest.raises(UsageError, match="lacks the Jupyter kernel 'no-such-kernel'"):
        run_pipeline(_spec(remote_project), executor="dask")
    with open_trail() as trail:
        assert len(trail.runs()) == before
