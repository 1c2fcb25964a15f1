"""A capture session: one run (a kernel session or a script) whose work is recorded as it happens.

In a notebook each executed cell becomes a child run of kind ``cell`` (grouped under a ``step``
run inside ``%%trail step NAME`` cells); what each records is described in
:mod:`._recording`. The facts of a cell are handed to the background
:class:`~.writer.Writer` together when the cell ends, so a cell's run row and its edges land in
one transaction. A failure inside capture is logged and counted (``%trail`` shows it) and
never reaches the user's code; the session's run ends with its capture health in
``attrs["capture"]``, so nobody mistakes a run capture half-saw for a fully recorded one.

The session run's status is the truth about the kernel. After every cell its attrs say
``{"state": "idle", "last_cell": N, "at": ...}`` (one update, written in the cell's batch), so
a kernel killed outright is known to have finished cell N at that moment; a shutdown ends the
run ``succeeded`` when no cell was running and ``aborted`` when one was (:meth:`shutdown`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

from .. import recording
from .._secrets import mask_url
from ..errors import UsageError
from ..fingerprints import digest_bytes
from ..ids import new_id
from ..store import NewArtifact, NewEdge, NewRun, RunEnd, RunUpdate
from ._recording import Recording
from ._unit import Unit
from .environment import environment_fingerprint
from .hooks import Patcher, install_audit_hook
from .names import analyze
from .writer import Writer

__all__ = ["CaptureSession"]

log = logging.getLogger("nbtrail.capture")


class CaptureSession(Recording):
    """Record a run's work through the hooks; see the module docstring.

    Parameters
    ----------
    trail : Trail
        Where to record. The session closes it when it ends if ``owns_trail``.
    name : str
        The run's name (the notebook's file name, or the script's).
    kind : str
        ``session`` for a kernel, ``script`` for :func:`~nbtrail.track`.
    params, attrs : dict, optional
        The run's parameters and facts (kernel id, working folder).
    shell : IPython InteractiveShell, optional
        The shell whose cells are captured; None outside IPython.
    parent : str, optional
        Parent run id (a template run started by ``nbtrail run``).
    notebook : str, optional
        The notebook the kernel executes.
    """

    def __init__(
        self,
        trail,
        *,
        name: str,
        kind: str = "session",
        params: dict | None = None,
        attrs: dict | None = None,
        shell=None,
        parent: str | None = None,
        owns_trail: bool = True,
        notebook: str | None = None,
    ):
        self.shell = shell
        self.owns_trail = owns_trail
        self.enabled = False
        self.closed = False
        self.idle = threading.Event()
        self.idle.set()
        self.idle_since = time.monotonic()
        self.steps: dict[str, str] = {}
        self.failed_steps: set[str] = set()
        self._cell_depth = 0
        self._state: dict | None = None  # the kernel's latest state, not yet written
        self._state_lock = threading.Lock()
        self._close_lock = threading.RLock()  # a SIGTERM handler may interrupt its holder
        self._closer: int | None = None  # the thread ending the session
        self.ended = threading.Event()
        self.log_file = _log_to(trail.home)
        self.patcher = Patcher()
        self.run = trail.start_run(
            name, kind=kind, params=params, attrs=attrs, parent=parent, notebook=notebook
        )
        super().__init__(
            trail,
            run_id=self.run.id,
            submit=self._queue,
            namespace=(lambda: shell.user_ns) if shell is not None else None,
        )
        self.writer = Writer(trail, on_error=self._writer_failed, idle=self.idle, session=self)
        if parent is None:
            # A template run records the environment itself; its kernel need not again.
            self.writer.submit([self._environment_facts])

    @property
    def recording(self) -> bool:
        """Whether checks and producers record here now (:mod:`nbtrail.recording`)."""
        return self.enabled and not self.closed

    def _queue(self, facts: list) -> None:
        self.writer.submit(facts)

    def _environment_facts(self) -> list:
        """The environment the run executes in, as a used artifact (off-thread work)."""
        env_fp, env_bytes = environment_fingerprint()
        snapshot = (digest_bytes(env_bytes), "json")
        return [
            env_bytes,
            NewArtifact.of(env_fp, "environment", snapshot),
            NewEdge("used", self.run.id, env_fp.digest, name="environment"),
        ]

    def _writer_failed(self, exc: BaseException, count: int) -> None:
        self.health.lost += count
        self.count_error(f"writing {count} facts to the trail", exc)

    # -- switching --------------------------------------------------------------------------

    def start(self) -> None:
        """Start recording: install the hooks and become the process's active recorder."""
        if self.closed:
            raise UsageError("this capture session has ended")
        current = recording.active()
        if current is not None and current is not self:
            raise UsageError(
                f"capture is already recording run {current.run.id} in this process; end it first"
            )
        install_audit_hook()
        recording.activate(self)
        self.patcher.install()
        self.enabled = True

    def stop(self) -> None:
        """Stop recording and restore every patched function (the run stays open)."""
        self.enabled = False
        self.patcher.restore()

    # -- cells ------------------------------------------------------------------------------

    def begin_cell(self, raw_cell: str, execution_count: int | None) -> None:
        """IPython is about to run a cell."""
        self.idle.clear()
        self._cell_depth += 1
        if self._cell_depth > 1 or not self.enabled:
            return
        with self.guard("starting a cell"):
            source = raw_cell
            if self.shell is not None:
                source = self.shell.transform_cell(raw_cell)
            unit = Unit(
                run_id=new_id(),
                parent_id=self.run.id,
                kind="cell",
                name=f"cell {execution_count}" if execution_count is not None else "cell",
                source=raw_cell,
                execution_count=execution_count,
                names=analyze(source),
            )
            self.read_inputs(unit)
            self.unit = unit

    def enter_step(self, name: str, body: str) -> None:
        """``%%trail step NAME``: the running cell belongs to step NAME; its code is ``body``."""
        unit = self.unit
        if unit is None:
            return
        with self.guard("entering a step"):
            if name not in self.steps:
                step = NewRun(name, kind="step", parent_id=self.run.id)
                self.steps[name] = step.id
                self.writer.submit([step])
            unit.parent_id = self.steps[name]
            unit.step = name
            source = self.shell.transform_cell(body) if self.shell is not None else body
            unit.names = analyze(source)
            unit.source = body
            unit.inputs.clear()
            self.read_inputs(unit)

    def end_cell(self, error: BaseException | None, execution_count: int | None = None) -> None:
        """IPython finished a cell (``error`` is what it raised, if anything)."""
        self._cell_depth = max(0, self._cell_depth - 1)
        if self._cell_depth:
            return
        with self.lock:
            unit, self.unit = self.unit, None
        if unit is not None and execution_count is not None:
            unit.execution_count = execution_count
            unit.name = f"cell {execution_count}"
        facts: list = []
        if unit is not None:
            with self.guard("finishing a cell"):
                facts = self.finish(unit, error)
                if unit.step and error is not None:
                    self.failed_steps.add(unit.step)
        with self.guard("noting the kernel idle"):
            if not self.closed:
                self._note_idle(execution_count, error)
                self.writer.submit([*facts, self._state_facts])
        self.idle_since = time.monotonic()
        self.idle.set()

    def _note_idle(self, execution_count: int | None, error: BaseException | None) -> None:
        """Remember that the kernel is idle after cell N (written with the cell's facts)."""
        state = {
            "state": "idle",
            "last_cell": execution_count,
            "last_cell_status": "failed" if error is not None else "succeeded",
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }
        with self._state_lock:
            self._state = state

    def _state_facts(self) -> list:
        """The latest state, once: cells written in one batch share one update (writer thread)."""
        with self._state_lock:
            state, self._state = self._state, None
        return [RunUpdate(self.run.id, attrs=state)] if state else []

    # -- scripts ----------------------------------------------------------------------------

    def begin_script(self) -> Unit:
        """Capture everything from now on into the session's own run (no cells)."""
        self.unit = Unit(
            run_id=self.run.id, parent_id=None, kind="script", name=self.run.name, own_row=False
        )
        self.idle.clear()
        return self.unit

    def end_script(self, error: BaseException | None) -> None:
        """Record what the script touched."""
        with self.lock:
            unit, self.unit = self.unit, None
        if unit is not None:
            with self.guard("finishing the script"):
                self.writer.submit(self.finish(unit, error))
        self.idle.set()

    # -- magics' helpers --------------------------------------------------------------------

    def digest_of_name(self, name: str) -> str | None:
        """Fingerprint the object a variable holds now (tracking it if needed)."""
        from ..fingerprints import fingerprint

        namespace = self._namespace()
        if name not in namespace:
            raise UsageError(f"no variable named {name!r}")
        obj = namespace[name]
        tracked = self.tracker.by_name.get(name)
        if tracked is not None and tracked.obj() is obj:
            return self.tracker.ensure(tracked)
        return fingerprint(obj).digest

    def record_metric(self, key: str, value) -> None:
        """A metric of the session run (``%trail record``, ``nbtrail.log_metric``)."""
        self.writer.flush()
        self.run.log_metric(key, value)

    def status(self) -> dict:
        """Return what capture has seen and done, for ``%trail``."""
        health = self.health
        return {
            "run": self.run.id,
            "name": self.run.name,
            "notebook": self.run.record.notebook,
            "trail": mask_url(self.trail.url),
            "recording": self.enabled,
            **self.counts,
            "objects tracked": len(self.tracker.by_id),
            "fingerprinted": self.tracker.fingerprinted,
            "deferred (large)": self.tracker.deferred,
            "steps": sorted(self.steps),
            "facts written": self.writer.written,
            "facts queued": self.writer.pending,
            "capture errors": health.errors,
            "last errors": list(health.error_messages)[-3:],
            "skipped": health.skipped,
            "last skipped": list(health.skip_messages)[-3:],
            "facts lost": health.lost,
            "unverifiable reads": health.unverifiable,
            "unattributed reads": health.unattributed,
            "log": self.log_file,
        }

    # -- ending -----------------------------------------------------------------------------

    def close(
        self, status: str = "succeeded", error: str | None = None, *, timeout: float = 60.0
    ) -> None:
        """End the run: restore hooks, end steps, write what is queued, record capture health.

        Safe to call from any thread and more than once; a second caller on another thread waits
        (up to ``timeout``) for the first to finish, so a SIGTERM arriving while a shutdown
        request is ending the session does not kill the process half way through.
        """
        with self._close_lock:
            first = not self.closed
            self.closed = True
            if first:
                self._closer = threading.get_ident()
        if not first:
            if self._closer != threading.get_ident():
                self.ended.wait(timeout)
            return
        try:
            self.stop()
            recording.deactivate(self)
            steps = [
                RunEnd(step_id, "failed" if name in self.failed_steps else "succeeded")
                for name, step_id in self.steps.items()
            ]
            if steps:
                self.writer.submit(steps)
            if not self.writer.close(timeout):
                left = self.writer.pending
                self.health.lost += left
                self.count_error(f"ending the session: {left} queued facts not written in time")
            if self.run.record.status == "running":
                attrs = {
                    "capture": self.health.to_dict(),
                    "state": "ended",
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
                self.run.end(status, error=error, attrs=attrs)
        except Exception as exc:  # noqa: BLE001 - ending must not raise into shutdown
            self.count_error("ending the session", exc)
        finally:
            try:
                if self.owns_trail:
                    self.trail.close()
            finally:
                self.ended.set()

    def shutdown(self, reason: str, *, timeout: float) -> None:
        """End the session because the kernel is going away (shutdown request, SIGTERM, exit).

        ``succeeded`` when no cell was running: every cell the kernel was asked to run has
        finished, and a kernel that goes when told to has done nothing wrong (Jupyter sends
        SIGTERM to a kernel slow to exit, e.g. one waiting for loky's worker processes).
        ``aborted`` when a cell was still running: that cell is not recorded.
        """
        status, error = "succeeded", None
        if not self.idle.is_set() and not self.closed:
            unit = self.unit
            cell = f" cell {unit.execution_count}" if unit and unit.execution_count else " a cell"
            status, error = "aborted", f"the kernel stopped ({reason}) while{cell} was running"
        self.close(status, error, timeout=timeout)


_log_files: set[str] = set()


def _log_to(home) -> str | None:
    """Send capture's log to ``.nbtrail/logs/capture.log`` (once per trail folder)."""
    if home is None:
        return None
    path = Path(home) / "logs" / "capture.log"
    if str(path) not in _log_files:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        except OSError:
            return None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        _log_files.add(str(path))
    return str(path)
