"""``onnx_parity``: whether an exported ONNX model still makes scikit-learn's decisions.

A clean conversion proves nothing: a float32 scaler in front of trees or native categorical
splits change labels without an error. This check runs both models on held-out rows and
compares labels and probabilities. Exact vote ties (two classes with the same probability, e.g.
50 of 100 trees) are broken one way by scikit-learn and the other way by onnxruntime: they are
counted apart, not as disagreements, since neither answer is wrong.

The model runs through :class:`OnnxRunner`, as ``nbtrail.export.OnnxModel`` does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import load_settings
from ..errors import UsageError
from ._onnx_runner import OnnxRunner
from ._registry import check
from ._result import CheckResult

__all__ = ["onnx_parity"]

TIE_TOLERANCE = 1e-12  # top two scikit-learn probabilities this close are a tie


def _labels_like(raw: np.ndarray, classes) -> np.ndarray:
    classes = np.asarray(classes)
    if raw.dtype.kind != classes.dtype.kind:
        return raw.astype(classes.dtype)
    return raw


@check("onnx_parity", version=1, roles={"model": "model", "onnx_model": "onnx", "X": "holdout"})
def onnx_parity(
    model,
    onnx_model,
    X: pd.DataFrame,
    *,
    min_label_agreement: float | None = None,
    max_proba_diff: float | None = None,
    signature: dict | None = None,
    name: str = "onnx_parity",
) -> CheckResult:
    """Compare an exported model's labels and probabilities with scikit-learn's on rows ``X``.

    Parameters
    ----------
    model : fitted scikit-learn estimator or Pipeline
    onnx_model : bytes, onnx.ModelProto, path, or nbtrail.export.OnnxModel
    X : DataFrame
        Held-out rows, not the rows the export was typed on.
    min_label_agreement : float, optional
        Smallest share of identical labels, ties counted apart; default
        ``[tool.nbtrail.export] min_label_agreement`` (1.0).
    max_proba_diff : float, optional
        Largest |probability difference|; default ``[tool.nbtrail.export]`` (1e-5).
    signature : dict, optional
        The export's input signature (column -> ONNX type), kept with the result's options.
    """
    budget = load_settings().export
    min_agree = budget.min_label_agreement if min_label_agreement is None else min_label_agreement
    max_diff = budget.max_proba_diff if max_proba_diff is None else max_proba_diff
    if not isinstance(X, pd.DataFrame) or len(X) == 0:
        raise UsageError("onnx_parity needs a non-empty DataFrame X of held-out rows")
    if not 0 <= min_agree <= 1:
        raise UsageError(f"min_label_agreement is a share in [0, 1], got {min_agree!r}")
    runner = OnnxRunner(onnx_model)
    feed = runner.feed(X)
    thresholds = {"min_label_agreement": min_agree, "max_proba_diff": max_diff}
    try:
        sk_proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        sk_label = np.asarray(model.predict(X))
    except Exception as exc:  # noqa: BLE001 - the estimator's own failure is a verdict, not a crash
        return CheckResult(name, "error", f"scikit-learn failed: {exc}", thresholds=thresholds)
    try:
        ox_label, ox_proba = runner.run(feed)
    except Exception as exc:  # noqa: BLE001 - onnxruntime rejected the feed or failed inside a kernel
        return CheckResult(name, "error", f"onnxruntime failed: {exc}", thresholds=thresholds)
    ox_label = _labels_like(ox_label, getattr(model, "classes_", sk_label))
    n = len(X)
    top = np.sort(sk_proba, axis=1)
    tie = (top[:, -1] - top[:, -2] <= TIE_TOLERANCE) if sk_proba.shape[1] > 1 else np.zeros(n, bool)
    differ = sk_label != ox_label
    ties = differ & tie
    mismatch = differ & ~tie
    if ox_proba is None or ox_proba.shape != sk_proba.shape:
        diff = np.full(n, np.inf)
    else:
        diff = np.abs(ox_proba - sk_proba).max(axis=1)
    agreement = 1.0 - mismatch.sum() / n
    worst_diff = float(np.max(diff))
    failed = agreement < min_agree or not worst_diff <= max_diff
    status = "fail" if failed else "pass"
    summary = (
        f"{agreement:.4%} of {n:,} labels identical"
        + (
            f" ({int(ties.sum())} vote ties broken the other way, counted apart)"
            if ties.any()
            else ""
        )
        + f"; max |probability difference| {worst_diff:.2g}"
    )
    bad = mismatch | ties | (diff > max_diff)
    reason = np.where(mismatch, "label", np.where(ties, "tie", "probability"))
    details = pd.DataFrame(
        {
            "row": [str(i) for i in X.index[bad]],
            "rule": reason[bad],
            "sklearn_label": [str(v) for v in sk_label[bad]],
            "onnx_label": [str(v) for v in ox_label[bad]],
            "proba_diff": diff[bad],
            "status": np.where(reason[bad] == "tie", "warn", "fail"),
        }
    ).sort_values(["status", "proba_diff"], ascending=[True, False], kind="stable")
    metrics = {
        "rows": n,
        "label_agreement": float(agreement),
        "label_mismatches": int(mismatch.sum()),
        "vote_ties": int(ties.sum()),
        "max_proba_diff": worst_diff if np.isfinite(worst_diff) else None,
        "mean_proba_diff": float(np.mean(diff)) if np.isfinite(worst_diff) else None,
    }
    return CheckResult(name, status, summary, metrics, thresholds, details.reset_index(drop=True))
