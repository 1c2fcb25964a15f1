"""Privacy budgets per dataset: set by the data's owner, spent by every DP computation on it.

A computation spends from the budget of every budgeted dataset its data came from, followed
through lineage: capture's in-memory ancestry of the objects (a frame read from a file, a
filtered or split copy of it), then the trail's recorded lineage of those files (a copy written
to a new file in another run still derives from the budgeted original). Where capture does not
know where the data came from (an expression built inside the call), every budgeted dataset
the run has read spends: conservative, and the spend says so in its note.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .. import recording
from ..config import load_settings
from ..errors import ArtifactNotFound, TrailNotFound, UsageError

__all__ = ["budgets", "dataset_id", "set_budget", "spend", "spend_for"]

CONSERVATIVE = "data origin unknown: spent from every budgeted dataset the run has read"


@contextlib.contextmanager
def _trail_and_run(*, create: bool = False):
    """(trail, run id) of the active recorder; else the project's trail (None if there is none)."""
    recorder = recording.active()
    if recorder is not None and getattr(recorder, "trail", None) is not None:
        unit = getattr(recorder, "unit", None)
        run = getattr(recorder, "run", None)
        yield (
            recorder.trail,
            (unit.run_id if unit is not None else getattr(run or recorder, "id", None)),
        )
        return
    from ..store import open_or_create_trail, open_trail

    try:
        trail = open_or_create_trail() if create else open_trail()
    except TrailNotFound:
        yield None, None
        return
    with trail:
        yield trail, None


def dataset_id(trail, data, *, record: bool = True) -> tuple[str, str]:
    """(artifact id, name) of a file path or a recorded artifact; a new file is recorded."""
    if not isinstance(data, str | os.PathLike) or not str(data).strip():
        raise UsageError(f"DATA must be a file path or an artifact id, got {data!r}")
    path = Path(data).expanduser()
    if path.is_dir():
        raise UsageError(f"DATA {str(data)!r} is a folder; give a data file or an artifact id")
    if path.is_file():
        from ..fingerprints import fingerprint_file
        from ..store import NewArtifact

        fp = fingerprint_file(path, cache=trail.stat_cache)
        name = trail.display_path(str(path.resolve()))
        if record:
            batch = trail.batch()
            batch.add(NewArtifact.of(fp, name))
            batch.commit()
        return fp.digest, name
    try:
        record = trail.get_artifact(str(data))
    except ArtifactNotFound:
        raise UsageError(f"DATA {str(data)!r}: no such file, and no recorded artifact") from None
    return record.id, record.name


def set_budget(data, epsilon, delta=0.0, *, slack=0.0, replace=False, trail=None):
    """Set the privacy budget of a dataset (a file path or an artifact id).

    Parameters
    ----------
    data : str or Path
        The dataset: its file (recorded by its exact bytes) or a recorded artifact.
    epsilon, delta : float
        The total every differentially private computation on it may spend.
    slack : float
        Composition slack (diffprivlib's): with slack, many small spends compose to less than
        their sum (advanced composition), at the cost of this much delta.
    replace : bool
        Replace an existing budget; only its owner may.

    Returns
    -------
    nbtrail.store.BudgetStatus
    """
    from ..store import NewBudget
    from ..store import set_budget as _set

    if trail is not None:
        artifact, name = dataset_id(trail, data)
        return _set(trail, NewBudget(artifact, name, epsilon, delta, slack), replace=replace)
    with _trail_and_run(create=True) as (found, _run):
        return set_budget(data, epsilon, delta, slack=slack, replace=replace, trail=found)


def budgets(data=None, *, trail=None) -> list:
    """Every budget on the trail (or the one of ``data``), with total, spent and the spends."""
    from ..store import budget_status

    if trail is None:
        with _trail_and_run() as (found, _run):
            return [] if found is None else budgets(data, trail=found)
    if data is None:
        return budget_status(trail)
    return budget_status(trail, [dataset_id(trail, data, record=False)[0]])


def _upstream(trail, digests: set[str]) -> set[str]:
    out = set(digests)
    for digest in digests:
        try:
            graph = trail.lineage(digest, direction="upstream")
        except (ArtifactNotFound, UsageError):
            continue
        out.update(n["id"] for n in graph.nodes.values() if n["type"] == "artifact")
    return out


def spend_for(objs, epsilon, delta=0.0, *, mechanism: str, data=None):
    """Spend (epsilon, delta) from the budgets of the datasets ``objs`` came from.

    Returns (budgets spent from, note): raises :class:`~nbtrail.errors.BudgetExceeded` before
    anything is computed when a budget would be exceeded, and UsageError when the data has no
    budget and ``[tool.nbtrail.privacy] require_budget`` is set.
    """
    from ..capture import data_read, data_sources, flush
    from ..store import budget_status
    from ..store import spend as _spend

    with _trail_and_run() as (trail, run_id):
        budgeted = {b.artifact_id for b in budget_status(trail)} if trail is not None else set()
        note = None
        if data is not None:
            items = data if isinstance(data, list | tuple) else [data]
            sources = {dataset_id(trail, d, record=False)[0] for d in items} if trail else set()
        else:
            sources = data_sources(*objs)
            if sources is None:
                sources, note = data_read(), CONSERVATIVE
            flush()  # earlier cells' writes and derivations, committed: lineage is complete
        targets = sorted(_upstream(trail, sources or set()) & budgeted) if budgeted else []
        if not targets:
            if load_settings().privacy.require_budget:
                raise UsageError(
                    "this data has no privacy budget, and [tool.nbtrail.privacy] "
                    "require_budget is set: ask its owner for one (nbtrail budget set DATA "
                    "--epsilon E)"
                )
            return [], "unbudgeted: the data has no privacy budget"
        spent = _spend(
            trail, targets, epsilon, delta, mechanism=mechanism, run_id=run_id, note=note
        )
        return spent, note


def spend(epsilon, delta=0.0, *, data, mechanism: str = "custom"):
    """Spend from the budget of ``data`` (paths or artifact ids) for a computation of your own."""
    return spend_for([], epsilon, delta, mechanism=mechanism, data=data)[0]
