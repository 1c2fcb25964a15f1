"""``latency``: how fast an exported model is on this machine, against scikit-learn.

Both engines run in this process, on the same rows, with the same warm-up and repeats, and the
order alternates per round. A single-row onnxruntime call includes building its feed from a
record (a dict), as a server would; scikit-learn gets its one-row DataFrame prebuilt, which
favours it. Batch throughput includes building the feed from the frame. Budgets from
``[tool.nbtrail.export]`` (``p99_ms``, ``max_mb``) gate when set.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..config import load_settings
from ..errors import UsageError
from ._onnx_runner import OnnxRunner
from ._registry import check
from ._render import escape, findings_table, metrics_table, register_renderer, svg_image
from ._result import CheckResult

__all__ = ["latency"]


def _single_rows(model, runner, frames, records, repeats):
    sk, ox = [], []
    clock = time.perf_counter_ns

    def run_sk(i):
        t = clock()
        model.predict_proba(frames[i])
        sk.append(clock() - t)

    def run_ox(i):
        t = clock()
        runner.run(runner.feed_one(records[i]))
        ox.append(clock() - t)

    for r in range(repeats):  # whole rounds per engine, so neither evicts the other's caches
        for engine in (run_sk, run_ox) if r % 2 == 0 else (run_ox, run_sk):
            for i in range(len(records)):
                engine(i)
    return np.array(sk) / 1e6, np.array(ox) / 1e6


def _batch(model, runner, frame, repeats):
    sk, ox = [], []
    for r in range(repeats):
        for which in (0, 1) if r % 2 == 0 else (1, 0):
            t = time.perf_counter()
            if which == 0:
                model.predict_proba(frame)
                sk.append(time.perf_counter() - t)
            else:
                runner.run(runner.feed(frame))
                ox.append(time.perf_counter() - t)
    return len(frame) / min(sk), len(frame) / min(ox)


@check("latency", version=1, roles={"model": "model", "onnx_model": "onnx", "X": "data"})
def latency(
    model,
    onnx_model,
    X: pd.DataFrame,
    *,
    rows: int = 100,
    repeats: int = 3,
    warmup: int = 20,
    batch_rows: int = 1000,
    p99_ms: float | None = None,
    max_mb: float | None = None,
    name: str = "latency",
) -> CheckResult:
    """Single-row p50/p99 and batch throughput, scikit-learn vs onnxruntime, and file size.

    Parameters
    ----------
    model : fitted scikit-learn estimator or Pipeline
    onnx_model : bytes, onnx.ModelProto, path, or nbtrail.export.OnnxModel
    X : DataFrame
        Rows to time on: the first ``rows`` one by one (``repeats`` rounds after ``warmup``
        calls each), the first ``batch_rows`` as one batch.
    p99_ms, max_mb : float, optional
        Budgets for the exported model's single-row p99 and its size; default
        ``[tool.nbtrail.export]``; no gate when unset.
    """
    budget = load_settings().export
    p99_ms = budget.p99_ms if p99_ms is None else p99_ms
    max_mb = budget.max_mb if max_mb is None else max_mb
    if not isinstance(X, pd.DataFrame) or len(X) == 0:
        raise UsageError("latency needs a non-empty DataFrame X")
    for label, value in (("rows", rows), ("repeats", repeats), ("batch_rows", batch_rows)):
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"latency: {label} must be a positive integer, got {value!r}")
    runner = OnnxRunner(onnx_model)
    sample = X.head(rows)
    frames = [sample.iloc[[i]] for i in range(len(sample))]
    records = sample.to_dict("records")
    batch = X.head(batch_rows)
    thresholds = {k: v for k, v in (("p99_ms", p99_ms), ("max_mb", max_mb)) if v is not None}
    try:
        runner.feed(batch)  # bad columns are the caller's input: raise, do not time
        for i in range(min(warmup, len(records))):
            model.predict_proba(frames[i])
            runner.run(runner.feed_one(records[i]))
        sk, ox = _single_rows(model, runner, frames, records, repeats)
        sk_rate, ox_rate = _batch(model, runner, batch, repeats)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - an engine failing inside is a verdict, not a crash
        return CheckResult(name, "error", f"timing failed: {exc}", thresholds=thresholds)
    size_mb = runner.size_bytes / 1e6
    m = {
        "sklearn_p50_ms": float(np.percentile(sk, 50)),
        "sklearn_p99_ms": float(np.percentile(sk, 99)),
        "onnx_p50_ms": float(np.percentile(ox, 50)),
        "onnx_p99_ms": float(np.percentile(ox, 99)),
        "sklearn_rows_per_s": float(sk_rate),
        "onnx_rows_per_s": float(ox_rate),
        "size_bytes": int(runner.size_bytes),
        "size_mb": size_mb,
        "calls": len(ox),
        "batch_rows": len(batch),
    }
    m["speedup_p50"] = m["sklearn_p50_ms"] / m["onnx_p50_ms"]
    m["speedup_p99"] = m["sklearn_p99_ms"] / m["onnx_p99_ms"]
    m["batch_speedup"] = m["onnx_rows_per_s"] / m["sklearn_rows_per_s"]
    over = []
    if p99_ms is not None and m["onnx_p99_ms"] > p99_ms:
        over.append(("p99_ms", m["onnx_p99_ms"], p99_ms))
    if max_mb is not None and size_mb > max_mb:
        over.append(("max_mb", size_mb, max_mb))
    details = pd.DataFrame(
        [
            {
                "measure": "single-row p50 (ms)",
                "sklearn": m["sklearn_p50_ms"],
                "onnx": m["onnx_p50_ms"],
                "budget": None,
                "status": "pass",
            },
            {
                "measure": "single-row p99 (ms)",
                "sklearn": m["sklearn_p99_ms"],
                "onnx": m["onnx_p99_ms"],
                "budget": p99_ms,
                "status": "fail" if any(o[0] == "p99_ms" for o in over) else "pass",
            },
            {
                "measure": "batch rows/s",
                "sklearn": m["sklearn_rows_per_s"],
                "onnx": m["onnx_rows_per_s"],
                "budget": None,
                "status": "pass",
            },
            {
                "measure": "model size (MB)",
                "sklearn": None,
                "onnx": size_mb,
                "budget": max_mb,
                "status": "fail" if any(o[0] == "max_mb" for o in over) else "pass",
            },
        ]
    )
    summary = (
        f"single row: onnxruntime p50 {m['onnx_p50_ms'] * 1000:.0f} us, p99 "
        f"{m['onnx_p99_ms'] * 1000:.0f} us vs scikit-learn p50 {m['sklearn_p50_ms']:.2f} ms "
        f"({m['speedup_p50']:.0f}x); batch {m['batch_speedup']:.1f}x; {_size(runner.size_bytes)}"
    )
    if over:
        summary += "; over budget: " + ", ".join(f"{k} {v:.3g} > {b:g}" for k, v, b in over)
    return CheckResult(name, "fail" if over else "pass", summary, m, thresholds, details)


def _size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _chart(result) -> str:
    """Horizontal bars of single-row p50 and p99 for both engines, on a log scale."""
    m = result.metrics
    bars = [
        (f"{eng} {q}", m.get(f"{key}_{q}_ms"))
        for eng, key in (("scikit-learn", "sklearn"), ("onnxruntime", "onnx"))
        for q in ("p50", "p99")
    ]
    bars = [(label, v) for label, v in bars if isinstance(v, int | float) and v > 0]
    if not bars:
        return ""
    lo = min(np.log10(v) for _, v in bars) - 0.5
    hi = max(np.log10(v) for _, v in bars) + 0.2
    width, left, row = 420, 130, 22
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{row * len(bars) + 8}'"
        " font-family='sans-serif' font-size='11'>"
    ]
    for k, (label, v) in enumerate(bars):
        w = (np.log10(v) - lo) / (hi - lo) * (width - left - 70)
        y = 4 + k * row
        color = "#4878a8" if label.startswith("onnx") else "#b0b0b0"
        parts.append(
            f"<text x='0' y='{y + 14}'>{escape(label)}</text>"
            f"<rect x='{left}' y='{y + 3}' width='{w:.1f}' height='{row - 8}' "
            f"fill='{color}'/><text x='{left + w + 4:.1f}' y='{y + 14}'>{v:.3g} ms</text>"
        )
    parts.append("</svg>")
    return svg_image("".join(parts), alt="single-row latency, log scale")


def _body(result) -> str:
    return (
        _chart(result)
        + metrics_table(result.metrics, result.thresholds)
        + findings_table(result.details)
    )


register_renderer("latency", body=_body, filters=("measure", "status"))
