"""Recourse: what a rejected applicant could change to be accepted, and what it costs by group.

For each row the model decides against, :func:`recourse` looks for a few small, actionable
counterfactuals: changes to mutable features only, to values seen in the reference data,
inside observed (or given) ranges and allowed directions, with redundant columns changed
together. Each one is checked by calling the model on it before it is reported. Given a
sensitive feature, it also compares how much recourse costs each group (the cheapest
counterfactual's number of changes and distance), with bootstrap intervals: a model can
accept groups at equal rates and still ask much more of one of them to get there.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._recourse_search import (
    Problem,
    _build_units,
    _columns,
    _cost,
    _frame,
    _is_numeric,
    search_row,
)
from ._registry import check
from ._render import bar_chart, findings_table, metrics_table, register_renderer
from ._result import CheckResult

__all__ = ["DEFAULT_IMMUTABLE", "RecourseResult", "recourse"]

# columns left alone unless ``immutable=`` says otherwise (matched ignoring case and _ - .)
DEFAULT_IMMUTABLE = (
    "sex",
    "gender",
    "race",
    "ethnicity",
    "age",
    "native_country",
    "nationality",
    "country_of_birth",
    "personal_status",
    "foreign_worker",
)
N_BOOT = 1000
DETAIL_COLUMNS = (
    "kind", "row", "group", "status", "rank", "changes", "n_changed", "distance",
    "score_before", "score", "rows", "share_with_recourse", "n_changed_lo", "n_changed_hi",
    "distance_lo", "distance_hi",
)  # fmt: skip


@dataclass(repr=False)
class RecourseResult(CheckResult):
    """A recourse check's result, with the counterfactuals as full rows.

    Attributes
    ----------
    counterfactuals : pandas.DataFrame
        One row per counterfactual: ``row`` (the original row's index label), ``rank`` (1 is
        the cheapest), every feature column with its new value, ``n_changed``, ``distance``
        and ``score`` (the model's probability of the desired class).
    by_group : pandas.DataFrame
        With ``sensitive=``: per group the rejected rows, the share with recourse and the mean
        cost of each row's cheapest counterfactual with bootstrap intervals. Otherwise empty.
    """

    counterfactuals: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_group: pd.DataFrame = field(default_factory=pd.DataFrame)


def _norm(name) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _validate(model, rows, data, immutable, ranges, monotone, sensitive, n, max_changes, seconds):
    if not isinstance(rows, pd.DataFrame):
        raise UsageError(f"rows must be a pandas DataFrame, got {type(rows).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise UsageError(f"data must be a pandas DataFrame (the reference rows), got {data!r:.60}")
    if not len(rows.columns) or not len(rows):
        raise UsageError("rows is empty: no applicants to look for recourse for")
    missing = [c for c in rows.columns if c not in data.columns]
    if missing:
        raise UsageError(f"data lacks columns of rows: {missing}")
    if not callable(getattr(model, "predict", None)):
        raise UsageError(f"model must have predict (and ideally predict_proba): got {model!r:.60}")
    if immutable is None:
        wanted = {_norm(c) for c in DEFAULT_IMMUTABLE}
        immutable = [c for c in rows.columns if _norm(c) in wanted]
    else:
        immutable = _columns(immutable, "immutable", rows.columns)
    ranges = dict(ranges or {})
    for c, bounds in ranges.items():
        _columns([c], "ranges", rows.columns)
        if not _is_numeric(rows[c].dtype):
            raise UsageError(f"ranges: column {c!r} is not numeric")
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise UsageError(f"ranges[{c!r}] must be a (lo, hi) pair, got {bounds!r}") from None
        if lo > hi:
            raise UsageError(f"ranges[{c!r}]: lo {lo:g} is above hi {hi:g}")
        ranges[c] = (lo, hi)
    monotone = dict(monotone or {})
    for c, direction in monotone.items():
        _columns([c], "monotone", rows.columns)
        if direction not in ("increase", "decrease"):
            raise UsageError(f"monotone[{c!r}] must be 'increase' or 'decrease', got {direction!r}")
        if not _is_numeric(rows[c].dtype):
            raise UsageError(f"monotone: column {c!r} is not numeric")
    if isinstance(sensitive, str):
        _columns([sensitive], "sensitive", rows.columns)
    elif sensitive is not None:
        if len(sensitive) != len(rows):
            raise UsageError(f"sensitive has {len(sensitive)} values for {len(rows)} rows")
    for option, value in (("n", n), ("max_changes", max_changes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{option} must be a positive integer, got {value!r}")
    if not isinstance(seconds, int | float) or seconds <= 0:
        raise UsageError(f"max_seconds_per_row must be a positive number, got {seconds!r}")
    return immutable, ranges, monotone


def _scorer(model, desired):
    """``desired`` (defaulting to the positive class) and frame -> (score, decided for it)."""
    classes = getattr(model, "classes_", None)
    classes = list(classes) if classes is not None else None
    if desired is None:
        if classes is None or len(classes) != 2:
            raise UsageError("desired must name the wanted label (the model is not binary)")
        desired = classes[1]
    elif classes is not None and desired not in classes:
        raise UsageError(f"desired {desired!r} is not one of the model's classes {classes}")
    proba = callable(getattr(model, "predict_proba", None)) and classes is not None
    at = classes.index(desired) if proba else None

    def evaluate(frame):
        if proba:
            p = np.asarray(model.predict_proba(frame))
            return p[:, at], p.argmax(1) == at
        decided = np.asarray(model.predict(frame)) == desired
        return decided.astype("float64"), decided

    return desired, evaluate


def _describe(columns, base: dict, new: pd.Series) -> str:
    parts = []
    for c in columns:
        before, after = base[c], new[c]
        if (pd.isna(before) and pd.isna(after)) or before == after:
            continue
        parts.append(f"{c}: {_fmt(before)} -> {_fmt(after)}")
    return "; ".join(parts)


def _fmt(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def _valid(cfs, originals, immutable, bounds, monotone, decided):
    """Flips the decision, leaves immutable columns alone, stays in range and direction."""
    ok = decided.copy()
    for c in immutable:
        a, b = cfs[c].reset_index(drop=True), originals[c].reset_index(drop=True)
        ok &= ((a == b).fillna(False) | (a.isna() & b.isna())).to_numpy(dtype=bool)
    for c, (lo, hi) in bounds.items():
        new, old = cfs[c].to_numpy(dtype="float64"), originals[c].to_numpy(dtype="float64")
        changed = new != old
        ok &= ~changed | ((new >= lo) & (new <= hi))
        if monotone.get(c) == "increase":
            ok &= new >= old
        elif monotone.get(c) == "decrease":
            ok &= new <= old
    return ok


def _by_group(costs: pd.DataFrame, random_state: int) -> pd.DataFrame:
    """Per group: rows, share with recourse, mean cost of the cheapest counterfactual (95% CI)."""
    rng = np.random.default_rng(random_state)
    out = []
    for group, part in costs.groupby("group", sort=True):
        found = part.dropna(subset=["n_changed"])
        entry = {
            "group": str(group),
            "rows": len(part),
            "share_with_recourse": len(found) / len(part),
        }
        for metric in ("n_changed", "distance"):
            values = found[metric].to_numpy(dtype="float64")
            if not len(values):
                entry.update({metric: np.nan, f"{metric}_lo": np.nan, f"{metric}_hi": np.nan})
                continue
            means = values[rng.integers(0, len(values), (N_BOOT, len(values)))].mean(1)
            lo, hi = np.quantile(means, [0.025, 0.975])
            entry.update({metric: values.mean(), f"{metric}_lo": lo, f"{metric}_hi": hi})
        out.append(entry)
    return pd.DataFrame(out)


@check("recourse", version=1, roles={"model": "model", "rows": "data"})
def recourse(
    model,
    rows: pd.DataFrame,
    *,
    data: pd.DataFrame,
    immutable: list | None = None,
    ranges: dict | None = None,
    monotone: dict | None = None,
    redundant: list | None = None,
    desired: object = None,
    n: int = 3,
    max_changes: int = 3,
    random_state: int = 0,
    max_seconds_per_row: float = 2.0,
    sensitive: str | pd.Series | None = None,
    max_gap: float = 0.5,
    gap_on: Literal["n_changed", "distance"] = "n_changed",
    name: str = "recourse",
) -> RecourseResult:
    """Find what each rejected row could change to be accepted, and compare its cost by group.

    Parameters
    ----------
    model : estimator
        A fitted classifier taking ``rows``-shaped frames (a Pipeline with its encoders);
        ``predict`` is required, ``predict_proba`` guides the search where present.
    rows : pandas.DataFrame
        The applicants (the model's input columns only). Rows the model already decides for
        ``desired`` need nothing and are skipped.
    data : pandas.DataFrame
        Reference rows (the training set): categories, value tuples, ranges and scales come
        from it, so proposals are values people actually have. Extra columns are ignored.
    immutable : list of str, optional
        Columns never changed. Default: those of :data:`DEFAULT_IMMUTABLE` present (sex,
        gender, race, ethnicity, age, native_country, nationality, country_of_birth,
        personal_status, foreign_worker). ``[]`` allows every change.
    ranges : dict, optional
        ``{column: (lo, hi)}`` for numeric columns; default: the observed [min, max] of ``data``.
    monotone : dict, optional
        ``{column: "increase" | "decrease"}`` for numeric columns (``education_num`` only rises).
    redundant : list of tuples, optional
        Columns that encode one thing (``[("education", "education_num")]``); they change
        together to values observed together. One-to-one mappings in ``data`` are found
        and added. A group with an immutable member is immutable as a whole.
    desired : label, optional
        The decision wanted; default: the second of the model's two classes (``>50K``).
    n : int
        Counterfactuals per row at most: the cheapest per set of features changed.
    max_changes : int
        Most features one counterfactual changes (a redundant group counts once).
    random_state : int
        Seed of the bootstrap (the search itself is deterministic).
    max_seconds_per_row : float
        Time after which a row's search stops widening (what it found is kept).
    sensitive : str or pandas.Series, optional
        A column of ``rows``, or one value per row: compare the cost of recourse by group.
    max_gap : float
        The largest difference between groups' mean cost (``gap_on``) that still passes;
        above it the check warns.
    gap_on : {"n_changed", "distance"}
        The cost compared across groups: features changed, or normalised distance (numeric
        changes in units of the column's median absolute deviation in ``data``, or its
        standard deviation where that is 0 as for ``capital_gain``; 1 per categorical change).
    name : str
        The check's name.

    Returns
    -------
    RecourseResult
        A :class:`CheckResult` whose ``details`` has one row per group (``kind="group"``)
        and per counterfactual (``kind="counterfactual"``, ``status`` ``found``, or ``none``
        for a rejected row without recourse), with ``.counterfactuals`` (full rows) and
        ``.by_group``. Every counterfactual reported was verified on the model.
    """
    immutable, ranges, monotone = _validate(
        model, rows, data, immutable, ranges, monotone, sensitive, n, max_changes,
        max_seconds_per_row,
    )  # fmt: skip
    if gap_on not in ("n_changed", "distance"):
        raise UsageError(f"gap_on must be 'n_changed' or 'distance', got {gap_on!r}")
    if isinstance(max_gap, bool) or not isinstance(max_gap, int | float) or max_gap < 0:
        raise UsageError(f"max_gap must be a non-negative number, got {max_gap!r}")
    desired, evaluate = _scorer(model, desired)
    units, bounds = _build_units(rows, data, immutable, ranges, monotone, redundant)
    thresholds = {f"gap_{gap_on}": max_gap} if sensitive is not None else {}
    try:
        decided = np.asarray(model.predict(rows)) == desired
    except Exception as exc:  # noqa: BLE001 - the model's own failure is the verdict
        return RecourseResult(name, "error", f"the model failed on rows: {exc}"[:300])
    groups = rows[sensitive] if isinstance(sensitive, str) else sensitive
    rejected = np.flatnonzero(~decided)
    metrics = {"rows": len(rows), "rejected": len(rejected)}
    if not len(rejected):
        summary = f"no rejected rows: the model decides {desired!r} for all {len(rows)}"
        return RecourseResult(name, "pass", summary, metrics, thresholds)
    problem = Problem(list(rows.columns), rows.dtypes.to_dict(), units, evaluate)
    found, seconds, timed_out, where = [], [], 0, []
    try:
        for i in rejected:
            base = rows.iloc[i].to_dict()
            start = time.perf_counter()
            cands, late = search_row(
                problem, base, n=n, max_changes=max_changes, max_seconds=max_seconds_per_row
            )
            seconds.append(time.perf_counter() - start)
            timed_out += late
            if len(cands):
                n_changed, dist = _cost(problem, base, cands)
                frame = _frame(problem, base, cands)
                frame.insert(0, "row", rows.index[i])
                frame.insert(1, "rank", np.arange(1, len(cands) + 1))
                frame["n_changed"], frame["distance"] = n_changed, dist
                found.append(frame)
                where.append(np.full(len(cands), i))
        cfs = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
        if len(cfs):
            features = cfs[list(rows.columns)]
            score, _ = evaluate(features)
            verdict = np.asarray(model.predict(features)) == desired
        score_before, _ = evaluate(rows.iloc[rejected])
    except Exception as exc:  # noqa: BLE001 - the model's own failure is the verdict
        reason = f"the model failed on candidate rows: {type(exc).__name__}: {exc}"
        return RecourseResult(name, "error", reason[:300], metrics, thresholds)
    dropped, where = 0, np.concatenate(where) if where else np.empty(0, dtype=int)
    if len(cfs):  # positions, not labels: an index may repeat
        ok = _valid(features, rows.iloc[where], immutable, bounds, monotone, verdict)
        cfs["score"] = score
        dropped = int((~ok).sum())
        cfs, where = cfs[ok].reset_index(drop=True), where[ok]
        cfs["rank"] = cfs.groupby(where, sort=False).cumcount() + 1
    detail_rows, cost_rows = [], []
    for k, i in enumerate(rejected):
        label = rows.index[i]
        mine = cfs[where == i] if len(cfs) else cfs
        base = rows.iloc[i].to_dict()
        group = None if groups is None else np.asarray(groups)[i]
        first = mine.iloc[0] if len(mine) else None
        cost_rows.append(
            {
                "group": group,
                "n_changed": np.nan if first is None else first["n_changed"],
                "distance": np.nan if first is None else first["distance"],
            }
        )
        common = {"kind": "counterfactual", "row": str(label), "group": _group_text(group)}
        if first is None:
            detail_rows.append({**common, "status": "none", "score_before": score_before[k]})
        for _, cf in mine.iterrows():
            detail_rows.append(
                {
                    **common,
                    "status": "found",
                    "rank": int(cf["rank"]),
                    "changes": _describe(rows.columns, base, cf),
                    "n_changed": int(cf["n_changed"]),
                    "distance": float(cf["distance"]),
                    "score_before": score_before[k],
                    "score": float(cf["score"]),
                }
            )
    costs = pd.DataFrame(cost_rows)
    with_recourse = int(costs["n_changed"].notna().sum())
    metrics.update(
        {
            "rows_with_recourse": with_recourse,
            "recourse_share": with_recourse / len(rejected),
            "counterfactuals": len(cfs),
            "median_seconds_per_row": float(np.median(seconds)),
            "mean_n_changed": float(costs["n_changed"].mean()) if with_recourse else np.nan,
            "mean_distance": float(costs["distance"].mean()) if with_recourse else np.nan,
            "rows_timed_out": timed_out,
            "dropped_unverified": dropped,
        }
    )
    by_group, status = pd.DataFrame(), "pass"
    summary = (
        f"{with_recourse} of {len(rejected)} rejected rows have recourse within {max_changes} "
        f"change(s)"
        + (f", {metrics['mean_n_changed']:.2f} feature(s) on average" if with_recourse else "")
    )
    if groups is not None:
        costs["group"] = [_group_text(g) for g in costs["group"]]
        by_group = _by_group(costs, random_state)
        means = by_group[gap_on].dropna()
        for metric in ("n_changed", "distance"):
            values = by_group[metric].dropna()
            metrics[f"gap_{metric}"] = float(values.max() - values.min()) if len(values) else 0.0
        gap = metrics[f"gap_{gap_on}"]
        if len(means) >= 2:
            summary += f"; gap in mean {gap_on} across groups {gap:.2f}"
            if gap > 0:
                summary += f" (highest: {by_group.loc[means.idxmax(), 'group']})"
        if gap > max_gap:
            status = "warn"
            summary += f", above the {max_gap:g} allowed"
    group_rows = [{"kind": "group", **g} for g in by_group.to_dict(orient="records")]
    details = pd.DataFrame(group_rows + detail_rows)
    details = details[[c for c in DETAIL_COLUMNS if c in details.columns]]
    return RecourseResult(
        name, status, summary, metrics, thresholds, details, counterfactuals=cfs, by_group=by_group
    )


def _group_text(group):
    return None if group is None or (not isinstance(group, str) and pd.isna(group)) else str(group)


def _body(result) -> str:
    """Metrics, then per row the cheapest change as a sentence, then the group cost bars."""
    out = [metrics_table(result.metrics or {}, result.thresholds or {})]
    details = result.details
    if details is not None and len(details) and "kind" in details.columns:
        rows = details[details["kind"] == "counterfactual"]
        first = rows[(rows["status"] == "none") | (rows.get("rank") == 1)]
        items = []
        for _, r in first.head(50).iterrows():
            if r["status"] == "none":
                items.append(f"<li>row {html.escape(str(r['row']))}: no recourse found</li>")
            else:
                items.append(
                    f"<li>row {html.escape(str(r['row']))}: change "
                    f"{html.escape(str(r['changes']))} (score {r['score_before']:.2f} &rarr; "
                    f"{r['score']:.2f})</li>"
                )
        if items:
            out.append("<div class='muted'>cheapest change per rejected row</div>")
            out.append(f"<ul>{''.join(items)}</ul>")
        groups = details[details["kind"] == "group"]
        for metric, caption in (
            ("n_changed", "mean features changed (cheapest counterfactual) by group"),
            ("distance", "mean normalised distance (cheapest counterfactual) by group"),
        ):
            if len(groups) and metric in groups:
                pairs = [
                    (g, v)
                    for g, v in zip(groups["group"], groups[metric], strict=True)
                    if pd.notna(v)
                ]
                out.append(bar_chart(pairs, caption=caption))
    out.append(findings_table(details))
    return "".join(out)


register_renderer("recourse", body=_body, filters=("kind", "status", "group"))
