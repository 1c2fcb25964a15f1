"""What capture records: files read and written, objects made and derived, models fitted, checks.

:class:`Recording` turns what the hooks saw during a unit (a cell, a script) into trail facts:

* files opened (the audit hook) are used or produced by the unit; files outside the project
  are recorded when read, except the environment's own (see :mod:`._paths`);
* a DataFrame read with pandas is derived from the file's fingerprint; a frame written with
  ``to_csv`` makes the file derived from the frame; the same for numpy, joblib, pickle, pyarrow
  and matplotlib figures;
* a fitted model is derived from the fingerprints of the X and y it was fitted on;
* any DataFrame, Series, array or model a cell binds is derived from what the statement that
  bound it read: the versions of the names it read, the objects hooks made and the files
  read while it ran (statements from the cell's source, see :mod:`.names`; which statement
  was running when a hook fired, from the stack, see :meth:`.Unit.statement_now`);
* an edge that would make an artifact its own ancestor (a frame written to a file and read
  back, a model dumped and loaded) is not recorded: the value read back is the artifact
  already known (see :class:`.tracker.Ancestry`);
* what capture cannot verify later (a SQL query, a URL, a subprocess) and what it could not
  attribute to a unit is counted in :attr:`Recording.health`, so a run that depended on it is
  never reused as if it had not.

It needs no kernel: give it a trail, a place to send facts and a namespace, and call the
methods the hooks call. :class:`~.session.CaptureSession` adds the lifecycle (cells, steps,
the writer, starting and ending).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator

from .. import recording
from .._secrets import mask_url
from ..errors import FingerprintError
from ..fingerprints import Fingerprint, StatCache, digest_bytes, fingerprint, fingerprint_file
from ..store import NewArtifact, NewEdge
from . import _sql
from ._health import Health
from ._paths import Classifier
from ._unit import Unit
from ._verdicts import Verdicts
from .tracker import (
    Ancestry,
    Tracked,
    Tracker,
    is_estimator,
    is_fitted,
    trackable,
)

__all__ = ["Recording"]

log = logging.getLogger("nbtrail.capture")

_MISSING = object()


class Recording(Verdicts):
    """The recording logic shared by kernel sessions and scripts; see the module docstring.

    Parameters
    ----------
    trail : Trail
        Where facts go (its stat cache, paths and actor are used here).
    run_id : str
        The run that facts recorded outside any unit belong to.
    submit : callable
        Receives lists of facts (and blobs, and deferred callables) to write.
    namespace : callable, optional
        Returns the user's namespace (a kernel's ``user_ns``); names are bound from it.
    """

    def __init__(self, trail, *, run_id: str, submit, namespace=None):
        self.trail = trail
        self.run_id = run_id
        self._submit = submit
        self._namespace = namespace or dict
        self.paths = Classifier(str(trail.project_root), str(trail.home) if trail.home else None)
        self.health = Health()
        self.counts = {"cells": 0, "files read": 0, "files written": 0, "models": 0}
        self.unit: Unit | None = None
        self.tracker = Tracker(on_fingerprint=self._fingerprinted, on_skip=self._skip_object)
        self.ancestry = Ancestry(self.tracker.resolve, trail)
        self.lock = threading.RLock()  # user threads may fit or read while a cell runs

    # -- errors -----------------------------------------------------------------------------

    def count_error(self, what: str, exc: BaseException | None = None) -> None:
        """Record a failure inside capture: logged and counted, never raised."""
        self.health.errors += 1
        detail = mask_url(f": {type(exc).__name__}: {exc}") if exc is not None else ""
        self.health.error_messages.append(f"{what}{detail}")
        with recording.quiet():  # writing the log opens a file: not the user's, not again here
            log.error("capture failed while %s%s", what, detail, exc_info=exc is not None)

    def _skip(self, message: str) -> None:
        self.health.skipped += 1
        self.health.skip_messages.append(mask_url(message))

    def _skip_object(self, tracked: Tracked, reason: str) -> None:
        self._skip(f"{tracked.name or tracked.kind}: {reason}")

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run capture work: nbtrail's own file access is ignored, and failures are counted."""
        with self.lock, recording.quiet():
            try:
                yield
            except Exception as exc:  # noqa: BLE001 - the user's cell must never see our failure
                self.count_error(what, exc)

    # -- files ------------------------------------------------------------------------------

    def saw_file(self, path, write: bool) -> None:
        """Audit hook: a file was opened."""
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        found = self.paths.classify(path)
        if found is None:
            return
        where, full = found
        with self.lock:
            unit = self.unit
            if unit is None:
                if where == "project" and not write:
                    self.health.read_unattributed(full)
                return
            if where == "outside" and write:
                return  # what a run writes outside the project is not an input of anything
            if write and full not in unit.written:
                unit.write_marks[full] = (len(unit.inputs), len(unit.created), len(unit.read))
            at = unit.written_at if write else unit.read_at
            if full not in at:
                at[full] = unit.statement_now(self._namespace())
            (unit.written if write else unit.read).setdefault(full, None)

    def saw_process(self, what: str) -> None:
        """Audit hook: the unit started another program, which may read anything."""
        with self.lock:
            if self.unit is not None:
                self.health.read_unverifiable("subprocess", what)

    def saw_url(self, url: str) -> None:
        """Audit hook (``urllib.Request``): data came from the network."""
        with self.lock:
            if self.unit is not None:
                self.health.read_unverifiable("url", url)

    def _file_fp(self, path: str) -> Fingerprint | None:
        try:
            return fingerprint_file(path, cache=self.trail.stat_cache)
        except FingerprintError as exc:
            self._skip(f"file {exc}")
            return None

    def _file_facts(self, unit: Unit, fp: Fingerprint, path: str, kind: str, sources=()) -> list:
        self.counts["files read" if kind == "used" else "files written"] += 1
        derived, cycles = self.ancestry.edges(unit, fp.digest, sources, file=True)
        if cycles and not derived:
            return []  # written back unchanged: the file is what it was, not its own product
        facts = [NewArtifact.of(fp, self.trail.display_path(path))]
        if kind == "used" or derived or not self.ancestry.run_loops(unit, fp.digest):
            facts.append(NewEdge(kind, unit.run_id, fp.digest, path=path))
        return facts + derived

    # -- objects ----------------------------------------------------------------------------

    def _fingerprinted(self, tracked: Tracked, fp: Fingerprint) -> None:
        unit = tracked.unit
        if unit is not None and unit.open:
            unit.fingerprinted.append((tracked, fp))  # named and written when the cell ends
        else:
            facts = self._object_facts(tracked, fp)
            self.ancestry.learn(facts)
            self._submit(facts)

    def _object_facts(self, tracked: Tracked, fp: Fingerprint) -> list:
        label = tracked.name or tracked.label or f"{tracked.kind}:{fp.short}"
        unit = tracked.unit
        derived, cycles = self.ancestry.edges(unit, fp.digest, tracked.sources)
        if cycles and not derived:
            return []  # read back unchanged (a frame from its own file): the known artifact
        facts = [NewArtifact.of(fp, label)]
        # With no derived edge lineage takes it to depend on all its unit used: not if that
        # would make it its own ancestor (an array made from nothing, saved, loaded back).
        if derived or not self.ancestry.run_loops(unit, fp.digest):
            facts.append(NewEdge("produced", unit.run_id, fp.digest, name=tracked.name))
        return facts + derived

    def _adopt(self, obj, unit: Unit, sources: list, label: str) -> None:
        """Track ``obj``, made by a hooked call, as a new version derived from ``sources``."""
        if isinstance(obj, dict):
            for key, value in obj.items():
                self._adopt(value, unit, sources, f"{label}[{key!r}]")
            return
        if not trackable(obj):
            return
        tracked = self.tracker.register(obj, unit=unit, sources=sources, label=label, defer=True)
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
                unit.provisional.add(id(tracked))  # derived from its statement at cell end
            return self.tracker.resolve(tracked)
        try:
            fp = fingerprint(obj)
        except FingerprintError as exc:
            self._skip(f"{label}: {exc}")
            return []
        unit.facts.append(NewArtifact.of(fp, f"{label}:{fp.short}"))
        unit.facts.append(NewEdge("used", unit.run_id, fp.digest, name=label))
        return [fp.digest]

    # -- hooks ------------------------------------------------------------------------------

    def hooked(self, spec, original, args, kwargs, result) -> None:
        """Record a hooked read or write that returned (called by :mod:`.hooks`)."""
        if self.unit is None:
            return
        with self.guard(f"recording {spec.action}"):
            unit = self.unit
            if unit is None:
                return
            from .hooks import bind_arguments

            arguments = bind_arguments(original, args, kwargs)
            made = len(unit.created)
            statement = unit.statement_now(self._namespace())
            try:
                self._hooked(spec, arguments, unit, result)
            finally:
                for tracked in unit.created[made:]:
                    unit.made_at[id(tracked)] = statement

    def _hooked(self, spec, arguments: dict, unit: Unit, result) -> None:
        if spec.action == "read":
            source = self._source(spec, arguments, unit)
            label = _label_for(spec, arguments)
            self._adopt(result, unit, [source] if source else [], label)
        elif spec.action == "write":
            obj = arguments.get(spec.obj) if spec.obj else None
            digests = self._object_sources(obj, unit, type(obj).__name__)
            self._target(spec, arguments, unit, digests or list(unit.inputs))

    def _source(self, spec, arguments: dict, unit: Unit) -> str | None:
        if spec.sql:
            fp = _sql.query_fingerprint(arguments.get(spec.sql), arguments.get(spec.con), "query")
            if fp is None:
                return None
            self.health.read_unverifiable("query", f"{fp.meta['query'][:200]} ({fp.meta['url']})")
            unit.facts.append(NewArtifact.of(fp, _short(fp.meta["query"])))
            unit.facts.append(NewEdge("used", unit.run_id, fp.digest))
            return fp.digest
        value = arguments.get(spec.path)
        if isinstance(value, str) and "://" in value:
            self.health.read_unverifiable("url", value)
            return None
        path = _local_path(value)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        key = StatCache.key(st)
        memo = unit.read_memo.get(path)
        if memo is not None and memo[0] == key:
            return memo[1]  # the same bytes this unit read already: recorded then
        fp = self._file_fp(path)
        if fp is None:
            return None
        if time.time_ns() - st.st_mtime_ns >= StatCache.RACY_NS:
            unit.read_memo[path] = (key, fp.digest)  # old enough for its stat to be trusted
        unit.recorded_reads.add(path)
        unit.facts.extend(self._file_facts(unit, fp, path, "used"))
        unit.file_digests.add(fp.digest)
        unit.add_input(fp.digest)
        return fp.digest

    def _target(self, spec, arguments: dict, unit: Unit, sources: list) -> None:
        if spec.sql:
            fp = _sql.query_fingerprint(arguments.get(spec.sql), arguments.get(spec.con), "table")
            if fp is None:
                return
            digest = digest_bytes(json.dumps([fp.digest, *map(str, sources)]).encode())
            fp = Fingerprint(digest, "table", meta=fp.meta)
            unit.facts.append(NewArtifact.of(fp, _short(fp.meta["query"])))
            unit.facts.append(NewEdge("produced", unit.run_id, fp.digest))
            unit.facts.extend(
                NewEdge("derived", unit.run_id, fp.digest, source_id=digest)
                for digest in sources
                if isinstance(digest, str)
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
        unit.facts.extend(self._file_facts(unit, fp, path, "produced", sources))

    def fitted(self, model, X, y, method: str) -> None:
        """Record an estimator's fit that returned (called by :mod:`.hooks`)."""
        if self.unit is None:
            return
        with self.guard("recording a fit"):
            unit = self.unit
            if unit is None:
                return
            made = len(unit.created)
            try:
                sources = self._object_sources(X, unit, "X") + self._object_sources(y, unit, "y")
                self._fitted(model, unit, sources, method)
            finally:
                statement = unit.statement_now(self._namespace())
                for tracked in unit.created[made:]:
                    unit.made_at[id(tracked)] = statement

    def _model_fp(self, model, method: str | None) -> Fingerprint | None:
        try:
            fp = fingerprint(model)
        except FingerprintError as exc:
            self._skip(f"{type(model).__name__}: {exc}")
            return None
        meta = {**fp.meta, "params": _params(model), "fitted_with": method}
        return Fingerprint(fp.digest, "model", fp.schema, fp.size, meta)

    def _fitted(self, model, unit: Unit, sources: list, method: str) -> None:
        fp = self._model_fp(model, method)
        if fp is None:
            return
        current = self.tracker.lookup(model)
        if current is not None and current.digest == fp.digest:
            return  # refitted to the very same state
        tracked = self.tracker.register(
            model, unit=unit, sources=sources, label=type(model).__name__, digest=fp
        )
        unit.created.append(tracked)
        self.counts["models"] += 1

    # -- ending a unit --------------------------------------------------------------------

    def read_inputs(self, unit: Unit) -> None:
        """What the unit reads, as it is before the unit runs: fingerprint the references."""
        unit.named_inputs = {}
        for name in sorted(unit.names.reads):
            tracked = self.tracker.by_name.get(name)
            if tracked is not None:
                unit.add_input(tracked)
                unit.named_inputs[name] = tracked
                self.tracker.ensure(tracked)

    def bind_names(self, unit: Unit) -> None:
        """Track what the unit bound or changed in place, each from its own statement.

        Names are taken in the order of the statements that bound them last, so a version a
        later statement read is tracked before it is needed (see :meth:`.Unit.statement_sources`).
        """
        namespace = self._namespace()
        names = unit.names
        unit.bound = {}

        def order(name):
            where = names.last_binding(name)
            return (-1 if where is None else where, name)

        for name in sorted(names.binds | names.mutates, key=order):
            where = names.last_binding(name)
            obj = namespace.get(name, _MISSING)
            if obj is _MISSING or not trackable(obj):
                self.tracker.forget_name(name)
                continue
            existing = self.tracker.lookup(obj)
            if existing is not None and existing.unit is unit:
                # Made by a hook in this cell (a reader's result, a fitted model): name it.
                existing.name = existing.name or name
                self.tracker.by_name[name] = existing
                if id(existing) in unit.provisional:  # only seen handed to a hook: derive it
                    unit.provisional.discard(id(existing))
                    existing.sources = unit.statement_sources(where, exclude=obj)
                unit.bound[(name, where)] = existing
                continue
            if existing is not None and name not in names.mutates:
                self.tracker.by_name[name] = existing  # `b = a`: the same object, a new name
                unit.bound[(name, where)] = existing
                continue
            model = is_estimator(obj)
            if existing is None and model and not is_fitted(obj):
                self.tracker.forget_name(name)  # an estimator not fitted yet is not data
                continue
            # A new object, or one changed in place: a new version, from what its statement read
            # (a model fitted out of sight, such as a search's best_estimator_, is one too).
            fp = self._model_fp(obj, None) if model else None
            if model and fp is None:
                continue
            sources = [existing] if existing is not None else []
            sources += [s for s in unit.statement_sources(where, exclude=obj) if s is not existing]
            unit.bound[(name, where)] = self.tracker.register(
                obj, unit=unit, name=name, sources=sources, digest=fp
            )
        for name in sorted(names.reads - names.binds - names.mutates):
            # `model.fit(X, y)`: the name now holds what a hook made in this cell.
            existing = self.tracker.lookup(namespace.get(name, _MISSING))
            if existing is not None and existing.unit is unit:
                existing.name = existing.name or name
                self.tracker.by_name[name] = existing
        for tracked in unit.created:
            if id(tracked) in unit.provisional:  # handed to a hook, never named
                where = unit.made_at.get(id(tracked))
                obj = tracked.obj()
                tracked.sources = unit.statement_sources(where, exclude=obj, before=tracked)

    def finish(self, unit: Unit, error) -> list:
        """Turn everything the unit touched into facts; return them (the unit's run first)."""
        read_digests = unit.read_digests
        for path in unit.read:
            if path in unit.recorded_reads or path in unit.written:
                continue
            fp = self._file_fp(path)
            if fp is None:
                if self.paths.classify(path) == ("outside", path):
                    self.health.read_unverifiable("file", path)
                continue
            unit.facts.extend(self._file_facts(unit, fp, path, "used"))
            unit.file_digests.add(fp.digest)
            unit.add_input(fp.digest)
            read_digests[path] = fp.digest
        if unit.kind == "cell":
            self.bind_names(unit)
        for path in unit.written:
            if path in unit.recorded_writes:
                continue
            fp = self._file_fp(path)
            if fp is not None:
                sources = unit.write_sources.get(path)
                if not sources and unit.kind == "cell" and unit.written_at.get(path) is not None:
                    sources = unit.statement_sources(unit.written_at[path])
                if not sources:
                    sources = unit.sources_before(path, self.trail.stat_cache)
                unit.facts.extend(self._file_facts(unit, fp, path, "produced", sources))
        self.tracker.ensure_small(unit.created)  # readers' results still alive, as they are now
        unit.open = False
        for tracked, fp in unit.fingerprinted:
            unit.facts.extend(self._object_facts(tracked, fp))
        for source in unit.inputs:
            if isinstance(source, Tracked):
                for digest in self.tracker.resolve(source):
                    unit.facts.append(NewEdge("used", unit.run_id, digest, name=source.name))
        head = unit.run_facts(error) if unit.own_row else []
        self.counts["cells"] += unit.kind == "cell"
        self.ancestry.learn(unit.facts)
        return head + unit.facts


# ----------------------------------------------------------------------------------------------
# helpers


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


def _label_for(spec, arguments: dict) -> str:
    if spec.sql:
        return "query"
    path = _local_path(arguments.get(spec.path)) if spec.path else None
    return f"read:{os.path.basename(path)}" if path else "read"


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return out
