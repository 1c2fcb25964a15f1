"""Fingerprints of in-memory objects, and the schema fingerprint of tabular ones."""

from __future__ import annotations

import json

import numpy as np
import xxhash

from ._columnar import describe_columnar, is_columnar
from ._core import Fingerprint, _Stream
from ._walk import _dtype_name, _is_estimator, _qualname, _walk

__all__ = ["fingerprint", "schema_fingerprint"]

_MAX_COLUMNS_IN_META = 500


def _columns_meta(df) -> list[list[str]]:
    try:
        dtypes = df._mgr.get_dtypes()  # ``df.dtypes`` without building a Series (~50 us)
    except AttributeError:
        dtypes = df.dtypes
    return [
        [_label(name), _dtype_text(dtype)] for name, dtype in zip(df.columns, dtypes, strict=True)
    ]


_DTYPE_TEXT: dict = {}


def _dtype_text(dtype) -> str:
    """``str(dtype)``, remembered for numpy dtypes: numpy formats the name anew (~2 us)."""
    if not isinstance(dtype, np.dtype):
        return str(dtype)  # extension dtypes may hold their categories: not kept here
    text = _DTYPE_TEXT.get(dtype)
    if text is None:
        if len(_DTYPE_TEXT) > 1000:
            _DTYPE_TEXT.clear()
        text = _DTYPE_TEXT[dtype] = str(dtype)
    return text


def _label(value) -> str:
    return value if isinstance(value, str) else repr(value)


def schema_fingerprint(obj) -> str | None:
    """Return the digest of an object's schema (names and dtypes), or None if it has none.

    Parameters
    ----------
    obj : DataFrame, Series or ndarray (pandas, polars or Arrow)
        Other objects have no schema and give None.
    """
    if is_columnar(obj):
        return describe_columnar(obj)[2]
    return _schema(obj, None)


def _schema(obj, columns: list | None) -> str | None:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        spec = {
            "columns": _columns_meta(obj) if columns is None else columns,
            "index": [[_label(n), str(obj.index.dtype)] for n in obj.index.names],
        }
    elif isinstance(obj, pd.Series):
        spec = {"name": _label(obj.name), "dtype": str(obj.dtype)}
    elif isinstance(obj, np.ndarray):
        spec = {"dtype": _dtype_name(obj.dtype), "shape": list(obj.shape[1:])}
    else:
        return None
    return xxhash.xxh3_128_hexdigest(json.dumps(spec, sort_keys=True).encode())


def _describe(obj) -> tuple[str, dict, str | None]:
    """(kind, meta, schema digest): the column list is built once for both (wide frames)."""
    if is_columnar(obj):
        return describe_columnar(obj)
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        columns = _columns_meta(obj)
        meta = {"rows": int(obj.shape[0]), "n_columns": int(obj.shape[1])}
        meta["columns"] = columns[:_MAX_COLUMNS_IN_META]
        if len(columns) > _MAX_COLUMNS_IN_META:
            meta["columns_truncated"] = True
        return "dataframe", meta, _schema(obj, columns)
    return (*_describe_other(obj), _schema(obj, None))


def _describe_other(obj) -> tuple[str, dict]:
    import pandas as pd

    if isinstance(obj, pd.Series):
        return "series", {"rows": len(obj), "name": _label(obj.name), "dtype": str(obj.dtype)}
    if isinstance(obj, np.ndarray):
        return "ndarray", {"shape": list(obj.shape), "dtype": str(obj.dtype)}
    if _is_estimator(obj):
        return "model", {"class": _qualname(type(obj))}
    return "object", {"class": _qualname(type(obj))}


def fingerprint(obj) -> Fingerprint:
    """Fingerprint an in-memory object's full content.

    Parameters
    ----------
    obj : object
        A pandas DataFrame, Series or Index, a polars DataFrame or Series, an Arrow Table,
        RecordBatch, ChunkedArray or Array, a numpy array, a fitted (or unfitted)
        scikit-learn estimator, or plain Python data. Files: use :func:`fingerprint_file`.

    Returns
    -------
    Fingerprint

    Raises
    ------
    FingerprintError
        For objects whose content cannot be read without changing them (generators) or that
        have no inspectable state.

    Examples
    --------
    >>> import pandas as pd
    >>> a = fingerprint(pd.DataFrame({"x": [1, 2]}))
    >>> b = fingerprint(pd.DataFrame({"x": [1, 3]}))
    >>> a.digest != b.digest, a.schema == b.schema
    (True, True)
    """
    stream = _Stream()
    _walk(obj, stream)
    kind, meta, schema = _describe(obj)
    return Fingerprint(
        digest=stream.finish(),
        kind=kind,
        schema=schema,
        size=stream.size,
        meta=meta,
    )
