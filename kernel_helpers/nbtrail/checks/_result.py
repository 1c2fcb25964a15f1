"""The one result type every check returns.

Validation, data quality, leakage and label verification (and fairness, drift, privacy and
export checks) all return a :class:`CheckResult`: a name, a status, the headline metrics and
the thresholds they were held to, a bounded findings table, one human sentence, and the
artifacts it judged, each in a role. So one renderer registry, one widget, one JUnit writer
and one gate serve them all.

Metrics are headline scalars (``accuracy``, ``missing_share_max``); per-group and
per-feature values are rows of the findings table, one each. Where a run is recording (a
notebook with ``%load_ext nbtrail``, a template under ``nbtrail run``) a registered check
records its result on the trail as it returns it. In a notebook the result shows itself as
an ipywidgets view when a live widget frontend is attached (JupyterLab), and as static HTML,
with no script, everywhere else (papermill output, nbconvert, GitHub).
"""

from __future__ import annotations

import io
import os
import sys
import weakref
from dataclasses import dataclass, field

import pandas as pd

from .._json import jsonable
from ..errors import UsageError
from ..store import check_metrics
from ..vocabulary import CHECK_STATUSES

__all__ = ["MAX_DETAIL_ROWS", "CheckResult", "SubjectRef"]

MAX_DETAIL_ROWS = 1000  # details are findings, not data: bounded whatever the input size


@dataclass(frozen=True)
class SubjectRef:
    """An artifact a check judged: its role, fingerprint, and (where known) name and path.

    A live result also keeps (weakly, where it can) the object judged, so recording the result
    in a run later records the artifact itself, not only its fingerprint.
    """

    role: str
    digest: str
    name: str | None = None
    path: str | None = None
    held: object = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, role: str, digest: str, name: str | None, obj) -> SubjectRef:
        """A subject judged live, holding its object weakly where the object allows it."""
        try:
            held = weakref.ref(obj)
        except TypeError:  # lists, tuples and other objects without weak references
            held = lambda: obj  # noqa: E731 - a strong reference with the weakref's interface
        return cls(role, digest, name, None, held)

    @property
    def obj(self):
        """The object judged, while it is alive (None for a recorded check)."""
        return self.held() if self.held is not None else None

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return {"role": self.role, "digest": self.digest, "name": self.name, "path": self.path}


@dataclass
class CheckResult:
    """A named verdict about one or more artifacts.

    Attributes
    ----------
    name : str
        What was checked: ``schema``, ``data_quality``, ``leakage``, ``label_issues``...
    status : {"pass", "warn", "fail", "error"}
        The verdict: ``error`` when the check could not be evaluated.
    summary : str
        One sentence for people.
    metrics : dict
        Headline numbers measured (scalars).
    thresholds : dict
        The limits the metrics were held to.
    details : pandas.DataFrame
        The findings, one row each (a column and the rule it broke, a group, a suspected row),
        at most 1,000 rows.
    subjects : list of SubjectRef
        What was judged, each in its role (``train``, ``model``, ``reference``...).
    kind, version : str or None
        The registered check that made it.
    params : dict
        The options it was given.
    record_id : str or None
        The check's id in the trail, once recorded.
    """

    name: str
    status: str
    summary: str = ""
    metrics: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    details: pd.DataFrame = field(default_factory=pd.DataFrame)
    subjects: list = field(default_factory=list)
    kind: str | None = None
    version: str | None = None
    params: dict = field(default_factory=dict)
    record_id: str | None = None

    def __post_init__(self):
        if self.status not in CHECK_STATUSES:
            raise UsageError(
                f"check status must be one of {', '.join(CHECK_STATUSES)}; got {self.status!r}"
            )
        if not isinstance(self.details, pd.DataFrame):
            raise UsageError("check details must be a pandas DataFrame")
        self.metrics = check_metrics(self.metrics, f"check {self.name!r} metrics")
        self.thresholds = check_metrics(self.thresholds, f"check {self.name!r} thresholds")
        if len(self.details) > MAX_DETAIL_ROWS:
            self.metrics = {**self.metrics, "details_truncated_from": len(self.details)}
            self.details = self.details.head(MAX_DETAIL_ROWS).reset_index(drop=True)

    # -- what was judged --------------------------------------------------------------------

    @property
    def subject(self) -> str | None:
        """Fingerprint of the primary subject."""
        return self.subjects[0].digest if self.subjects else None

    @property
    def subject_name(self) -> str | None:
        """Name of the primary subject, where known."""
        return self.subjects[0].name if self.subjects else None

    # -- verdicts ---------------------------------------------------------------------------

    @property
    def passed(self) -> bool:
        """True for ``pass`` and ``warn``."""
        return self.status in ("pass", "warn")

    def raise_for_status(self) -> CheckResult:
        """Raise :class:`~nbtrail.GateFailed` unless the check passed or warned.

        Inside ``nbtrail run`` that stops the template and fails the run with exit code 1.
        """
        from ._gate import gate

        return gate(self)

    # -- display ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        lines = [f"<CheckResult {self.name}: {self.status.upper()}>", f"  {self.summary}"]
        for ref in self.subjects:
            lines.append(f"  {ref.role}: {ref.name or '-'} {ref.digest[:12]}")
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
        from ._render import CHECK_CSS, check_card

        return f"<div class='nbtrail-checks'><style>{CHECK_CSS}</style>{check_card(self)}</div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def widget(self):
        """An ipywidgets view: badge, metrics, filterable findings, a chart of findings."""
        from ._render import renderer_for
        from ._widget import CheckWidget

        own = renderer_for(self.kind).widget
        return own(self) if own is not None else CheckWidget(self)

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
        """Record the result in the trail (registered checks do this themselves).

        Parameters
        ----------
        run : Run or recorder, optional
            Where to record it. Default: the capture session recording this process (the
            current cell's run), if any; without one, nothing is recorded.
        """
        from ._core import record_result

        return record_result(self, run)

    @classmethod
    def from_record(cls, trail, record) -> CheckResult:
        """A recorded check as a result: findings loaded, subjects named from the trail."""
        details = pd.DataFrame()
        if record.details:
            try:
                details = pd.read_parquet(io.BytesIO(trail.blobs.get_bytes(record.details)))
            except Exception:  # noqa: BLE001 - a missing blob shows no findings; verify says why
                details = pd.DataFrame()
        from ._core import describe_subjects

        return cls(
            record.name,
            record.status,
            record.summary,
            dict(record.metrics or {}),
            dict(record.thresholds or {}),
            details,
            describe_subjects(trail, record),
            record.kind,
            record.version,
            dict(record.params or {}),
            record.id,
        )

    # -- data -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Return JSON-ready data (details as a list of records)."""
        return jsonable(
            {
                "name": self.name,
                "status": self.status,
                "summary": self.summary,
                "metrics": self.metrics,
                "thresholds": self.thresholds,
                "details": self.details.to_dict(orient="records"),
                "subjects": [s.to_dict() for s in self.subjects],
                "kind": self.kind,
                "version": self.version,
                "params": self.params,
                "record_id": self.record_id,
            }
        )


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
    if getattr(Widget, "_control_comm", None) is not None:
        return True
    return bool(os.environ.get("JPY_SESSION_NAME")) and "ipykernel" in sys.modules
