"""ONNX export of scikit-learn models as a producer: convert, write, record, accept.

:func:`onnx` converts a fitted model (:func:`convert`: types, options, refusals, scalers folded
into trees), writes the file atomically, records it on the trail as derived from the model with
its input signature, and runs the acceptance checks ``onnx_parity`` and ``latency`` on it. Bad
input is refused before anything is written or recorded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import GateFailed, UsageError
from ..vocabulary import failing, worst
from ._convert import column_kinds, convert, input_signature
from ._runtime import OnnxModel

__all__ = [
    "ExportResult",
    "OnnxModel",
    "convert",
    "input_signature",
    "load_model",
    "onnx",
    "read_frame",
]

TYPE_ROWS = 1  # the sample's first row types the inputs; the rest is held out for parity


@dataclass
class ExportResult:
    """An exported model: its file, input signature, and the checks that accepted it.

    Attributes
    ----------
    path : str
        The ``.onnx`` file.
    signature : dict
        Input name (a column) -> ONNX element type (``string``, ``float``).
    checks : list of CheckResult
        ``onnx_parity`` and ``latency`` (empty with ``check=False``).
    product : Product
        The recorded artifact (lineage model -> onnx).
    size_bytes : int
    """

    path: str
    signature: dict
    checks: list = field(default_factory=list)
    product: object = None
    size_bytes: int = 0

    @property
    def status(self) -> str:
        """The worst status of the checks (``pass`` without any)."""
        return worst(c.status for c in self.checks)

    def check(self, name: str):
        """The check result called ``name`` (``onnx_parity``, ``latency``)."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def load(self) -> OnnxModel:
        """The exported model in an onnxruntime session."""
        return OnnxModel(self.path)

    def raise_for_status(self) -> ExportResult:
        """Raise :class:`~nbtrail.GateFailed` naming the checks that failed or errored."""
        bad = [c for c in self.checks if failing(c.status)]
        if bad:
            names = "; ".join(f"{c.name}: {c.summary}" for c in bad)
            raise GateFailed(f"export {self.path} did not pass its gates: {names}")
        return self

    def __repr__(self) -> str:
        lines = [
            f"<ExportResult {self.path} ({self.size_bytes:,} bytes), "
            f"{len(self.signature)} inputs: {self.status}>"
        ]
        lines += [f"  {c.name}: {c.status}: {c.summary}" for c in self.checks]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        head = (
            f"<p><b>{escape(Path(self.path).name)}</b>: {self.size_bytes:,} bytes, "
            f"{len(self.signature)} inputs, <b>{escape(self.status)}</b></p>"
        )
        return head + "".join(c.to_html() for c in self.checks)


def _target(path, model) -> Path:
    if path is None:
        path = "model.onnx"
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(
            f"output path {str(target)!r} is a folder: give a file name like model.onnx"
        )
    for parent in target.parents:  # made when the file is written; a file in the way is not
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{str(parent)!r} is a file, not a folder for {target.name!r}")
            break
    return target


def _holdout(sample: pd.DataFrame, holdout) -> pd.DataFrame:
    if holdout is None:
        rest = sample.iloc[TYPE_ROWS:]
        if len(rest) == 0:
            raise UsageError(
                "parity needs held-out rows: give holdout= or a sample with more than one row"
            )
        return rest
    if not isinstance(holdout, pd.DataFrame) or len(holdout) == 0:
        raise UsageError("holdout must be a non-empty DataFrame")
    missing = [c for c in sample.columns if c not in holdout.columns]
    if missing:
        raise UsageError(f"holdout lacks columns of the sample: {', '.join(map(str, missing))}")
    holdout = holdout[list(sample.columns)]
    want, got = column_kinds(sample), column_kinds(holdout)
    for column, kind in want.items():
        if got[column] != kind:
            raise UsageError(
                f"holdout column {column!r} is {got[column]} ({holdout[column].dtype}), "
                f"the sample's is {kind}"
            )
    return holdout


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _write_atomically(data: bytes, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make the folder {str(target.parent)!r}: {exc.strerror}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600: the mode open() would give
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {str(target)!r}: {exc.strerror}") from None


def onnx(
    model,
    sample: pd.DataFrame,
    path=None,
    *,
    check: bool = True,
    holdout: pd.DataFrame | None = None,
    name: str | None = None,
    latency_rows: int = 100,
    min_label_agreement: float | None = None,
    max_proba_diff: float | None = None,
    p99_ms: float | None = None,
    max_mb: float | None = None,
    converted=None,
) -> ExportResult:
    """Export a fitted scikit-learn model to ONNX, record it, and check it.

    Parameters
    ----------
    model : estimator or Pipeline
        Fitted on a DataFrame (a ColumnTransformer with one-hot, scaling, imputation and a
        LogisticRegression, forest, gradient boosting or MLP at the end).
    sample : DataFrame
        Rows of the model's input. Its first row types the inputs; the other rows are the
        held-out rows for parity and latency unless ``holdout`` is given.
    path : str or Path, optional
        Where to write (default ``model.onnx``); written atomically.
    check : bool
        Run ``onnx_parity`` and ``latency`` on the written file.
    holdout : DataFrame, optional
        Rows for the checks (with the sample's columns).
    min_label_agreement, max_proba_diff, p99_ms, max_mb : float, optional
        Gates; default ``[tool.nbtrail.export]`` (parity 100% labels, 1e-5 probabilities;
        latency and size ungated unless set).
    converted : onnx.ModelProto, optional
        ``convert(model, sample)`` already done (the CLI converts before it starts a run).

    Returns
    -------
    ExportResult
        Call ``raise_for_status()`` to stop when a gate failed.
    """
    from .. import checks  # export sits above checks; checks never import export

    target = _target(path, model)
    # bad models and samples are refused here, before anything is written or recorded
    proto = convert(model, sample) if converted is None else converted
    rows = _holdout(sample, holdout) if check else None
    signature = {c: t for c, t in input_signature(sample, model)}
    data = proto.SerializeToString()
    _write_atomically(data, target)
    product = checks.produce(
        target, name=name or target.name, inputs={"model": model}, snapshot=True
    )
    result = ExportResult(str(target.resolve()), signature, [], product, len(data))
    if check:
        onnx_file = Path(result.path)
        parity = checks.onnx_parity(
            model,
            onnx_file,
            rows,
            min_label_agreement=min_label_agreement,
            max_proba_diff=max_proba_diff,
            signature=signature,
        )
        speed = checks.latency(
            model, onnx_file, rows, rows=latency_rows, p99_ms=p99_ms, max_mb=max_mb
        )
        for c in (parity, speed):
            product.accept(c)
            result.checks.append(c)
    return result


def load_model(path):
    """A fitted model from a joblib or pickle file (yours: unpickling runs its code)."""
    import joblib

    source = Path(path)
    if source.is_dir():
        raise UsageError(f"model path {str(source)!r} is a folder, not a model file")
    if not source.is_file():
        raise UsageError(f"model file {str(source)!r} does not exist")
    try:
        return joblib.load(source)
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways: each is an unreadable file
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise UsageError(
            f"cannot read model file {str(source)!r}: not a joblib or pickle file of a model "
            f"({type(exc).__name__}: {why})"
        ) from None


def read_frame(path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame, with a clear error for a bad path."""
    source = Path(path)
    if source.is_dir():
        raise UsageError(f"data path {str(source)!r} is a folder, not a CSV or Parquet file")
    if not source.is_file():
        raise UsageError(f"data file {str(source)!r} does not exist")
    try:
        if source.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(source)
        return pd.read_csv(source)
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow parse errors have many types
        raise UsageError(f"cannot read {str(source)!r}: {str(exc).splitlines()[0][:200]}") from None
