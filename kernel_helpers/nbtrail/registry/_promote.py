"""Moving aliases: promotion under the policy, and rollback in one command.

``promote`` evaluates the alias's policy against the trail as it is now and refuses
(:class:`PromotionRefused`, exit 1) with the list of what is missing; the alias move it records
keeps the decision and its evidence. ``rollback`` moves an alias back to the version it pointed
at before, which satisfied the policy when it was promoted, and records the reason.
"""

from __future__ import annotations

from ..errors import GateFailed, UsageError
from ._policy import PolicyReport, evaluate, known_checks, load_policies
from ._versions import RegisteredModel, check_alias, get_model, using_trail

__all__ = ["PromotionRefused", "promote", "rollback"]


class PromotionRefused(GateFailed):
    """The policy is not satisfied; ``report`` says what is missing. Nothing was moved."""

    def __init__(self, message: str, report: PolicyReport):
        super().__init__(message)
        self.report = report


def _empty_report(name: str, version: int, alias: str) -> PolicyReport:
    import pandas as pd

    columns = ["requirement", "state", "detail", "check_id", "run_id"]
    return PolicyReport(name, version, alias, pd.DataFrame(columns=columns))


def promote(name: str, version, *, to: str, comment: str | None = None, trail=None):
    """Point alias ``to`` at ``version`` of ``name`` if its policy is satisfied now.

    Returns
    -------
    PolicyReport
        The evaluation (empty where no policy names the alias).

    Raises
    ------
    PromotionRefused
        Listing every requirement not met: a missing, failed or stale check, approvals lacking.
    """
    from ..config import load_settings
    from ..store import NewRegistryFact, write_registry

    check_alias(to)
    settings = load_settings()
    with using_trail(trail) as found:
        policies = load_policies(settings, known_checks=known_checks(found))
        model = get_model(name, trail=found)
        target = model.version(version)
        policy = policies.get(to)
        report = (
            evaluate(found, model, target, policy, settings)
            if policy is not None
            else _empty_report(name, target.version, to)
        )
        if not report.satisfied:
            raise PromotionRefused(
                f"{target.ref} cannot become {to}: " + "; ".join(report.missing), report
            )
        requirements = report.requirements.to_dict(orient="records")

        def decide(rows):
            current = RegisteredModel.from_history(name, rows).aliases.get(to)
            if current == target.version:
                return []
            return [
                NewRegistryFact(
                    name,
                    "alias",
                    version=target.version,
                    alias=to,
                    artifact_id=target.artifact_id,
                    comment=comment,
                    data={
                        "policy": "satisfied" if policy is not None else "none",
                        "previous": current,
                        "requirements": requirements,
                    },
                )
            ]

        write_registry(found, name, decide)
    return report


def rollback(name: str, *, alias: str = "champion", reason: str, trail=None):
    """Move ``alias`` back to the version it pointed at before; record why.

    The earlier version satisfied the policy when it was promoted (its alias move says so); it
    is not judged again, so a rollback is never blocked by evidence that aged since.
    """
    from ..store import NewRegistryFact, write_registry

    check_alias(alias)
    if not reason or not str(reason).strip():
        raise UsageError("rollback needs a reason (--reason): it is recorded with the move")
    moved: list = []
    with using_trail(trail) as found:
        get_model(name, trail=found)  # refuses an unknown name

        def decide(rows):
            model = RegisteredModel.from_history(name, rows)
            current = model.aliases.get(alias)
            if current is None:
                raise UsageError(f"{name} has no alias {alias!r} to roll back")
            earlier = [
                r
                for r in rows
                if r["action"] == "alias" and r["alias"] == alias and r["version"] is not None
            ]
            for row in reversed(earlier):
                if row["version"] != current:
                    target = model.version(row["version"])
                    moved.append(target)
                    return [
                        NewRegistryFact(
                            name,
                            "alias",
                            version=target.version,
                            alias=alias,
                            artifact_id=target.artifact_id,
                            comment=reason,
                            data={"rollback_from": current, "previous": current},
                        )
                    ]
            raise UsageError(f"{alias} of {name} has pointed only at version {current}")

        write_registry(found, name, decide)
        return get_model(name, trail=found).version(moved[0].version)
