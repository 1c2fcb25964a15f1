"""Audited runs started from JupyterLab: ``nbtrail run`` in a child process, watched by the server.

The server never executes a notebook itself: each job is ``python -m nbtrail run`` in its own
process (its own kernel), in the server's root folder, writing the executed notebook and the
HTML report under ``nbtrail-runs/`` there, where JupyterLab can open them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NbtrailError

__all__ = ["Job", "Jobs", "TooManyJobs"]

OUTPUT_FOLDER = "nbtrail-runs"


class TooManyJobs(NbtrailError):
    """As many jobs as ``max_jobs`` allows are running; the server answers 409."""


@dataclass
class Job:
    """One ``nbtrail run`` started from JupyterLab."""

    id: str
    notebook: str  # relative to the server root
    parameters: dict
    notebook_out: str  # relative to the server root
    report: str  # relative to the server root
    process: subprocess.Popen | None = field(default=None, repr=False)
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

    def _launch(self, notebook: Path, parameters: dict) -> Job:
        job_id = uuid.uuid4().hex[:12]
        relative = notebook.relative_to(self.root)
        stem = f"{notebook.stem}-{job_id}"
        out_dir = self.root / OUTPUT_FOLDER
        out_dir.mkdir(exist_ok=True)
        params = Path(tempfile.mkstemp(prefix="nbtrail-params-", suffix=".json")[1])
        params.write_text(json.dumps(parameters))
        command = [
            sys.executable,
            "-m",
            "nbtrail",
            "run",
            str(relative),
            "-f",
            str(params),
            "--output",
            f"{OUTPUT_FOLDER}/{stem}.ipynb",
            "--report",
            f"{OUTPUT_FOLDER}/{stem}.html",
            "--json",
        ]
        env = dict(os.environ)
        if self.trail_home:
            env["NBTRAIL_HOME"] = self.trail_home
        # Both streams go to files, never pipes: a pipe nobody reads while the run goes on
        # would block the run once its buffer fills.
        with (
            open(out_dir / f"{stem}.json", "wb") as result,
            open(out_dir / f"{stem}.log", "wb") as log,
        ):
            process = subprocess.Popen(command, cwd=self.root, env=env, stdout=result, stderr=log)
        job = Job(
            job_id,
            str(relative),
            parameters,
            f"{OUTPUT_FOLDER}/{stem}.ipynb",
            f"{OUTPUT_FOLDER}/{stem}.html",
            process,
        )
        job._params_file = params  # removed once the job ends
        return job

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
        job.run_id = result.get("run_id")
        if process.returncode == 0:
            job.status = "succeeded"
        else:
            job.status = "failed"
            job.error = result.get("error") or self._log_tail(job)
        params = getattr(job, "_params_file", None)
        if params is not None:
            params.unlink(missing_ok=True)
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
        """Terminate running jobs (the server is shutting down)."""
        for job in self._jobs.values():
            if job.process is not None and job.process.poll() is None:
                job.process.terminate()
