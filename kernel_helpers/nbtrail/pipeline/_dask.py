"""Executor ``dask``: pipeline steps as tasks on a Dask cluster (the ``distributed`` scheduler).

Each step is one task: papermill executes its template on a worker, with capture in the
kernel, writing to the trail the workers share. Nothing is shipped to a worker but the step's
parameters: its template, its input files and the trail must be at the same absolute paths
there as here (a shared file system), nbtrail importable and the template's Jupyter kernel
installed. :meth:`DaskExecutor.preflight` checks all of that on every worker before the first
step is submitted and names what a worker lacks. A SQLite trail is one file on one machine:
only the local cluster (the default, started and closed here) may write to it; with a
scheduler elsewhere the trail is a database every worker reaches (``NBTRAIL_STORE_URL``).

A worker that dies mid-step is never re-run behind the trail's back. By default Dask's
scheduler silently re-runs the task of a dead worker on another one (``allowed-failures``):
the local cluster here allows no such failure, and on any scheduler a task that finds it was
started before refuses to start again. The step fails naming the worker, its half-done run
ends ``aborted``, and only when the spec's ``retries`` allows is the step submitted afresh, so
no step is recorded twice as succeeded. Retries cover the loss of a worker only: a notebook
that fails has failed, and re-running it would hide that.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .._optional import require
from ..config import load_settings
from ..errors import RunAlreadyEnded, UsageError
from ._dask_worker import WorkerLost, nbtrail_version, probe, run_attempt
from .executors import Executor, register_executor
from .runner import TemplateResult

__all__ = ["DaskExecutor", "WorkerLost", "register"]

log = logging.getLogger(__name__)

_METADATA = "nbtrail-dask"  # scheduler metadata: which worker started which attempt
# Paths only; credentials (NBTRAIL_STORE_URL, the signing key) stay in each worker's settings.
_FORWARDED = ("NBTRAIL_HOME",)
# Evaluated on a worker by the builtin ``eval``, so that asking needs nothing importable there.
_IMPORTABLE = "__import__('importlib.util').util.find_spec('nbtrail') is not None"
_KERNEL_EXIT_WAIT = 10.0  # seconds a dead worker's kernel gets to notice and exit


class DaskExecutor(Executor):
    """Steps as tasks on a Dask cluster: a local one by default, or a running scheduler.

    Parameters
    ----------
    workers : int
        Workers of the local cluster (one step each at a time); with ``scheduler``, the
        pipeline still starts at most this many steps at once.
    scheduler : str, optional
        Address of a running scheduler, ``tcp://HOST:PORT``. Default: the ``scheduler``
        setting (``NBTRAIL_DASK_SCHEDULER``), else a local cluster of ``workers`` processes on
        127.0.0.1, started here and closed by :meth:`shutdown`.
    retries : int
        How often a step whose worker died is submitted again, for steps whose spec does not
        say (``retries:``).
    timeout : float
        Seconds to wait for the scheduler to answer and for a worker to join it.

    Raises
    ------
    UsageError
        A malformed or unreachable scheduler address, a scheduler without workers, or a SQLite
        trail with a scheduler elsewhere; nothing has been recorded then.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        scheduler: str | None = None,
        retries: int = 0,
        timeout: float = 10.0,
    ):
        super().__init__(workers)
        self.retries = _check_retries(retries, "retries")
        self.timeout = timeout
        self.settings = load_settings()
        self.address, self._setting = _scheduler_address(scheduler, self.settings)
        self.owns_cluster = self.address is None
        self._id = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._live: dict = {}  # key -> distributed Future: held, or Dask forgets the task
        self._helpers = cf.ThreadPoolExecutor(2, thread_name_prefix="nbtrail-dask")
        self._checked: set[str] = set()
        self._trail_checked = False
        self._cluster = None
        distributed = require("distributed", purpose="the dask executor")
        if self.owns_cluster:
            self._client = self._start_local_cluster(distributed)
        else:
            self._client = self._connect(distributed)
            try:
                self._refuse_sqlite()
            except BaseException:
                self._client.close()
                raise

    def __repr__(self) -> str:
        where = "local cluster" if self.owns_cluster else "scheduler"
        return f"<DaskExecutor {where} {self.address}>"

    # -- connecting ---------------------------------------------------------------------------

    def _start_local_cluster(self, distributed):
        # allowed_failures=0: a dead worker's task is failed, never silently re-run.
        self._cluster = distributed.LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"allowed_failures": 0},
        )
        try:
            client = distributed.Client(self._cluster, set_as_default=False)
            client.wait_for_workers(self.workers, timeout=max(self.timeout, 60))
        except BaseException:
            self._cluster.close()
            raise
        self.address = self._cluster.scheduler_address
        return client

    def _connect(self, distributed):
        host, port = _split_address(self.address, self._setting)
        where = f"the Dask scheduler at {self.address} ({self._setting})"
        try:
            socket.create_connection((host, port), timeout=self.timeout).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UsageError(f"cannot reach {where}: {reason}") from None
        try:
            client = distributed.Client(
                self.address, timeout=f"{self.timeout}s", set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot connect to {where}: {exc}") from None
        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except (OSError, TimeoutError):
            client.close()
            raise UsageError(
                f"{where} has no workers (waited {self.timeout:g} s): start some with "
                f"`dask worker {self.address}`"
            ) from None
        return client

    def _refuse_sqlite(self) -> None:
        store = self.settings.store_url
        if store is not None and not store.startswith("sqlite"):
            return
        where = "NBTRAIL_STORE_URL is not set" if store is None else "NBTRAIL_STORE_URL is SQLite"
        raise UsageError(
            f"the trail is a SQLite file ({where}), which the workers of the Dask scheduler at "
            f"{self.address} ({self._setting}) cannot share: set NBTRAIL_STORE_URL to a "
            "PostgreSQL database every worker reaches (without --scheduler, a local cluster "
            "may use SQLite)"
        )

    # -- checking workers ---------------------------------------------------------------------

    def preflight(self, spec, trail=None, selected: Iterable[str] | None = None) -> list[dict]:
        """Check every worker for what the pipeline's steps need, before any runs.

        Inputs a step declares that do not exist yet (an earlier step makes them) are checked
        when that step is submitted.

        Parameters
        ----------
        spec : PipelineSpec
            The loaded pipeline.
        trail : Trail, optional
            The trail the pipeline records to; default the one that applies here.
        selected : iterable of str, optional
            The steps that will run; default all.

        Returns
        -------
        list of dict
            Each worker's address, host and process id.
        """
        chosen = set(spec.names if selected is None else selected)
        paths: list[Path] = []
        kernels: set[str] = set()
        for step in spec.steps:
            if step.name not in chosen:
                continue
            paths.append(step.template)
            kernels.add(_kernel_name(step.template))
            with contextlib.suppress(UsageError):
                paths += step.input_files()
        return self.check_workers(paths, kernels=kernels, trail=trail)

    def check_workers(
        self, paths: Iterable[str | os.PathLike] = (), *, kernels=("python3",), trail=None
    ) -> list[dict]:
        """Check that every worker can run steps that read ``paths`` and record to the trail.

        Parameters
        ----------
        paths : iterable of path-like
            Files each worker must see at the same absolute path, with the same size.
        kernels : iterable of str
            Jupyter kernels each worker must have.
        trail : Trail, optional
            The trail each worker must open (by its id); default the one that applies here.

        Returns
        -------
        list of dict
            Each worker's address, host and process id.

        Raises
        ------
        UsageError
            Naming each worker that lacks something, and what.
        """
        files = {}
        for path in paths:
            resolved = Path(path).expanduser().resolve()
            try:
                files[str(resolved)] = resolved.stat().st_size
            except OSError:
                files[str(resolved)] = None  # not here either: the worker must have it
        request = {
            "files": files,
            "kernels": sorted(set(kernels)),
            "env": _forwarded_env(),
            "trail": None,
        }
        if not self._trail_checked:
            request["trail"] = _trail_identity(trail)
        importable = self._client.run(eval, _IMPORTABLE, on_error="return")
        if not importable:
            raise UsageError(f"the Dask scheduler at {self.address} has no workers")
        lacks: dict[str, list[str]] = {
            address: ["nbtrail (it cannot be imported there)"]
            for address, answer in importable.items()
            if answer is not True
        }
        able = [address for address in importable if address not in lacks]
        found = []
        if able:
            answers = self._client.run(probe, request, workers=able, on_error="return")
            version = nbtrail_version()
            for address, answer in sorted(answers.items()):
                if isinstance(answer, BaseException):
                    lacks[address] = [f"a working nbtrail ({type(answer).__name__}: {answer})"]
                    continue
                missing = list(answer["lacks"])
                if answer["nbtrail"] != version:
                    missing.append(f"nbtrail {version} (it has {answer['nbtrail']})")
                if missing:
                    lacks[address] = missing
                found.append({k: answer[k] for k in ("address", "host", "pid")})
        if lacks:
            raise UsageError(_lacking_message(lacks))
        self._checked.update(files)
        self._trail_checked = True
        return found

    # -- running steps ------------------------------------------------------------------------

    def submit(self, fn, payload) -> cf.Future:
        """Run ``fn(payload)`` on a worker; the Future holds what it returned.

        A worker that dies mid-step ends the step's run ``aborted``; the step is submitted
        again while ``payload["retries"]`` (else :attr:`retries`) allows, otherwise the
        Future's result is a failed :class:`TemplateResult` (or a :class:`WorkerLost` error
        when the step never started a run).
        """
        outer: cf.Future = cf.Future()
        outer.set_running_or_notify_cancel()
        try:
            retries = _check_retries(payload.get("retries", self.retries), "retries")
            self._check_payload(payload)
            self._launch(_Step(fn, payload, outer, retries), attempt=1)
        except Exception as exc:  # noqa: BLE001 - the step fails; the pipeline is recorded
            outer.set_exception(exc)
        return outer

    def _check_payload(self, payload: dict) -> None:
        """Check the step's files on the workers, unless :meth:`preflight` did already."""
        template = str(Path(payload["template"]).resolve())
        paths = [template, *payload.get("inputs", ())]
        unchecked = [p for p in paths if str(Path(p).resolve()) not in self._checked]
        if unchecked or not self._trail_checked:
            self.check_workers(unchecked, kernels=[_kernel_name(template)])

    def _launch(self, step: _Step, attempt: int) -> None:
        token = f"{step.payload['name']}-{attempt}"
        future = self._client.submit(
            run_attempt,
            step.fn,
            step.payload,
            [_METADATA, self._id, token],
            _forwarded_env(),
            key=f"nbtrail-step-{step.payload['name']}-{uuid.uuid4().hex[:12]}",
            pure=False,
            retries=0,
        )
        with self._lock:
            self._live[future.key] = future
        future.add_done_callback(lambda f: self._settle(step, attempt, token, f))

    def _settle(self, step: _Step, attempt: int, token: str, future) -> None:
        """Runs in Dask's callback thread: hand the outcome on, or deal with a lost worker."""
        from distributed import KilledWorker

        with self._lock:
            self._live.pop(future.key, None)
        try:
            result, worker = future.result()
        except (KilledWorker, WorkerLost) as exc:
            # Slow work (the trail, waiting for a kernel to exit): not in Dask's only thread.
            self._helpers.submit(self._after_loss, step, attempt, token, exc)
            return
        except BaseException as exc:  # noqa: BLE001 - delivered through the Future
            step.outer.set_exception(exc)
            return
        result.worker = worker  # also on the run's attrs
        step.outer.set_result(result)

    def _after_loss(self, step: _Step, attempt: int, token: str, exc: BaseException) -> None:
        try:
            worker = self._client.get_metadata([_METADATA, self._id, token], None)
            if worker is None:  # died before the task began: no run was started
                last = getattr(exc, "last_worker", None)
                worker = {"address": getattr(last, "address", None) or "unknown"}
            name = step.payload["name"]
            where = worker["address"]
            if worker.get("pid"):
                where += f" (pid {worker['pid']} on {worker['host']})"
            reason = (
                f"worker {where} died while running step {name!r} "
                f"(attempt {attempt} of {step.retries + 1})"
            )
            run_id = _abort_runs(step.payload, worker, reason) if worker.get("pid") else None
            if attempt <= step.retries:
                log.warning("nbtrail: %s; submitting it again", reason)
                self._launch(step, attempt + 1)
                return
            if run_id is None:
                step.outer.set_exception(WorkerLost(reason))
                return
            step.outer.set_result(
                TemplateResult(
                    run_id=run_id,
                    name=name,
                    status="failed",
                    notebook="",
                    parameters=step.payload.get("parameters", {}),
                    error=reason,
                    kind_of_failure="worker",
                )
            )
        except BaseException as error:  # noqa: BLE001 - the pipeline must not wait forever
            step.outer.set_exception(error)

    def shutdown(self) -> None:
        """Forget this executor's bookkeeping on the scheduler; close the local cluster."""
        self._helpers.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self._client.set_metadata([_METADATA, self._id], None)
        with self._lock:
            self._live.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


@dataclass
class _Step:
    """One submitted step: what to run and the Future the pipeline waits on."""

    fn: Callable
    payload: dict
    outer: cf.Future
    retries: int


def register() -> None:
    """Register this executor as ``dask`` (done when this module is imported)."""
    register_executor("dask", DaskExecutor)


# -- on the client -----------------------------------------------------------------------------


def _check_retries(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _scheduler_address(scheduler: str | None, settings) -> tuple[str | None, str]:
    """The scheduler to use and the setting it came from, for messages."""
    if scheduler:
        return scheduler, "--scheduler"
    if os.environ.get("NBTRAIL_DASK_SCHEDULER"):
        return os.environ["NBTRAIL_DASK_SCHEDULER"], "NBTRAIL_DASK_SCHEDULER, or --scheduler"
    if settings.scheduler:
        return settings.scheduler, f"scheduler in {settings.config_file}, or --scheduler"
    return None, "a local cluster"


def _split_address(address: str, setting: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise UsageError(
            f"{setting}: {address!r} is not a Dask scheduler address such as tcp://HOST:8786"
        )
    return parts.hostname, port


def _forwarded_env() -> dict:
    return {name: os.environ[name] for name in _FORWARDED if os.environ.get(name)}


def _kernel_name(template: str | os.PathLike) -> str:
    try:
        metadata = json.loads(Path(template).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return "python3"
    return (metadata.get("kernelspec") or {}).get("name") or "python3"


def _trail_identity(trail) -> dict:
    """What a worker's trail must match: this trail's id, and whether it is signed."""
    from ..store import open_trail

    with contextlib.ExitStack() as stack:
        if trail is None:
            trail = stack.enter_context(open_trail(readonly=True))
        return {"id": trail.trail_id, "signed": trail.settings.signing_key is not None}


def _lacking_message(lacks: dict[str, list[str]]) -> str:
    shown = [f"worker {address} lacks {'; '.join(what)}" for address, what in sorted(lacks.items())]
    more = f"; and {len(shown) - 3} more workers" if len(shown) > 3 else ""
    return (
        "Dask workers cannot run these steps: "
        + " | ".join(shown[:3])
        + more
        + " (steps read templates, inputs and the trail at the same absolute paths on every "
        "worker: a shared file system, the same environment)"
    )


def _abort_runs(payload: dict, worker: dict, reason: str) -> str | None:
    """End the dead worker's run of this step ``aborted``, and what it had started; its id."""
    from ..store import RunEnd, RunUpdate, open_trail

    with open_trail() as trail:  # a writer: opening it may already abort runs of dead pids
        run = None
        for candidate in trail.runs(
            parent=payload["parent"], kind="template", name=payload["name"]
        ):
            process = candidate.attrs.get("process") or {}
            if process.get("pid") == worker["pid"] and process.get("host") == worker["host"]:
                run = candidate
                break
        if run is None:
            return None
        facts = {"worker": worker, "worker_lost": reason}
        if run.status == "running":
            _end(trail, RunEnd(run.id, "aborted", error=reason, attrs=facts))
        else:  # the trail's own recovery was first: keep its ending, add who died
            batch = trail.batch()
            batch.add(RunUpdate(run.id, attrs=facts))
            batch.commit()
        for child in _running_descendants(trail, run.id):
            _wait_gone(child.attrs.get("process") or {}, _KERNEL_EXIT_WAIT)
            _end(
                trail,
                RunEnd(child.id, "aborted", error=f"{reason}; its kernel went with it"),
            )
        return run.id


def _end(trail, fact) -> None:
    batch = trail.batch()
    batch.add(fact)
    with contextlib.suppress(RunAlreadyEnded):  # it ended meanwhile (the trail's recovery)
        batch.commit()


def _running_descendants(trail, run_id: str) -> Iterator:
    queue = [run_id]
    while queue:
        for child in trail.runs(parent=queue.pop()):
            queue.append(child.id)
            if child.status == "running":
                yield child


def _wait_gone(process: dict, limit: float) -> None:
    """Wait (bounded) for a process on this host to exit; one elsewhere cannot be watched."""
    pid = process.get("pid")
    if not isinstance(pid, int) or process.get("host") != socket.gethostname():
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.1)


register()
