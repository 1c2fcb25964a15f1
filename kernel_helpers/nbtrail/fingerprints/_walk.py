"""Walking objects into the token stream: frames, arrays, Arrow data, estimators, containers.

Each walker writes a canonical description of an object's full content, independent of memory
layout: DataFrames column by column, nullable values with masked slots zeroed plus the mask,
estimators field by field (timing attributes of searches left out).
"""

from __future__ import annotations

import json
import pickle
import struct
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import FingerprintError
from ._columnar import is_columnar, walk_columnar
from ._core import _INLINE_LIMIT, _Stream


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _contiguous(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return np.ascontiguousarray(arr)


def _walk_ndarray(arr: np.ndarray, s: _Stream) -> None:
    s.tag("ndarray")
    s.text(_dtype_name(arr.dtype))
    s.token(b"h", struct.pack(f"<{arr.ndim}q", *arr.shape))
    if arr.dtype.hasobject:
        if arr.dtype.names:
            for name in arr.dtype.names:
                s.text(name)
                _walk_ndarray(np.asarray(arr[name]), s)
            return
        _walk_object_values(arr.reshape(-1), s)
    elif arr.dtype.names:
        # Structured arrays (a fitted tree's nodes) hash field by field: padding bytes
        # between fields are uninitialised memory and would make the digest random.
        for name in arr.dtype.names:
            s.text(name)
            _walk_ndarray(arr[name], s)
    else:
        s.buffer(memoryview(_contiguous(arr).reshape(-1).view(np.uint8)))


def _walk_object_values(values: np.ndarray, s: _Stream) -> None:
    """Object arrays: all-strings go through Arrow; anything else element by element."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(values, skipna=False) if len(values) else "empty"
    if kind == "string":
        import pyarrow as pa

        s.tag("objstrings")
        _walk_arrow(pa.array(values, type=pa.large_string(), from_pandas=False), s)
        return
    s.tag("objects")
    s.token(b"n", struct.pack("<q", len(values)))
    for value in values:
        _walk(value, s)


def _walk_arrow(array, s: _Stream) -> None:
    """Hash an Arrow Array or ChunkedArray independently of how it is chunked."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    typ = array.type
    s.tag("arrow")
    s.text(str(typ))
    s.token(b"n", struct.pack("<q", len(array)))
    if (
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_binary(typ)
        or pa.types.is_large_binary(typ)
    ):
        valid_parts, length_parts, data_parts = [], [], []
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            if chunk.null_count:
                valid_parts.append(np.asarray(chunk.is_valid()))
                chunk = pc.fill_null(chunk, "" if "string" in str(typ) else b"")
            else:
                valid_parts.append(None)
            bufs = chunk.buffers()
            width = 8 if typ in (pa.large_string(), pa.large_binary()) else 4
            offsets = np.frombuffer(
                bufs[1], dtype=f"<i{width}", count=len(chunk) + 1, offset=chunk.offset * width
            )
            length_parts.append(np.diff(offsets).astype("<i8", copy=False))
            start, stop = int(offsets[0]), int(offsets[-1])
            data = bufs[2]
            data_parts.append(memoryview(data)[start:stop] if data is not None else b"")
        if any(v is not None for v in valid_parts):
            valid = np.concatenate(
                [
                    v if v is not None else np.ones(n.size, dtype=bool)
                    for v, n in zip(valid_parts, length_parts, strict=True)
                ]
            )
            s.tag("validity")
            s.buffer(memoryview(valid.view(np.uint8)))
        lengths = np.concatenate(length_parts) if length_parts else np.empty(0, "<i8")
        s.buffer(memoryview(lengths).cast("B"))
        # The bytes of all values, as one logical stream, whatever the chunking.
        total = sum(len(d) for d in data_parts)
        s.token(b"D", struct.pack("<q", total))
        if total < _INLINE_LIMIT or len(data_parts) > 1:
            joined = b"".join(bytes(d) for d in data_parts)
            s.buffer(memoryview(joined))
        else:
            s.buffer(memoryview(data_parts[0]))
        return
    if pa.types.is_primitive(typ) and not pa.types.is_boolean(typ):
        combined = pa.concat_arrays(chunks) if len(chunks) != 1 else chunks[0]
        values = combined.to_numpy(zero_copy_only=False)
        if combined.null_count:
            mask = np.asarray(combined.is_null())
            s.tag("nullmask")
            s.buffer(memoryview(mask.view(np.uint8)))
            values = np.where(mask, np.zeros(1, dtype=values.dtype), values)
        _walk_ndarray(np.asarray(values), s)
        return
    # Nested, boolean and other types: element by element (slow, but exact).
    _walk_object_values(np.asarray(array.to_pylist(), dtype=object), s)


def _walk_extension_array(arr, s: _Stream) -> None:
    import pandas as pd

    dtype = arr.dtype
    s.tag("ext")
    s.text(_dtype_name(dtype))
    if isinstance(arr, pd.Categorical):
        s.tag("categorical")
        s.token(b"o", b"1" if dtype.ordered else b"0")
        _walk_index(dtype.categories, s)
        _walk_ndarray(np.asarray(arr.codes), s)
        return
    if hasattr(arr, "__arrow_array__") and type(arr).__name__.startswith("Arrow"):
        _walk_arrow(arr.__arrow_array__(), s)
        return
    if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind in "mM":
        # Datetimes (with or without a time zone) and timedeltas: the int64 values; NaT is
        # the minimum int64, so it needs no separate mask.
        _walk_ndarray(np.asarray(arr.asi8 if hasattr(arr, "asi8") else arr.view("i8")), s)
        return
    if isinstance(arr, pd.arrays.PeriodArray):
        _walk_ndarray(np.asarray(arr.asi8), s)
        return
    data, mask = getattr(arr, "_data", None), getattr(arr, "_mask", None)
    if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):
        # Nullable Int64/Float64/boolean: values under the mask are undefined, so zero them.
        s.tag("masked")
        if mask.any():
            data = np.where(mask, np.zeros(1, dtype=data.dtype), data)
        _walk_ndarray(data, s)
        _walk_ndarray(mask, s)
        return
    if isinstance(arr, pd.arrays.StringArray):
        import pyarrow as pa

        _walk_arrow(pa.array(arr, type=pa.large_string()), s)
        return
    if isinstance(arr, pd.arrays.NumpyExtensionArray):
        _walk_ndarray(arr.to_numpy(), s)
        return
    _walk_object_values(np.asarray(arr, dtype=object), s)


def _walk_values(values, s: _Stream) -> None:
    if isinstance(values, np.ndarray):
        _walk_ndarray(values, s)
    else:
        _walk_extension_array(values, s)


def _walk_index(index, s: _Stream) -> None:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        s.tag("RangeIndex")
        s.token(b"r", struct.pack("<qqq", index.start, index.stop, index.step))
        _walk(index.name, s)
        return
    if isinstance(index, pd.MultiIndex):
        s.tag("MultiIndex")
        s.token(b"n", struct.pack("<q", index.nlevels))
        for i in range(index.nlevels):
            _walk(index.names[i], s)
            _walk_values(_index_values(index.get_level_values(i)), s)
        return
    s.tag("Index")
    _walk(index.name, s)
    _walk_values(_index_values(index), s)


def _index_values(index):
    values = index.array
    import pandas as pd

    if isinstance(values, pd.arrays.NumpyExtensionArray):
        return values.to_numpy()
    return values


def _series_values(series):
    import pandas as pd

    values = series.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        return values.to_numpy()
    return values


def _walk_frame(df, s: _Stream) -> None:
    s.tag("DataFrame")
    s.token(b"h", struct.pack("<qq", *df.shape))
    _walk_index(df.columns, s)
    _walk_index(df.index, s)
    columns = _block_columns(df)
    headers: dict = {}
    for i in range(df.shape[1]):
        found = columns.get(i)
        if found is None:
            column = df.iloc[:, i]
            s.text(_dtype_name(column.dtype))
            _walk_values(_series_values(column), s)
        elif isinstance(found, np.ndarray):
            _emit_numeric_column(found, s, headers)
        else:
            s.text(_dtype_name(found.dtype))
            _walk_extension_array(found, s)


def _block_columns(df) -> dict:
    """Frame position -> that column's values, read from pandas' blocks, not one by one.

    A wide frame's cost was one ``iloc`` per column (tens of microseconds each, a Series
    made and dropped); its columns live in a few 2D blocks, one per dtype. Plain numeric
    columns come back as 1D rows of their block (contiguous), extension columns (strings,
    categoricals, nullable) as their 1D array; anything else is left to ``iloc``. The stream
    written is the per-column walk's, so digests do not change.
    """
    try:
        blocks = df._mgr.blocks
    except AttributeError:
        return {}
    import pandas as pd

    extension = pd.api.extensions.ExtensionArray
    out: dict = {}
    try:
        for block in blocks:
            values = block.values
            positions = block.mgr_locs.as_array
            if isinstance(values, extension):
                if values.ndim == 1 and len(positions) == 1:
                    out[int(positions[0])] = values
                continue
            if not isinstance(values, np.ndarray) or values.ndim != 2:
                continue
            if values.dtype.kind not in "biufc" or values.dtype.byteorder == ">":
                continue
            if not values.flags.c_contiguous:
                values = np.ascontiguousarray(values)  # one copy per block, not per column
            for row, position in enumerate(positions):
                out[int(position)] = values[row]
    except Exception:  # noqa: BLE001 - pandas internals changed: the per-column walk is exact
        return {}
    return out


def _emit_numeric_column(values: np.ndarray, s: _Stream, headers: dict) -> None:
    """The tokens ``_walk_ndarray`` writes for a 1D numeric column, without its overhead."""
    key = (values.dtype, values.shape[0])
    header = headers.get(key)
    if header is None:
        probe = _Stream()
        name = _dtype_name(values.dtype)
        probe.text(name)
        probe.tag("ndarray")
        probe.text(name)
        probe.token(b"h", struct.pack("<q", values.shape[0]))
        header = headers[key] = b"".join(probe.parts)
    view = memoryview(values.view(np.uint8))
    n = view.nbytes
    if n < _INLINE_LIMIT:
        s.parts.append(header + b"b" + struct.pack("<Q", n))
        s.parts.append(view)
        s.size += n
        return
    s.parts.append(header)
    s.buffer(view)


def _walk_series(series, s: _Stream) -> None:
    s.tag("Series")
    _walk(series.name, s)
    s.text(_dtype_name(series.dtype))
    _walk_index(series.index, s)
    _walk_values(_series_values(series), s)


# Attributes that change on every fit without changing the model.
_VOLATILE_ATTRIBUTES = {"refit_time_"}


def _is_estimator(obj) -> bool:
    return hasattr(obj, "get_params") and hasattr(obj, "fit") and not isinstance(obj, type)


def _walk_estimator(est, s: _Stream) -> None:
    s.tag("estimator")
    s.text(_qualname(type(est)))
    try:
        params = est.get_params(deep=False)
    except Exception as exc:  # noqa: BLE001 - third-party get_params may raise anything
        raise FingerprintError(
            f"{type(est).__name__}.get_params() failed ({exc}); cannot fingerprint it"
        ) from None
    _walk_mapping(params, s)
    # Fitted state: every instance attribute, public (coef_) and private (a histogram gradient
    # booster keeps its trees in _predictors), except those that change on every fit.
    state = {
        name: value
        for name, value in vars(est).items()
        if name not in params and name not in _VOLATILE_ATTRIBUTES
    }
    if isinstance(state.get("cv_results_"), dict):
        state["cv_results_"] = {
            k: v for k, v in state["cv_results_"].items() if not k.endswith("_time")
        }
    s.tag("fitted")
    s.token(b"n", struct.pack("<q", len(state)))
    for name in sorted(state):
        s.text(name)
        probe = _Stream()
        probe._active = s._active
        try:
            _walk(state[name], probe)
        except FingerprintError:
            # A lock, a file handle, a cache: not content. Count only that it is there.
            s.tag("unhashable")
            s.text(_qualname(type(state[name])))
            continue
        s.parts.extend(probe.parts)
        s.big_bytes += probe.big_bytes
        s.size += probe.size


def _sort_key(key) -> tuple[str, str]:
    return (type(key).__name__, repr(key))


def _walk_mapping(mapping, s: _Stream) -> None:
    s.tag("dict")
    s.token(b"n", struct.pack("<q", len(mapping)))
    try:
        items = sorted(mapping.items(), key=lambda kv: _sort_key(kv[0]))
    except TypeError:
        items = list(mapping.items())
    for key, value in items:
        _walk(key, s)
        _walk(value, s)


def _walk(obj, s: _Stream) -> None:
    if obj is None:
        s.tag("None")
        return
    if obj is True or obj is False:
        s.token(b"?", b"1" if obj else b"0")
        return
    if isinstance(obj, int) and not isinstance(obj, np.generic):
        s.token(b"i", str(int(obj)).encode())
        return
    if isinstance(obj, float) and not isinstance(obj, np.generic):
        s.token(b"f", struct.pack("<d", obj))
        return
    if isinstance(obj, str):
        s.text(obj)
        return
    if isinstance(obj, bytes | bytearray | memoryview):
        s.tag("bytes")
        s.buffer(memoryview(obj).cast("B"))
        return
    if isinstance(obj, np.generic):
        s.tag("npscalar")
        _walk_ndarray(np.asarray(obj).reshape(1), s)
        return
    if isinstance(obj, np.ndarray):
        _walk_ndarray(obj, s)
        return

    key = id(obj)
    if key in s._active:
        raise FingerprintError(
            f"{type(obj).__name__} object refers to itself; cannot fingerprint a cycle"
        )
    s._active.add(key)
    try:
        _walk_container(obj, s)
    finally:
        s._active.discard(key)


def _walk_container(obj, s: _Stream) -> None:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        _walk_frame(obj, s)
    elif isinstance(obj, pd.Series):
        _walk_series(obj, s)
    elif isinstance(obj, pd.Index):
        _walk_index(obj, s)
    elif isinstance(obj, pd.api.extensions.ExtensionArray):
        _walk_extension_array(obj, s)
    elif is_columnar(obj):
        walk_columnar(obj, s)
    elif isinstance(obj, dict):
        _walk_mapping(obj, s)
    elif isinstance(obj, list | tuple):
        s.tag(type(obj).__name__ if type(obj) in (list, tuple) else _qualname(type(obj)))
        s.token(b"n", struct.pack("<q", len(obj)))
        for item in obj:
            _walk(item, s)
    elif isinstance(obj, set | frozenset):
        s.tag("set")
        digests = sorted(_digest_of(item) for item in obj)
        s.token(b"n", struct.pack("<q", len(digests)))
        for digest in digests:
            s.token(b"d", bytes.fromhex(digest))
    elif isinstance(obj, types.GeneratorType | Iterator) and not hasattr(obj, "__len__"):
        raise FingerprintError(
            f"{type(obj).__name__} is an iterator: fingerprinting it would consume it; "
            "materialise it (list(...)) first"
        )
    elif isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        s.tag("callable")
        s.text(_qualname(obj))
    elif _is_estimator(obj):
        _walk_estimator(obj, s)
    elif isinstance(obj, np.random.RandomState):
        s.tag("RandomState")
        _walk(obj.get_state(legacy=False), s)
    elif isinstance(obj, Path):
        s.tag("path")
        s.text(str(obj))
    else:
        _walk_generic(obj, s)


def _walk_generic(obj, s: _Stream) -> None:
    s.tag("object")
    s.text(_qualname(type(obj)))
    state = None
    getstate = getattr(obj, "__getstate__", None)
    if getstate is not None:
        try:
            state = getstate()
        except Exception:  # noqa: BLE001 - fall back to pickle below
            state = None
    if isinstance(state, dict) and state:
        _walk_mapping(state, s)
        return
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        _walk((state[0], state[1]), s)  # (dict, slots) form
        return
    try:
        data = pickle.dumps(obj, protocol=4)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means "cannot hash"
        raise FingerprintError(
            f"cannot fingerprint an object of type {_qualname(type(obj))}: it has no "
            f"inspectable state and does not pickle ({exc})"
        ) from None
    s.tag("pickle")
    s.buffer(memoryview(data))


def _digest_of(obj) -> str:
    stream = _Stream()
    _walk(obj, stream)
    return stream.finish()


def _dtype_name(dtype) -> str:
    if isinstance(dtype, np.dtype):
        if dtype.byteorder == ">":
            dtype = dtype.newbyteorder("<")
        return dtype.str if dtype.names is None else json.dumps(dtype.descr, default=str)
    return str(dtype)
