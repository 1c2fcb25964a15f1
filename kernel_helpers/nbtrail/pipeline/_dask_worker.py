"""What runs on a Dask worker for the ``dask`` executor: one attempt at a step, and the probe.

Kept apart from :mod:`._dask` (the client side) because these functions are pickled by
reference and imported in the worker's process: they must not need the client's state.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from pathlib import Path

from ..config import load_settings
from ..errors import NbtrailError, StoreError
from .runner import RunFailed, scoped_environ

__all__ = ["WorkerLost", "nbtrail_version", "probe", "run_attempt"]

log = logging.getLogger("nbtrail.pipeline")


class WorkerLost(RunFailed):
    """The worker running a step died (killed, out of memory, its machine gone)."""


def nbtrail_version() -> str:
    import nbtrail

    return nbtrail.__version__


def run_attempt(fn, payload: dict, metadata_key: list, env: dict):
    """One attempt at a step, on a worker: refuse to be a silent re-run, run, say where."""
    from distributed import get_client, get_worker

    worker = get_worker()
    me = {
        "address": worker.address,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "name": str(worker.name),
    }
    client = get_client()
    earlier = client.get_metadata(metadata_key, None)
    if earlier is not None:
        # The scheduler re-ran the task of a dead worker: the step is the executor's to retry.
        raise WorkerLost(
            f"worker {earlier['address']} (pid {earlier['pid']} on {earlier['host']}) died "
            f"while running step {payload['name']!r}; nbtrail does not let Dask re-run it "
            f"unseen on {me['address']}"
        )
    client.set_metadata(metadata_key, me)
    with scoped_environ(env):
        result = fn({**payload, "worker": me})
        _note_worker(result, me)
    return result, me


def _note_worker(result, worker: dict) -> None:
    """Record on the step's run which worker ran it, if the run did not record it itself."""
    from ..store import RunUpdate, open_trail

    run_id = getattr(result, "run_id", None)
    if not run_id:
        return
    try:
        with open_trail() as trail:
            if trail.get_run(run_id).attrs.get("worker") == worker:
                return
            batch = trail.batch()
            batch.add(RunUpdate(run_id, attrs={"worker": worker}))
            batch.commit()
    except NbtrailError as exc:
        log.warning("nbtrail: could not record worker %s on run %s: %s", worker, run_id, exc)


def probe(request: dict, dask_worker=None) -> dict:
    """On a worker (``Client.run``): what of the request it lacks (files, kernels, the trail).

    Importing what a step runs with (papermill, the pipeline module) is a check, and it warms
    the worker: the first step there does not pay for the imports.
    """
    lacks = []
    for module in ("papermill", "nbtrail.pipeline.pipelines"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            lacks.append(f"{module} (it cannot be imported there: {exc})")
    for path, size in request["files"].items():
        try:
            stat = os.stat(path)
        except OSError:
            lacks.append(f"{path} (no such file there)")
            continue
        if not os.access(path, os.R_OK):
            lacks.append(f"{path} (not readable there)")
        elif size is not None and stat.st_size != size:
            lacks.append(f"{path} as it is here ({stat.st_size} bytes there, {size} here)")
    if request["kernels"]:
        from jupyter_client.kernelspec import KernelSpecManager

        known = set(KernelSpecManager().find_kernel_specs())
        lacks += [
            f"the Jupyter kernel {name!r}" for name in request["kernels"] if name not in known
        ]
    if request["trail"] is not None:
        with scoped_environ(request["env"]):
            lacks += _trail_lacks(request["trail"])
    return {
        "address": dask_worker.address,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "nbtrail": nbtrail_version(),
        "lacks": lacks,
    }


def _trail_lacks(expected: dict) -> list[str]:
    from ..store import open_trail

    settings = load_settings()
    try:
        with open_trail(settings=settings, readonly=True) as trail:
            lacks = []
            if trail.trail_id != expected["id"]:
                lacks.append(
                    f"the pipeline's trail (it opens {trail.url}, another trail: set "
                    "NBTRAIL_STORE_URL there as here)"
                )
            try:
                root = getattr(trail.blobs, "root", None)
            except StoreError:
                lacks.append("a blob store (NBTRAIL_BLOB_URL, or the trail's .nbtrail folder)")
                root = None
            if root is not None:
                folder = Path(root) if Path(root).exists() else Path(root).parent
                if not os.access(folder, os.W_OK):
                    lacks.append(f"write access to the trail's blobs in {root}")
            if trail.store_url.startswith("sqlite") and not os.access(trail.home, os.W_OK):
                lacks.append(f"write access to the trail in {trail.home}")
            if expected["signed"] and settings.signing_key is None:
                lacks.append("NBTRAIL_SIGNING_KEY (the trail is signed)")
            return lacks
    except NbtrailError as exc:
        return [f"the trail ({exc})"]
    except Exception as exc:  # noqa: BLE001 - a database that refuses: its type, no URL
        return [f"the trail's database (cannot connect: {type(exc).__name__})"]
