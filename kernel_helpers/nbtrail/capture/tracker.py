"""Which in-memory objects capture knows, where they came from, and their fingerprints.

A tracked object (a DataFrame, Series, array or fitted model) remembers the cell or run that
made it and the artifacts it was derived from. Its fingerprint is computed lazily: when
something refers to it (a cell reads it, a model is fitted on it, it is written to a file), or
when the unit that made it ends, if it is still alive and under a size bound (8 MiB: well
under a millisecond). Objects never referred to again are never hashed, which keeps capture
inside its per-cell budget with multi-gigabyte frames in memory and a reader in a loop at the
cost of a stat; and the digest recorded is that of the object as it was used or as the unit
left it, not as a reader first returned it.

Objects are held by weak reference: capture never keeps a frame alive.
"""

from __future__ import annotations

import sys
import weakref

from ..fingerprints import Fingerprint, fingerprint

__all__ = [
    "SIZE_BOUND",
    "Ancestry",
    "Tracked",
    "Tracker",
    "effective_size",
    "is_estimator",
    "is_fitted",
    "pending_sources",
    "trackable",
]

SIZE_BOUND = 8 << 20
# Object columns are hashed element by element: count them as this many bytes per value.
_OBJECT_VALUE_COST = 64


def is_estimator(obj) -> bool:
    """Whether ``obj`` is a scikit-learn estimator instance (without importing scikit-learn)."""
    return _is_estimator(obj)


def _is_estimator(obj) -> bool:
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator) and not isinstance(obj, type)


def is_fitted(obj) -> bool:
    """Whether an estimator holds learned state (scikit-learn's convention: ``coef_``...)."""
    try:
        return any(k.endswith("_") and not k.startswith("__") for k in vars(obj))
    except TypeError:
        return False


def trackable(obj) -> bool:
    """Whether capture follows this object: a DataFrame, Series, numpy array or estimator."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(obj, numpy.ndarray):
        return True
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, pandas.DataFrame | pandas.Series):
        return True
    return _is_estimator(obj)


def effective_size(obj) -> int:
    """Bytes the fingerprint will read, with object columns weighted by their per-value cost."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(obj, numpy.ndarray):
        return obj.size * _OBJECT_VALUE_COST if obj.dtype.hasobject else obj.nbytes
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, pandas.DataFrame | pandas.Series):
        frame = obj.to_frame() if isinstance(obj, pandas.Series) else obj
        blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)
        if blocks is not None:
            # Block by block, not column by column: a 10,000-column frame is a few blocks.
            try:
                return sum(_block_size(block.values) for block in blocks)
            except (AttributeError, TypeError):
                pass
        total = 0
        for dtype, column in zip(frame.dtypes, range(frame.shape[1]), strict=True):
            if getattr(dtype, "kind", None) == "O":
                total += len(frame) * _OBJECT_VALUE_COST
            else:
                total += frame.iloc[:, column].array.nbytes
        return total
    return 0  # models: always hashed when they are recorded, right after fit


def _block_size(values) -> int:
    if getattr(values.dtype, "kind", None) == "O":
        return values.size * _OBJECT_VALUE_COST  # values' count: every column of the block
    return values.nbytes


class Tracked:
    """One version of one object, as capture knows it."""

    __slots__ = (
        "__weakref__",
        "digest",
        "kind",
        "label",
        "name",
        "obj_id",
        "ref",
        "sources",
        "unit",
    )

    def __init__(self, obj, *, name: str | None, unit, sources: list, label: str | None = None):
        self.ref = weakref.ref(obj)
        self.obj_id = id(obj)
        self.name = name
        self.label = label
        self.unit = unit
        self.sources = sources  # digests (str) or other Tracked
        self.digest: str | None = None
        self.kind = type(obj).__name__

    def obj(self):
        """Return the object, or None once it has been garbage collected."""
        return self.ref()

    def __repr__(self) -> str:
        return f"<Tracked {self.name or self.kind} {self.digest or 'pending'}>"


class Tracker:
    """Objects by identity and by variable name.

    Parameters
    ----------
    on_fingerprint : callable
        Called with (Tracked, Fingerprint) when an object's fingerprint is first computed:
        the session records the artifact and its edges then.
    on_skip : callable
        Called with (Tracked, reason) when an object cannot be fingerprinted.
    """

    def __init__(self, *, on_fingerprint, on_skip, size_bound: int = SIZE_BOUND):
        self.on_fingerprint = on_fingerprint
        self.on_skip = on_skip
        self.size_bound = size_bound
        self.by_id: dict[int, Tracked] = {}
        self.by_name: dict[str, Tracked] = {}
        self.fingerprinted = 0
        self.deferred = 0

    def lookup(self, obj) -> Tracked | None:
        """Return the newest tracked version of exactly this object, if any."""
        tracked = self.by_id.get(id(obj))
        if tracked is not None and tracked.obj() is obj:
            return tracked
        return None

    def register(
        self,
        obj,
        *,
        unit,
        name: str | None = None,
        sources=(),
        digest: Fingerprint | None = None,
        label: str | None = None,
        defer: bool = False,
    ) -> Tracked:
        """Start tracking a new version of ``obj``; fingerprint it now if it is small.

        Parameters
        ----------
        obj : object
            The object.
        unit : Unit
            The cell or run that made this version.
        name : str, optional
            Its variable name.
        sources : iterable
            Digests or Tracked it was derived from.
        label : str, optional
            What to call it while it has no variable name (``read:adult.csv``).
        digest : Fingerprint, optional
            Its fingerprint, when the caller already computed it (a fitted model).
        defer : bool
            Leave it unhashed even if small: the unit fingerprints what is still alive when it
            ends (:meth:`ensure_small`), or whatever refers to it first does. A reader's
            result in a loop, dropped at once, is then never hashed.
        """
        tracked = Tracked(obj, name=name, unit=unit, sources=list(sources), label=label)
        key = id(obj)

        def _forget(_ref, key=key, tracked=tracked):
            if self.by_id.get(key) is tracked:
                del self.by_id[key]

        tracked.ref = weakref.ref(obj, _forget)
        self.by_id[key] = tracked
        if name is not None:
            self.by_name[name] = tracked
        if digest is not None:
            tracked.digest = digest.digest
            self.fingerprinted += 1
            self.on_fingerprint(tracked, digest)
        elif not defer and effective_size(obj) <= self.size_bound:
            self.ensure(tracked)
        else:
            self.deferred += 1
        return tracked

    def ensure_small(self, versions) -> None:
        """Fingerprint those of ``versions`` still alive, unhashed and under the size bound."""
        for tracked in versions:
            if tracked.digest is None:
                obj = tracked.obj()
                if obj is not None and effective_size(obj) <= self.size_bound:
                    self.ensure(tracked)

    def ensure(self, tracked: Tracked) -> str | None:
        """Return the version's digest, fingerprinting it now if needed (None if impossible)."""
        if tracked.digest is not None:
            return tracked.digest
        obj = tracked.obj()
        if obj is None:
            return None
        from ..errors import FingerprintError

        try:
            fp = fingerprint(obj)
        except FingerprintError as exc:
            self.on_skip(tracked, str(exc))
            return None
        tracked.digest = fp.digest
        self.fingerprinted += 1
        self.on_fingerprint(tracked, fp)
        return tracked.digest

    def resolve(self, source, _seen=None) -> list[str]:
        """Digests a source stands for: its own, or (if it cannot be had) its sources'."""
        if isinstance(source, str):
            return [source]
        _seen = set() if _seen is None else _seen
        if id(source) in _seen:
            return []
        _seen.add(id(source))
        digest = self.ensure(source)
        if digest is not None:
            return [digest]
        out: list[str] = []
        for inner in source.sources:
            out.extend(self.resolve(inner, _seen))
        return out

    def forget_name(self, name: str) -> None:
        """Stop associating a variable name with a tracked object."""
        self.by_name.pop(name, None)


class Ancestry:
    """What each artifact recorded by this process derives from, to keep lineage acyclic.

    A frame written to a file and read back is the same frame (the same fingerprint); a model
    dumped and loaded is the same model. Recording "frame derived from file" then would make
    the frame its own ancestor. Capture asks :meth:`reaches` before it records an edge. It
    follows lineage's own rule: an artifact a run produced without ``derived`` edges in that
    run depends on everything the run used.
    """

    def __init__(self, resolve, trail=None):
        self.resolve = resolve  # Tracker.resolve: the digests a source stands for
        self.trail = trail
        self.derived: dict[str, set[str]] = {}
        self.produced_by: dict[str, set[str]] = {}  # artifact -> runs that produced it
        self.used: dict[str, set[str]] = {}  # run -> artifacts it used
        self.precise: set[tuple[str, str]] = set()  # (run, artifact) with derived edges
        self.files: set[str] = set()  # artifacts recorded with a path (files)

    def learn(self, facts) -> None:
        """Take in the edges among ``facts`` (anything else is ignored)."""
        for fact in facts:
            kind = getattr(fact, "kind", None)
            if kind not in ("derived", "produced", "used") or not hasattr(fact, "artifact_id"):
                continue
            art, run = fact.artifact_id, fact.run_id
            if getattr(fact, "path", None):
                self.files.add(art)
            if kind == "derived":
                self.derived.setdefault(art, set()).add(fact.source_id)
                self.precise.add((run, art))
            elif kind == "produced":
                self.produced_by.setdefault(art, set()).add(run)
            else:
                self.used.setdefault(run, set()).add(art)

    def parents(self, art: str, pending: dict[str, set[str]] | None = None) -> set[str]:
        """What ``art`` derives from, as lineage would follow it upstream."""
        out = set(self.derived.get(art, ()))
        if pending:
            out |= pending.get(art, set())
        for run in self.produced_by.get(art, ()):
            if (run, art) not in self.precise:
                out |= self.used.get(run, set())
        return out

    def edges(self, unit, digest: str, sources, file: bool = False) -> tuple[list, int]:
        """Return ``derived`` edges from ``sources`` to ``digest``, and how many were left out.

        An edge is left out when it would make ``digest`` its own ancestor.
        """
        from ..store import NewEdge

        edges, cycles, seen = [], 0, {digest}
        pending = pending_sources(unit) if sources else None
        for source in sources:
            for source_digest in self.resolve(source):
                if source_digest in seen:
                    continue
                seen.add(source_digest)
                if self.reaches(source_digest, digest, pending) or self._in_trail(
                    unit, source_digest, digest, file
                ):
                    cycles += 1
                else:
                    edges.append(NewEdge("derived", unit.run_id, digest, source_id=source_digest))
        return edges, cycles

    def run_loops(self, unit, digest: str) -> bool:
        """Whether ``digest`` is an ancestor of something ``unit`` used.

        Produced with no ``derived`` edge, lineage takes it to depend on all the unit used.
        """
        used = {f.artifact_id for f in unit.facts if getattr(f, "kind", None) == "used"}
        for source in unit.inputs:
            used.update([source] if isinstance(source, str) else [source.digest])
        used.discard(None)
        if not used:
            return False
        pending = pending_sources(unit)
        return any(self.reaches(u, digest, pending) for u in used)

    def _in_trail(self, unit, source: str, target: str, file: bool) -> bool:
        """Whether the trail (older sessions) has ``target`` upstream of ``source``.

        Asked only when a file is involved: one lineage query.
        """
        if self.trail is None:
            return False
        if not (file or source in unit.file_digests or source in self.files):
            return False
        try:
            graph = self.trail.lineage(source, direction="upstream")
        except Exception:  # noqa: BLE001 - not in the trail (yet): nothing older to cycle with
            return False
        return f"artifact:{target}" in graph.nodes

    def reaches(self, start: str, target: str, pending: dict[str, set[str]] | None = None) -> bool:
        """Whether ``target`` is ``start`` or one of its ancestors.

        ``pending``: artifact -> sources known for the unit still running, not learned yet.
        """
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == target:
                return True
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.parents(current, pending))
        return False


def pending_sources(unit) -> dict[str, set[str]]:
    """What the artifacts of a running unit derive from so far.

    Its ``derived`` edges, and the sources of the versions it tracks (recorded when it ends).
    """
    out: dict[str, set[str]] = {}
    for fact in unit.facts:
        if getattr(fact, "kind", None) == "derived":
            out.setdefault(fact.artifact_id, set()).add(fact.source_id)
    for tracked in unit.created:
        if tracked.digest is None:
            continue
        for source in tracked.sources:
            digest = source if isinstance(source, str) else source.digest
            if digest is not None:
                out.setdefault(tracked.digest, set()).add(digest)
    return out
