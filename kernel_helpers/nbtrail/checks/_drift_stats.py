"""The statistics of the drift check: binned tests, effect sizes, FDR control, its card.

Everything works from binned counts, so a reference profile (quantile bins with exact counts)
serves as well as the reference rows, and a million-row column costs one sort.

* The test for both kinds of column is Pearson's chi-square on the 2 x k contingency table
  (reference and current counts per bin or category; ``scipy.stats.chi2_contingency``): a
  two-sample test, so a category unseen in the reference is a cell like any other, never the
  p = 0 of a goodness-of-fit test against reference shares. Cells too sparse for the
  chi-square approximation (an expected count under 5 in either row) are pooled.
* Numeric bins for the test are runs of the profile's fine bins of about equal reference
  mass, fewer for small samples (about 50 current rows a bin at least, 5 to 50 bins); a value
  holding more than a bin's mass keeps a bin of its own.
* The Wasserstein distance is the area between the two CDFs, known exactly at every fine edge
  (trapezoids between edges) plus, exactly, the mass of current values past the reference's
  range.
"""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from ..errors import UsageError
from ._render import findings_table, metrics_table, svg_image

__all__ = [
    "PROFILE_FORMAT",
    "auc_standard_error",
    "benjamini_hochberg",
    "category_counts",
    "column_kind",
    "contingency_p",
    "drift_body",
    "drift_widget",
    "encode_features",
    "fine_edges",
    "histogram_categories",
    "histogram_numeric",
    "histograms_svg",
    "jensen_shannon",
    "merge_bins",
    "numeric_values",
    "parallel_map",
    "psi",
    "summarise",
    "test_bins",
    "wasserstein",
]

_PSI_EPS = 1e-4
PROFILE_FORMAT = "nbtrail.profile"  # what a reference profile (nbtrail.monitor) says it is


# -- summaries of one column (a reference profile keeps them; a batch is summarised alike) --

_SIGNIFICANT = 9  # digits kept of each quantile: the JSON stays small, the bins exact


def column_kind(series: pd.Series) -> str:
    """``numeric``, ``categorical`` or ``datetime``: how a column is summarised and judged."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return "numeric"
    return "categorical"


def numeric_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values sorted, and how many were missing (NaN, None or infinite)."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    kept = values[finite] if not finite.all() else values.copy()
    kept.sort()
    return kept, int(len(values) - len(kept))


def _round(values: np.ndarray) -> np.ndarray:
    """Round to a few significant digits (vectorised; zeros and signs kept)."""
    out = values.astype("float64", copy=True)
    nonzero = out != 0
    magnitude = np.floor(np.log10(np.abs(out[nonzero])))
    scale = 10.0 ** (_SIGNIFICANT - 1 - magnitude)
    out[nonzero] = np.round(out[nonzero] * scale) / scale
    return out


def fine_edges(quantiles: np.ndarray) -> np.ndarray:
    """Bin edges from the stored quantiles: repeats removed, each repeated value its own bin.

    Bin ``i`` of a column's counts holds values in ``[edges[i-1], edges[i])``; bin 0 holds
    values below the minimum, the last one values above the maximum.
    """
    q = np.asarray(quantiles, dtype="float64")
    unique, repeats = np.unique(q, return_counts=True)
    spikes = unique[repeats > 1]
    tops = np.nextafter(np.concatenate([spikes, unique[-1:]]), np.inf)
    return np.unique(np.concatenate([unique, tops]))


def _quantiles(sorted_values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles of already sorted values (no second sort)."""
    position = grid * (len(sorted_values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(sorted_values) - 1)
    frac = position - low
    return sorted_values[low] * (1 - frac) + sorted_values[high] * frac


def _numeric(series: pd.Series, n_quantiles: int) -> dict:
    values, missing = numeric_values(series)
    summary = {"kind": "numeric", "dtype": str(series.dtype), "count": len(values)}
    summary["missing"] = missing
    if not len(values):
        return summary
    grid = np.linspace(0.0, 1.0, n_quantiles)
    quantiles = _round(_quantiles(values, grid))
    quantiles[0], quantiles[-1] = values[0], values[-1]  # the range itself, unrounded
    edges = fine_edges(quantiles)
    below = np.searchsorted(values, edges, side="left")
    counts = np.diff(np.concatenate([[0], below, [len(values)]]))
    summary.update(
        min=float(values[0]),
        max=float(values[-1]),
        mean=float(values.mean()),
        std=float(values.std()),
        quantiles=quantiles,
        counts=counts.astype(np.int64),
    )
    return summary


def category_counts(series: pd.Series) -> pd.Series:
    """Counts per category, labels as text (so a profile read from JSON compares equal)."""
    counts = series.value_counts(dropna=True, sort=False)
    labels = counts.index.astype(str)
    counts.index = labels
    if labels.has_duplicates:  # 1 and "1" in one object column: one category as text
        counts = counts.groupby(level=0, sort=False).sum()
    return counts


def _categorical(series: pd.Series, max_categories: int) -> dict:
    counts = category_counts(series)
    missing = int(series.isna().sum())
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    kept = counts.iloc[:max_categories]
    return {
        "kind": "categorical",
        "dtype": str(series.dtype),
        "count": int(len(series) - missing),
        "missing": missing,
        "distinct": len(counts),
        "counts": {str(k): int(v) for k, v in kept.items()},
        "other": int(counts.iloc[max_categories:].sum()),
        "truncated": bool(len(counts) > max_categories),
    }


def summarise(series: pd.Series, *, max_categories: int = 1000, quantiles: int = 1001) -> dict:
    """One column's summary, as a reference profile keeps it and as drift makes it on the fly.

    Exported as ``nbtrail.checks.column_summary`` (``nbtrail.monitor.profile`` uses it).

    Parameters
    ----------
    series : pandas.Series
        The column.
    max_categories : int
        Categories kept, the most frequent first; the rest pooled in ``other``.
    quantiles : int
        Evenly spaced quantiles kept of a numeric column.

    Returns
    -------
    dict
        See :class:`nbtrail.monitor.Profile`.
    """
    kind = column_kind(series)
    if kind == "numeric":
        return _numeric(series, quantiles)
    if kind == "categorical":
        return _categorical(series, max_categories)
    missing = int(series.isna().sum())
    return {
        "kind": kind,
        "dtype": str(series.dtype),
        "count": len(series) - missing,
        "missing": missing,
    }


def parallel_map(function, items: list) -> list:
    """``function`` over ``items`` on a few threads (sorting and counting release the GIL)."""
    workers = min(4, os.cpu_count() or 1, max(1, len(items)))
    if workers == 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


# -- tests and effect sizes ---------------------------------------------------------------


def merge_bins(ref_counts: np.ndarray, k: int) -> np.ndarray:
    """Start indices of runs of fine bins with about ``1/k`` of the reference mass each.

    A single fine bin holding at least ``1/k`` of the mass (a spike: the zero of a
    zero-inflated column) is a bin of its own, and the other bins share the rest of the mass
    equally, so the spike neither swallows nor starves them. Cuts go at the fine edges nearest
    the targets. The outer bins (below and above the reference range) join their neighbours.
    Use with ``np.add.reduceat``.
    """
    counts = np.asarray(ref_counts, dtype="float64")
    spikes = np.flatnonzero(counts >= counts.sum() / k)
    rest = counts.copy()
    rest[spikes] = 0.0
    starts = [np.array([0]), spikes, spikes + 1]
    if rest.sum() > 0:
        parts = max(k - len(spikes), 1)
        cum = np.cumsum(rest) / rest.sum()  # mass up to and including bin i
        targets = np.arange(1, parts) / parts
        right = np.clip(np.searchsorted(cum, targets), 0, len(cum) - 1)
        left = np.maximum(right - 1, 0)
        nearer_left = np.abs(cum[left] - targets) <= np.abs(cum[right] - targets)
        starts.append(np.where(nearer_left, left, right) + 1)  # a run ends after that bin
    starts = np.concatenate(starts)
    starts = np.unique(starts[(starts > 1) & (starts < len(counts) - 1)])
    return np.concatenate([[0], starts]).astype(np.int64)


def test_bins(n_ref: int, n_cur: int) -> int:
    """Bins for the numeric test: about 50 rows of the smaller sample a bin, 5 to 50."""
    return int(np.clip(min(n_ref, n_cur) // 50, 5, 50))


def contingency_p(ref: np.ndarray, cur: np.ndarray) -> float:
    """p-value of Pearson's chi-square on the 2 x k table of counts (sparse cells pooled)."""
    ref = np.asarray(ref, dtype="float64")
    cur = np.asarray(cur, dtype="float64")
    n_ref, n_cur = ref.sum(), cur.sum()
    if n_ref <= 0 or n_cur <= 0:
        return float("nan")
    total = ref + cur
    keep = total > 0
    ref, cur, total = ref[keep], cur[keep], total[keep]
    expected_min = total * min(n_ref, n_cur) / (n_ref + n_cur)
    sparse = expected_min < 5
    if sparse.any():
        ref = np.append(ref[~sparse], ref[sparse].sum())
        cur = np.append(cur[~sparse], cur[sparse].sum())
    if len(ref) < 2:
        return 1.0
    result = chi2_contingency(np.vstack([ref, cur]), correction=False)
    return float(result.pvalue)


def wasserstein(
    edges: np.ndarray,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    below: float,
    above: float,
) -> float:
    """Wasserstein-1 distance between two binned distributions on the same fine edges.

    ``below`` and ``above``: the mean distance by which current values fall short of the
    reference minimum and pass its maximum (``sum(edge - x) / n`` over those values), which
    is exactly the area between the CDFs outside the reference range.
    """
    ref_cdf = np.cumsum(ref_counts)[:-1] / ref_counts.sum()  # mass below each edge
    cur_cdf = np.cumsum(cur_counts)[:-1] / cur_counts.sum()
    gap = np.abs(ref_cdf - cur_cdf)
    inside = float(np.sum(np.diff(edges) * (gap[:-1] + gap[1:]) / 2))
    return inside + below + above


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log: 0 to sqrt(ln 2) = 0.83) between two count vectors."""
    p = np.asarray(ref, dtype="float64")
    q = np.asarray(cur, dtype="float64")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population stability index of two count vectors (shares clipped at 1e-4)."""
    p = np.clip(np.asarray(ref, dtype="float64") / np.sum(ref), _PSI_EPS, None)
    q = np.clip(np.asarray(cur, dtype="float64") / np.sum(cur), _PSI_EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN and does not count)."""
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * len(ok) / np.arange(1, len(ok) + 1)
    out[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return out


def histogram_numeric(
    edges: np.ndarray,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    low: float,
    high: float,
    bins: int = 20,
) -> str:
    """Shares of both samples in ``bins`` equal-width bins over ``[low, high]`` (JSON text).

    The first and last bins also hold everything below and above; the CDFs are interpolated
    linearly between fine edges.
    """
    if not high > low:
        high = low + 1.0
    grid = np.linspace(low, high, bins + 1)
    shares = []
    for counts in (ref_counts, cur_counts):
        cdf = np.cumsum(counts)[:-1] / counts.sum()  # mass below each fine edge
        at = np.interp(grid, edges, cdf)
        at[0], at[-1] = 0.0, 1.0
        shares.append(np.round(np.diff(at), 4).tolist())
    data = {"edges": [float(f"{e:.6g}") for e in grid], "ref": shares[0], "cur": shares[1]}
    return json.dumps(data, separators=(",", ":"))


def histogram_categories(labels, ref: np.ndarray, cur: np.ndarray, top: int = 8) -> str:
    """Shares of the ``top`` categories most common in either sample, the rest as other."""
    p = np.asarray(ref, dtype="float64") / max(np.sum(ref), 1)
    q = np.asarray(cur, dtype="float64") / max(np.sum(cur), 1)
    order = np.argsort(-np.maximum(p, q), kind="stable")[:top]
    names = [str(labels[i])[:24] for i in order]
    ref_share, cur_share = p[order].tolist(), q[order].tolist()
    if len(p) > top:
        names.append("(other)")
        ref_share.append(1 - sum(ref_share))
        cur_share.append(1 - sum(cur_share))
    data = {
        "labels": names,
        "ref": [round(v, 4) for v in ref_share],
        "cur": [round(v, 4) for v in cur_share],
    }
    return json.dumps(data, separators=(",", ":"))


def histograms_svg(panels: list[tuple[str, str, bool, str]], *, columns: int = 3) -> str:
    """Small multiples of reference (grey) vs current (blue; red when drifted) histograms.

    ``panels``: (title, histogram JSON, drifted, subtitle) per column, at most a dozen.
    """
    width, height, pad = 230, 110, 14
    rows = -(-len(panels) // columns)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{columns * width}' "
        f"height='{rows * height}' font-family='sans-serif' font-size='10'>"
    ]
    for k, (title, data, drifted, subtitle) in enumerate(panels):
        shares = json.loads(data)
        x0, y0 = (k % columns) * width + 4, (k // columns) * height
        ref, cur = shares["ref"], shares["cur"]
        top = max(max(ref, default=0), max(cur, default=0)) or 1.0
        n = len(ref)
        plot_w, plot_h = width - 16, height - 3 * pad
        step = plot_w / max(n, 1)
        color = "#d93025" if drifted else "#1a73e8"
        parts.append(
            f"<text x='{x0}' y='{y0 + 11}' font-weight='bold'>{_text(title)}</text>"
            f"<text x='{x0}' y='{y0 + 23}' fill='#5f6368'>{_text(subtitle)}</text>"
        )
        base = y0 + height - pad
        for i, (a, b) in enumerate(zip(ref, cur, strict=True)):
            h_ref, h_cur = a / top * plot_h, b / top * plot_h
            x = x0 + i * step
            parts.append(
                f"<rect x='{x:.1f}' y='{base - h_ref:.1f}' width='{max(step - 1, 1):.1f}' "
                f"height='{h_ref:.1f}' fill='#bdc1c6'/>"
                f"<rect x='{x + step * 0.25:.1f}' y='{base - h_cur:.1f}' "
                f"width='{max(step * 0.5 - 1, 1):.1f}' height='{h_cur:.1f}' fill='{color}' "
                "fill-opacity='0.8'/>"
            )
        if "edges" in shares:
            low, high = shares["edges"][0], shares["edges"][-1]
            parts.append(
                f"<text x='{x0}' y='{base + 11}' fill='#5f6368'>{low:.4g}</text>"
                f"<text x='{x0 + plot_w}' y='{base + 11}' fill='#5f6368' "
                f"text-anchor='end'>{high:.4g}</text>"
            )
        else:
            parts.append(
                f"<text x='{x0}' y='{base + 11}' fill='#5f6368'>"
                f"{_text(', '.join(shares['labels'][:3]))}...</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _text(value) -> str:
    import html

    return html.escape(str(value)[:40], quote=True)


def auc_standard_error(auc: float, n0: int, n1: int) -> float:
    """Standard error of a ROC AUC from ``n0`` negatives and ``n1`` positives (Hanley-McNeil)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n0 * n1)
    return float(np.sqrt(max(var, 0.0)))


def encode_features(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list]:
    """Numbers as they are, categories as codes (as categories when few); timestamps left out."""
    columns, categorical, used = [], [], []
    for name in frame.columns:
        series = frame[name]
        kind = column_kind(series)
        if kind == "datetime":
            continue
        if kind == "numeric":
            # a copy: a frame read from Parquet may hand out a read-only view
            values = np.array(series.to_numpy(dtype="float64", na_value=np.nan), copy=True)
            values[~np.isfinite(values)] = np.nan
            columns.append(values)
            categorical.append(False)
        else:
            codes, labels = pd.factorize(series.astype(str).where(series.notna()))
            columns.append(np.where(codes < 0, np.nan, codes).astype("float64"))
            categorical.append(len(labels) <= 250)
        used.append(str(name))
    if not columns:
        raise UsageError("no column to learn from: timestamps are left out")
    return np.column_stack(columns), np.array(categorical), used


# -- the card -------------------------------------------------------------------------------


def drift_body(result) -> str:
    """The drift card: histograms of the drifted (then largest) columns, metrics, findings."""
    details = result.details
    picture = ""
    if len(details) and "histogram" in details.columns:
        shown = details[details["histogram"].astype(bool)].head(12)
        panels = [
            (
                str(r.column),
                r.histogram,
                bool(r.drifted),
                f"{r.method} {r.effect:.3g}" + (" DRIFTED" if r.drifted else ""),
            )
            for r in shown.itertuples()
        ]
        if panels:
            picture = svg_image(
                histograms_svg(panels), alt="reference (grey) vs current histograms"
            ) + ("<div class='muted'>reference grey, current blue (red: drifted)</div>")
    table = details.drop(columns="histogram") if "histogram" in details.columns else details
    return picture + metrics_table(result.metrics, result.thresholds) + findings_table(table)


def drift_widget(result):
    """The findings view without the histograms' JSON column."""
    from ._widget import CheckWidget

    if "histogram" in result.details.columns:
        result = dataclasses.replace(result, details=result.details.drop(columns="histogram"))
    return CheckWidget(result)
