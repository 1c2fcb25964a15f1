"""One exception root for everything nbtrail raises on purpose.

Every exception here names the culprit (a path, a run id, a column, a parameter) and, where
there is one, the remedy. They are plain data so they pickle across process boundaries:
pipelines run steps in other processes and must re-raise them faithfully.
"""

from __future__ import annotations

__all__ = [
    "ArtifactNotFound",
    "FingerprintError",
    "NbtrailError",
    "RunNotFound",
    "SchemaTooNew",
    "SnapshotError",
    "StoreError",
    "TrailNotFound",
    "UsageError",
]


class NbtrailError(Exception):
    """Root of every error nbtrail raises on purpose.

    The CLI turns any of these into one line on stderr and exit code 2 (usage or input
    error); anything else is a bug and keeps its traceback.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __reduce__(self):
        return (type(self), (self.message,))

    def __str__(self) -> str:
        return self.message


class UsageError(NbtrailError):
    """A parameter, argument or setting has a value nbtrail cannot use."""


class TrailNotFound(NbtrailError):
    """No trail where one was expected, or the file there is not a trail."""


class SchemaTooNew(NbtrailError):
    """The trail was written by a newer nbtrail; it is refused rather than altered."""


class StoreError(NbtrailError):
    """The trail database or blob store cannot be read or written."""


class RunNotFound(NbtrailError):
    """No run matches the id (or id prefix) given."""


class ArtifactNotFound(NbtrailError):
    """No artifact matches the fingerprint, name or path given."""


class FingerprintError(NbtrailError):
    """An object's content cannot be fingerprinted."""


class SnapshotError(NbtrailError):
    """An object cannot be stored so that it restores to the same content."""
