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

__all__ = ["flush", "log_metric", "output", "snapshot"]


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
