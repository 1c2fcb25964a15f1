"""A session's status is the truth: real kernels shut down, terminated, killed and restarted.

Jupyter asks a kernel to shut down, sends SIGTERM 2.5 s later if the process is still there
(loky's worker processes slow an exit down), then SIGKILL. Each way out must leave the session
run saying what happened: the cells that finished recorded, and the session ``succeeded`` when
the kernel was idle, ``aborted`` when a cell was running or the process was killed outright.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from nbtrail.store import open_trail

LOKY_CELL = (
    "from joblib import Parallel, delayed\n"
    "squares = Parallel(n_jobs=2, backend='loky')(delayed(pow)(i, 2) for i in range(8))\n"
    "sum(squares)"
)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A project folder with its own trail; kernels started here inherit NBTRAIL_HOME."""
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / "trail-home"))
    monkeypatch.delenv("NBTRAIL_NOTEBOOK", raising=False)
    folder = tmp_path / "nb"
    folder.mkdir()
    return folder


def _sessions(trail):
    return sorted(trail.runs(kind="session"), key=lambda r: r.started_at)


def _cells(trail, session_id: str):
    runs = trail.runs(parent=session_id, kind="cell")
    return sorted(runs, key=lambda r: r.params.get("execution_count") or 0)


class Kernel:
    """A kernel driven like a frontend drives it: execute requests, then a way out."""

    def __init__(self, cwd: Path, extra_arguments=()):
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), extra_arguments=list(extra_arguments))
        self._connect()

    def _connect(self):
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid

    def run(self, code: str) -> dict:
        reply = self.kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        return reply

    def start(self, code: str) -> None:
        """Send an execute request without waiting for it to finish."""
        self.kc.execute(code)

    def restart(self):
        self.kc.stop_channels()
        self.km.restart_kernel(now=False)
        self._connect()

    def wait_gone(self, timeout: float = 30.0) -> int | None:
        deadline = time.monotonic() + timeout
        while self.km.is_alive():  # polling reaps the process: it is gone, not a zombie
            assert time.monotonic() < deadline, "the kernel did not exit"
            time.sleep(0.05)
        return self.km.provisioner.process.returncode

    def close(self):
        self.kc.stop_channels()
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)
        self.km.cleanup_resources()


@pytest.fixture
def kernels():
    started: list[Kernel] = []
    yield started
    for kernel in started:
        try:
            kernel.close()
        except Exception:  # noqa: BLE001 - the test killed it already
            pass


def _wait_for_cells(work: Path, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (work.parent / "trail-home" / "trail.db").exists():
            with open_trail(work, readonly=True) as trail:
                sessions = trail.runs(kind="session")
                if sessions and len(_cells(trail, sessions[0].id)) >= count:
                    return
        time.sleep(0.1)
    raise AssertionError(f"{count} cells were not written within {timeout} s")


def test_a_loky_fit_then_a_normal_shutdown_is_succeeded(work):
    nb = new_notebook()
    nb.cells = [new_code_cell(c) for c in ("%load_ext nbtrail", LOKY_CELL, "total = 1 + 1")]
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(work)}}
    ).execute()
    results = [o for o in nb.cells[1].outputs if o["output_type"] == "execute_result"]
    assert results[0]["data"]["text/plain"] == "140"
    with open_trail(work) as trail:  # a writer: dead runs would be marked aborted now
        (session,) = _sessions(trail)
        assert session.status == "succeeded", session.error
        assert session.error is None
        assert session.attrs["state"] == "ended"
        cells = _cells(trail, session.id)
        assert [c.params["execution_count"] for c in cells] == [2, 3]
        assert all(c.status == "succeeded" for c in cells)


def test_sigterm_between_cells_ends_the_session_succeeded(work, kernels):
    kernel = Kernel(work)
    kernels.append(kernel)
    kernel.run("%load_ext nbtrail")
    kernel.run("a = 1")
    kernel.run("b = a + 1")
    os.kill(kernel.pid, signal.SIGTERM)
    # The handler ended the session, then let SIGTERM do what it does: the kernel terminates.
    assert kernel.wait_gone() == -signal.SIGTERM
    with open_trail(work) as trail:
        (session,) = _sessions(trail)
        assert session.status == "succeeded", session.error
        cells = _cells(trail, session.id)
        assert [c.params["execution_count"] for c in cells] == [2, 3]
        assert all(c.status == "succeeded" for c in cells)


def test_sigterm_while_a_cell_runs_ends_the_session_aborted(work, kernels):
    kernel = Kernel(work)
    kernels.append(kernel)
    kernel.run("%load_ext nbtrail")
    kernel.run("a = 1")
    kernel.start("import time\ntime.sleep(60)")
    time.sleep(1.0)
    os.kill(kernel.pid, signal.SIGTERM)
    assert kernel.wait_gone() == -signal.SIGTERM
    with open_trail(work) as trail:
        (session,) = _sessions(trail)
        assert session.status == "aborted"
        assert "SIGTERM" in session.error and "cell 3" in session.error
        cells = _cells(trail, session.id)
        assert [(c.params["execution_count"], c.status) for c in cells] == [(2, "succeeded")]


def test_sigkill_mid_cell_keeps_the_finished_cells_and_the_last_known_state(work, kernels):
    kernel = Kernel(work)
    kernels.append(kernel)
    kernel.run("%load_ext nbtrail")
    kernel.run("a = 1")
    kernel.run("b = a + 1")
    kernel.start("import time\ntime.sleep(60)")
    _wait_for_cells(work, 2)  # the writer commits a finished cell within 2 s, busy or not
    os.kill(kernel.pid, signal.SIGKILL)
    assert kernel.wait_gone() == -signal.SIGKILL
    with open_trail(work) as trail:  # the writer that opens it marks the dead session
        (session,) = _sessions(trail)
        assert session.status == "aborted"
        assert "ended without ending the run" in session.error
        assert session.attrs["state"] == "idle" and session.attrs["last_cell"] == 3
        assert session.attrs["last_cell_status"] == "succeeded"
        last_known = dt.datetime.fromisoformat(session.attrs["at"])
        # Ended at the last moment it was known alive, not when recovery found it dead.
        assert session.ended_at == last_known
        cells = _cells(trail, session.id)
        assert [(c.params["execution_count"], c.status) for c in cells] == [
            (2, "succeeded"),
            (3, "succeeded"),
        ]


def test_a_restart_ends_the_old_session_and_starts_a_new_one(work, kernels):
    # Loaded at kernel start, like `c.InteractiveShellApp.extensions = ["nbtrail"]`: a restart
    # (JupyterLab's "Restart Kernel") loads it again in the new process.
    kernel = Kernel(work, extra_arguments=["--ext=nbtrail"])
    kernels.append(kernel)
    kernel.run("a = 1")
    first_pid = kernel.pid
    kernel.restart()
    assert kernel.pid != first_pid
    kernel.run("b = 2")
    kernel.run("c = 3")
    kernel.kc.stop_channels()
    kernel.km.shutdown_kernel(now=False)
    with open_trail(work) as trail:
        old, new = _sessions(trail)
        assert old.status == "succeeded" and new.status == "succeeded", (old.error, new.error)
        assert [c.params["execution_count"] for c in _cells(trail, old.id)] == [1]
        assert [c.params["execution_count"] for c in _cells(trail, new.id)] == [1, 2]
        assert old.attrs["process"]["pid"] == first_pid


def test_papermill_records_the_notebook_path(work, tmp_path):
    import nbformat
    import papermill

    source = work / "analysis.ipynb"
    nb = new_notebook()
    params = new_code_cell("PAPERMILL_INPUT_PATH = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell("%load_ext nbtrail"), new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nbformat.write(nb, source)
    papermill.execute_notebook(
        str(source),
        str(tmp_path / "out.ipynb"),
        parameters={"PAPERMILL_INPUT_PATH": str(source)},  # what --inject-input-path passes
        cwd=str(work),
        progress_bar=False,
    )
    with open_trail(work) as trail:
        (session,) = _sessions(trail)
        assert session.status == "succeeded"
        assert session.notebook == str(source.resolve())
        assert session.name == "analysis.ipynb"


def test_nbtrail_run_records_the_notebook_and_ends_a_loky_session(work):
    import nbformat

    template = work / "fit.ipynb"
    nb = new_notebook()
    nb.cells = [new_code_cell(LOKY_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nbformat.write(nb, template)
    done = subprocess.run(
        [sys.executable, "-m", "nbtrail", "run", str(template)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with open_trail(work) as trail:
        (session,) = _sessions(trail)
        assert session.status == "succeeded", session.error
        assert session.notebook == str(template.resolve())
        assert [c.status for c in _cells(trail, session.id)] == ["succeeded"]


def test_loading_imports_neither_the_store_nor_sqlalchemy():
    code = (
        "import sys, IPython.core.magic\n"
        "import nbtrail.capture.magics\n"
        "heavy = ('sqlalchemy', 'alembic', 'nbtrail.store', 'numpy', 'pandas')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_start_that_fails_off_thread_is_one_line_at_the_next_cell(work, tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from nbtrail.capture import magics

    signed = tmp_path / "signed"
    monkeypatch.setenv("NBTRAIL_HOME", str(signed))
    monkeypatch.setenv("NBTRAIL_SIGNING_KEY", "the key")
    with open_trail() as trail:
        trail.start_run("signed").end()
    monkeypatch.delenv("NBTRAIL_SIGNING_KEY")
    status = tmp_path / "capture-status.txt"
    monkeypatch.setenv("NBTRAIL_CAPTURE_STATUS", str(status))
    monkeypatch.chdir(work)

    shell = InteractiveShell.instance()
    lines: list[str] = []
    monkeypatch.setattr(sys, "stderr", _Lines(lines))
    try:
        magics.load_ipython_extension(shell)
        first = shell.run_cell("1 + 1")
        second = shell.run_cell("2 + 2")
    finally:
        magics.unload_ipython_extension(shell)
        InteractiveShell.clear_instance()
    assert first.success and first.result == 2 and second.result == 4
    said = [line for line in "".join(lines).splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("nbtrail: not recording: this trail is signed")
    assert "this trail is signed" in status.read_text()
    import nbtrail

    assert nbtrail.recording.active() is None


class _Lines:
    def __init__(self, into: list):
        self.into = into

    def write(self, text: str) -> int:
        self.into.append(text)
        return len(text)

    def flush(self) -> None:
        pass
