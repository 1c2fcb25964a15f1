"""Promotion policy as code: what a model version needs before an alias may point at it.

``[tool.nbtrail.policy.<alias>]`` names the checks that must have passed (or warned) on the
version, how fresh that evidence must be, and the signed approvals required::

    [tool.nbtrail.policy.champion]
    require_checks = ["schema", "fairness", "onnx_parity"]
    max_age_days = 30
    approvals = 1
    approver_roles = ["risk"]
    forbid_self_approval = true

A check counts for a version when it judged the version's artifact or an artifact upstream of
it in the lineage (the schema check of its training data, the fairness check of the model
object a file was saved from); the newest such check of each required name decides. Evidence
that is missing, failed or older than ``max_age_days`` is not met; nothing is ever promoted on
it.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from dataclasses import dataclass

import pandas as pd

from ..errors import UsageError

__all__ = ["AliasPolicy", "PolicyReport", "evaluate", "known_checks", "load_policies"]

_KEYS = {"require_checks", "max_age_days", "approvals", "approver_roles", "forbid_self_approval"}
# Checks recorded by nbtrail without a registered check function (producers and monitoring).
PRODUCED_CHECKS = {
    "alert_delivery",
    "estimated_performance",
    "federated_training",
    "impact_assessment",
    "performance_decay",
    "prediction_drift",
    "privacy_bounds",
    "privacy_budget",
    "retraining_trigger",
    "shadow_comparison",
}


@dataclass(frozen=True)
class AliasPolicy:
    """What an alias requires of the version it points at."""

    alias: str
    require_checks: tuple[str, ...] = ()
    max_age_days: float | None = None
    approvals: int = 0
    approver_roles: tuple[str, ...] = ()
    forbid_self_approval: bool = True


def known_checks(trail=None) -> set[str]:
    """Check names a policy may require: registered kinds, nbtrail's producers, the trail's."""
    from ..checks import available_checks

    known = set(available_checks()) | PRODUCED_CHECKS
    return known | (trail.check_names() if trail is not None else set())


def load_policies(settings=None, *, known_checks: set[str] | None = None) -> dict:
    """The policies of ``[tool.nbtrail.policy]``, validated: alias -> :class:`AliasPolicy`.

    Raises
    ------
    UsageError
        Naming an unknown key, a wrong type, an unknown check or role.
    """
    from ..config import load_settings
    from ._versions import check_alias

    settings = settings or load_settings()
    out = {}
    for alias, rules in settings.policy.items():
        where = f"[tool.nbtrail.policy.{alias}]"
        check_alias(alias)
        unknown = sorted(set(rules) - _KEYS)
        if unknown:
            raise UsageError(
                f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_KEYS))}"
            )
        required = rules.get("require_checks", [])
        if not isinstance(required, list) or not all(isinstance(c, str) for c in required):
            raise UsageError(f"{where}: require_checks must be a list of check names")
        if known_checks is not None:
            for name in required:
                if name not in known_checks:
                    raise UsageError(
                        f"{where}: require_checks names an unknown check {name!r} "
                        f"(known: {', '.join(sorted(known_checks))})"
                    )
        age = rules.get("max_age_days")
        if age is not None and (
            isinstance(age, bool)
            or not isinstance(age, numbers.Real)
            or not math.isfinite(age)
            or age <= 0
        ):
            raise UsageError(f"{where}: max_age_days must be a number of days above 0, got {age!r}")
        approvals = rules.get("approvals", 0)
        if isinstance(approvals, bool) or not isinstance(approvals, int) or approvals < 0:
            raise UsageError(f"{where}: approvals must be a whole number >= 0, got {approvals!r}")
        roles = rules.get("approver_roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise UsageError(f"{where}: approver_roles must be a list of role names")
        for role in roles:
            if role not in settings.roles:
                raise UsageError(
                    f"{where}: approver_roles names {role!r}, which [tool.nbtrail.roles] does not "
                    "define"
                )
        if approvals and not roles:
            raise UsageError(f"{where}: approvals = {approvals} needs approver_roles")
        forbid = rules.get("forbid_self_approval", True)
        if not isinstance(forbid, bool):
            raise UsageError(f"{where}: forbid_self_approval must be true or false")
        out[alias] = AliasPolicy(
            alias,
            tuple(required),
            None if age is None else float(age),
            approvals,
            tuple(roles),
            forbid,
        )
    return out


@dataclass
class PolicyReport:
    """A policy evaluated for one version: each requirement, met or not, with its evidence.

    Attributes
    ----------
    requirements : pandas.DataFrame
        One row per requirement: ``requirement`` (a check name, or ``approvals``), ``state``
        (met, missing, failed, stale), ``detail`` and the evidence's ``check_id`` and ``run_id``.
    """

    model: str
    version: int
    alias: str
    requirements: pd.DataFrame

    @property
    def satisfied(self) -> bool:
        return bool((self.requirements["state"] == "met").all())

    @property
    def missing(self) -> list[str]:
        """What stands in the way, one line each."""
        unmet = self.requirements[self.requirements["state"] != "met"]
        return [f"{r.requirement}: {r.state} ({r.detail})" for r in unmet.itertuples()]

    def __repr__(self) -> str:
        verdict = "satisfied" if self.satisfied else f"not satisfied: {'; '.join(self.missing)}"
        return f"<PolicyReport {self.model}@{self.version} for {self.alias}: {verdict}>"

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "satisfied": self.satisfied,
            "missing": self.missing,
            "requirements": self.requirements.to_dict(orient="records"),
        }


def evidence_artifacts(trail, artifact_id: str) -> list[str]:
    """The version's artifact and everything upstream of it: where its evidence may sit."""
    upstream = trail.lineage(artifact_id, direction="upstream").artifacts
    return list(dict.fromkeys([artifact_id, *upstream["id"]]))


def evaluate(
    trail, model, version, policy: AliasPolicy, settings=None, *, now=None
) -> PolicyReport:
    """Evaluate ``policy`` for ``version`` of registered ``model`` against the trail now."""
    from ..config import load_settings
    from ._approvals import approvals_of, authors_of, impact_problem

    settings = settings or load_settings()
    now = now or dt.datetime.now(dt.UTC)
    rows = []
    if policy.require_checks:
        judged = trail.checks(judged=evidence_artifacts(trail, version.artifact_id))
        for name in policy.require_checks:
            found = [c for c in judged if name in (c.name, c.kind)]
            if not found:
                rows.append((name, "missing", "no such check judged this version or its data"))
                continue
            newest = max(found, key=lambda c: (c.created_at, c.id))
            age = (now - newest.created_at).total_seconds() / 86400
            when = f"{age:.1f} days ago"
            unsigned = (
                impact_problem(newest, settings.approvers)
                if (newest.kind or newest.name) == "impact_assessment"
                else None
            )
            if unsigned:
                state, detail = "failed", f"signature: {unsigned}"
            elif newest.status not in ("pass", "warn"):
                state, detail = "failed", f"newest is {newest.status}, {when}: {newest.summary}"
            elif policy.max_age_days is not None and age > policy.max_age_days:
                state, detail = "stale", f"{newest.status} {when}, limit {policy.max_age_days:g}"
            else:
                state, detail = "met", f"{newest.status} {when}"
            rows.append((name, state, detail, newest.id, newest.run_id))
    if policy.approvals:
        valid = approvals_of(model.rows, version.version, settings.approvers)
        authors = authors_of(trail, version) if policy.forbid_self_approval else set()
        counted = []
        for approval in valid:
            holds = {r for r, users in settings.roles.items() if approval.approver in users}
            if approval.valid and holds & set(policy.approver_roles):
                if approval.approver not in authors:
                    counted.append(approval.approver)
        counted = sorted(set(counted))
        state = "met" if len(counted) >= policy.approvals else "missing"
        detail = (
            f"{len(counted)} of {policy.approvals} signed approval(s) by "
            f"{' or '.join(policy.approver_roles)}" + (f": {', '.join(counted)}" if counted else "")
        )
        rows.append(("approvals", state, detail))
    table = pd.DataFrame(
        [tuple(r) + (None,) * (5 - len(r)) for r in rows],
        columns=["requirement", "state", "detail", "check_id", "run_id"],
    )
    return PolicyReport(model.name, version.version, policy.alias, table)
