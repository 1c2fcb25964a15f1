"""Drift and column summaries over a Parquet dataset larger than memory, in one streaming pass.

The in-memory drift check already judges every numeric column from counts in the reference's
fine bins, plus a few sums (the mass past the reference range) and counts (values outside it);
a categorical column from its category counts. All of these merge across record batches, so
:func:`drift_dataset` reads the current data once, a batch of columns at a time
(``pyarrow.dataset``: projected columns, bounded batches, little read-ahead), keeps one
small sketch per column and then computes exactly what :func:`~nbtrail.checks.drift` computes:
the same counts, hence the same p-values, effect sizes and verdicts. Only the display range of
each column's histogram differs: it needs the current 0.5% and 99.5% quantiles, which one
bounded pass cannot know exactly, so they are interpolated inside the fine bin that holds them.

A dataset (see ``_streaming_io``) is a folder of ``.parquet`` files, one file, or an fsspec URL (``s3://bucket/prefix``);
every file's footer is read first, so a file that is not Parquet or whose column types disagree
with the others is named before any work is done.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UsageError
from . import _drift as dr
from . import _drift_stats as st
from ._core import finish
from ._result import CheckResult, SubjectRef
from ._streaming_io import DEFAULT_BATCH_SIZE, Dataset, open_dataset

__all__ = ["DEFAULT_BATCH_SIZE", "Dataset", "dataset_summary", "drift_dataset", "open_dataset"]

_OTHER_NEW = "(other new categories)"


# -- sketches: mergeable summaries of one column over record batches ----------------------


def _floats(array) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return pc.cast(array, pa.float64(), safe=False).to_numpy(zero_copy_only=False)


class NumericSketch:
    """Counts over the reference's fine bins, range sums and counts, moments (Chan's merge)."""

    def __init__(self, summary: dict | None = None):
        self.rows = self.missing = self.count = 0
        self.mean = self.m2 = 0.0
        self.min, self.max = np.inf, -np.inf
        self.edges = None
        if summary and "quantiles" in summary:
            self.edges = st.fine_edges(summary["quantiles"])
            self.lo, self.hi = summary["min"], summary["max"]
            self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
            self.below = self.above = 0.0
            self.outside = 0

    def add(self, array) -> None:
        import pyarrow as pa

        values = _floats(array)
        self.rows += len(values)
        values = values[np.isfinite(values)]
        self.missing += len(array) - len(values)
        n = len(values)
        if not n:
            return
        low, high = values.min(), values.max()
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.min, self.max = min(self.min, low), max(self.max, high)
        if self.edges is None:
            return
        if pa.types.is_integer(array.type) and high - low <= 4 * n:
            # integers over a narrow range: count each value once, then bin the values
            seen = np.bincount((values - low).astype(np.int64))
            values = low + np.flatnonzero(seen).astype("float64")
            weights = seen[seen > 0]
        else:
            weights = np.ones(n, dtype=np.int64)
        where = np.searchsorted(self.edges, values, side="right")
        self.counts += np.bincount(where, weights=weights, minlength=len(self.counts)).astype(
            np.int64
        )
        first, top = where == 0, where == len(self.edges)
        self.below += float(((self.edges[0] - values[first]) * weights[first]).sum())
        self.above += float(((values[top] - self.edges[-1]) * weights[top]).sum())
        self.outside += int(weights[(values < self.lo) | (values > self.hi)].sum())

    def at_rank(self, k: int) -> float:
        """The k-th smallest value, interpolated inside the fine bin that holds it."""
        cum = np.cumsum(self.counts)
        b = int(np.searchsorted(cum, k, side="right"))
        low = self.edges[b - 1] if b > 0 else self.min
        high = self.edges[b] if b < len(self.edges) else self.max
        before = cum[b] - self.counts[b]
        frac = (k - before + 0.5) / self.counts[b]
        return float(min(max(low + frac * (high - low), self.min), self.max))


class CategorySketch:
    """Counts per category: the reference's, then new ones up to ``cap``, the rest pooled."""

    def __init__(self, known=(), cap: int = 1000):
        self.rows = self.missing = 0
        self.known = set(known)
        self.cap = cap
        self.counts: dict[str, int] = {}
        self.new = 0

    def add(self, array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.rows += len(array)
        if pa.types.is_dictionary(array.type):  # read as dictionary: count the codes
            codes = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False)
            found = np.bincount(codes + 1, minlength=len(array.dictionary) + 1)
            self.missing += int(found[0])
            labels, counts = array.dictionary.to_pylist(), found[1:].tolist()
        else:
            absent = pc.is_null(array, nan_is_null=pa.types.is_floating(array.type))
            self.missing += int(pc.sum(absent).as_py() or 0)
            found = pc.value_counts(pc.filter(array, pc.invert(absent)))
            labels, counts = found.field("values").to_pylist(), found.field("counts").to_pylist()
        for label, n in zip(labels, counts, strict=True):
            if not n:
                continue
            key = str(label)
            if key in self.counts:
                self.counts[key] += n
            elif key in self.known or self.new < self.cap:
                self.counts[key] = n
                self.new += key not in self.known
            else:
                self.counts[_OTHER_NEW] = self.counts.get(_OTHER_NEW, 0) + n


# -- drift from sketches (the in-memory rules of _drift, on merged counts) --------------------


def _numeric(column: str, summary: dict, sk: NumericSketch, o) -> dict:
    row = dr._row(column, "numeric", summary, missing_cur=sk.missing / sk.rows)
    if not sk.count:
        return {**row, "status": "error", "reason": "every value is missing in current"}
    if "quantiles" not in summary:
        return {**row, "status": "skipped", "reason": "every value is missing in reference"}
    n = sk.count
    ends = (sk.at_rank(n // 200), sk.at_rank(n - 1 - n // 200))
    tails = (sk.below / n, sk.above / n)
    return dr.numeric_verdict(row, summary, sk.edges, sk.counts, tails, sk.outside / n, ends, o)


def _categorical(column: str, summary: dict, sk: CategorySketch, o) -> dict:
    row = dr._row(column, "categorical", summary, missing_cur=sk.missing / sk.rows)
    unjudged = dr.categorical_unjudged(row, summary, sk.missing, sk.rows, o)
    if unjudged is not None:
        return unjudged
    return dr.categorical_verdict(row, summary, sk.counts, o, pooled=_OTHER_NEW, cap=sk.cap)


def _judge(column: str, summary: dict, sk, dtype, o) -> dict:
    ref_kind = summary["kind"]
    cur_kind = st.column_kind(pd.Series([], dtype=dtype))
    if ref_kind == "datetime":
        return dr._row(column, ref_kind, summary, status="skipped", reason="timestamps drift")
    if ref_kind == "numeric" and cur_kind != "numeric":
        reason = f"type changed: numbers in reference ({summary['dtype']}), {dtype} now"
        missing = sk.missing / sk.rows
        return dr._row(
            column, ref_kind, summary, status="error", reason=reason, missing_cur=missing
        )
    row = (_numeric if ref_kind == "numeric" else _categorical)(column, summary, sk, o)
    if cur_kind != ref_kind and row["status"] != "error":
        note = f"type changed: {summary['dtype']} in reference, {dtype} now"
        row["reason"] = "; ".join(x for x in (row["reason"], note) if x)
    change = row["missing_cur"] - row["missing_ref"]
    if abs(change) > o.max_missing_change and row["status"] in ("pass", "warn"):
        note = f"missing share {row['missing_ref']:.1%} -> {row['missing_cur']:.1%}"
        row.update(status="warn", reason="; ".join(x for x in (row["reason"], note) if x))
    return row


def _sketch_for(summary: dict, dtype, cap: int):
    kind = st.column_kind(pd.Series([], dtype=dtype))
    if summary["kind"] == "numeric" and kind == "numeric":
        return NumericSketch(summary)
    if summary["kind"] == "numeric":  # a type change: only the missing share is reported
        return CategorySketch((), cap=0)
    return CategorySketch(summary.get("counts") or (), cap=cap)


def _reference_summaries(reference, names: list, max_categories: int, storage_options) -> dict:
    """Per-column summaries of a Profile, a frame, or a Parquet dataset (a column at a time)."""
    if getattr(reference, "format", None) == st.PROFILE_FORMAT:
        return reference.columns
    if isinstance(reference, pd.DataFrame):
        by_name = {str(c): c for c in reference.columns}
        made = st.parallel_map(
            lambda c: st.summarise(reference[by_name[c]], max_categories=max_categories), names
        )
        return dict(zip(names, made, strict=True))
    data = open_dataset(reference, parameter="reference", storage_options=storage_options)
    out = {}
    for c in names:  # one column in memory at a time: exact quantiles need its values
        series = data.arrow.to_table(columns=[c]).to_pandas()[c]
        out[c] = st.summarise(series, max_categories=max_categories)
        del series
    return out


def drift_dataset(
    reference,
    current,
    *,
    columns: list | None = None,
    numeric_method: str = "wasserstein",
    categorical_method: str = "jensenshannon",
    psi: bool = False,
    alpha: float = 0.05,
    min_effect: dict | None = None,
    max_categories: int = 1000,
    max_missing_change: float = 0.05,
    max_new_share: float = 0.01,
    max_out_of_range: float = 0.01,
    batch_size: int = DEFAULT_BATCH_SIZE,
    storage_options: dict | None = None,
    name: str = "drift",
) -> CheckResult:
    """Drift of a Parquet dataset against a reference, in one pass with bounded memory.

    The same rule, statistics and verdicts as :func:`nbtrail.checks.drift` (see there): the
    current data is read once, in batches of at most ``batch_size`` rows of the judged columns
    only, and summarised per column in mergeable sketches. Memory: a batch, plus per numeric
    column the reference's fine bins (about a thousand counts), per categorical column its
    categories (new ones beyond ``max_categories`` are pooled in one cell and said so).

    Parameters
    ----------
    reference : Profile, pandas.DataFrame, str or os.PathLike
        A profile (:func:`nbtrail.monitor.profile`, the usual case), a frame, or a Parquet
        dataset, summarised exactly one column at a time (one column must fit in memory).
    current : str, os.PathLike or Dataset
        The batch: a folder of Parquet files, one file, or an fsspec URL.
    columns, numeric_method, categorical_method, psi, alpha, min_effect, max_categories, \
max_missing_change, max_new_share, max_out_of_range, name
        As for :func:`nbtrail.checks.drift`.
    batch_size : int
        Rows per record batch read.
    storage_options : dict, optional
        fsspec options for URLs (``endpoint_url``, credentials).

    Returns
    -------
    CheckResult
        Kind ``drift``, as :func:`nbtrail.checks.drift` returns; ``params`` also name the
        dataset, its files and rows.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    data = open_dataset(current, parameter="current", storage_options=storage_options)
    if not data.rows:
        raise UsageError(f"current dataset {data.source} has no rows: nothing to judge")
    is_profile = getattr(reference, "format", None) == st.PROFILE_FORMAT
    if isinstance(reference, pd.DataFrame):
        if reference.columns.astype(str).has_duplicates:
            raise UsageError("reference has duplicate column names; keep one of each")
        if not len(reference):
            raise UsageError("reference is empty: nothing to compare the current batch with")
        ref_names = list(map(str, reference))
    elif is_profile:
        if not reference.rows:
            raise UsageError("reference is empty: nothing to compare the current batch with")
        ref_names = list(reference.columns)
    else:
        reference = open_dataset(reference, parameter="reference", storage_options=storage_options)
        if not reference.rows:
            raise UsageError(f"reference dataset {reference.source} has no rows")
        ref_names = reference.columns
    if isinstance(max_categories, bool) or not isinstance(max_categories, int):
        raise UsageError(f"max_categories must be an integer, got {max_categories!r}")
    limits = {
        "max_missing_change": max_missing_change,
        "max_new_share": max_new_share,
        "max_out_of_range": max_out_of_range,
    }
    effects = dr._check_options(alpha, numeric_method, categorical_method, min_effect, limits)
    options = dr._Options(
        numeric_method=numeric_method,
        categorical_method=categorical_method,
        max_categories=max(max_categories, 2),
        **limits,
    )
    dtypes = data.dtypes()
    wanted = list(dict.fromkeys(ref_names + data.columns))
    if columns is not None:
        asked = [str(c) for c in ([columns] if isinstance(columns, str) else columns)]
        absent = [c for c in asked if c not in wanted]
        if absent:
            raise UsageError(f"columns not in reference nor current ({data.source}): {absent}")
        wanted = list(dict.fromkeys(asked))
    both = [c for c in wanted if c in dtypes and c in ref_names]
    summaries = _reference_summaries(reference, both, max_categories, storage_options)
    sketches = {c: _sketch_for(summaries[c], dtypes[c], options.max_categories) for c in both}
    read = [c for c in both if summaries[c]["kind"] != "datetime"]
    texts = [c for c in read if isinstance(sketches[c], CategorySketch)]
    for batch in data.batches(read, batch_size, codes=texts):
        for i, c in enumerate(read):
            sketches[c].add(batch.column(i))
    for c in both:  # timestamps are not read: their row count is the dataset's
        sketches[c].rows = sketches[c].rows or data.rows
    rows = [_judge(c, summaries[c], sketches[c], dtypes[c], options) for c in both]
    for column in wanted:
        if column not in dtypes:
            summary = summaries.get(column) or {"kind": "", "missing": 0, "count": 0}
            kind = summary.get("kind", "")
            rows.append(dr._row(column, kind, summary, status="error", reason="not in current"))
        elif column not in ref_names:
            kind = st.column_kind(pd.Series([], dtype=dtypes[column]))
            rows.append(dr._row(column, kind, {}, status="skipped", reason="not in reference"))
    result = dr._result(name, rows, alpha, effects, limits, psi)
    result.kind, result.version = "drift", "1"
    result.params = {
        "columns": columns,
        "numeric_method": numeric_method,
        "categorical_method": categorical_method,
        "alpha": alpha,
        "max_categories": max_categories,
        "streamed": True,
        "batch_size": batch_size,
        "current": data.source,
        "files": len(data.files),
        "rows": data.rows,
    }
    subjects = [("current", SubjectRef("current", data.digest, data.source), "current")]
    if isinstance(reference, Dataset):
        subjects.insert(0, ("reference", SubjectRef("reference", reference.digest), "reference"))
    else:
        subjects.insert(0, ("reference", reference, "reference"))
    return finish(result, subjects)


def dataset_summary(
    source,
    *,
    columns: list | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    storage_options: dict | None = None,
) -> pd.DataFrame:
    """Per-column rows, missing values, and for numbers min, max, mean and std, in one pass.

    Parameters
    ----------
    source : str, os.PathLike or Dataset
        A Parquet dataset (see :func:`open_dataset`).
    columns : list, optional
        The columns to summarise (default: all).
    batch_size : int
        Rows per record batch read.
    storage_options : dict, optional
        fsspec options for URLs.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``column``, ``kind``, ``rows``, ``missing`` (null, NaN or
        infinite for numbers), ``min``, ``max``, ``mean``, ``std`` (population, as
        ``numpy.std``), merged across batches with Chan's update.
    """
    data = open_dataset(source, parameter="source", storage_options=storage_options)
    dtypes = data.dtypes()
    names = list(dtypes) if columns is None else [str(c) for c in columns]
    absent = [c for c in names if c not in dtypes]
    if absent:
        raise UsageError(f"columns not in {data.source}: {absent}")
    kinds = {c: st.column_kind(pd.Series([], dtype=dtypes[c])) for c in names}
    sketches = {
        c: NumericSketch() if kinds[c] == "numeric" else CategorySketch(cap=0) for c in names
    }
    for batch in data.batches(names, batch_size):
        for i, c in enumerate(names):
            if kinds[c] == "datetime":
                sketches[c].rows += len(batch)
                sketches[c].missing += batch.column(i).null_count
            else:
                sketches[c].add(batch.column(i))
    out = []
    for c in names:
        sk = sketches[c]
        row = {"column": c, "kind": kinds[c], "rows": sk.rows, "missing": sk.missing}
        if isinstance(sk, NumericSketch) and sk.count:
            std = float(np.sqrt(sk.m2 / sk.count))
            row.update(min=float(sk.min), max=float(sk.max), mean=sk.mean, std=std)
        out.append(row)
    return pd.DataFrame(
        out, columns=["column", "kind", "rows", "missing", "min", "max", "mean", "std"]
    )
