"""Ed25519 signatures by people (approvals, impact assessments), verified with public keys.

The trail's HMAC key proves the history was not edited, but anyone who can write the trail
holds it; a person's signature proves who vouched for something. A signature covers a
canonical JSON payload (sorted keys, no spaces). Private keys are PEM files only their owner
reads; public keys (raw 32 bytes, base64) sit in ``[tool.nbtrail.approvers]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path

from .errors import UsageError

__all__ = [
    "KEY_ENV",
    "canonical",
    "generate_key",
    "load_private_key",
    "public_text",
    "sign",
    "verify",
]

KEY_ENV = "NBTRAIL_APPROVER_KEY"


def _crypto():
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519, serialization, InvalidSignature


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def public_text(private_key) -> str:
    """The public key of a private key, as base64 of its raw 32 bytes."""
    _, serialization, _ = _crypto()
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


def generate_key(path) -> str:
    """Write a new private key to ``path`` (mode 0600, never overwritten); return its public key."""
    ed25519, serialization, _ = _crypto()
    path = Path(path)
    if path.exists():
        raise UsageError(f"{path} already exists: a signing key is never overwritten")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return public_text(key)


def load_private_key(path=None):
    """The private key at ``path`` or ``$NBTRAIL_APPROVER_KEY``; UsageError saying what is wrong."""
    ed25519, serialization, _ = _crypto()
    path = path or os.environ.get(KEY_ENV)
    if not path:
        raise UsageError(
            f"signing needs your private key: --key PATH or {KEY_ENV} "
            "(nbtrail registry keygen PATH makes one)"
        )
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the signing key ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise UsageError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 key")
    return key


def sign(private_key, payload: dict) -> tuple[str, str]:
    """Sign ``payload`` plus the time now; return (signature in base64, the time signed)."""
    at = dt.datetime.now(dt.UTC).isoformat()
    signature = private_key.sign(canonical({**payload, "signed_at": at}))
    return base64.b64encode(signature).decode("ascii"), at


def verify(public: str | None, signature: str | None, payload: dict, signed_at: str) -> str | None:
    """None when ``signature`` verifies for ``payload`` at ``signed_at``; else why not."""
    ed25519, _, invalid = _crypto()
    if not public:
        return "no public key configured in [tool.nbtrail.approvers]"
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(public, validate=True))
        raw = base64.b64decode(signature or "", validate=True)
    except ValueError:
        return "the public key or the signature is not valid base64 Ed25519"
    try:
        key.verify(raw, canonical({**payload, "signed_at": signed_at}))
    except invalid:
        return "the signature does not verify with the configured public key"
    return None
