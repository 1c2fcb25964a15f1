"""Executors: where pipeline steps run. A registry, like papermill's engines.

Built-in: ``local`` runs steps in this process when ``workers`` is 1, and in a pool of fresh
local processes otherwise (each step starts its own kernel anyway). A plugin registers another
(a Dask cluster, a batch queue) the same way, or through the ``nbtrail.executors`` entry
point group; it implements ``submit`` and ``shutdown``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from importlib.metadata import entry_points

from ..errors import UsageError

__all__ = ["Executor", "LocalExecutor", "get_executor", "register_executor"]


class Executor:
    """Runs pipeline steps: ``submit(fn, payload)`` returns a Future of ``fn(payload)``.

    Parameters
    ----------
    workers : int
        How many steps may run at once.
    """

    def __init__(self, workers: int = 1):
        if not isinstance(workers, int) or workers < 1:
            raise UsageError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers

    def submit(self, fn, payload) -> cf.Future:
        """Start ``fn(payload)``; return its Future."""
        raise NotImplementedError

    def preflight(self, spec, trail=None, selected=None) -> None:
        """Check, before any step runs, that the workers have what ``spec``'s steps need."""

    def shutdown(self) -> None:
        """Release workers (after every submitted step finished)."""


class LocalExecutor(Executor):
    """Steps in this process (``workers=1``) or in a pool of local processes."""

    def __init__(self, workers: int = 1):
        super().__init__(workers)
        self._pool = None
        if workers > 1:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )

    def submit(self, fn, payload) -> cf.Future:
        """Start ``fn(payload)``; inline when there is one worker."""
        if self._pool is not None:
            return self._pool.submit(fn, payload)
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(payload))
        except BaseException as exc:  # noqa: BLE001 - delivered through the Future
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        """Wait for the pool's processes to exit."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


_EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(name: str, cls: type[Executor]) -> None:
    """Make an executor available by name (built-ins are registered this way too)."""
    _EXECUTORS[name] = cls


def get_executor(name: str = "local", **kwargs) -> Executor:
    """Create the executor registered as ``name`` (entry points are loaded on first miss)."""
    if name not in _EXECUTORS:
        for entry in entry_points(group="nbtrail.executors"):
            if entry.name == name:
                register_executor(name, entry.load())
    if name not in _EXECUTORS:
        raise UsageError(f"no executor named {name!r}; available: {', '.join(sorted(_EXECUTORS))}")
    return _EXECUTORS[name](**kwargs)


register_executor("local", LocalExecutor)
