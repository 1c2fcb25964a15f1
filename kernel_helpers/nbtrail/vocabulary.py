"""The words of the trail, defined once: statuses of runs, steps and checks, kinds of edges.

Everything that names a status (the store's validation, the checks, the pipeline, the reports,
the server's response shapes and, generated from those, the frontend's TypeScript types) reads
it from here.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CHECK_STATUSES",
    "EDGE_KINDS",
    "ENDED_RUN_STATUSES",
    "FAILING_CHECK_STATUSES",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "CheckStatus",
    "EdgeKind",
    "RunStatus",
    "StepStatus",
    "failing",
    "worst",
]

RunStatus = Literal["running", "succeeded", "failed", "aborted"]
CheckStatus = Literal["pass", "warn", "fail", "error"]
# A pipeline step: a run's outcome, or reused from an earlier run, or never started.
StepStatus = Literal["succeeded", "failed", "reused", "not run", "running", "aborted"]
# used: a run read it; produced: a run made it; derived: made from another artifact;
# judged: a check's subject, in a role.
EdgeKind = Literal["used", "produced", "derived", "judged"]

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
ENDED_RUN_STATUSES: tuple[str, ...] = RUN_STATUSES[1:]
CHECK_STATUSES: tuple[str, ...] = get_args(CheckStatus)
# A check with one of these stops a gate; the others let the run go on.
FAILING_CHECK_STATUSES: tuple[str, ...] = ("fail", "error")
STEP_STATUSES: tuple[str, ...] = get_args(StepStatus)
EDGE_KINDS: tuple[str, ...] = get_args(EdgeKind)

_RANK = {status: rank for rank, status in enumerate(CHECK_STATUSES)}


def worst(statuses) -> str:
    """The most severe of several check statuses (``pass`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default="pass")


def failing(status: str) -> bool:
    """Whether a check status stops a gate: ``fail`` or ``error``."""
    return status in FAILING_CHECK_STATUSES
