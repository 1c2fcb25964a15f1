"""Bounds for DP models from a recorded schema, instead of from the private data.

diffprivlib needs each feature's range (``bounds``) or the largest row norm (``data_norm``);
without them it reads them from the data it is protecting and only warns. A schema file on the
trail (``checks.infer_schema`` or hand-written pandera YAML) already holds each numeric column's
range: :func:`schema_bounds` takes them from there. A schema inferred from the very rows being
protected still reads them, so unless the caller says the schema is public, the
``privacy_bounds`` check says so (status ``warn``) instead of passing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UsageError

__all__ = ["PublicBounds", "schema_bounds"]


@dataclass(frozen=True)
class PublicBounds:
    """Per-column ranges for a DP model, and where they came from.

    Attributes
    ----------
    columns : list of str
        The feature columns, in the model's order.
    lower, upper : numpy.ndarray
        Each column's range.
    source : str
        Where the ranges came from (the schema file).
    public : bool
        Whether the source is public knowledge rather than inferred from the protected rows.
    """

    columns: list
    lower: np.ndarray
    upper: np.ndarray
    source: str
    public: bool = False

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` as diffprivlib's ``bounds`` parameter takes them."""
        return self.lower, self.upper

    @property
    def data_norm(self) -> float:
        """The largest L2 norm a row clipped to these ranges can have."""
        return float(math.sqrt(np.sum(np.maximum(np.abs(self.lower), np.abs(self.upper)) ** 2)))

    def clip(self, X) -> np.ndarray:
        """The columns of ``X`` clipped to the ranges (data-independent preprocessing)."""
        values = _columns(X, self.columns)
        return np.clip(values, self.lower, self.upper)

    def __repr__(self) -> str:
        kind = "public" if self.public else "inferred from the data"
        return f"<PublicBounds {len(self.columns)} columns from {self.source} ({kind})>"


def _columns(X, columns: list) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise UsageError(f"column(s) {missing} of the bounds are not in the data")
        return X[columns].to_numpy(dtype=float)
    values = np.asarray(X, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(columns):
        raise UsageError(
            f"the data has {values.shape[-1] if values.ndim else 0} columns, the bounds "
            f"{len(columns)}; pass a DataFrame or the columns in the bounds' order"
        )
    return values


def _ranges(schema) -> dict[str, tuple[float, float]]:
    ranges = {}
    for name, column in schema.pandera.columns.items():
        for rule in column.checks:
            stats = getattr(rule, "statistics", None) or {}
            if "min_value" in stats and "max_value" in stats:
                ranges[name] = (float(stats["min_value"]), float(stats["max_value"]))
    return ranges


def schema_bounds(schema, columns=None, *, public: bool = False) -> PublicBounds:
    """Take each numeric column's range from a schema, for a DP model's ``bounds``.

    Parameters
    ----------
    schema : nbtrail.checks.Schema or path
        A schema object or its pandera YAML file (as ``validate_data`` writes and records).
    columns : list of str, optional
        The feature columns in the model's order; default every column with a range.
    public : bool
        True when the schema was written from public knowledge (documentation, a data
        contract), not inferred from the rows being protected. Otherwise the
        ``privacy_bounds`` check of :func:`~nbtrail.privacy.fit` warns that the bounds leak.

    Returns
    -------
    PublicBounds

    Raises
    ------
    UsageError
        When a column has no finite range in the schema (naming it).
    """
    from ..checks import Schema

    source = "a schema object"
    if isinstance(schema, str | os.PathLike):
        source = str(schema)
        schema = Schema.from_yaml(schema)
    if not isinstance(schema, Schema):
        raise UsageError(f"schema must be an nbtrail.checks.Schema or a YAML path, got {schema!r}")
    ranges = _ranges(schema)
    if columns is None:
        columns = [c for c in schema.columns if c in ranges]
    columns = list(columns)
    if not columns:
        raise UsageError(f"the schema ({source}) gives no column a numeric range")
    for name in columns:
        low, high = ranges.get(name, (math.nan, math.nan))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise UsageError(
                f"column {name!r} has no finite range in the schema ({source}); "
                "give its bounds by hand or add an in_range rule"
            )
    lower = np.array([ranges[c][0] for c in columns])
    upper = np.array([ranges[c][1] for c in columns])
    return PublicBounds(columns, lower, upper, source, bool(public))
