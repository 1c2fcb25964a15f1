"""One exception root for everything nbtrail raises on purpose.

Every exception here names the culprit (a path, a run id, a column, a parameter) and, where
there is one, the remedy. They fit the ecosystem's own hierarchy, so code that knows nothing of
nbtrail still catches them: usage errors are also ``ValueError``, not-found errors also
``LookupError``, a missing optional dependency also ``ImportError``. What an error means for a
process (an exit code) is the command line's business, not the exception's. They are plain
data so they pickle across process boundaries: pipelines run steps in other processes and must
re-raise them faithfully.
"""

from __future__ import annotations

__all__ = [
    "ArtifactNotFound",
    "BudgetExceeded",
    "FederationFailed",
    "FingerprintError",
    "GateFailed",
    "MissingExtra",
    "NbtrailError",
    "ReadOnlyTrail",
    "RunAlreadyEnded",
    "RunNotFound",
    "SchemaTooNew",
    "SigningKeyError",
    "SnapshotError",
    "StoreError",
    "TamperedFact",
    "TrailNotFound",
    "UsageError",
]


class NbtrailError(Exception):
    """Root of every error nbtrail raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __reduce__(self):
        return (type(self), (self.message,))

    def __str__(self) -> str:
        return self.message


class UsageError(NbtrailError, ValueError):
    """A parameter, argument or setting has a value nbtrail cannot use."""


class TrailNotFound(NbtrailError, LookupError):
    """No trail where one was expected, or the file there is not a trail."""


class RunNotFound(NbtrailError, LookupError):
    """No run matches the id (or id prefix) given."""


class ArtifactNotFound(NbtrailError, LookupError):
    """No artifact matches the fingerprint, name or path given."""


class SchemaTooNew(NbtrailError):
    """The trail was written by a newer nbtrail; it is refused rather than altered."""


class StoreError(NbtrailError):
    """The trail database or blob store cannot be read or written."""


class TamperedFact(StoreError):
    """A fact differs from what its events record: nbtrail refuses to write over it."""


class ReadOnlyTrail(UsageError):
    """A trail opened to read was asked to write (or its schema needs an upgrade first)."""


class SigningKeyError(UsageError):
    """A writer's signing key does not fit the trail: missing, wrong, or new to a signed trail."""


class RunAlreadyEnded(UsageError):
    """A run that has already ended was asked to end again."""


class FingerprintError(NbtrailError):
    """An object's content cannot be fingerprinted."""


class SnapshotError(NbtrailError):
    """An object cannot be stored so that it restores to the same content."""


class GateFailed(NbtrailError):
    """A gated check did not pass: the run (or the pipeline) stops here."""


class BudgetExceeded(NbtrailError):
    """A differentially private computation would spend more than a dataset's privacy budget."""


class FederationFailed(NbtrailError):
    """A federated run did not finish: a process failed, a round failed, or time ran out."""


class MissingExtra(NbtrailError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""
