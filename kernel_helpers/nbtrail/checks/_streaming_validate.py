"""Schema validation of a Parquet dataset larger than memory, in one streaming pass.

Every rule of a schema but uniqueness is about one row, so pandera (the engine of
:func:`~nbtrail.checks.validate`) judges each record batch on its own and the failures are
added up per column and rule: counts, the first example values and row positions (positions
in the whole dataset), and the failing rows counted batch by batch. Structural failures (a
missing column, a wrong type, an undeclared column) come back from every batch and are
counted once, as the in-memory check counts them. Uniqueness spans batches: it is checked on
64-bit hashes of the values with their row positions (16 bytes a row, up to
``max_unique_rows``; beyond that the rule is reported as not verified, never silently passed).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._core import finish
from ._examples import example_policy, hide_rule_values
from ._result import CheckResult, SubjectRef
from ._schema import Schema, _pandera, schema_verdict
from ._streaming_io import DEFAULT_BATCH_SIZE, open_dataset

__all__ = ["validate_dataset"]

_UNIQUE = "field_uniqueness"


class _Findings:
    """Failures per (column, rule), merged over batches."""

    def __init__(self, max_examples: int):
        self.max_examples = max_examples
        self.groups: dict = {}  # (column, rule) -> {failures, examples, rows, whole}

    def add(self, column, rule, failures: int, examples: list, rows: list, whole: bool):
        group = self.groups.get((column, rule))
        if group is None:
            self.groups[(column, rule)] = {
                "failures": failures,
                "examples": examples[: self.max_examples],
                "rows": rows[: self.max_examples],
                "whole": whole,
            }
            return
        if whole:
            return  # the same structural failure, from another batch
        group["failures"] += failures
        room = self.max_examples - len(group["examples"])
        group["examples"] += examples[: max(room, 0)]
        group["rows"] += rows[: max(self.max_examples - len(group["rows"]), 0)]


def _batch_failures(pa, schema, frame: pd.DataFrame, findings: _Findings) -> np.ndarray:
    """Validate one batch (index: positions in the dataset); return its failing positions."""
    try:
        schema.validate(frame, lazy=True)
        return np.empty(0, dtype=np.int64)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.copy()
    schema_level = cases["column"].isna()
    cases.loc[schema_level, "column"] = cases.loc[schema_level, "failure_case"].astype(str)
    failing = []
    for (column, rule), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        index = pd.to_numeric(group["index"], errors="coerce")
        whole = bool(index.isna().all())
        positions = index.dropna().astype(np.int64).tolist()
        failing.append(np.asarray(positions, dtype=np.int64))
        findings.add(
            str(column),
            str(rule),
            len(group) if not whole else 1,
            [str(v) for v in group["failure_case"].head(findings.max_examples)],
            positions[: findings.max_examples],
            whole,
        )
    return np.unique(np.concatenate(failing)) if failing else np.empty(0, dtype=np.int64)


class _Uniqueness:
    """Hashes and positions of the values of the columns declared unique, across batches."""

    def __init__(self, columns: list, limit: int):
        self.columns, self.limit = columns, limit
        self.hashes: dict = {c: [] for c in columns}
        self.seen = 0

    def add(self, frame: pd.DataFrame) -> None:
        self.seen += len(frame)
        if self.seen > self.limit:
            self.hashes = {}
            return
        positions = frame.index.to_numpy(dtype=np.int64)
        for c in self.columns:
            hashed = pd.util.hash_pandas_object(frame[c], index=False).to_numpy()
            self.hashes[c].append((hashed, positions))

    def duplicates(self, column) -> np.ndarray:
        """Sorted positions of every row whose value another row repeats (pandera: keep=False)."""
        parts = self.hashes[column]
        if not parts:
            return np.empty(0, dtype=np.int64)
        hashes = np.concatenate([h for h, _ in parts])
        positions = np.concatenate([p for _, p in parts])
        order = np.argsort(hashes, kind="stable")
        hashes, positions = hashes[order], positions[order]
        same = hashes[1:] == hashes[:-1]
        dup = np.zeros(len(hashes), dtype=bool)
        dup[1:] |= same
        dup[:-1] |= same
        return np.sort(positions[dup])


def validate_dataset(
    source,
    schema: Schema | str | os.PathLike,
    *,
    max_failure_share: float = 0.0,
    max_examples: int = 5,
    examples: bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_unique_rows: int = 10_000_000,
    storage_options: dict | None = None,
    name: str = "schema",
) -> CheckResult:
    """Validate a Parquet dataset against a schema in one pass, collecting every failure.

    The same findings and verdict as :func:`nbtrail.checks.validate` on the dataset read into
    memory (row positions count from the dataset's first row, in file order).

    Parameters
    ----------
    source : str, os.PathLike or Dataset
        A folder of Parquet files, one file, or an fsspec URL (``s3://bucket/prefix``).
    schema : Schema or path
        A schema, or the path of its YAML file.
    max_failure_share, max_examples, examples, name
        As for :func:`nbtrail.checks.validate`.
    batch_size : int
        Rows per record batch validated.
    max_unique_rows : int
        Rows up to which uniqueness is checked (16 bytes a row per unique column); past it
        the rule is a ``warn`` finding saying it was not verified.
    storage_options : dict, optional
        fsspec options for URLs.

    Returns
    -------
    CheckResult
        Kind ``schema``; ``details``: ``column``, ``rule``, ``failures``, ``examples``,
        ``rows``, ``status``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    data = open_dataset(source, parameter="source", storage_options=storage_options)
    if not isinstance(schema, Schema):
        schema = Schema.from_yaml(schema)
    if not (isinstance(max_failure_share, int | float) and 0 <= max_failure_share <= 1):
        raise UsageError(f"max_failure_share must be in [0, 1], got {max_failure_share!r}")
    pa = _pandera()
    policy = example_policy(examples)
    thresholds = {"failing_row_share": max_failure_share}
    declared = schema.pandera.columns
    read = [c for c in data.columns if c in declared]
    unique = [c for c in read if declared[c].unique]
    per_batch = schema.pandera.update_columns({c: {"unique": False} for c in unique})
    per_batch.strict = False  # undeclared columns are not read: judged once, below
    findings = _Findings(max_examples)
    uniqueness = _Uniqueness(unique, max_unique_rows)
    extra = [c for c in data.columns if c not in declared]
    if schema.pandera.strict is True:
        for c in extra:
            findings.add(c, "column_in_schema", 1, [c], [], True)
    failing_count, offset, sample = 0, 0, None
    failing_unique: list = []
    if not data.rows:  # still judged for its columns and their types
        empty = data.arrow.schema.empty_table().to_pandas()[read]
        _batch_failures(pa, per_batch, empty, findings)
    for batch in data.batches(read, batch_size) if data.rows else []:
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        sample = frame.head(200) if sample is None else sample
        failed = _batch_failures(pa, per_batch, frame, findings)
        failing_count += len(failed)
        if unique and len(failed) and uniqueness.seen + len(frame) <= max_unique_rows:
            failing_unique.append(failed)
        uniqueness.add(frame)
        offset += len(frame)
    for c in unique:
        if uniqueness.seen > max_unique_rows:
            note = f"{_UNIQUE} (not verified past {max_unique_rows:,} rows)"
            findings.add(c, note, 1, [], [], True)
            continue
        dup = uniqueness.duplicates(c)
        if not len(dup):
            continue
        shown = data.arrow.take(pa_indices(dup[:max_examples]), columns=[c]).to_pandas()[c]
        findings.add(
            c, _UNIQUE, len(dup), [str(v) for v in shown], dup[:max_examples].tolist(), False
        )
        known = np.concatenate(failing_unique) if failing_unique else np.empty(0, np.int64)
        fresh = np.setdiff1d(dup, known)
        failing_count += len(fresh)
        failing_unique.append(fresh)
    rows, structural = [], False
    for (column, rule), group in findings.groups.items():
        structural = structural or group["whole"]
        values = sample[column] if sample is not None and column in sample else None
        shown = policy.may_show(column, values)
        rows.append(
            {
                "column": column,
                "rule": rule if shown else hide_rule_values(rule),
                "failures": group["failures"],
                "examples": group["examples"] if shown else [],
                "rows": group["rows"],
            }
        )
    return _result(name, data, schema, rows, structural, failing_count, thresholds)


def pa_indices(positions: np.ndarray):
    """Positions as an arrow array for ``Dataset.take``."""
    import pyarrow as pa

    return pa.array(positions, type=pa.int64())


def _result(name, data, schema, rows, structural, failing_count, thresholds) -> CheckResult:
    if not data.rows and not rows:
        result = CheckResult(
            name,
            "warn",
            summary="the data has no rows: nothing to validate",
            metrics={"rows": 0},
            thresholds=thresholds,
        )
        return _finish(result, data)
    share = failing_count / data.rows if data.rows else 0.0
    n_columns = len(schema.columns)
    result = schema_verdict(name, rows, data.rows, n_columns, structural, share, thresholds)
    return _finish(result, data)


def _finish(result: CheckResult, data) -> CheckResult:
    result.kind, result.version = "schema", "2"
    result.params = {"streamed": True, "source": data.source, "files": len(data.files)}
    return finish(result, [("data", SubjectRef("data", data.digest, data.source), "data")])
