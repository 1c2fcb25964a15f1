"""Signed approvals: who vouched for a model version, verifiable by anyone holding the config.

An approver signs what they approve (the registered model, the version, its artifact's
fingerprint, their name, their comment and the time) with their own Ed25519 private key; the
public keys live in ``[tool.nbtrail.approvers]``, in version control beside the policy. The
trail's own HMAC signing key proves the history was not edited; an approval's signature proves
who approved, which the trail's key cannot (anyone who can write the trail holds it).

Roles come from ``[tool.nbtrail.roles]`` (role -> users) and the identity the trail records
(``NBTRAIL_USER``, JupyterHub's user, the OS login). Approving needs a role some policy names
in ``approver_roles``; approving a version one registered or trained oneself is refused where a
policy forbids self-approval (the default).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .. import _signing
from ..errors import UsageError

__all__ = [
    "ApprovalRefused",
    "approvals_of",
    "approve",
    "approver_roles",
    "authors_of",
    "generate_key",
    "impact_problem",
    "verify_approvals",
]


class ApprovalRefused(UsageError):
    """An approval the roles or the policy do not allow; nothing was recorded."""


def generate_key(path) -> str:
    """Write a new Ed25519 private key to ``path`` (mode 0600); return its public key (base64).

    Put the public key in ``[tool.nbtrail.approvers]`` under your user name.
    """
    return _signing.generate_key(path)


def _payload(model: str, version: int, artifact_id: str, approver: str, comment) -> dict:
    return {
        "model": model,
        "version": version,
        "artifact_id": artifact_id,
        "approver": approver,
        "comment": comment or "",
    }


def authors_of(trail, version) -> set[str]:
    """Who made a version: who registered it and who ran the runs that produced its model."""
    authors = {version.registered_by}
    lineage = trail.lineage(version.artifact_id, direction="upstream", depth=4)
    models = set(lineage.artifacts.query("kind == 'model'")["id"]) | {version.artifact_id}
    for source, target, kind in lineage.edges:
        if kind == "produced" and target.split(":", 1)[1] in models:
            run = lineage.nodes.get(source, {})
            if run.get("actor"):
                authors.add(run["actor"])
    return authors


@dataclass(frozen=True)
class Approval:
    """A recorded approval, and whether its signature verifies with the configured key."""

    id: str
    version: int
    approver: str
    comment: str | None
    at: dt.datetime
    roles: tuple[str, ...]
    valid: bool
    problem: str | None = None


def _verify_row(row: dict, approvers: dict) -> str | None:
    """None when the approval's signature verifies with its approver's configured key."""
    data = row["data"] or {}
    payload = _payload(
        row["model"], row["version"], row["artifact_id"], row["actor"], row["comment"]
    )
    problem = _signing.verify(
        approvers.get(row["actor"]), data.get("signature"), payload, data.get("signed_at", "")
    )
    return problem and f"{problem} (of {row['actor']})"


def approvals_of(rows: list[dict], version: int, approvers: dict) -> list[Approval]:
    """The approvals recorded for one version, each checked against the configured keys."""
    out = []
    for row in rows:
        if row["action"] != "approve" or row["version"] != version:
            continue
        problem = _verify_row(row, approvers)
        out.append(
            Approval(
                row["id"],
                row["version"],
                row["actor"],
                row["comment"],
                row["created_at"],
                tuple((row["data"] or {}).get("roles", ())),
                problem is None,
                problem,
            )
        )
    return out


def impact_problem(check, approvers: dict) -> str | None:
    """None when a recorded impact assessment's signature verifies; else why not."""
    from ..checks import impact_payload

    params = check.params or {}
    signer = params.get("signer")
    if params.get("model_fingerprint") != check.artifact_id:
        return "it was signed for another model than the one it judged"
    payload = impact_payload(params.get("model_fingerprint"), params.get("answers") or {}, signer)
    problem = _signing.verify(
        approvers.get(signer), params.get("signature"), payload, params.get("signed_at", "")
    )
    return problem and f"{problem} (of {signer})"


def verify_approvals(trail, settings=None) -> list[str]:
    """Every approval or impact assessment whose signature does not verify, one line each."""
    from ..config import load_settings
    from ..store import registry_history

    settings = settings or load_settings()
    problems = []
    for row in registry_history(trail):
        if row["action"] == "approve":
            problem = _verify_row(row, settings.approvers)
            if problem:
                problems.append(
                    f"approval {row['id']} of {row['model']}@{row['version']} by "
                    f"{row['actor']}: {problem}"
                )
    for check in trail.checks(name="impact_assessment"):
        problem = impact_problem(check, settings.approvers)
        if problem:
            problems.append(f"impact assessment {check.id} (run {check.run_id}): {problem}")
    return problems


def approver_roles(settings, policies: dict, user: str) -> tuple[list[str], str | None]:
    """The roles ``user`` holds, and why they may not approve (None when they may)."""
    approving = {r for p in policies.values() for r in p.approver_roles}
    held = sorted(r for r, users in settings.roles.items() if user in users)
    if not approving & set(held):
        return held, (
            f"{user} holds no approving role (roles that approve: "
            f"{', '.join(sorted(approving)) or 'none: no policy asks for approvals'}; "
            f"{user} holds: {', '.join(held) or 'none'})"
        )
    if user not in settings.approvers:
        return held, f"{user} has no public key in [tool.nbtrail.approvers]"
    return held, None


def approve(name: str, version, *, comment: str | None = None, key=None, trail=None):
    """Approve a version of a registered model, signed with your Ed25519 key.

    Refused (:class:`ApprovalRefused`, nothing recorded) when you hold no role a policy's
    ``approver_roles`` names, when you made this version and a policy forbids self-approval,
    or when your key is not the one ``[tool.nbtrail.approvers]`` lists for you.
    """
    from ..config import load_settings
    from ..store import NewRegistryFact, write_registry
    from ._policy import load_policies
    from ._versions import get_model, using_trail

    settings = load_settings()
    policies = load_policies(settings)
    private = _signing.load_private_key(key)
    with using_trail(trail) as found:
        actor = found.actor
        target = get_model(name, trail=found).version(version)
        held, why = approver_roles(settings, policies, actor)
        if why:
            raise ApprovalRefused(why)
        forbids = [a for a, p in policies.items() if p.forbid_self_approval]
        if forbids and actor in authors_of(found, target):
            raise ApprovalRefused(
                f"{actor} made {target.ref} and the policy for {', '.join(forbids)} forbids "
                "approving one's own model"
            )
        configured = settings.approvers.get(actor)
        if configured != _signing.public_text(private):
            raise ApprovalRefused(
                f"this private key is not the one [tool.nbtrail.approvers] lists for {actor}"
            )
        payload = _payload(name, target.version, target.artifact_id, actor, comment)
        signature, at = _signing.sign(private, payload)
        fact = NewRegistryFact(
            name,
            "approve",
            version=target.version,
            artifact_id=target.artifact_id,
            comment=comment,
            data={"signature": signature, "signed_at": at, "roles": held, "public_key": configured},
        )
        (row,) = write_registry(found, name, lambda rows: [fact])
        return approvals_of([row], target.version, settings.approvers)[0]
