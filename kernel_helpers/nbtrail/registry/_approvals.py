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

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = [
    "ApprovalRefused",
    "approvals_of",
    "approve",
    "authors_of",
    "generate_key",
    "verify_approvals",
]

KEY_ENV = "NBTRAIL_APPROVER_KEY"


class ApprovalRefused(UsageError):
    """An approval the roles or the policy do not allow; nothing was recorded."""


def _crypto():
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    return Ed25519PrivateKey, Ed25519PublicKey, serialization, InvalidSignature


def _public_text(public_key) -> str:
    _, _, serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def generate_key(path) -> str:
    """Write a new Ed25519 private key to ``path`` (mode 0600); return its public key (base64).

    Put the public key in ``[tool.nbtrail.approvers]`` under your user name.
    """
    private_cls, _, serialization, _ = _crypto()
    path = Path(path)
    if path.exists():
        raise UsageError(f"{path} already exists: an approver key is never overwritten")
    key = private_cls.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return _public_text(key.public_key())


def _load_private(path):
    private_cls, _, serialization, _ = _crypto()
    if path is None:
        path = os.environ.get(KEY_ENV)
    if not path:
        raise UsageError(
            f"approving needs your private key: --key PATH or {KEY_ENV} "
            "(nbtrail registry keygen PATH makes one)"
        )
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the approver key ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise UsageError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, private_cls):
        raise UsageError(f"{path}: not an Ed25519 key")
    return key


def _payload(model: str, version: int, artifact_id: str, approver: str, comment, at: str) -> bytes:
    fields = {
        "model": model,
        "version": version,
        "artifact_id": artifact_id,
        "approver": approver,
        "comment": comment or "",
        "signed_at": at,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


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
    _, public_cls, _, invalid = _crypto()
    data = row["data"] or {}
    configured = approvers.get(row["actor"])
    if configured is None:
        return f"no public key for {row['actor']} in [tool.nbtrail.approvers]"
    try:
        public = public_cls.from_public_bytes(base64.b64decode(configured, validate=True))
        signature = base64.b64decode(data.get("signature", ""), validate=True)
    except ValueError:
        return f"the public key of {row['actor']} or the signature is not valid base64 Ed25519"
    payload = _payload(
        row["model"],
        row["version"],
        row["artifact_id"],
        row["actor"],
        row["comment"],
        data.get("signed_at", ""),
    )
    try:
        public.verify(signature, payload)
    except invalid:
        return f"the signature does not verify with the public key configured for {row['actor']}"
    return None


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


def verify_approvals(trail, settings=None) -> list[str]:
    """Every approval on the trail whose signature does not verify, said in one line each."""
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
    return problems


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
    private = _load_private(key)
    with using_trail(trail) as found:
        actor = found.actor
        target = get_model(name, trail=found).version(version)
        approving = {r for p in policies.values() for r in p.approver_roles}
        held = sorted(r for r, users in settings.roles.items() if actor in users)
        if not approving & set(held):
            raise ApprovalRefused(
                f"{actor} holds no approving role (roles that approve: "
                f"{', '.join(sorted(approving)) or 'none: no policy asks for approvals'}; "
                f"{actor} holds: {', '.join(held) or 'none'})"
            )
        forbids = [a for a, p in policies.items() if p.forbid_self_approval]
        if forbids and actor in authors_of(found, target):
            raise ApprovalRefused(
                f"{actor} made {target.ref} and the policy for {', '.join(forbids)} forbids "
                "approving one's own model"
            )
        configured = settings.approvers.get(actor)
        if configured != _public_text(private.public_key()):
            raise ApprovalRefused(
                f"this private key is not the one [tool.nbtrail.approvers] lists for {actor}"
            )
        at = dt.datetime.now(dt.UTC).isoformat()
        payload = _payload(name, target.version, target.artifact_id, actor, comment, at)
        signature = base64.b64encode(private.sign(payload)).decode("ascii")
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
