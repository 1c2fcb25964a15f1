"""Schema validation: infer a schema from reference data, validate batches against it.

pandera is the engine: a :class:`Schema` wraps a ``pandera.DataFrameSchema``, saved as
pandera's own YAML so people can read and edit it and pandera users can load it directly.
nbtrail adds what pandera leaves to its users: inference with a tolerance on ranges, allowed
categories for low-cardinality columns, uniqueness for identifier-like columns;
and a validation report that collects every failure (pandera's lazy mode), then aggregates it
per column and rule with counts, example values and example row positions, as a
:class:`CheckResult` instead of an exception. Columns whose values may not be shown (see
:mod:`._examples`) get no example values, and their allowed categories are kept as digests.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._examples import (
    ExamplePolicy,
    example_policy,
    hidden_values,
    hide_rule_values,
    value_digest,
)
from ._registry import check
from ._result import CheckResult

__all__ = ["Schema", "infer_schema", "validate"]


_registered = False


def _pandera():
    import pandera.pandas as pa

    global _registered
    if not _registered:
        _registered = True
        from pandera import extensions

        # Allowed categories of a column whose values may not be stored: digests of each
        # category (so an unseen one still fails) and their count, never the values.
        extensions.register_check_method(statistics=["count", "digests"])(isin_digests)
    return pa


def isin_digests(pandas_obj, *, count, digests):
    """Pandera check: each value's digest is one of ``digests`` (a category seen before)."""
    del count  # recorded for people reading the schema
    allowed = set(digests)
    return pandas_obj.map(lambda value: value_digest(value) in allowed)


def _categories_rule(pa, levels, shown: bool):
    if shown:
        return pa.Check.isin(sorted(levels))
    digests = sorted({value_digest(v) for v in levels})
    return pa.Check.isin_digests(
        count=len(digests), digests=digests, error=f"isin(<{hidden_values(levels)}>)"
    )


class Schema:
    """A data schema, backed by a ``pandera.DataFrameSchema``.

    Create one with :func:`infer_schema` or :meth:`from_yaml`; save it with :meth:`to_yaml`.

    Parameters
    ----------
    pandera_schema : pandera.DataFrameSchema
    """

    def __init__(self, pandera_schema):
        self.pandera = pandera_schema

    @property
    def columns(self) -> list[str]:
        """The column names the schema declares."""
        return list(self.pandera.columns)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """Return the schema as YAML (pandera's format), writing it to ``path`` if given."""
        text = self.pandera.to_yaml()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source: str | os.PathLike) -> Schema:
        """Load a schema from a YAML file (or YAML text).

        Raises
        ------
        UsageError
            Naming the file when it is missing or not a pandera schema.
        """
        pa = _pandera()
        text = str(source)
        if "\n" not in text:
            path = Path(text)
            if not path.is_file():
                raise UsageError(f"{path}: no such schema file")
            text = path.read_text(encoding="utf-8")
        try:
            return cls(pa.DataFrameSchema.from_yaml(text))
        except Exception as exc:  # noqa: BLE001 - pandera and yaml raise many kinds
            raise UsageError(
                f"{source}: not a pandera schema ({type(exc).__name__}: {exc})"
            ) from None

    def __repr__(self) -> str:
        lines = [f"<Schema: {len(self.columns)} columns>"]
        try:
            policy = example_policy()
        except UsageError:  # a bad privacy setting: show no values rather than fail a repr
            policy = ExamplePolicy(examples=False)
        for name, column in self.pandera.columns.items():
            rules = ", ".join(_rule_text(c, policy.may_show(name)) for c in column.checks) or "-"
            flags = " nullable" if column.nullable else ""
            flags += " unique" if column.unique else ""
            lines.append(f"  {name}: {column.dtype}{flags}; {rules}")
        return "\n".join(lines)


def _rule_text(rule, shown: bool) -> str:
    text = str(rule) if shown else hide_rule_values(str(rule))
    return text.removeprefix(f"<Check {getattr(rule, 'name', '')}: ").removesuffix(">")


def _check_frame(data, what: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise UsageError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    duplicated = data.columns[data.columns.duplicated()].unique()
    if len(duplicated):
        raise UsageError(
            f"{what}: column {duplicated[0]!r} appears more than once; column names must be unique"
        )
    return data


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or dtype is np.dtype(object)
    )


def infer_schema(
    reference: pd.DataFrame,
    *,
    range_tolerance: float = 0.1,
    max_categories: int = 50,
    unique: bool = True,
    strict: bool = True,
    examples: bool | None = None,
) -> Schema:
    """Infer a schema from reference data.

    Parameters
    ----------
    reference : pandas.DataFrame
        Data known to be good (a training set).
    range_tolerance : float
        Numeric ranges are widened by this share of the observed range on each side (0.1:
        a value 10% of the span beyond the reference's minimum or maximum still passes).
    max_categories : int
        Text and categorical columns with at most this many distinct values get an
        allowed-values rule; unseen categories then fail validation.
    unique : bool
        Declare integer and text columns unique when every reference value is (identifiers).
    strict : bool
        Columns the schema does not declare fail validation.
    examples : bool, optional
        False keeps every column's categories out of the schema (their digests are kept);
        default: ``[tool.nbtrail.privacy] examples``. Declared identifiers never show theirs.

    Returns
    -------
    Schema

    Raises
    ------
    UsageError
        For empty reference data, duplicate column names, or bad options.
    """
    reference = _check_frame(reference, "reference data")
    if not len(reference):
        raise UsageError("reference data is empty: no schema can be inferred from zero rows")
    if not (isinstance(range_tolerance, int | float) and range_tolerance >= 0):
        raise UsageError(f"range_tolerance must be a number >= 0, got {range_tolerance!r}")
    if not isinstance(max_categories, int) or max_categories < 0:
        raise UsageError(f"max_categories must be an integer >= 0, got {max_categories!r}")
    pa = _pandera()
    policy = example_policy(examples)
    columns = {}
    for name in reference.columns:
        series = reference[name]
        checks = []
        dtype = series.dtype
        present = series.dropna()
        if pd.api.types.is_bool_dtype(dtype):
            pass
        elif pd.api.types.is_numeric_dtype(dtype):
            values = pd.to_numeric(present, errors="coerce").to_numpy(dtype="float64")
            finite = values[np.isfinite(values)]
            if len(finite):
                # A finite range also refuses infinities, which the reference did not have.
                low, high = float(finite.min()), float(finite.max())
                margin = (high - low) * range_tolerance
                low, high = low - margin, high + margin
                if pd.api.types.is_integer_dtype(dtype):
                    low, high = math.floor(low), math.ceil(high)
                # Infinities the reference itself holds are allowed; others are not.
                if np.isposinf(values).any():
                    high = math.inf
                if np.isneginf(values).any():
                    low = -math.inf
                checks.append(pa.Check.in_range(low, high))
        elif _is_categorical(series) and len(present):
            levels = present.unique()
            if len(levels) <= max_categories and all(isinstance(v, str) for v in levels):
                checks.append(_categories_rule(pa, levels, policy.may_show(name, series)))
        is_unique = (
            unique
            and len(reference) >= 20
            and not series.isna().any()
            and (pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_string_dtype(dtype))
            and series.is_unique
        )
        columns[name] = pa.Column(
            dtype,
            checks=checks,
            nullable=bool(series.isna().any()),
            unique=bool(is_unique),
            name=name,
        )
    return Schema(pa.DataFrameSchema(columns, strict=strict, coerce=False))


def _positions(data: pd.DataFrame, labels) -> list:
    """Row positions of index labels (the labels themselves when the index repeats)."""
    labels = [label for label in labels if label is not None and not _isnan(label)]
    if not labels:
        return []
    if data.index.is_unique:
        found = data.index.get_indexer(labels)
        return [int(p) for p in found if p >= 0]
    return list(labels)


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


@check("schema", version=2, roles={"data": "data"})
def validate(
    data: pd.DataFrame,
    schema: Schema | str | os.PathLike,
    *,
    max_failure_share: float = 0.0,
    max_examples: int = 5,
    examples: bool | None = None,
    name: str = "schema",
) -> CheckResult:
    """Validate a batch against a schema, collecting every failure.

    Parameters
    ----------
    data : pandas.DataFrame
        The batch.
    schema : Schema or path
        A schema, or the path of its YAML file.
    max_failure_share : float
        The check fails when more than this share of rows break a rule (or any column is
        missing, extra or of the wrong type); below it, failures make it a warning.
    max_examples : int
        Example values and row positions kept per column and rule.
    examples : bool, optional
        False keeps example values (and category lists in rules) out of the findings, for
        every column; default: ``[tool.nbtrail.privacy] examples``. Columns declared as
        identifiers never show theirs.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``details`` has one row per column and rule broken: ``column``, ``rule``,
        ``failures``, ``examples``, ``rows`` (positions), ``status``.
    """
    data = _check_frame(data, "data")
    if not isinstance(schema, Schema):
        schema = Schema.from_yaml(schema)
    if not (isinstance(max_failure_share, int | float) and 0 <= max_failure_share <= 1):
        raise UsageError(f"max_failure_share must be in [0, 1], got {max_failure_share!r}")
    pa = _pandera()
    policy = example_policy(examples)
    thresholds = {"failing_row_share": max_failure_share}
    try:
        schema.pandera.validate(data, lazy=True)
        cases = None
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    except Exception as exc:  # noqa: BLE001 - pandera failing on odd data is a finding too
        result = CheckResult(
            name,
            "error",
            summary=f"the schema could not be evaluated: {type(exc).__name__}: {exc}",
            metrics={"rows": len(data)},
            thresholds=thresholds,
        )
        return result
    if not len(data) and cases is None:
        result = CheckResult(
            name,
            "warn",
            summary="the data has no rows: nothing to validate",
            metrics={"rows": 0},
            thresholds=thresholds,
        )
        return result
    rows = []
    failing_rows: set = set()
    structural = False
    if cases is not None and len(cases):
        cases = cases.copy()
        schema_level = cases["column"].isna()
        cases.loc[schema_level, "column"] = cases.loc[schema_level, "failure_case"].astype(str)
        for (column, rule), group in cases.groupby(["column", "check"], sort=False, dropna=False):
            index = group["index"].tolist()
            whole = all(i is None or _isnan(i) for i in index)
            structural = structural or whole
            failing_rows.update(i for i in index if i is not None and not _isnan(i))
            values = data[column] if column in data.columns else None
            shown = policy.may_show(column, values)
            rows.append(
                {
                    "column": str(column),
                    "rule": str(rule) if shown else hide_rule_values(rule),
                    "failures": len(group) if not whole else 1,
                    "examples": (
                        [str(v) for v in group["failure_case"].head(max_examples)] if shown else []
                    ),
                    "rows": _positions(data, index[:max_examples]),
                }
            )
    share = len(failing_rows) / len(data) if len(data) else 0.0
    return schema_verdict(name, rows, len(data), len(schema.columns), structural, share, thresholds)


def schema_verdict(name, rows, n_rows, n_columns, structural, share, thresholds) -> CheckResult:
    """The verdict from failures aggregated per column and rule (in memory or streamed).

    ``structural`` is a missing column or a wrong type (always a failure); otherwise the check
    fails when the share of failing rows passes ``thresholds["failing_row_share"]``.
    """
    failed = structural or share > thresholds["failing_row_share"]
    status = "fail" if failed else ("warn" if rows else "pass")
    for row in rows:
        row["status"] = "fail" if failed else "warn"
    details = pd.DataFrame(
        rows, columns=["column", "rule", "failures", "examples", "rows", "status"]
    )
    metrics = {
        "rows": n_rows,
        "columns_checked": n_columns,
        "failures": int(details["failures"].sum()) if len(details) else 0,
        "failing_columns": int(details["column"].nunique()) if len(details) else 0,
        "failing_row_share": share,
    }
    if not rows:
        summary = f"all {n_rows:,} rows match the schema's {n_columns} columns"
    else:
        worst_row = details.sort_values("failures", ascending=False).iloc[0]
        summary = (
            f"{metrics['failures']:,} failures in {metrics['failing_columns']} column(s); "
            f"most in {worst_row['column']!r} ({worst_row['rule']})"
        )
    return CheckResult(name, status, summary, metrics, thresholds, details)
