"""The levers of compression (candidates made from a fitted teacher) and how each is measured.

Each lever returns :class:`Candidate` rows: built lazily (``build``) so one failing refit becomes a
finding, or with a ``reason`` saying why the lever does not apply to this model.
"""

from __future__ import annotations

import copy
import io
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checks import onnx_parity
from ..errors import MissingExtra

QUANTIZABLE = {"MatMul", "Gemm"}


@dataclass
class Candidate:
    """One compressed variant of the teacher: what it is, the model, and its measured row."""

    lever: str
    variant: str
    obj: object = None  # a fitted estimator, or ONNX bytes (quantized)
    reason: str = ""  # why not applicable / why it failed; empty when measured
    note: str = ""
    row: dict = field(default_factory=dict)
    build: object = field(default=None, repr=False)  # makes ``obj`` when the lever is tried
    blob: bytes | None = field(default=None, repr=False)  # its ONNX bytes, once measured
    parity: object = field(default=None, repr=False)  # onnx_parity of its export, when it has one


def onnx_tools():
    """The ONNX converter and runtime, or None when they cannot be imported."""
    try:
        from ._onnx import convert
        from ._runtime import OnnxModel
    except (MissingExtra, ImportError):
        return None
    return convert, OnnxModel


def _split(model):
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return list(model.steps[:-1]), model.steps[-1][0], model.steps[-1][1]
    return [], None, model


def final_step(model):
    """The last step of a Pipeline, or the estimator itself."""
    return _split(model)[2]


def _with_final(model, estimator, *, extra=()):
    """An unfitted copy of the teacher's preprocessing with ``estimator`` at the end."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    pre, last, _ = _split(model)
    steps = [(n, clone(t)) for n, t in pre] + list(extra)
    if not steps:
        return estimator
    return Pipeline([*steps, (last or "model", estimator)])


def _family(estimator) -> str:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.neural_network import MLPClassifier

    if isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier):
        return "forest"
    if isinstance(estimator, HistGradientBoostingClassifier):
        return "hgb"
    if isinstance(estimator, GradientBoostingClassifier):
        return "gb"
    if isinstance(estimator, MLPClassifier):
        return "mlp"
    if hasattr(estimator, "coef_"):
        return "linear"
    return "other"


# ---------------------------------------------------------------- the levers


def _refit(model, X, y, variant: str, **params) -> Candidate:
    from sklearn.base import clone

    def build():
        refit = clone(model)
        final_step(refit).set_params(**params)
        return refit.fit(X, y)

    return Candidate("prune", variant, build=build)


def prune(model, X, y) -> list[Candidate]:
    final = final_step(model)
    family = _family(final)
    out: list[Candidate] = []
    if family == "forest":
        n = len(final.estimators_)
        for k in sorted({max(1, n // 2), max(1, n // 5)}, reverse=True):
            if k >= n:
                continue
            pruned = copy.deepcopy(model)
            last = final_step(pruned)
            last.estimators_ = last.estimators_[:k]  # the first k trees, as fitted: no refit
            last.n_estimators = k
            out.append(Candidate("prune", f"first {k} of {n} trees", pruned))
        leaf = final.get_params()["min_samples_leaf"]
        if isinstance(leaf, int) and leaf < 20:
            out.append(_refit(model, X, y, "refit min_samples_leaf=20", min_samples_leaf=20))
        k = max(1, n // 5)
        out.append(
            _refit(
                model,
                X,
                y,
                f"refit {k} trees, min_samples_leaf=20",
                n_estimators=k,
                min_samples_leaf=20,
            )
        )
    elif family == "hgb":
        iters = int(final.n_iter_)
        if iters > 10:
            k = max(10, iters // 3)
            out.append(_refit(model, X, y, f"refit max_iter={k}", max_iter=k))
        out.append(_refit(model, X, y, "refit max_depth=3", max_depth=3))
    elif family == "gb":
        n, depth = final.n_estimators_, final.get_params()["max_depth"] or 3
        if n > 10:
            out.append(_refit(model, X, y, f"refit n_estimators={n // 3}", n_estimators=n // 3))
        if depth > 1:
            out.append(_refit(model, X, y, f"refit max_depth={depth - 1}", max_depth=depth - 1))
    elif family == "linear":
        for keep in (0.5, 0.2):
            pruned = copy.deepcopy(model)
            last = final_step(pruned)
            coef = np.array(last.coef_, dtype=float)
            cut = np.quantile(np.abs(coef), 1 - keep)
            coef[np.abs(coef) < cut] = 0.0
            last.coef_ = coef
            zeroed = int((coef == 0).sum())
            out.append(
                Candidate(
                    "prune",
                    f"keep largest {keep:.0%} of |coef|",
                    pruned,
                    note=f"{zeroed} of {coef.size} coefficients zeroed; the ONNX file stores "
                    "them densely, so bytes do not shrink",
                )
            )
    else:
        reason = (
            "not applicable: no pruning lever for MLPs here (see quantization and distillation)"
            if family == "mlp"
            else f"not applicable: no pruning lever for {type(final).__name__}"
        )
        out.append(Candidate("prune", "-", reason=reason))
    return out


def distill(model, X, teacher_labels, seed: int) -> list[Candidate]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    students = {
        "HistGradientBoosting(max_depth=3, max_iter=50)": (
            HistGradientBoostingClassifier(max_depth=3, max_iter=50, random_state=seed),
            (),
        ),
        "RandomForest(20 trees, min_samples_leaf=20)": (
            RandomForestClassifier(
                n_estimators=20, min_samples_leaf=20, n_jobs=1, random_state=seed
            ),
            (),
        ),
        "LogisticRegression (scaled)": (
            LogisticRegression(max_iter=1000),
            (("distill_scale", StandardScaler(with_mean=False)),),
        ),
    }

    def student(estimator, extra):
        return lambda: _with_final(model, estimator, extra=extra).fit(X, teacher_labels)

    return [
        Candidate("distill", variant, note="fitted on the teacher's labels", build=student(e, x))
        for variant, (e, x) in students.items()
    ]


def quantize(teacher_blob: bytes | None, ops: set, tools) -> Candidate:
    if tools is None:
        return Candidate(
            "quantize",
            "dynamic int8",
            reason="not applicable: the export "
            "extra is not installed (pip install 'nbtrail[export]')",
        )
    if teacher_blob is None:
        return Candidate(
            "quantize", "dynamic int8", reason="not applicable: the model does not convert to ONNX"
        )
    if not ops & QUANTIZABLE:
        return Candidate(
            "quantize",
            "dynamic int8",
            reason="not applicable: the graph has no MatMul/Gemm (ops: "
            f"{', '.join(sorted(ops))}); quantize_dynamic would succeed, the file would grow by "
            "about 540 bytes and run no faster",
        )

    def build() -> bytes:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory(prefix="nbtrail-quantize-") as folder:
            source, target = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
            source.write_bytes(teacher_blob)
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            return target.read_bytes()

    return Candidate("quantize", "dynamic int8", build=build)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:160] if lines else ""


# ---------------------------------------------------------------- measuring


def _percentiles(fn, items, warmup: int) -> tuple[float, float]:
    for item in items[:warmup]:
        fn(item)
    times = []
    for item in items:
        start = time.perf_counter_ns()
        fn(item)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times), float(np.percentile(times, 99))


def _joblib_bytes(obj) -> int:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getbuffer().nbytes


def measure(cand, tools, sample, X_eval, y_eval, teacher_labels, latency_rows: int) -> dict:
    runtime, blob = None, None
    if isinstance(cand.obj, bytes):
        blob = cand.obj
        runtime = tools[1](blob)
        labels = runtime.predict(X_eval)
    else:
        labels = cand.obj.predict(X_eval)
        if tools is not None:
            try:
                blob = tools[0](cand.obj, sample).SerializeToString()
                runtime = tools[1](blob)
            except Exception as exc:  # noqa: BLE001 - unsupported: measured with joblib/sklearn
                blob, runtime = None, None
                cand.note = (cand.note + "; " if cand.note else "") + (
                    f"no ONNX ({type(exc).__name__}: {first_line(exc)})"
                )
    if runtime is not None and not isinstance(cand.obj, bytes):
        # its own export must make its decisions, or its size and latency are not its own
        cand.parity = onnx_parity(cand.obj, runtime, X_eval, name="onnx_parity")
    rows = X_eval.head(latency_rows)
    if runtime is not None:
        records = rows.to_dict("records")
        p50, p99 = _percentiles(runtime.predict_one, records, warmup=min(20, len(records)))
        engine, size, size_of = "onnxruntime", len(blob), "onnx"
    else:
        frames = [rows.iloc[[i]] for i in range(min(len(rows), 50))]
        p50, p99 = _percentiles(cand.obj.predict, frames, warmup=min(5, len(frames)))
        engine, size, size_of = "sklearn", _joblib_bytes(cand.obj), "joblib"
    labels = np.asarray(labels)
    fidelity = float(np.mean(labels == teacher_labels))
    accuracy = float(np.mean(labels == y_eval)) if y_eval is not None else np.nan
    cand.blob = blob
    cand.row = {
        "lever": cand.lever,
        "variant": cand.variant,
        "fidelity": fidelity,
        "accuracy": accuracy,
        "size_bytes": int(size),
        "size_of": size_of,
        "p50_ms": p50,
        "p99_ms": p99,
        "engine": engine,
        "onnx_parity": (
            np.nan if cand.parity is None else cand.parity.metrics.get("label_agreement", 0.0)
        ),
        "reason": cand.note,
    }
    return cand.row
