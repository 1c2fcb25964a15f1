"""Checks: one result type, thin functions around it.

Every check returns a :class:`CheckResult` (status, metrics, thresholds, a bounded findings
table, a summary, the fingerprint of what was judged). Where a run is recording, the result is
recorded on the trail; ``nbtrail.gate(result)`` or ``result.raise_for_status()`` stops a
template run unless it passed.

>>> from nbtrail import checks
>>> schema = checks.infer_schema(train)                        # doctest: +SKIP
>>> checks.validate(test, schema).raise_for_status()           # doctest: +SKIP
>>> checks.data_quality(train, target="income")                # doctest: +SKIP
>>> checks.leakage(train, test, target="income")               # doctest: +SKIP
>>> checks.label_issues(X, y)                                  # doctest: +SKIP
"""

from ._labels import confident_learning, label_issues
from ._leakage import leakage
from ._quality import data_quality
from ._result import STATUSES, CheckResult, worst
from ._schema import Schema, infer_schema, validate

__all__ = [
    "STATUSES",
    "CheckResult",
    "Schema",
    "confident_learning",
    "data_quality",
    "infer_schema",
    "label_issues",
    "leakage",
    "report",
    "validate",
    "worst",
]


def report(results, path=None, *, title: str = "Checks") -> str:
    """Render many check results as one self-contained HTML page; write it to ``path``."""
    from pathlib import Path

    from ..report.checks import render_checks_report

    page = render_checks_report(list(results), title=title)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(page, encoding="utf-8")
    return page
