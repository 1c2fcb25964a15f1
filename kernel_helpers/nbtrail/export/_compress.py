"""Compression, honestly: quantization, pruning and distillation, each measured, one chosen.

A smaller model is only worth deploying if it still makes the teacher's decisions. Every
candidate is measured the same way on held-out rows: fidelity (label agreement with the
original), accuracy delta (when labels are given), size (the ONNX file's bytes when it converts,
else the joblib bytes: the ``size_of`` column says which) and single-row latency (onnxruntime
from a record when it converts, else scikit-learn on a one-row frame: ``engine`` says which).

Levers, and where they do not apply:

* quantization: onnxruntime's dynamic int8 only quantizes MatMul/Gemm (MLPs). For trees and
  linear models (ai.onnx.ml ops) quantize_dynamic "succeeds" and the file grows by ~540 bytes
  with no speed-up (measured), so the table says "not applicable" instead of a fake win;
* pruning: forests keep their first trees (no refit) or are refit with larger leaves; boosting
  is refit with fewer, shallower trees; linear models get their smallest coefficients zeroed
  (the ONNX file stores them densely, so this is about sparsity, not bytes);
* distillation: small students (shallow HistGradientBoosting, small forest, logistic
  regression) behind the teacher's own preprocessing, fitted on the teacher's labels.

:func:`compress` picks the smallest (or fastest) candidate within the fidelity floor and budget,
the original included (it is kept when nothing smaller qualifies), records each candidate as
an artifact derived from the teacher and a ``compression`` check whose findings are the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._optional import require
from ..checks import CheckResult, Product, check, check_card, produce, register_renderer, svg_image
from ..config import load_settings
from ..errors import GateFailed, UsageError
from ._levers import (
    Candidate,
    distill,
    final_step,
    first_line,
    measure,
    onnx_tools,
    prune,
    quantize,
)

__all__ = ["Compression", "compress", "compression"]

LEVERS = ("quantize", "prune", "distill")
BUDGET_KEYS = ("max_mb", "p50_ms", "p99_ms")
COLUMNS = [
    "lever",
    "variant",
    "fidelity",
    "accuracy_delta",
    "size_bytes",
    "size_of",
    "p50_ms",
    "p99_ms",
    "engine",
    "onnx_parity",
    "size_reduction",
    "speedup",
    "chosen",
    "reason",
]


# ---------------------------------------------------------------- choosing


def _check_budget(budget) -> dict:
    if budget is None:  # the export gates of [tool.nbtrail.export] that are set
        export = load_settings().export
        return {k: getattr(export, k) for k in ("max_mb", "p99_ms") if getattr(export, k)}
    if not isinstance(budget, dict):
        raise UsageError(f"budget must be a dict with keys {BUDGET_KEYS}, got {budget!r}")
    unknown = set(budget) - set(BUDGET_KEYS)
    if unknown:
        raise UsageError(f"budget: unknown key(s) {sorted(unknown)}; use {', '.join(BUDGET_KEYS)}")
    for key, value in budget.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise UsageError(f"budget[{key!r}] must be a positive number, got {value!r}")
    return dict(budget)


def _over_budget(row: dict, budget: dict) -> str:
    over = []
    if "max_mb" in budget and row["size_bytes"] > budget["max_mb"] * 1e6:
        over.append(f"size {row['size_bytes'] / 1e6:.3g} MB over {budget['max_mb']} MB")
    for key in ("p50_ms", "p99_ms"):
        if key in budget and row[key] > budget[key]:
            over.append(f"{key[:3]} {row[key]:.3g} ms over {budget[key]} ms")
    return "; ".join(over)


def _choose(
    table: pd.DataFrame, floor: float, budget: dict, prefer: str, parity_failed=()
) -> pd.DataFrame:
    table = table.copy()
    table["chosen"] = False
    measured = table["fidelity"].notna()
    eligible = []
    for i, row in table[measured].iterrows():
        why = []
        if row["fidelity"] < floor:
            why.append(f"fidelity {row['fidelity']:.2%} below the floor {floor:.2%}")
        if i in parity_failed:
            why.append(
                f"its ONNX export changes decisions ({row['onnx_parity']:.2%} labels identical)"
            )
        over = _over_budget(row, budget)
        if over:
            why.append(over)
        if why:
            table.at[i, "reason"] = "; ".join(why + ([row["reason"]] if row["reason"] else []))
        else:
            eligible.append(i)
    first, then = ("size_bytes", "p50_ms") if prefer == "size" else ("p50_ms", "size_bytes")
    if not eligible:
        return table
    # equal sizes (sparsified coefficients are stored densely): the more faithful one wins
    ranked = table.loc[eligible].sort_values(
        [first, "fidelity", then], ascending=[True, False, True], kind="stable"
    )
    best = ranked.index[0]
    table.at[best, "chosen"] = True
    what = "smallest" if prefer == "size" else "fastest (p50)"
    limits = f"fidelity >= {floor:.2%}" + (" and within the budget" if budget else "")
    note = table.at[best, "reason"]
    if table.at[best, "lever"] == "original":
        better = "smaller" if prefer == "size" else "faster"
        table.at[best, "reason"] = f"kept: no candidate is {better} with {limits}"
    else:
        table.at[best, "reason"] = f"chosen: {what} of {len(eligible)} with {limits}"
    if note:
        table.at[best, "reason"] += f"; {note}"
    for i in ranked.index[1:]:
        other = "larger" if prefer == "size" else "slower"
        table.at[i, "reason"] = f"within limits, {other} than the chosen one" + (
            f"; {table.at[i, 'reason']}" if table.at[i, "reason"] else ""
        )
    return table


@check("compression", version=1, roles={"model": "teacher", "chosen": "chosen"})
def compression(
    model,
    chosen=None,
    *,
    candidates: pd.DataFrame,
    fidelity_floor: float = 0.99,
    prefer: str = "size",
    budget: dict | None = None,
    name: str = "compression",
) -> CheckResult:
    """Judge a table of compression candidates: which one is kept, and why (see compress)."""
    table = candidates
    picked = table[table["chosen"]]
    measured = table[table["fidelity"].notna()]
    thresholds = {"fidelity_floor": fidelity_floor, **(budget or {})}
    if picked.empty:
        return CheckResult(
            name,
            "fail",
            "No candidate, not even the original, is within the fidelity floor and budget.",
            {"candidates": len(measured) - 1},
            thresholds,
            table,
        )
    row, original = picked.iloc[0], table.iloc[0]
    metrics = {
        "candidates": int(len(measured) - 1),
        "chosen_fidelity": float(row["fidelity"]),
        "chosen_size_bytes": int(row["size_bytes"]),
        "original_size_bytes": int(original["size_bytes"]),
        "size_reduction": float(row["size_reduction"]),
        "speedup": float(row["speedup"]),
    }
    if pd.notna(row["accuracy_delta"]):
        metrics["chosen_accuracy_delta"] = float(row["accuracy_delta"])
    if row["lever"] == "original":
        summary = (
            f"Kept the original: no candidate is {'smaller' if prefer == 'size' else 'faster'} "
            f"within fidelity {fidelity_floor:.0%}{' and the budget' if budget else ''} "
            f"({metrics['candidates']} measured)."
        )
        return CheckResult(name, "warn", summary, metrics, thresholds, table)
    why = row["reason"].split("; ")[0].removeprefix("chosen: ")
    summary = (
        f"Chose {row['lever']}: {row['variant']} ({why}): "
        f"{row['size_reduction']:.1f}x smaller, {row['speedup']:.1f}x faster, fidelity "
        f"{row['fidelity']:.2%}"
        + (f", accuracy {row['accuracy_delta']:+.4f}" if pd.notna(row["accuracy_delta"]) else "")
        + "."
    )
    return CheckResult(name, "pass", summary, metrics, thresholds, table)


# ---------------------------------------------------------------- the card


def size_chart(table: pd.DataFrame, floor: float | None = None) -> str:
    """Bars of each measured candidate's size (log scale), labelled with its fidelity, as SVG.

    Green: chosen; blue: within the floor; grey: below it.
    """
    from html import escape

    rows = table[table["fidelity"].notna()]
    if rows.empty:
        return ""
    sizes = np.log10(rows["size_bytes"].astype(float).clip(lower=1))
    top, bottom = float(sizes.max()), float(sizes.min()) - 0.5
    width, left, step = 720, 290, 22
    parts = []
    for k, (_, row) in enumerate(rows.iterrows()):
        share = (np.log10(max(float(row["size_bytes"]), 1)) - bottom) / ((top - bottom) or 1)
        below = floor is not None and row["fidelity"] < floor
        colour = "#2e7d32" if row["chosen"] else ("#9e9e9e" if below else "#1565c0")
        y = 8 + k * step
        name = escape(f"{row['lever']}: {row['variant']}"[:48])
        size = f"{row['size_bytes'] / 1e3:,.1f} kB ({row['size_of']})"
        parts.append(
            f"<text x='{left - 6}' y='{y + 13}' text-anchor='end' font-size='11'>{name}</text>"
            f"<rect x='{left}' y='{y}' width='{max(share, 0.01) * 200:.1f}' height='16' "
            f"fill='{colour}'/><text x='{left + 206}' y='{y + 13}' font-size='11'>"
            f"{size}, fidelity {row['fidelity']:.1%}</text>"
        )
    height = 16 + len(rows) * step
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"font-family='sans-serif'>{''.join(parts)}</svg>"
    )


def _card_body(result) -> str:
    """The size chart, the headline metrics, then the table of candidates."""
    from html import escape

    chart = size_chart(result.details, result.thresholds.get("fidelity_floor"))
    image = svg_image(chart, alt="candidate sizes and fidelity") if chart else ""
    metrics = "".join(
        f"<li>{escape(str(k))}: {v:.4g}</li>" for k, v in (result.metrics or {}).items()
    )
    table = result.details.to_html(
        index=False, escape=True, na_rep="", float_format=lambda v: f"{v:.4g}", border=0
    )
    return f"{image}<ul class='metrics'>{metrics}</ul><div class='findings'>{table}</div>"


register_renderer("compression", body=_card_body)


# ---------------------------------------------------------------- the public entry


@dataclass
class Compression:
    """What :func:`compress` tried, measured and kept.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate (the original first): lever, variant, fidelity, accuracy_delta,
        size_bytes, size_of, p50_ms, p99_ms, engine, onnx_parity (share of the candidate's own
        labels its ONNX export reproduces; a candidate whose export fails ``onnx_parity`` is
        never chosen), size_reduction, speedup, chosen, reason.
    model : object
        The chosen candidate: a fitted estimator, or ONNX bytes (quantized); the original when
        nothing smaller qualified.
    candidates : dict
        ``"lever: variant"`` to each measured candidate.
    check : CheckResult
        The ``compression`` check (its findings are the table).
    products : list of Product
        Each candidate recorded as an artifact derived from the teacher.
    """

    table: pd.DataFrame
    model: object
    candidates: dict
    check: CheckResult
    products: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """The compression check's status."""
        return self.check.status

    @property
    def chosen(self) -> str:
        """``"lever: variant"`` of the chosen candidate."""
        row = self.table[self.table["chosen"]]
        return "" if row.empty else f"{row.iloc[0]['lever']}: {row.iloc[0]['variant']}"

    def raise_for_status(self) -> Compression:
        """Raise :class:`~nbtrail.GateFailed` when nothing was within the floor and budget."""
        if self.check.status in ("fail", "error"):
            raise GateFailed(f"compression: {self.check.summary}")
        return self

    def __repr__(self) -> str:
        shown = self.table[["lever", "variant", "fidelity", "size_bytes", "p50_ms", "chosen"]]
        return f"<Compression {self.status}: {self.check.summary}>\n{shown.to_string(index=False)}"

    def _repr_html_(self) -> str:
        return check_card(self.check)


def _labels_of(y, n: int, what: str):
    if y is None:
        return None
    values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if values.ndim != 1 or len(values) != n:
        raise UsageError(f"{what} must be one label per row ({n}), got shape {values.shape}")
    return values


def compress(
    model,
    X: pd.DataFrame,
    y=None,
    *,
    X_holdout: pd.DataFrame | None = None,
    y_holdout=None,
    budget: dict | None = None,
    fidelity_floor: float = 0.99,
    prefer: str = "size",
    levers=LEVERS,
    latency_rows: int = 200,
    random_state: int = 0,
    name: str = "compression",
    run=None,
) -> Compression:
    """Try quantization, pruning and distillation; keep the smallest faithful candidate.

    Parameters
    ----------
    model : fitted classifier or Pipeline
        The teacher.
    X, y : DataFrame, array-like
        Rows the refits and students are fitted on (``y`` optional: without it refits use the
        teacher's labels and accuracy deltas are left empty).
    X_holdout, y_holdout : optional
        Rows fidelity, accuracy and latency are measured on. Default: a random quarter of
        ``X`` held out (the rest is fitted on).
    budget : dict, optional
        Limits a candidate must meet: ``max_mb``, ``p50_ms``, ``p99_ms``. Default: the
        ``max_mb`` and ``p99_ms`` gates of ``[tool.nbtrail.export]``, where set.
    fidelity_floor : float
        The least label agreement with the teacher on held-out rows a candidate may have.
    prefer : {"size", "latency"}
        Pick the smallest file, or the lowest single-row p50.
    levers : iterable of {"quantize", "prune", "distill"}
    latency_rows : int
        Held-out rows timed one at a time.
    run : Run, optional
        Where to record the candidates and the check; default: the recording session, if any.

    Returns
    -------
    Compression
    """
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(X, pd.DataFrame) or X.empty:
        raise UsageError("X must be a non-empty pandas DataFrame (its columns feed the model)")
    if not is_classifier(model):
        raise UsageError(f"compress needs a classifier; got {type(model).__name__}")
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise UsageError(f"model {type(model).__name__} is not fitted; fit it first") from None
    if not isinstance(fidelity_floor, int | float) or not 0 < fidelity_floor <= 1:
        raise UsageError(f"fidelity_floor must be in (0, 1], got {fidelity_floor!r}")
    if prefer not in ("size", "latency"):
        raise UsageError(f"prefer must be 'size' or 'latency', got {prefer!r}")
    levers = tuple(levers)
    unknown = set(levers) - set(LEVERS)
    if unknown:
        raise UsageError(f"levers: unknown {sorted(unknown)}; use {', '.join(LEVERS)}")
    budget = _check_budget(budget)
    y = _labels_of(y, len(X), "y")
    if X_holdout is None:
        rng = np.random.default_rng(random_state)
        if len(X) < 20:
            raise UsageError(f"X has {len(X)} rows: give X_holdout, or at least 20 rows")
        order = rng.permutation(len(X))
        cut = len(X) // 4
        X_fit, X_eval = X.iloc[order[cut:]], X.iloc[order[:cut]]
        y_fit = None if y is None else y[order[cut:]]
        y_eval = None if y is None else y[order[:cut]]
    else:
        if not isinstance(X_holdout, pd.DataFrame) or X_holdout.empty:
            raise UsageError("X_holdout must be a non-empty pandas DataFrame")
        if list(X_holdout.columns) != list(X.columns):
            raise UsageError("X_holdout must have X's columns, in the same order")
        X_fit, X_eval, y_fit = X, X_holdout, y
        y_eval = _labels_of(y_holdout, len(X_holdout), "y_holdout")

    teacher_fit = np.asarray(model.predict(X_fit))
    teacher_eval = np.asarray(model.predict(X_eval))
    refit_labels = y_fit if y_fit is not None else teacher_fit
    tools = onnx_tools()
    sample = X_fit.head(200)

    original = Candidate("original", type(final_step(model)).__name__, model)
    measure(original, tools, sample, X_eval, y_eval, teacher_eval, latency_rows)
    teacher_blob, ops = None, set()
    if tools is not None and original.row["size_of"] == "onnx":
        onnx = require("onnx", purpose="reading the exported graph's operators")
        teacher_blob = original.blob
        ops = {node.op_type for node in onnx.load_from_string(teacher_blob).graph.node}

    plan: list[Candidate] = []
    if "quantize" in levers:
        plan.append(quantize(teacher_blob, ops, tools))
    if "prune" in levers:
        plan.extend(prune(model, X_fit, refit_labels))
    if "distill" in levers:
        plan.extend(distill(model, X_fit, teacher_fit, random_state))

    tried = [original]
    for cand in plan:
        if not cand.reason:
            try:
                if cand.build is not None:
                    cand.obj = cand.build()
                measure(cand, tools, sample, X_eval, y_eval, teacher_eval, latency_rows)
            except Exception as exc:  # noqa: BLE001 - a lever failing is a finding, not a crash
                cand.reason = f"failed: {type(exc).__name__}: {first_line(exc)}"
                cand.row = {}
        tried.append(cand)

    table = _table(tried, original.row)
    unfaithful = {i for i, c in enumerate(tried) if c.parity is not None and not c.parity.passed}
    table = _choose(table, float(fidelity_floor), budget, prefer, unfaithful)
    measured = [c for c in tried if c.row]
    products: list[Product] = []
    for c in measured[1:]:
        label = f"{name}/{c.lever}/{c.variant}"
        product = produce(c.obj, name=label, inputs={"teacher": model}, run=run)
        if c.parity is not None:
            if run is not None:
                c.parity.record(run)
            if product.digest in {s.digest for s in c.parity.subjects}:
                product.accept(c.parity)
        products.append(product)
    picked = table.index[table["chosen"]]
    chosen_obj = tried[picked[0]].obj if len(picked) else None
    verdict = compression(
        model,
        None if chosen_obj is model else chosen_obj,
        candidates=table,
        fidelity_floor=float(fidelity_floor),
        prefer=prefer,
        budget=budget or None,
        name=name,
    )
    if run is not None:
        verdict.record(run)
    judged = {s.digest for s in verdict.subjects}
    for product in products:
        if product.digest in judged:
            product.accept(verdict)
    return Compression(
        table,
        chosen_obj if chosen_obj is not None else model,
        {f"{c.lever}: {c.variant}": c.obj for c in measured},
        verdict,
        products,
    )


def _table(tried: list[Candidate], base: dict) -> pd.DataFrame:
    rows = []
    for c in tried:
        if c.row:
            row = dict(c.row)
            accuracy = row.pop("accuracy")
            row["accuracy_delta"] = accuracy - base["accuracy"]
            row["size_reduction"] = base["size_bytes"] / row["size_bytes"]
            row["speedup"] = base["p50_ms"] / row["p50_ms"] if row["p50_ms"] > 0 else np.nan
        else:
            row = {"lever": c.lever, "variant": c.variant, "reason": c.reason}
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    table["chosen"] = False
    table["reason"] = table["reason"].fillna("").astype(str)
    return table
