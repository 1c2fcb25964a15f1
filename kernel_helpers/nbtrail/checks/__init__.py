"""Checks: one result type, one registry, thin functions around them.

Every check returns a :class:`CheckResult` (status, headline metrics against thresholds, a
bounded findings table, a summary, and the artifacts it judged, each in a role). Checks are
registered with :func:`check` (name, version, roles of their subjects, options), which records
each result on the trail where a run is recording; :func:`gate` or ``result.raise_for_status()``
stops a template run unless it passed. :func:`produce` records what a producer made (an
exported model, explanations) with lineage to its inputs. Each kind of check draws through a
renderer (:func:`register_renderer`) in notebooks, widgets, reports and the JupyterLab panel.

>>> from nbtrail import checks
>>> schema = checks.infer_schema(train)                        # doctest: +SKIP
>>> checks.validate(test, schema).raise_for_status()           # doctest: +SKIP
>>> checks.data_quality(train, target="income")                # doctest: +SKIP
>>> checks.leakage(train, test, target="income")               # doctest: +SKIP
>>> checks.label_issues(X, y)                                  # doctest: +SKIP
>>> checks.fairness(model=m, X=X_test, y=y_test, sensitive_features="sex")  # doctest: +SKIP
>>> checks.explain(model, X_test)                              # doctest: +SKIP
>>> checks.recourse(model, rejected, data=X_train)             # doctest: +SKIP
"""

from ..errors import GateFailed
from ..vocabulary import CHECK_STATUSES as STATUSES
from ..vocabulary import worst
from ._business import business_value, parse_value_matrix
from ._drift import domain_classifier, drift
from ._drift_stats import summarise as column_summary
from ._explain import Explanation, explain
from ._fairness import disparity_table, fairness, fairness_table
from ._gate import gate
from ._impact import IMPACT_QUESTIONS, impact_assessment, impact_payload
from ._labels import confident_learning, label_issues
from ._latency import latency
from ._leakage import leakage
from ._mitigate import FairnessMitigation, MitigatedModel, fairness_mitigate
from ._onnx_parity import onnx_parity
from ._onnx_runner import META_CLASSES, META_COLUMNS, META_INPUTS, MISSING, OnnxRunner
from ._pii import identifier_columns, pii
from ._producer import Product, produce
from ._quality import data_quality
from ._recourse import RecourseResult, recourse
from ._registry import CheckSpec, available_checks, check, get_check, register_check
from ._render import (
    CHECK_CSS,
    Renderer,
    bar_chart,
    check_card,
    findings_table,
    metrics_table,
    register_renderer,
    render_checks_report,
    svg_image,
)
from ._result import CheckResult, SubjectRef
from ._schema import Schema, infer_schema, validate
from ._streaming import dataset_summary, drift_dataset
from ._streaming_io import Dataset, open_dataset
from ._streaming_validate import validate_dataset

__all__ = [
    "CHECK_CSS",
    "IMPACT_QUESTIONS",
    "META_CLASSES",
    "META_COLUMNS",
    "META_INPUTS",
    "MISSING",
    "STATUSES",
    "CheckResult",
    "CheckSpec",
    "Dataset",
    "Explanation",
    "FairnessMitigation",
    "GateFailed",
    "MitigatedModel",
    "OnnxRunner",
    "Product",
    "RecourseResult",
    "Renderer",
    "Schema",
    "SubjectRef",
    "available_checks",
    "bar_chart",
    "business_value",
    "check",
    "check_card",
    "column_summary",
    "confident_learning",
    "data_quality",
    "dataset_summary",
    "disparity_table",
    "domain_classifier",
    "drift",
    "drift_dataset",
    "explain",
    "fairness",
    "fairness_mitigate",
    "fairness_table",
    "findings_table",
    "gate",
    "get_check",
    "identifier_columns",
    "impact_assessment",
    "impact_payload",
    "infer_schema",
    "label_issues",
    "latency",
    "leakage",
    "metrics_table",
    "onnx_parity",
    "open_dataset",
    "parse_value_matrix",
    "pii",
    "produce",
    "recourse",
    "register_check",
    "register_renderer",
    "render_checks_report",
    "report",
    "svg_image",
    "validate",
    "validate_dataset",
    "worst",
]


def report(results, path=None, *, title: str = "Checks") -> str:
    """Render many check results as one self-contained HTML page; write it to ``path``."""
    from pathlib import Path

    page = render_checks_report(list(results), title=title)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(page, encoding="utf-8")
    return page
