"""Privacy budgets on the trail: one per dataset, spent atomically across processes and people.

diffprivlib's ``BudgetAccountant`` lives in one process and forgets everything when the kernel
restarts. Here a budget is a fact on the trail (a dataset's artifact id, epsilon, delta and
the composition slack, set by its owner), and every spend is a fact too, reserved before the
computation runs: in one write transaction, under the trail's writer lock (SQLite's
``BEGIN IMMEDIATE``, PostgreSQL's advisory lock), the spends already made are read, composed
with the new one, and the new one is inserted only if the total stays within the budget. Two
processes racing for the last epsilon are serialised by the lock: exactly the budget is spent.

Composition keeps every spend, not a running total: with no slack the epsilons and deltas add
up; with slack, diffprivlib's advanced composition (``BudgetAccountant.total``) is applied to
the whole list (100 spends of 0.1 compose to 5.76, not 10). Without diffprivlib the plain sums
are used, which are never smaller: a conservative bound.

Both are insert-only facts with events on the audit chain, so ``nbtrail verify`` catches an
edited or deleted spend; a crash after the reservation over-counts, never under-counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import numbers
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..errors import BudgetExceeded, UsageError
from ..ids import new_id
from . import _db, _schema

__all__ = [
    "BudgetStatus",
    "NewBudget",
    "NewSpend",
    "budget_status",
    "compose",
    "set_budget",
    "spend",
]

_TOLERANCE = 1e-12  # float noise in sums of epsilons


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_epsilon(value, what: str = "epsilon") -> float:
    """A finite positive number, or UsageError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{what} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{what} must be a finite number above 0, got {value!r}")
    return value


def check_delta(value, what: str = "delta") -> float:
    """A number in [0, 1), or UsageError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{what} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0 <= value < 1:
        raise UsageError(f"{what} must be in [0, 1), got {value!r}")
    return value


@dataclass(frozen=True)
class NewBudget:
    """A dataset's privacy budget, set by its owner (the trail's actor)."""

    artifact_id: str
    name: str
    epsilon: float
    delta: float = 0.0
    slack: float = 0.0
    replaces: str | None = None
    actor: str = ""
    id: str = field(default_factory=new_id)
    TABLE = "budgets"
    action = "budget.set"

    def __post_init__(self):
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))
        object.__setattr__(self, "delta", check_delta(self.delta))
        object.__setattr__(self, "slack", check_delta(self.slack, "slack"))
        if self.slack > self.delta:
            raise UsageError(f"slack ({self.slack:g}) cannot exceed delta ({self.delta:g})")

    def row(self) -> dict:
        return {
            "id": self.id,
            "artifact_id": self.artifact_id,
            "name": str(self.name)[:255],
            "epsilon": self.epsilon,
            "delta": self.delta,
            "slack": self.slack,
            "actor": self.actor,
            "created_at": _now(),
            "replaces": self.replaces,
        }


@dataclass(frozen=True)
class NewSpend:
    """(epsilon, delta) a computation reserves against one budget before it runs."""

    budget_id: str
    artifact_id: str
    epsilon: float
    delta: float
    mechanism: str
    run_id: str | None = None
    note: str | None = None
    actor: str = ""
    id: str = field(default_factory=new_id)
    TABLE = "spends"
    action = "budget.spend"

    def row(self) -> dict:
        return {
            "id": self.id,
            "budget_id": self.budget_id,
            "artifact_id": self.artifact_id,
            "run_id": self.run_id,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "mechanism": str(self.mechanism)[:255],
            "actor": self.actor,
            "created_at": _now(),
            "note": self.note,
        }


def compose(spent: list[tuple[float, float]], slack: float) -> tuple[float, float]:
    """The total (epsilon, delta) of a list of spends, with the budget's slack."""
    if not spent:
        return 0.0, 0.0
    if slack > 0:
        try:
            from diffprivlib.accountant import BudgetAccountant
        except ImportError:  # plain sums are never smaller than the composed total
            pass
        else:
            epsilon, delta = BudgetAccountant(slack=slack, spent_budget=list(spent)).total()
            return float(epsilon), float(delta)
    return math.fsum(e for e, _ in spent), min(1.0, math.fsum(d for _, d in spent))


@dataclass
class BudgetStatus:
    """A budget with what has been spent from it.

    Attributes
    ----------
    id, artifact_id, name, actor : str
        The budget, its dataset, how it was named when set, and its owner.
    epsilon, delta, slack : float
        The budget.
    spent_epsilon, spent_delta : float
        The composed total of every spend.
    spends : list of dict
        Each spend: epsilon, delta, mechanism, actor, run_id, created_at, note.
    """

    id: str
    artifact_id: str
    name: str
    actor: str
    epsilon: float
    delta: float
    slack: float
    created_at: dt.datetime
    spent_epsilon: float = 0.0
    spent_delta: float = 0.0
    spends: list = field(default_factory=list)

    @property
    def remaining_epsilon(self) -> float:
        return max(0.0, self.epsilon - self.spent_epsilon)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "artifact_id": self.artifact_id,
            "name": self.name,
            "owner": self.actor,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "slack": self.slack,
            "spent_epsilon": self.spent_epsilon,
            "spent_delta": self.spent_delta,
            "remaining_epsilon": self.remaining_epsilon,
            "created_at": self.created_at.isoformat(),
            "spends": [{**s, "created_at": s["created_at"].isoformat()} for s in self.spends],
        }


def _current(conn, artifact_ids=None) -> dict[str, BudgetStatus]:
    """Artifact id -> its newest budget and its spends (a replaced budget keeps its spends)."""
    b, s = _schema.budgets, _schema.spends
    query = sa.select(b).order_by(b.c.created_at, b.c.id)
    if artifact_ids is not None:
        query = query.where(b.c.artifact_id.in_(list(artifact_ids)))
    rows = conn.execute(query).mappings().all()
    newest: dict[str, dict] = {}
    chain: dict[str, list[str]] = {}
    for row in rows:
        chain.setdefault(row["artifact_id"], []).append(row["id"])
        newest[row["artifact_id"]] = dict(row)
    out = {}
    for artifact, row in newest.items():
        status = BudgetStatus(
            row["id"],
            artifact,
            row["name"],
            row["actor"],
            row["epsilon"],
            row["delta"],
            row["slack"],
            row["created_at"],
        )
        spent = conn.execute(
            sa.select(s).where(s.c.budget_id.in_(chain[artifact])).order_by(s.c.created_at, s.c.id)
        ).mappings()
        for sp in spent:
            status.spends.append(
                {k: sp[k] for k in ("epsilon", "delta", "mechanism", "actor", "run_id", "note")}
                | {"created_at": sp["created_at"]}
            )
        pairs = [(x["epsilon"], x["delta"]) for x in status.spends]
        status.spent_epsilon, status.spent_delta = compose(pairs, status.slack)
        out[artifact] = status
    return out


def budget_status(trail, artifact_ids=None) -> list[BudgetStatus]:
    """Every current budget (or those of ``artifact_ids``), with its spends."""
    with _db.read(trail.engine) as conn:
        return list(_current(conn, artifact_ids).values())


def set_budget(trail, fact: NewBudget, *, replace: bool = False) -> BudgetStatus:
    """Set a dataset's budget; a second one is refused unless its owner replaces it."""
    owner = trail.actor

    def guard(conn) -> list:
        existing = _current(conn, [fact.artifact_id]).get(fact.artifact_id)
        if existing is not None and not replace:
            raise UsageError(
                f"{fact.name} already has a budget (epsilon {existing.epsilon:g}, set by "
                f"{existing.actor}); its owner may replace it with --replace"
            )
        if existing is not None and existing.actor != owner:
            raise UsageError(
                f"only the budget's owner ({existing.actor}) may replace it; you are {owner}"
            )
        replaces = existing.id if existing is not None else None
        return [dataclasses.replace(fact, actor=owner, replaces=replaces)]

    trail.batch().commit(guard=guard)
    return budget_status(trail, [fact.artifact_id])[0]


def spend(
    trail,
    artifact_ids,
    epsilon,
    delta=0.0,
    *,
    mechanism: str,
    run_id: str | None = None,
    note: str | None = None,
) -> list[BudgetStatus]:
    """Reserve (epsilon, delta) against the budget of each of ``artifact_ids`` that has one.

    All or nothing: if any budget would be exceeded, nothing is spent and
    :class:`BudgetExceeded` says what was asked, what remains and who spent the rest. Returns
    the budgets spent from, after the spend.
    """
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    wanted = list(dict.fromkeys(artifact_ids))

    def guard(conn) -> list:
        current = _current(conn, wanted)
        for artifact in wanted:
            status = current.get(artifact)
            if status is None:
                continue
            pairs = [(x["epsilon"], x["delta"]) for x in status.spends] + [(epsilon, delta)]
            total_eps, total_delta = compose(pairs, status.slack)
            if total_eps > status.epsilon + _TOLERANCE or total_delta > status.delta + _TOLERANCE:
                raise BudgetExceeded(_refusal(status, epsilon, delta))
        return [
            NewSpend(current[a].id, a, epsilon, delta, mechanism, run_id, note, trail.actor)
            for a in wanted
            if a in current
        ]

    stored = trail.batch().commit(guard=guard) if wanted else {}
    spent = [row["artifact_id"] for (table, _), row in stored.items() if table == "spends"]
    return budget_status(trail, spent) if spent else []


def _refusal(status: BudgetStatus, epsilon: float, delta: float) -> str:
    by: dict[str, float] = {}
    for s in status.spends:
        by[s["actor"]] = by.get(s["actor"], 0.0) + s["epsilon"]
    who = ", ".join(f"{actor} {eps:g}" for actor, eps in sorted(by.items(), key=lambda x: -x[1]))
    asked = f"epsilon {epsilon:g}" + (f", delta {delta:g}" if delta else "")
    return (
        f"privacy budget of {status.name} exceeded: asked {asked}, "
        f"{status.remaining_epsilon:g} of {status.epsilon:g} remains"
        + (f" (spent by {who})" if who else "")
        + "; nothing was spent"
    )
