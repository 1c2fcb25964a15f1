"""Calls a notebook makes on purpose: metrics, snapshots and named outputs.

They act on the capture session recording this kernel (``%load_ext nbtrail``, or the kernel
``nbtrail run`` starts), and do nothing where there is none, so a template that calls them
still runs unchanged under plain papermill or in a bare kernel.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import recording
from ..errors import UsageError

__all__ = ["data_read", "data_sources", "flush", "log_metric", "output", "snapshot"]


def _session():
    session = recording.current()
    return session if session is not None and not getattr(session, "closed", True) else None


def flush(timeout: float = 60.0) -> bool:
    """Wait until everything captured so far is in the trail (True), or ``timeout`` passes.

    Capture writes in the background; before reading the trail from the same notebook
    (``trail.checks(...)``, ``!nbtrail checks``), flush. A no-op without a recording session.
    """
    session = _session()
    return True if session is None else session.writer.flush(timeout)


def log_metric(name: str, value) -> None:
    """Record a metric of this session's run (a no-op when nothing is recording).

    Parameters
    ----------
    name : str
        The metric's name, e.g. ``accuracy``.
    value : float
        A finite number.
    """
    session = _session()
    if session is not None:
        session.record_metric(name, value)


def snapshot(obj, name: str):
    """Store an object's content in the trail so it can be restored (no-op without a trail).

    Returns
    -------
    ArtifactRecord or None
    """
    session = _session()
    if session is None:
        return None
    session.writer.flush()
    with recording.quiet():  # nbtrail reading the file to store it is not the notebook reading it
        return session.trail.snapshot(obj, name=name)


def output(name: str, value) -> None:
    """Declare a named output of this template run, for later pipeline steps to refer to.

    A pipeline step's parameter ``${prepare_data.outputs.train}`` receives the value the
    ``prepare_data`` template declared with ``nbtrail.output("train", "data/train.parquet")``.
    File outputs are fingerprinted and linked to the run that produced them.

    Parameters
    ----------
    name : str
        An identifier.
    value : str, number, bool, list or dict
        Usually a path; anything JSON can hold.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise UsageError(f"output name must be an identifier, got {name!r}")
    if isinstance(value, Path):
        value = str(value)
    try:
        json.dumps(value)
    except TypeError:
        raise UsageError(
            f"output {name!r} must be JSON data (a path, number, string, list or dict); "
            f"got {type(value).__name__}"
        ) from None
    target = os.environ.get("NBTRAIL_OUTPUTS")
    if not target:
        return
    path = Path(target)
    with recording.quiet():  # the hand-over file is nbtrail's, not the notebook's data
        current = json.loads(path.read_text()) if path.is_file() and path.stat().st_size else {}
        current[name] = value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current))
        os.replace(tmp, path)


def data_sources(*objs) -> set[str] | None:
    """The digests capture knows ``objs`` came from, through every step; None if it knows none.

    Each object's own version, the objects it was derived from, and the files they were read
    from (pandas and numpy objects followed by name, polars and Arrow data by identity). Used
    by privacy budgets, which spend from every budgeted dataset data came from.
    """
    session = _session()
    if session is None or not hasattr(session, "tracker"):
        return None
    from ._readers import origins

    found: set[str] = set()
    known = False
    for obj in objs:
        if obj is None:
            continue
        files = origins(obj)
        found.update(files)
        tracked = session.tracker.lookup(obj)
        known = known or bool(files) or tracked is not None
        stack, seen = ([tracked] if tracked is not None else []), set()
        while stack:
            item = stack.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if item.digest:
                found.add(item.digest)
            for source in item.sources:
                if isinstance(source, str):
                    found.add(source)
                else:
                    stack.append(source)
    return found if known else None


def data_read() -> set[str] | None:
    """Every artifact this session's runs used so far and the files its running cell read.

    None without a recording session. Flushes the writer first, so the set is complete.
    """
    session = _session()
    if session is None or not hasattr(session, "writer"):
        return None
    from ..fingerprints import fingerprint_file

    session.writer.flush()
    trail = session.trail
    digests = {u.artifact.id for u in trail.run_details(session.run.id, tree=True).used}
    unit = getattr(session, "unit", None)
    for path in list(getattr(unit, "read", None) or {}):
        with recording.quiet():
            try:
                digests.add(fingerprint_file(path, cache=trail.stat_cache).digest)
            except Exception:  # noqa: BLE001 - a file gone since: nothing to spend for
                continue
    return digests
