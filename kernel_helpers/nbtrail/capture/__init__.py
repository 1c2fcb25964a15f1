"""Capture: fingerprints now; the IPython extension and library hooks build on them."""

from .fingerprints import (
    ALGORITHM,
    Fingerprint,
    StatCache,
    digest_bytes,
    fingerprint,
    fingerprint_file,
    schema_fingerprint,
)

__all__ = [
    "ALGORITHM",
    "Fingerprint",
    "StatCache",
    "digest_bytes",
    "fingerprint",
    "fingerprint_file",
    "schema_fingerprint",
]
