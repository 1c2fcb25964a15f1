"""The one result type every check returns.

Validation, data quality, leakage and label verification (and, later, fairness, drift,
privacy and export checks) all return a :class:`CheckResult`: a name, a status, the metrics
measured and the thresholds they were held to, a bounded details table, one human sentence,
and the fingerprint of what was judged. So one renderer, one widget, one JUnit writer and one
gate serve them all.

Where a run is recording (a notebook with ``%load_ext nbtrail``, a template under
``nbtrail run``), a check function records its result on the trail as it returns it, against
the artifact it judged. In a notebook the result shows itself as an ipywidgets view when a
live widget frontend is attached (JupyterLab), and as static HTML, with no script, everywhere
else (papermill output, nbconvert, GitHub).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from ..errors import UsageError

__all__ = ["STATUSES", "CheckResult", "worst"]

STATUSES = ("pass", "warn", "fail", "error")
_RANK = {s: i for i, s in enumerate(STATUSES)}
MAX_DETAIL_ROWS = 1000  # details are findings, not data: bounded whatever the input size


def worst(statuses) -> str:
    """The most severe of several statuses (``pass`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default="pass")


@dataclass
class CheckResult:
    """A named verdict about one artifact.

    Attributes
    ----------
    name : str
        What was checked: ``schema``, ``data_quality``, ``leakage``, ``label_issues``...
    status : {"pass", "warn", "fail", "error"}
        The verdict: ``error`` when the check could not be evaluated.
    summary : str
        One sentence for people.
    metrics : dict
        Numbers measured (``missing_share_max``, ``suspected_label_issues``...).
    thresholds : dict
        The limits the metrics were held to.
    details : pandas.DataFrame
        The findings, one row each (a column and the rule it broke, a suspected row), at most
        1,000 rows.
    subject : str or None
        Fingerprint of what was judged.
    subject_name : str or None
        What it was called.
    record_id : str or None
        The check's id in the trail, once recorded.
    """

    name: str
    status: str
    summary: str = ""
    metrics: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    details: pd.DataFrame = field(default_factory=pd.DataFrame)
    subject: str | None = None
    subject_name: str | None = None
    record_id: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise UsageError(
                f"check status must be one of {', '.join(STATUSES)}; got {self.status!r}"
            )
        if not isinstance(self.details, pd.DataFrame):
            raise UsageError("check details must be a pandas DataFrame")
        if len(self.details) > MAX_DETAIL_ROWS:
            self.metrics = {**self.metrics, "details_truncated_from": len(self.details)}
            self.details = self.details.head(MAX_DETAIL_ROWS).reset_index(drop=True)

    # -- verdicts ---------------------------------------------------------------------------

    @property
    def passed(self) -> bool:
        """True for ``pass`` and ``warn``."""
        return self.status in ("pass", "warn")

    def raise_for_status(self) -> CheckResult:
        """Raise :class:`~nbtrail.GateFailed` unless the check passed or warned.

        Inside ``nbtrail run`` that stops the template and fails the run with exit code 1.
        """
        from ..pipeline.gates import gate

        return gate(self)

    # -- display ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        lines = [f"<CheckResult {self.name}: {self.status.upper()}>", f"  {self.summary}"]
        for key, value in self.metrics.items():
            limit = self.thresholds.get(key)
            lines.append(
                f"  {key} = {_fmt(value)}"
                + (f"  (threshold {_fmt(limit)})" if limit is not None else "")
            )
        if len(self.details):
            shown = self.details.head(10).to_string(max_colwidth=40)
            lines.append("  details:")
            lines.extend("    " + line for line in shown.splitlines())
            if len(self.details) > 10:
                lines.append(f"    ... {len(self.details) - 10} more rows")
        return "\n".join(lines)

    def to_html(self) -> str:
        """Static HTML: no script, works without a kernel (nbconvert, GitHub, reports)."""
        from ..report.checks import CHECK_CSS, check_card

        return f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style>{check_card(self)}</div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def widget(self):
        """An ipywidgets view: badge, metrics, filterable details, a chart of findings."""
        from ._widget import CheckWidget

        return CheckWidget(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": repr(self), "text/html": self.to_html()}
        if _live_widget_frontend():
            try:
                bundle.update(self.widget()._repr_mimebundle_())
            except Exception:  # noqa: BLE001 - the static view is always there
                pass
        return bundle

    # -- the trail --------------------------------------------------------------------------

    def record(self, run=None) -> CheckResult:
        """Record the result in the trail.

        Parameters
        ----------
        run : Run, optional
            The run to record it in. Default: the capture session recording this process (the
            current cell's run), if any; without one, nothing is recorded.
        """
        if run is not None:
            stored = run.record_check(
                self.name,
                self.status,
                artifact=self.subject,
                summary=self.summary,
                metrics=self.metrics,
                thresholds=self.thresholds,
                details=self.details if len(self.details) else None,
            )
            self.record_id = stored.id
            return self
        from ..capture import _state

        session = _state.active()
        if session is not None:
            self.record_id = session.record_check(self)
        return self

    # -- data -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Return JSON-ready data (details as a list of records)."""
        from ..store._audit import jsonable

        return jsonable(
            {
                "name": self.name,
                "status": self.status,
                "summary": self.summary,
                "metrics": self.metrics,
                "thresholds": self.thresholds,
                "details": self.details.to_dict(orient="records"),
                "subject": self.subject,
                "subject_name": self.subject_name,
                "record_id": self.record_id,
            }
        )


def finish(result: CheckResult, subject=None, name: str | None = None) -> CheckResult:
    """Attach the fingerprint of what was judged, and record the result if a run is recording.

    Check functions end with this. A failure to fingerprint or record never hides the result:
    it is returned all the same (and, inside capture, counted as a capture error).
    """
    from ..capture import _state
    from ..capture.fingerprints import fingerprint
    from ..errors import FingerprintError

    session = _state.active()
    if subject is not None and result.subject is None:
        try:
            if session is not None:
                result.subject = session.digest_of(subject, name=name)
            else:
                result.subject = fingerprint(subject).digest
        except FingerprintError:
            result.subject = None
        result.subject_name = name
    if session is not None:
        with session.guard(f"recording check {result.name}"):
            result.record_id = session.record_check(result)
    return result


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _live_widget_frontend() -> bool:
    """Whether this kernel serves a live frontend that renders ipywidgets (JupyterLab).

    Kernels a Jupyter server starts for a notebook session carry ``JPY_SESSION_NAME``, and a
    connected widget manager opens the ``jupyter.widget.control`` comm; papermill, nbclient
    and nbconvert do neither, so their outputs keep the static HTML only (and converters that
    meet a widget view without saved state fall back to that HTML anyway).
    """
    try:
        from ipywidgets import Widget
    except ImportError:
        return False
    import os

    if getattr(Widget, "_control_comm", None) is not None:
        return True
    return bool(os.environ.get("JPY_SESSION_NAME")) and "ipykernel" in __import__("sys").modules


def escape(value) -> str:
    """HTML-escape any value."""
    return html.escape(str(value))
