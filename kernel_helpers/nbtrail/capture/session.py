"""A capture session: one run (a kernel session or a script) whose work is recorded as it happens.

In a notebook each executed cell becomes a child run of kind ``cell`` (grouped under a ``step``
run inside ``%%trail step NAME`` cells). What a cell reads and writes, which objects it binds
and which models it fits become artifacts and edges of that cell run:

* files opened inside the project (the audit hook) are used or produced by the cell;
* a DataFrame read with pandas is derived from the file's fingerprint; a frame written with
  ``to_csv`` makes the file derived from the frame; the same for numpy, joblib, pickle, pyarrow
  and matplotlib figures;
* a fitted model is derived from the fingerprints of the X and y it was fitted on;
* any DataFrame, Series, array or model a cell binds (``df2 = df.dropna()``) is derived from the
  tracked objects and files the cell read (from the cell's source: see :mod:`.names`).

The facts of a cell are handed to the background :class:`~.writer.Writer` together when the
cell ends, so a cell's run row and its edges land in one transaction. A failure inside capture
is logged and counted (``%trail`` shows it) and never reaches the user's code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from ..errors import FingerprintError, UsageError
from ..ids import new_id
from ..store import _schema
from ..store._audit import jsonable
from ..store._batch import artifact_row
from ..store._snapshot import table_parquet
from ..store._trail import edge_row
from . import _state
from .environment import environment_fingerprint
from .fingerprints import Fingerprint, digest_bytes, fingerprint, fingerprint_file
from .hooks import IOSpec, Patcher, install_audit_hook
from .names import CellNames, analyze
from .tracker import Tracked, Tracker, is_estimator, trackable
from .writer import Writer

__all__ = ["CaptureSession", "Unit", "open_or_create_trail", "track"]

log = logging.getLogger("nbtrail.capture")

_MISSING = object()
_MAX_CODE = 1 << 20  # cells larger than this keep a digest of their code but no snapshot


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Unit:
    """One cell (or a whole script) being captured: what it touched, and its pending facts."""

    def __init__(
        self,
        *,
        run_id: str,
        parent_id: str | None,
        kind: str,
        name: str,
        source: str = "",
        execution_count: int | None = None,
        names: CellNames | None = None,
        own_row: bool = True,
    ):
        self.run_id = run_id
        self.parent_id = parent_id
        self.kind = kind
        self.name = name
        self.source = source
        self.execution_count = execution_count
        self.names = names or CellNames()
        self.own_row = own_row  # cells write their run row at the end; scripts already have one
        self.step: str | None = None
        self.started = _now()
        self.t0 = time.perf_counter()
        self.read: dict[str, None] = {}
        self.written: dict[str, None] = {}
        self.recorded_reads: set[str] = set()  # recorded by a library hook already
        self.recorded_writes: set[str] = set()
        self.write_sources: dict[str, list] = {}  # written through a file object: when closed
        # How much the unit had read and made when a file was first opened for writing: only
        # that can have gone into it (what the cell reads later cannot be its source).
        self.write_marks: dict[str, tuple[int, int, int]] = {}
        self.file_digests: set[str] = set()
        self.inputs: list = []  # digests or Tracked the unit read
        self.created: list[Tracked] = []  # versions made by hooks during the unit
        self.fingerprinted: list[tuple[Tracked, Fingerprint]] = []
        self.ops: list = []
        self.open = True

    def add_input(self, source) -> None:
        """Remember something the unit read (a digest or a Tracked), once."""
        if not any(s is source or s == source for s in self.inputs):
            self.inputs.append(source)


def open_or_create_trail(start: str | os.PathLike | None = None):
    """Open the trail that applies here; create one in ``start`` if none is configured."""
    from ..config import load_settings
    from ..store import init_trail, open_trail

    settings = load_settings(start)
    if settings.home is None and settings.store_url is None:
        trail = init_trail(start or os.getcwd())
        print(f"nbtrail: created a trail in {trail.home}", file=sys.stderr)
        return trail
    return open_trail(start)


class CaptureSession:
    """Record a run's work through the hooks; see the module docstring.

    Parameters
    ----------
    trail : Trail
        Where to record. The session closes it when it ends if ``owns_trail``.
    name : str
        The run's name (the notebook's file name, or the script's).
    kind : str
        ``session`` for a kernel, ``script`` for :func:`track`.
    params, attrs : dict, optional
        The run's parameters and facts (notebook path, kernel id).
    shell : IPython InteractiveShell, optional
        The shell whose cells are captured; None outside IPython.
    parent : str, optional
        Parent run id (a template run started by ``nbtrail run``).
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
    ):
        self.trail = trail
        self.shell = shell
        self.owns_trail = owns_trail
        self.enabled = False
        self.closed = False
        root = Path(trail.project_root).resolve()
        self._root = str(root) + os.sep
        self._home = str(Path(trail.home).resolve()) + os.sep if trail.home else None
        self.idle = threading.Event()
        self.idle.set()
        self.idle_since = time.monotonic()
        self.errors = 0
        self.skipped = 0
        self.lost = 0
        self.error_messages: deque[str] = deque(maxlen=20)
        self.skip_messages: deque[str] = deque(maxlen=20)
        self.counts = {"cells": 0, "files read": 0, "files written": 0, "models": 0}
        self.steps: dict[str, str] = {}
        self.failed_steps: set[str] = set()
        self.unit: Unit | None = None
        self._cell_depth = 0
        self.log_file = _log_to(trail.home)
        self.tracker = Tracker(on_fingerprint=self._fingerprinted, on_skip=self._skip_object)
        self.patcher = Patcher()
        self.run = trail.start_run(name, kind=kind, params=params, attrs=attrs, parent=parent)
        self.writer = Writer(trail, on_error=self._writer_failed, idle=self.idle, session=self)
        if parent is None:
            # A template run records the environment itself; its kernel need not again.
            self.writer.submit([("later", self._environment_ops)])

    def _environment_ops(self) -> list:
        """Return the environment the run executes in as a used artifact (off-thread work)."""
        env_fp, env_bytes = environment_fingerprint()
        snapshot = (digest_bytes(env_bytes), "json")
        return [
            ("blob", env_bytes),
            ("artifact", artifact_row(env_fp, "environment", snapshot)),
            ("edge", edge_row("used", self.run.id, env_fp.digest, name="environment")),
        ]

    # -- switching --------------------------------------------------------------------------

    def start(self) -> None:
        """Start recording: install the hooks and become the process's active session."""
        if self.closed:
            raise UsageError("this capture session has ended")
        current = _state._active
        if current is not None and current is not self and not current.closed:
            raise UsageError(
                f"capture is already recording run {current.run.id} in this process; end it first"
            )
        install_audit_hook()
        _state.set_active(self)
        self.patcher.install()
        self.enabled = True

    def stop(self) -> None:
        """Stop recording and restore every patched function (the run stays open)."""
        self.enabled = False
        self.patcher.restore()

    # -- errors -----------------------------------------------------------------------------

    def count_error(self, what: str, exc: BaseException | None = None) -> None:
        """Record a failure inside capture: logged and counted, never raised."""
        self.errors += 1
        detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        self.error_messages.append(f"{what}{detail}")
        log.error("capture failed while %s%s", what, detail, exc_info=exc is not None)

    def _skip(self, message: str) -> None:
        self.skipped += 1
        self.skip_messages.append(message)

    def _skip_object(self, tracked: Tracked, reason: str) -> None:
        self._skip(f"{tracked.name or tracked.kind}: {reason}")

    def _writer_failed(self, exc: BaseException, count: int) -> None:
        self.lost += count
        self.count_error(f"writing {count} facts to the trail", exc)

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run capture work: nbtrail's own file access is ignored, and failures are counted."""
        previous = _state.busy()
        _state.local.busy = True
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the user's cell must never see our failure
            self.count_error(what, exc)
        finally:
            _state.local.busy = previous

    # -- files ------------------------------------------------------------------------------

    def saw_file(self, path: str, write: bool) -> None:
        """Audit hook: a file was opened (only paths inside the project count)."""
        unit = self.unit
        if unit is None:
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        full = os.path.abspath(path)
        if not full.startswith(self._root) or (self._home and full.startswith(self._home)):
            return
        if "__pycache__" in full or ".ipynb_checkpoints" in full:
            return
        if write and full not in unit.written:
            unit.write_marks[full] = (len(unit.inputs), len(unit.created), len(unit.read))
        (unit.written if write else unit.read).setdefault(full, None)

    def _file_fp(self, path: str) -> Fingerprint | None:
        try:
            return fingerprint_file(path, cache=self.trail.stat_cache)
        except FingerprintError as exc:
            self._skip(f"file {exc}")
            return None

    def _file_ops(self, unit: Unit, fp: Fingerprint, path: str, kind: str, sources=()) -> list:
        ops = [
            ("artifact", artifact_row(fp, self.trail.display_path(path), None)),
            ("edge", edge_row(kind, unit.run_id, fp.digest, path=path)),
        ]
        for source in sources:
            for digest in self.tracker.resolve(source):
                if digest != fp.digest:
                    ops.append(
                        ("edge", edge_row("derived", unit.run_id, fp.digest, source_id=digest))
                    )
        self.counts["files read" if kind == "used" else "files written"] += 1
        return ops

    # -- objects ----------------------------------------------------------------------------

    def _fingerprinted(self, tracked: Tracked, fp: Fingerprint) -> None:
        unit = tracked.unit
        if unit is not None and unit.open:
            unit.fingerprinted.append((tracked, fp))  # named and written when the cell ends
        else:
            self.writer.submit(self._object_ops(tracked, fp))

    def _object_ops(self, tracked: Tracked, fp: Fingerprint) -> list:
        label = tracked.name or getattr(tracked, "label", None) or f"{tracked.kind}:{fp.short}"
        run_id = tracked.unit.run_id
        ops = [
            ("artifact", artifact_row(fp, label, None)),
            ("edge", edge_row("produced", run_id, fp.digest, name=tracked.name)),
        ]
        for source in tracked.sources:
            for digest in self.tracker.resolve(source):
                if digest != fp.digest:
                    ops.append(("edge", edge_row("derived", run_id, fp.digest, source_id=digest)))
        return ops

    def _adopt(self, obj, unit: Unit, sources: list, label: str) -> None:
        """Track ``obj``, made by a hooked call, as a new version derived from ``sources``."""
        if isinstance(obj, dict):
            for key, value in obj.items():
                self._adopt(value, unit, sources, f"{label}[{key!r}]")
            return
        if not trackable(obj):
            return
        tracked = self.tracker.register(obj, unit=unit, sources=sources, label=label)
        unit.created.append(tracked)

    def _object_sources(self, obj, unit: Unit, label: str) -> list:
        """Return the digests an object handed to a hooked call stands for."""
        if obj is None:
            return []
        if trackable(obj):
            tracked = self.tracker.lookup(obj)
            if tracked is None:
                tracked = self.tracker.register(
                    obj, unit=unit, sources=list(unit.inputs), label=label
                )
                unit.created.append(tracked)
            return self.tracker.resolve(tracked)
        try:
            fp = fingerprint(obj)
        except FingerprintError as exc:
            self._skip(f"{label}: {exc}")
            return []
        unit.ops.append(("artifact", artifact_row(fp, f"{label}:{fp.short}", None)))
        unit.ops.append(("edge", edge_row("used", unit.run_id, fp.digest, name=label)))
        return [fp.digest]

    # -- hooks ------------------------------------------------------------------------------

    def hooked(self, spec: IOSpec, arguments: dict, result) -> None:
        """Record a hooked read or write that returned (called by :mod:`.hooks`)."""
        unit = self.unit
        if unit is None:
            return
        with self.guard(f"recording {spec.action}"):
            if spec.action == "read":
                source = self._source(spec, arguments, unit, reading=True)
                label = _label_for(spec, arguments)
                self._adopt(result, unit, [source] if source else [], label)
            elif spec.action == "write":
                obj = arguments.get(spec.obj) if spec.obj else None
                digests = self._object_sources(obj, unit, type(obj).__name__)
                self._target(spec, arguments, unit, digests or list(unit.inputs))

    def _source(self, spec: IOSpec, arguments: dict, unit: Unit, *, reading: bool) -> str | None:
        if spec.sql:
            fp = _query_fingerprint(arguments.get(spec.sql), arguments.get(spec.con), "query")
            if fp is None:
                return None
            unit.ops.append(("artifact", artifact_row(fp, _short(fp.meta["query"]), None)))
            unit.ops.append(("edge", edge_row("used", unit.run_id, fp.digest)))
            return fp.digest
        path = _local_path(arguments.get(spec.path))
        if path is None or not os.path.isfile(path):
            return None
        fp = self._file_fp(path)
        if fp is None:
            return None
        unit.recorded_reads.add(path)
        unit.ops.extend(self._file_ops(unit, fp, path, "used"))
        unit.file_digests.add(fp.digest)
        unit.add_input(fp.digest)
        return fp.digest

    def _target(self, spec: IOSpec, arguments: dict, unit: Unit, sources: list) -> None:
        if spec.sql:
            fp = _query_fingerprint(arguments.get(spec.sql), arguments.get(spec.con), "table")
            if fp is None:
                return
            fp = Fingerprint(
                digest_bytes(json.dumps([fp.digest, *map(str, sources)]).encode()),
                "table",
                meta=fp.meta,
            )
            unit.ops.append(("artifact", artifact_row(fp, _short(fp.meta["query"]), None)))
            unit.ops.append(("edge", edge_row("produced", unit.run_id, fp.digest)))
            for digest in sources:
                if isinstance(digest, str):
                    unit.ops.append(
                        ("edge", edge_row("derived", unit.run_id, fp.digest, source_id=digest))
                    )
            return
        target = arguments.get(spec.path)
        path = _local_path(target)
        if path is None:
            return
        if not isinstance(target, str | os.PathLike):
            # A file object may not be flushed yet: fingerprint it when the cell ends.
            unit.written.setdefault(path, None)
            unit.write_sources[path] = sources
            return
        if not os.path.isfile(path):
            # numpy adds .npy / .npz to names without them.
            for suffix in (".npy", ".npz"):
                if os.path.isfile(path + suffix):
                    path += suffix
                    break
            else:
                return
        fp = self._file_fp(path)
        if fp is None:
            return
        unit.recorded_writes.add(path)
        unit.ops.extend(self._file_ops(unit, fp, path, "produced", sources))

    def fitted(self, model, X, y, method: str) -> None:
        """Record an estimator's fit that returned (called by :mod:`.hooks`)."""
        unit = self.unit
        if unit is None:
            return
        with self.guard("recording a fit"):
            sources = self._object_sources(X, unit, "X") + self._object_sources(y, unit, "y")
            try:
                fp = fingerprint(model)
            except FingerprintError as exc:
                self._skip(f"{type(model).__name__}: {exc}")
                return
            meta = {**fp.meta, "params": _params(model), "fitted_with": method}
            fp = Fingerprint(fp.digest, "model", fp.schema, fp.size, meta)
            current = self.tracker.lookup(model)
            if current is not None and current.digest == fp.digest:
                return  # refitted to the very same state
            tracked = self.tracker.register(
                model, unit=unit, sources=sources, label=type(model).__name__, digest=fp
            )
            unit.created.append(tracked)
            self.counts["models"] += 1

    # -- cells ------------------------------------------------------------------------------

    def _parent_id(self) -> str:
        return self.run.id

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
            self._read_inputs(unit)
            self.unit = unit

    def _read_inputs(self, unit: Unit) -> None:
        # What the cell reads, as it is before the cell runs: a reference, so fingerprint it.
        for name in sorted(unit.names.reads):
            tracked = self.tracker.by_name.get(name)
            if tracked is not None:
                unit.add_input(tracked)
                self.tracker.ensure(tracked)

    def enter_step(self, name: str, body: str) -> None:
        """``%%trail step NAME``: the running cell belongs to step NAME; its code is ``body``."""
        unit = self.unit
        if unit is None:
            return
        with self.guard("entering a step"):
            if name not in self.steps:
                step_id = new_id()
                self.steps[name] = step_id
                row = _run_row(step_id, self.run.id, "step", name, self.trail.actor)
                self.writer.submit([("insert", _schema.runs, row, "run.start")])
            unit.parent_id = self.steps[name]
            unit.step = name
            source = self.shell.transform_cell(body) if self.shell is not None else body
            unit.names = analyze(source)
            unit.source = body
            unit.inputs.clear()
            self._read_inputs(unit)

    def end_cell(self, error: BaseException | None, execution_count: int | None = None) -> None:
        """IPython finished a cell (``error`` is what it raised, if anything)."""
        self._cell_depth = max(0, self._cell_depth - 1)
        if self._cell_depth:
            return
        unit, self.unit = self.unit, None
        if unit is not None and execution_count is not None:
            unit.execution_count = execution_count
            unit.name = f"cell {execution_count}"
        if unit is not None:
            with self.guard("finishing a cell"):
                self._finish(unit, error)
        self.idle_since = time.monotonic()
        self.idle.set()

    def _bind_names(self, unit: Unit) -> None:
        namespace = self.shell.user_ns if self.shell is not None else {}
        names = unit.names
        for name in sorted(names.binds | names.mutates):
            obj = namespace.get(name, _MISSING)
            if obj is _MISSING or not trackable(obj):
                self.tracker.forget_name(name)
                continue
            existing = self.tracker.lookup(obj)
            if existing is not None and existing.unit is unit:
                # Made by a hook in this cell (a reader's result, a fitted model): name it.
                existing.name = existing.name or name
                self.tracker.by_name[name] = existing
                continue
            if existing is not None and name not in names.mutates:
                self.tracker.by_name[name] = existing  # `b = a`: the same object, a new name
                continue
            if existing is None and is_estimator(obj):
                self.tracker.forget_name(name)  # an estimator not fitted yet is not data
                continue
            # A new object, or one changed in place: a new version, from what the cell read.
            sources = [existing] if existing is not None else []
            sources += [s for s in unit.inputs if s is not existing]
            sources += [t for t in unit.created if t.obj() is not obj]
            self.tracker.register(obj, unit=unit, name=name, sources=sources)

    def _finish(self, unit: Unit, error) -> None:
        read_digests: dict[str, str] = {}
        for path in unit.read:
            if path in unit.recorded_reads or path in unit.written:
                continue
            fp = self._file_fp(path)
            if fp is not None:
                unit.ops.extend(self._file_ops(unit, fp, path, "used"))
                unit.file_digests.add(fp.digest)
                unit.add_input(fp.digest)
                read_digests[path] = fp.digest
        if unit.kind == "cell":
            self._bind_names(unit)
        for path in unit.written:
            if path in unit.recorded_writes:
                continue
            fp = self._file_fp(path)
            if fp is not None:
                sources = unit.write_sources.get(path) or self._sources_before(
                    unit, path, read_digests
                )
                unit.ops.extend(self._file_ops(unit, fp, path, "produced", sources))
        unit.open = False
        for tracked, fp in unit.fingerprinted:
            unit.ops.extend(self._object_ops(tracked, fp))
        for source in unit.inputs:
            if isinstance(source, Tracked):
                for digest in self.tracker.resolve(source):
                    unit.ops.append(
                        ("edge", edge_row("used", unit.run_id, digest, name=source.name))
                    )
        head = []
        if unit.own_row:
            head = self._cell_row_ops(unit, error)
        if unit.step and error is not None:
            self.failed_steps.add(unit.step)
        self.writer.submit(head + unit.ops)
        self.counts["cells"] += unit.kind == "cell"

    def _sources_before(self, unit: Unit, path: str, read_digests: dict[str, str]) -> list:
        """What a file the unit wrote (with plain ``open``) can derive from: what came before."""
        inputs, created, reads = unit.write_marks.get(
            path, (len(unit.inputs), len(unit.created), len(unit.read))
        )
        files = []
        for earlier in list(unit.read)[:reads]:
            digest = read_digests.get(earlier)
            if digest is None and earlier in unit.recorded_reads:  # read by a library hook
                with contextlib.suppress(FingerprintError):
                    digest = fingerprint_file(earlier, cache=self.trail.stat_cache).digest
            if digest is not None and earlier != path:
                files.append(digest)
        hooked = [s for s in unit.inputs[:inputs] if not isinstance(s, str) or s not in files]
        return hooked + files + unit.created[:created]

    def _cell_row_ops(self, unit: Unit, error) -> list:
        code = unit.source.encode("utf-8", "surrogatepass")
        code_digest = digest_bytes(code)
        ops = []
        row = _run_row(unit.run_id, unit.parent_id, unit.kind, unit.name, self.trail.actor)
        row.update(
            started_at=unit.started,
            ended_at=_now(),
            status="failed" if error is not None else "succeeded",
            error=f"{type(error).__name__}: {error}" if error is not None else None,
            params={"execution_count": unit.execution_count},
            attrs={"code": code_digest, "seconds": round(time.perf_counter() - unit.t0, 6)},
        )
        ops.append(("insert", _schema.runs, row, "run.record"))
        code_fp = Fingerprint(
            code_digest, "code", size=len(code), meta={"lines": code.count(b"\n") + 1}
        )
        snapshot = None
        if len(code) <= _MAX_CODE:
            ops.append(("blob", code))
            snapshot = (code_digest, "raw")
        ops.append(("artifact", artifact_row(code_fp, f"code of {unit.name}", snapshot)))
        ops.append(("edge", edge_row("used", unit.run_id, code_digest, name="code")))
        return ops

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
        unit, self.unit = self.unit, None
        if unit is not None:
            with self.guard("finishing the script"):
                self._finish(unit, error)
        self.idle.set()

    # -- magics' helpers --------------------------------------------------------------------

    def digest_of_name(self, name: str) -> str | None:
        """Fingerprint the object a variable holds now (tracking it if needed)."""
        namespace = self.shell.user_ns if self.shell is not None else {}
        if name not in namespace:
            raise UsageError(f"no variable named {name!r}")
        obj = namespace[name]
        tracked = self.tracker.by_name.get(name)
        if tracked is not None and tracked.obj() is obj:
            return self.tracker.ensure(tracked)
        return fingerprint(obj).digest

    def digest_of(self, obj, *, name: str | None = None) -> str | None:
        """Return the digest of an object a check judges, recording it as an artifact."""
        unit = self.unit
        with self.guard("fingerprinting a checked object"):
            if unit is not None:
                digests = self._object_sources(obj, unit, name or type(obj).__name__)
                return digests[0] if digests else None
            fp = fingerprint(obj)
            self.writer.submit(
                [("artifact", artifact_row(fp, name or f"{fp.kind}:{fp.short}", None))]
            )
            return fp.digest
        return None

    def record_check(self, result) -> str:
        """Record a check result in the current cell's run (or the session's); return its id."""
        unit = self.unit
        run_id = unit.run_id if unit is not None else self.run.id
        ops = []
        details = None
        if len(result.details):
            data = table_parquet(result.details)
            details = digest_bytes(data)
            ops.append(("blob", data))
        row = {
            "id": new_id(),
            "run_id": run_id,
            "artifact_id": result.subject,
            "name": result.name[:255],
            "status": result.status,
            "summary": result.summary,
            "metrics": jsonable(result.metrics),
            "thresholds": jsonable(result.thresholds),
            "details": details,
            "created_at": _now(),
        }
        ops.append(("insert", _schema.checks, row, "check.add"))
        if unit is not None:
            unit.ops.extend(ops)
        else:
            self.writer.submit(ops)
        return row["id"]

    def record_metric(self, key: str, value) -> None:
        """``%trail record``: a metric of the session run."""
        self.writer.flush()
        self.run.log_metric(key, value)

    def status(self) -> dict:
        """Return what capture has seen and done, for ``%trail``."""
        return {
            "run": self.run.id,
            "name": self.run.name,
            "notebook": self.run.record.attrs.get("notebook"),
            "trail": self.trail.url,
            "recording": self.enabled,
            **self.counts,
            "objects tracked": len(self.tracker.by_id),
            "fingerprinted": self.tracker.fingerprinted,
            "deferred (large)": self.tracker.deferred,
            "steps": sorted(self.steps),
            "facts written": self.writer.written,
            "facts queued": self.writer.pending,
            "capture errors": self.errors,
            "last errors": list(self.error_messages)[-3:],
            "skipped": self.skipped,
            "last skipped": list(self.skip_messages)[-3:],
            "facts lost": self.lost,
            "log": self.log_file,
        }

    # -- ending -----------------------------------------------------------------------------

    def close(self, status: str = "succeeded", error: str | None = None) -> None:
        """End the run: restore hooks, end steps, write what is queued, close the trail."""
        if self.closed:
            return
        self.closed = True
        try:
            self.stop()
            if _state._active is self:
                _state.set_active(None)
            ops = []
            for name, step_id in self.steps.items():
                values = {
                    "status": "failed" if name in self.failed_steps else "succeeded",
                    "ended_at": _now(),
                }
                ops.append(("update", _schema.runs, step_id, values, "run.end"))
            if ops:
                self.writer.submit(ops)
            self.writer.close()
            if self.run.record.status == "running":
                self.run.end(status, error=error)
        except Exception as exc:  # noqa: BLE001 - ending must not raise into shutdown
            self.count_error("ending the session", exc)
        finally:
            if self.owns_trail:
                self.trail.close()


# ----------------------------------------------------------------------------------------------
# helpers


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


def _run_row(run_id: str, parent_id: str | None, kind: str, name: str, actor: str) -> dict:
    return {
        "id": run_id,
        "parent_id": parent_id,
        "kind": kind,
        "name": name,
        "status": "running",
        "actor": actor,
        "started_at": _now(),
        "ended_at": None,
        "params": {},
        "attrs": {},
        "error": None,
    }


def _local_path(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if "://" in text:
            return None
        return os.path.abspath(os.path.expanduser(text))
    name = getattr(value, "name", None)
    if isinstance(name, str) and name and not name.startswith("<"):
        return os.path.abspath(name)
    return None


def _label_for(spec: IOSpec, arguments: dict) -> str:
    if spec.sql:
        return "query"
    path = _local_path(arguments.get(spec.path)) if spec.path else None
    return f"read:{os.path.basename(path)}" if path else "read"


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _connection_url(con) -> str:
    """Return the connection's URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        if isinstance(con, str):
            return make_url(con).render_as_string(hide_password=True)
        url = getattr(con, "url", None) or getattr(getattr(con, "engine", None), "url", None)
        if url is not None:
            return url.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is described below instead
        pass
    module = type(con).__module__
    if module.startswith("sqlite3"):
        try:
            rows = con.execute("PRAGMA database_list").fetchall()
            path = next((r[2] for r in rows if r[1] == "main"), "")
            return f"sqlite:///{path}" if path else "sqlite://"
        except Exception:  # noqa: BLE001 - a closed or busy connection: fall through
            pass
    return f"{module}.{type(con).__name__}"


def _query_fingerprint(text, con, kind: str) -> Fingerprint | None:
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)  # a SQLAlchemy selectable
    url = _connection_url(con)
    data = json.dumps({"kind": kind, "query": text, "url": url}, sort_keys=True).encode()
    return Fingerprint(digest_bytes(data), kind, meta={"query": text[:2000], "url": url})


def _params(model) -> dict:
    try:
        params = model.get_params(deep=False)
    except Exception:  # noqa: BLE001 - third-party estimators
        return {}
    out = {}
    for key, value in params.items():
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        else:
            out[key] = _short(repr(value), 200)
    return jsonable(out)


# ----------------------------------------------------------------------------------------------
# scripts


@contextlib.contextmanager
def track(
    name: str,
    *,
    params: dict | None = None,
    trail=None,
) -> Iterator:
    """Capture a plain Python script's reads, writes and fits as one run.

    Parameters
    ----------
    name : str
        The run's name.
    params : dict, optional
        The run's parameters.
    trail : Trail, optional
        Where to record; default: the trail that applies in the working directory (created
        there if there is none).

    Yields
    ------
    Run
        The run, for logging metrics and checks by hand.

    Examples
    --------
    ::

        with nbtrail.track("train") as run:
            df = pd.read_csv("data/adult.csv")
            model = LogisticRegression().fit(X, y)
            joblib.dump(model, "model.joblib")
            run.log_metric("accuracy", 0.85)
    """
    if _state._active is not None and not _state._active.closed:
        raise UsageError(
            "capture is already recording in this process; use run.start_run() for a sub-run"
        )
    owns = trail is None
    trail = trail or open_or_create_trail()
    try:
        session = CaptureSession(trail, name=name, kind="script", params=params, owns_trail=owns)
    except BaseException:
        if owns:
            trail.close()
        raise
    session.start()
    session.begin_script()
    try:
        yield session.run
    except BaseException as exc:
        session.end_script(exc)
        aborted = isinstance(exc, KeyboardInterrupt)
        session.close("aborted" if aborted else "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    else:
        session.end_script(None)
        session.close("succeeded")
