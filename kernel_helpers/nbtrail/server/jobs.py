"""Audited runs started from JupyterLab: ``nbtrail run`` in a child process, watched by the server.

The server never executes a notebook itself: each job is ``python -m nbtrail run`` in its own
process (its own kernel) and its own session, in the server's root folder, writing the
executed notebook and the HTML report under ``nbtrail-runs/`` there, where JupyterLab can open
them. What a job is handed is handled with care:

* the notebook's path comes after ``--``, so no name (``--help.ipynb``) is read as an option;
* its parameters go to the child's standard input as JSON, never into a file, and the child's
  temporary files go into a folder of its own (``TMPDIR``), removed when the job ends and when
  the server stops: nothing is left behind however the job or the server ends;
* its outputs go into a real ``nbtrail-runs`` folder of the root, never through a symbolic
  link, to names that must not exist yet; a job whose output folder or names are links is
  refused;
* the server keeps no file open per job, and ends every job's process group when it stops
  (SIGINT, so the run can record its end; SIGKILL for what is left after a grace period).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NbtrailError

__all__ = ["Job", "JobRefused", "Jobs", "TooManyJobs"]

OUTPUT_FOLDER = "nbtrail-runs"
STOP_GRACE = 5.0  # seconds a job's processes get to end after SIGTERM, before SIGKILL


class TooManyJobs(NbtrailError):
    """As many jobs as ``max_jobs`` allows are running; the server answers 409."""


class JobRefused(NbtrailError):
    """A job the server will not start (its outputs would not stay in the root); 409."""


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Job:
    """One ``nbtrail run`` started from JupyterLab."""

    id: str
    notebook: str  # relative to the server root
    parameters: dict
    notebook_out: str  # relative to the server root
    report: str  # relative to the server root
    process: subprocess.Popen | None = field(default=None, repr=False)
    scratch: Path | None = field(default=None, repr=False)  # the job's TMPDIR
    status: str = "running"  # running | succeeded | failed
    run_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return {
            "id": self.id,
            "notebook": self.notebook,
            "parameters": self.parameters,
            "status": self.status,
            "run_id": self.run_id,
            "error": self.error,
            "executed_notebook": self.notebook_out,
            "report": self.report,
        }


class Jobs:
    """The jobs of one server."""

    def __init__(self, root: Path, *, max_jobs: int = 4, trail_home: str = ""):
        self.root = root
        self.max_jobs = max_jobs
        self.trail_home = trail_home
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def running(self) -> int:
        """Jobs still running."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sum(1 for job in jobs if self.poll(job).status == "running")

    def start(self, notebook: Path, parameters: dict) -> Job:
        """Start ``nbtrail run`` for a notebook (already checked to lie inside the root).

        The count of running jobs and the start are one step under the lock, so two requests
        arriving together cannot both take the last place.

        Raises
        ------
        TooManyJobs
            When ``max_jobs`` jobs are already running.
        """
        with self._lock:
            busy = sum(1 for job in self._jobs.values() if self.poll(job).status == "running")
            if busy >= self.max_jobs:
                raise TooManyJobs(f"{self.max_jobs} runs are already going; wait for one to end")
            job = self._launch(notebook, parameters)
            self._jobs[job.id] = job
        return job

    def _output_folder(self) -> Path:
        """``nbtrail-runs`` in the root: made if missing, refused if it is not a real folder."""
        folder = self.root / OUTPUT_FOLDER
        try:
            os.mkdir(folder, 0o755)
        except FileExistsError:
            pass
        info = os.lstat(folder)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise JobRefused(
                f"{OUTPUT_FOLDER} is not a folder of the server root (a symbolic link or a "
                "file): job outputs are written only into a real folder"
            )
        if folder.resolve() != folder:
            raise JobRefused(f"{OUTPUT_FOLDER} does not resolve inside the server root")
        return folder

    def _launch(self, notebook: Path, parameters: dict) -> Job:
        job_id = _new_id()
        relative = notebook.relative_to(self.root)
        stem = f"{notebook.stem}-{job_id}"
        out_dir = self._output_folder()
        names = {suffix: f"{OUTPUT_FOLDER}/{stem}{suffix}" for suffix in (".ipynb", ".html")}
        for name in names.values():
            if os.path.lexists(self.root / name):
                raise JobRefused(f"{name} exists already; refusing to write through it")
        command = [
            sys.executable,
            "-m",
            "nbtrail",
            "run",
            "--file=/dev/stdin",
            f"--output={names['.ipynb']}",
            f"--report={names['.html']}",
            "--json",
            "--",
            str(relative),
        ]
        env = dict(os.environ)
        if self.trail_home:
            env["NBTRAIL_HOME"] = self.trail_home
        scratch = Path(tempfile.mkdtemp(prefix=f"nbtrail-job-{job_id}-"))
        env["TMPDIR"] = str(scratch)
        # Both streams go to files, never pipes: a pipe nobody reads while the run goes on
        # would block the run once its buffer fills. The files are made here, new, and never
        # through a link; the child gets its own copies and ours are closed at once.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        streams: list[tuple[Path, int]] = []
        try:
            for suffix in (".json", ".log"):
                path = out_dir / f"{stem}{suffix}"
                streams.append((path, os.open(path, flags, 0o644)))
            process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=streams[0][1],
                stderr=streams[1][1],
                # Its own process group, ended whole by stop_all; its kernel (in a session of
                # its own) exits when the job does, as ipykernel watches its parent.
                start_new_session=True,
            )
        except BaseException as exc:
            for path, _ in streams:
                path.unlink(missing_ok=True)
            shutil.rmtree(scratch, ignore_errors=True)
            if isinstance(exc, FileExistsError):
                raise JobRefused(f"the outputs of job {job_id} exist already") from None
            raise
        finally:
            for _, fd in streams:
                os.close(fd)
        # The parameters are small (checked by the handler) so this write fits the pipe's
        # buffer; a child that died at once just leaves them unread.
        try:
            process.stdin.write(json.dumps(parameters).encode())
        except BrokenPipeError:
            pass
        finally:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass
        return Job(
            job_id, str(relative), parameters, names[".ipynb"], names[".html"], process, scratch
        )

    def get(self, job_id: str) -> Job | None:
        """The job with this id, its status brought up to date."""
        job = self._jobs.get(job_id)
        return self.poll(job) if job is not None else None

    def poll(self, job: Job) -> Job:
        """Update a job from its process."""
        process = job.process
        if job.status != "running" or process is None or process.poll() is None:
            return job
        try:
            result = json.loads(self._output(job, ".json").read_text() or "{}")
        except (OSError, ValueError):
            result = {}
        if not isinstance(result, dict):
            result = {}
        job.run_id = result.get("run_id")
        if process.returncode == 0:
            job.status = "succeeded"
        else:
            job.status = "failed"
            job.error = result.get("error") or self._log_tail(job)
        _remove_scratch(job)
        return job

    def _output(self, job: Job, suffix: str) -> Path:
        """The file beside the job's report that holds its JSON result or its log."""
        return self.root / Path(job.report).with_suffix(suffix)

    def _log_tail(self, job: Job) -> str:
        try:
            lines = self._output(job, ".log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "the run failed"
        return lines[-1] if lines else "the run failed"

    def stop_all(self) -> None:
        """End running jobs, each with its whole process group (the server is shutting down).

        SIGINT first, so the run can record how it ended; whatever still runs after
        :data:`STOP_GRACE` seconds gets SIGKILL. Every job's temporary folder goes.
        """
        with self._lock:
            jobs = list(self._jobs.values())
            running = [j for j in jobs if self.poll(j).status == "running"]
        for job in running:
            _signal_group(job.process, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE
        for job in running:
            try:
                job.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(job.process, signal.SIGKILL)
            try:
                job.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
            if job.status == "running":
                job.status, job.error = "failed", "stopped: the Jupyter server shut down"
        for job in jobs:
            _remove_scratch(job)


def _remove_scratch(job: Job) -> None:
    if job.scratch is not None:
        shutil.rmtree(job.scratch, ignore_errors=True)
        job.scratch = None


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to the process group a job leads (it started its own session)."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
