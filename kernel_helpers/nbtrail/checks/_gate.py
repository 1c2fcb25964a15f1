"""Gates: a check that must pass for a template run, or a pipeline, to go on.

``nbtrail.gate(result)`` returns the result when it passed (or warned) and raises
:class:`GateFailed` when it failed or errored. Inside ``nbtrail run`` that stops the template at
that cell and fails the run with exit code 1 and the check's name in the message; a pipeline
stops there. Under plain papermill the cell raises the same error, so the gate holds there too.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import GateFailed, UsageError
from ..vocabulary import CHECK_STATUSES, failing

__all__ = ["GateFailed", "gate"]


def _field(result, name: str):
    if isinstance(result, Mapping):
        return result.get(name)
    return getattr(result, name, None)


def gate(result):
    """Stop here unless the check passed (or warned).

    Parameters
    ----------
    result : check result
        Anything with ``name`` and ``status`` (``pass``, ``warn``, ``fail``, ``error``), and
        optionally ``summary``: a check result, a recorded check, or a mapping.

    Returns
    -------
    The result, when its status is ``pass`` or ``warn``.

    Raises
    ------
    GateFailed
        When the status is ``fail`` or ``error``; the message names the check.
    """
    name, status = _field(result, "name"), _field(result, "status")
    if not isinstance(name, str) or status not in CHECK_STATUSES:
        raise UsageError(
            "gate() takes a check result with a name and a status of pass, warn, fail or error; "
            f"got {type(result).__name__}"
        )
    if failing(status):
        summary = _field(result, "summary") or ""
        raise GateFailed(
            f"gate {name!r} {'failed' if status == 'fail' else 'errored'}"
            + (f": {summary}" if summary else "")
        )
    return result
