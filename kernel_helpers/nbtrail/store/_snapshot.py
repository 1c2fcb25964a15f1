"""Turning in-memory objects into snapshot bytes, and back, without losing content.

DataFrames are stored as Parquet, arrays as ``.npy``, everything else (models) with joblib.
Every encoding is read back before it is accepted, and the restored object must have the
same fingerprint as the original; a frame that Parquet cannot carry exactly (mixed-type
object columns, non-string column names) falls back to joblib rather than being stored
subtly changed.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import SnapshotError
from ..fingerprints import Fingerprint, fingerprint

__all__ = ["SUFFIXES", "decode", "encode"]

_UNNAMED = "__nbtrail_series__"  # Parquet needs a column name; an unnamed Series gets this

SUFFIXES = {
    "raw": "",
    "parquet": ".parquet",
    "parquet-series": ".parquet",
    "npy": ".npy",
    "joblib": ".joblib",
    "json": ".json",
}


def _parquet(obj) -> bytes:
    import pandas as pd

    if isinstance(obj, pd.Series):
        obj = obj.to_frame(name=obj.name if isinstance(obj.name, str) else _UNNAMED)
    buf = io.BytesIO()
    obj.to_parquet(buf, engine="pyarrow")
    return buf.getvalue()


def table_parquet(frame) -> bytes:
    """Parquet bytes of a findings table; object columns (mixed types) are stored as text."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: v if v is None else str(v)).astype("string")
    frame.columns = [str(c) for c in frame.columns]
    return _parquet(frame.reset_index(drop=True))


def _npy(obj) -> bytes:
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=False)
    return buf.getvalue()


def _joblib(obj) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def decode(data: bytes, fmt: str):
    """Restore an object from snapshot bytes of the given format."""
    import pandas as pd

    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    if fmt == "parquet-series":
        series = pd.read_parquet(io.BytesIO(data), engine="pyarrow").iloc[:, 0]
        return series.rename(None) if series.name == _UNNAMED else series
    if fmt == "npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if fmt == "joblib":
        import joblib

        return joblib.load(io.BytesIO(data))
    if fmt == "json":
        import json

        return json.loads(data)
    raise SnapshotError(f"unknown snapshot format {fmt!r}")


def encode(obj, fp: Fingerprint) -> tuple[bytes, str]:
    """Encode an object for the blob store; return (bytes, format).

    Raises
    ------
    SnapshotError
        If no encoding restores an object with the same fingerprint.
    """
    import pandas as pd

    candidates = []
    if isinstance(obj, pd.DataFrame):
        candidates.append(("parquet", _parquet))
    elif isinstance(obj, pd.Series):
        candidates.append(("parquet-series", _parquet))
    elif isinstance(obj, np.ndarray) and not obj.dtype.hasobject:
        candidates.append(("npy", _npy))
    candidates.append(("joblib", _joblib))

    reasons = []
    for fmt, encoder in candidates:
        try:
            data = encoder(obj)
            restored = decode(data, fmt)
            if fingerprint(restored).digest == fp.digest:
                return data, fmt
            reasons.append(f"{fmt} does not restore it exactly")
        except SnapshotError:
            raise
        except Exception as exc:  # noqa: BLE001 - any encoder failure means "try the next"
            reasons.append(f"{fmt}: {type(exc).__name__}: {exc}")
    raise SnapshotError(
        f"cannot snapshot this {type(obj).__name__} so that it restores unchanged ("
        + "; ".join(reasons)
        + ")"
    )
