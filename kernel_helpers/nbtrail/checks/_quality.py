"""Data quality: the problems that break training quietly, column by column.

Missing values, duplicate rows, constant and near-constant columns, high-cardinality text
columns, outliers by robust z-score, mixed Python types in one column, infinities, and the
target's class balance. Each finding is a row of the details table with the value measured,
the threshold and its own status; the check's status is the worst of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..vocabulary import worst
from ._registry import check
from ._result import CheckResult

__all__ = ["data_quality"]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@check("data_quality", version=2, roles={"data": "data"})
def data_quality(
    data: pd.DataFrame,
    *,
    target: str | None = None,
    missing_warn: float = 0.05,
    missing_fail: float = 0.5,
    duplicate_warn: float = 0.0,
    duplicate_fail: float = 0.1,
    near_constant: float = 0.99,
    max_levels: int = 1000,
    outlier_z: float = 5.0,
    outlier_warn: float = 0.01,
    minority_warn: float = 0.05,
    name: str = "data_quality",
) -> CheckResult:
    """Find data-quality problems in a table.

    Parameters
    ----------
    data : pandas.DataFrame
        The table (training data, a batch).
    target : str, optional
        The label column: its class balance is checked, and it is exempt from the
        cardinality rule.
    missing_warn, missing_fail : float
        Share of missing values in a column that warns / fails.
    duplicate_warn, duplicate_fail : float
        Share of fully duplicated rows above which the check warns / fails.
    near_constant : float
        A column whose most common value has at least this share warns.
    max_levels : int
        A text or categorical column with more distinct values than this (or more than half
        as many as rows) warns.
    outlier_z : float
        Robust z-score (median and MAD) beyond which a value is an outlier.
    outlier_warn : float
        Share of outliers in a numeric column that warns.
    minority_warn : float
        The target's rarest class below this share warns; a single class fails.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``details``: one row per finding: ``column``, ``rule``, ``value``, ``threshold``,
        ``status``.
    """
    if not isinstance(data, pd.DataFrame):
        raise UsageError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    for option, value in (
        ("missing_warn", missing_warn),
        ("missing_fail", missing_fail),
        ("near_constant", near_constant),
        ("minority_warn", minority_warn),
    ):
        if not (isinstance(value, int | float) and 0 <= value <= 1):
            raise UsageError(f"{option} must be in [0, 1], got {value!r}")
    if target is not None and target not in data.columns:
        raise UsageError(
            f"target column {target!r} is not in the data (columns: "
            f"{', '.join(map(str, data.columns[:20]))})"
        )
    findings: list[dict] = []

    def finding(column, rule, value, threshold, status):
        findings.append(
            {
                "column": str(column),
                "rule": rule,
                "value": value,
                "threshold": threshold,
                "status": status,
            }
        )

    rows = len(data)
    thresholds = {
        "missing_warn": missing_warn,
        "missing_fail": missing_fail,
        "duplicate_warn": duplicate_warn,
        "duplicate_fail": duplicate_fail,
        "near_constant": near_constant,
        "max_levels": max_levels,
        "outlier_z": outlier_z,
        "outlier_warn": outlier_warn,
        "minority_warn": minority_warn,
    }
    duplicated_names = data.columns[data.columns.duplicated()].unique()
    for column in duplicated_names:
        finding(column, "duplicate_column_name", int((data.columns == column).sum()), 1, "fail")
    if rows == 0:
        finding("(rows)", "empty", 0, 1, "fail")
    frame = data.loc[:, ~data.columns.duplicated()]
    if rows:
        try:
            duplicates = int(frame.duplicated().sum())
        except TypeError:  # unhashable values (lists, dicts) in a column
            duplicates = int(frame.astype(str).duplicated().sum())
        share = _share(duplicates, rows)
        if duplicates:
            status = (
                "fail" if share > duplicate_fail else "warn" if share > duplicate_warn else "pass"
            )
            finding("(rows)", "duplicate_rows", share, duplicate_fail, status)
    for column in frame.columns:
        if rows:
            _column_findings(frame[column], column, rows, column == target, thresholds, finding)
    if target is not None and rows:
        _target_findings(frame[target], target, minority_warn, finding)
    details = pd.DataFrame(findings, columns=["column", "rule", "value", "threshold", "status"])
    status = worst(details["status"]) if len(details) else "pass"
    problems = details[details["status"] != "pass"]
    metrics = {
        "rows": rows,
        "columns": int(data.shape[1]),
        "problems": len(problems),
        "missing_share_max": float(frame.isna().mean().max()) if rows and frame.shape[1] else 0.0,
    }
    if not len(problems):
        summary = f"no data-quality problems in {rows:,} rows x {data.shape[1]} columns"
    else:
        top = problems.sort_values("status", key=lambda s: s.map({"fail": 0, "warn": 1})).iloc[0]
        summary = f"{len(problems)} problem(s); first: {top['rule']} in {top['column']!r}"
    return CheckResult(name, status, summary, metrics, thresholds, details)


def _column_findings(series: pd.Series, column, rows: int, is_target: bool, t: dict, finding):
    missing = int(series.isna().sum())
    if missing:
        share = missing / rows
        status = (
            "fail"
            if share >= t["missing_fail"]
            else "warn"
            if share > t["missing_warn"]
            else "pass"
        )
        finding(column, "missing", share, t["missing_fail"], status)
    present = series.dropna()
    if not len(present):
        return
    if series.dtype == object:
        kinds = {type(v).__name__ for v in present.head(100_000)}
        if len(kinds) > 1:
            finding(column, "mixed_types", ", ".join(sorted(kinds)), 1, "fail")
            return
    try:
        counts = present.value_counts(dropna=True)
    except TypeError:
        return  # unhashable values: nothing more to measure
    if len(counts) <= 1:
        finding(column, "constant", len(counts), 2, "warn")
    elif counts.iloc[0] / len(present) >= t["near_constant"]:
        finding(
            column,
            "near_constant",
            float(counts.iloc[0] / len(present)),
            t["near_constant"],
            "warn",
        )
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )
    if numeric:
        values = pd.to_numeric(present, errors="coerce").to_numpy(dtype="float64")
        infinite = int(np.isinf(values).sum())
        if infinite:
            finding(column, "infinite", infinite, 0, "fail")
        finite = values[np.isfinite(values)]
        if len(finite) >= 20:
            median = np.median(finite)
            mad = np.median(np.abs(finite - median))
            if mad > 0:
                z = 0.6745 * np.abs(finite - median) / mad
                share = float((z > t["outlier_z"]).mean())
                if share > t["outlier_warn"]:
                    finding(column, "outliers", share, t["outlier_warn"], "warn")
    elif (
        not is_target
        and not isinstance(series.dtype, pd.DatetimeTZDtype)
        and not pd.api.types.is_datetime64_any_dtype(series.dtype)
    ):
        levels = len(counts)
        if rows > 100 and (levels > t["max_levels"] or levels > rows / 2):
            finding(column, "high_cardinality", levels, t["max_levels"], "warn")


def _target_findings(series: pd.Series, target, minority_warn: float, finding):
    counts = series.value_counts(dropna=True)
    if len(counts) <= 1:
        finding(target, "single_class", len(counts), 2, "fail")
        return
    share = float(counts.iloc[-1] / counts.sum())
    finding(
        target, "class_balance", share, minority_warn, "warn" if share < minority_warn else "pass"
    )
