"""Which original column each column of a fitted transformer's output came from.

The exact SHAP explainers run on a pipeline's transformed matrix; their contributions are
summed back into the original features through this mapping, built from each fitted
transformer's input columns and output slice (``output_indices_``), never from names. Also
the ordinal wrapper that lets the model-agnostic explainer mask string columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Ordinal", "Untraceable", "sources"]


class Untraceable(Exception):
    """Preprocessing whose outputs cannot each be traced to one input column."""


def _columns(spec, names: list[str]) -> list[int]:
    """A ColumnTransformer's column selection as positions in its input."""
    if isinstance(spec, slice):
        return list(range(len(names)))[spec]
    if isinstance(spec, str | int | np.integer):
        spec = [spec]
    spec = list(spec)
    if spec and all(isinstance(s, bool | np.bool_) for s in spec):
        return [i for i, keep in enumerate(spec) if keep]
    where = {n: i for i, n in enumerate(names)}
    out = []
    for s in spec:
        if isinstance(s, str):
            if s not in where:
                raise Untraceable(f"column {s!r} is not among the transformer's inputs")
            out.append(where[s])
        else:
            out.append(int(s))
    return out


def sources(step, names: list[str]) -> np.ndarray:
    """For each output column of a fitted transformer, the position of the input it came from."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return np.arange(len(names))
    if isinstance(step, Pipeline):
        owner = np.arange(len(names))
        current = list(names)
        for _, inner in step.steps:
            owner = owner[sources(inner, current)]
            current = _names_out(inner, current)
        return owner
    if isinstance(step, ColumnTransformer):
        parts = []
        for label, inner, spec in step.transformers_:
            piece = step.output_indices_.get(label, slice(0, 0))
            width = piece.stop - piece.start
            if width == 0 or (isinstance(inner, str) and inner == "drop"):
                continue
            cols = _columns(spec, names)
            local = sources(inner, [names[c] for c in cols])
            if len(local) != width:
                raise Untraceable(
                    f"transformer {label!r} made {width} columns, traced {len(local)}"
                )
            parts.append((piece.start, np.asarray(cols)[local]))
        owner = np.empty(sum(len(p) for _, p in parts), dtype=int)
        for start, part in parts:
            owner[start : start + len(part)] = part
        return owner
    if len(names) == 1:  # every output of a one-column transformer is that column's
        return np.zeros(len(_names_out(step, names)), dtype=int)
    if isinstance(step, OneHotEncoder):
        return _one_hot_sources(step, names)
    if list(_names_out(step, names)) == list(names):  # scalers, imputers: column by column
        return np.arange(len(names))
    raise Untraceable(f"{type(step).__name__} mixes its {len(names)} input columns")


def _names_out(step, names: list[str]) -> list[str]:
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return list(names)
    try:
        return [str(n) for n in step.get_feature_names_out(np.asarray(names, dtype=object))]
    except Exception as exc:  # any refusal means the outputs are untraceable
        raise Untraceable(f"{type(step).__name__} does not name its outputs: {exc}") from exc


def _one_hot_sources(encoder, names: list[str]) -> np.ndarray:
    """One-hot outputs per input: its categories, less a dropped one, infrequent ones merged."""
    drops = getattr(encoder, "drop_idx_", None)
    rare = getattr(encoder, "infrequent_categories_", None) or [None] * len(names)
    owner = []
    for i, categories in enumerate(encoder.categories_):
        k = len(categories)
        if rare[i] is not None:
            k -= len(rare[i]) - 1
        if drops is not None and drops[i] is not None:
            k -= 1
        owner += [i] * k
    if len(owner) != len(_names_out(encoder, names)):
        raise Untraceable("OneHotEncoder's outputs do not match its categories")
    return np.asarray(owner, dtype=int)


# -- the ordinal wrapper for model-agnostic explanations ---------------------------------------


class Ordinal:
    """Numbers for SHAP's masker, the original values (strings included) for the model."""

    def __init__(self, frame: pd.DataFrame):
        self.columns = list(frame.columns)
        self.dtypes = frame.dtypes
        self.codes: dict[str, pd.Index] = {}
        for c in self.columns:
            s = frame[c]
            if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s)):
                _, uniques = pd.factorize(s, use_na_sentinel=False)
                self.codes[c] = pd.Index(uniques)

    def to_numbers(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype="float64")
        for j, c in enumerate(self.columns):
            if c in self.codes:
                out[:, j] = self.codes[c].get_indexer(frame[c])
            else:
                out[:, j] = frame[c].to_numpy(dtype="float64", na_value=np.nan)
        return out

    def to_frame(self, numbers: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, c in enumerate(self.columns):
            if c in self.codes:
                values = self.codes[c].take(numbers[:, j].astype(int))
                data[c] = pd.Series(values, dtype=self.dtypes[c])
            else:
                column = pd.Series(numbers[:, j])
                no_gaps = not column.isna().any()
                data[c] = column.astype(self.dtypes[c]) if no_gaps else column
        return pd.DataFrame(data, columns=self.columns)
