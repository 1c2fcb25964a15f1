"""Full-content fingerprints of data, models and files.

A fingerprint is the XXH3-128 digest of an object's whole content, never a sample:
every row, every byte, every fitted array. It is stable across processes, machines and runs
because it is computed from a canonical byte stream, not from ``pickle`` or ``id()``:

* The object is walked into a stream of tokens: small values are written inline (type tag,
  length, bytes); large buffers (>= 1 MiB, e.g. a numeric column) are replaced by their own
  digest. Buffers over 16 MiB are hashed as a fixed tree of 16 MiB blocks. Because the tree
  shape is part of the definition, the result does not depend on how many threads hashed it;
  large objects are hashed on all cores.
* DataFrames hash column by column (names, dtypes, values), so the result does not depend on
  pandas' internal block layout. Strings backed by Arrow hash their offsets and bytes
  directly; nullable types hash their values with masked slots zeroed, plus the mask.
* Fitted scikit-learn estimators hash their class, parameters and fitted state (``coef_``,
  trees' node arrays, private state such as a booster's ``_predictors``) field by field, so
  padding bytes and pickle's memo order cannot change the result. Timing attributes of searches
  (``refit_time_``, ``*_time`` in ``cv_results_``) are left out: they differ on every fit.
* Files hash their raw bytes (so the digest equals ``xxhsum -H2``), memory-mapped, with a stat
  cache keyed by device, inode, size, mtime_ns and ctime_ns so an unchanged file is not read
  again.

The schema fingerprint covers only names and dtypes: two batches of the same table share it.
"""

from __future__ import annotations

import inspect
import io
import json
import mmap
import os
import pickle
import struct
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xxhash

from ..errors import FingerprintError

__all__ = [
    "ALGORITHM",
    "Fingerprint",
    "StatCache",
    "digest_bytes",
    "fingerprint",
    "fingerprint_file",
    "schema_fingerprint",
]

ALGORITHM = "xxh3-128"

_INLINE_LIMIT = 1 << 20  # buffers below this are hashed inline
_BLOCK = 1 << 24  # tree block size for large buffers
_PARALLEL_MIN = 1 << 26  # below this many big-buffer bytes, threads cost more than they save
_MAX_COLUMNS_IN_META = 500


@dataclass(frozen=True)
class Fingerprint:
    """The identity of an object's full content.

    Attributes
    ----------
    digest : str
        32 hex digits of XXH3-128 over the canonical content stream.
    kind : str
        What was fingerprinted: ``dataframe``, ``series``, ``ndarray``, ``model``, ``file``,
        ``object``.
    schema : str or None
        Digest of names and dtypes only, where the object has a schema.
    size : int
        Bytes of content hashed (file size for files).
    meta : dict
        Small JSON-ready description: shape, columns and dtypes, class, path.
    """

    digest: str
    kind: str
    schema: str | None = None
    size: int = 0
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def short(self) -> str:
        """First 12 hex digits, for display."""
        return self.digest[:12]

    def __str__(self) -> str:
        return self.digest


def digest_bytes(data: bytes | memoryview) -> str:
    """Return the XXH3-128 hex digest of raw bytes (the digest a file of these bytes gets)."""
    return xxhash.xxh3_128_hexdigest(data)


# ----------------------------------------------------------------------------------------------
# the token stream


class _Big:
    """A large buffer whose digest replaces it in the stream."""

    __slots__ = ("digest", "view")

    def __init__(self, view: memoryview):
        self.view = view
        self.digest: bytes | None = None


class _Stream:
    """Collects tokens; big buffers are hashed later, possibly on several threads."""

    def __init__(self):
        self.parts: list[bytes | _Big] = []
        self.big_bytes = 0
        self.size = 0
        self._active: set[int] = set()

    # Every token is: one type byte, an 8-byte little-endian length, the payload.
    def token(self, code: bytes, payload: bytes) -> None:
        self.parts.append(code + struct.pack("<Q", len(payload)) + payload)

    def tag(self, name: str) -> None:
        self.token(b"T", name.encode())

    def text(self, value: str) -> None:
        self.token(b"S", value.encode("utf-8", "surrogatepass"))

    def buffer(self, view: memoryview) -> None:
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        n = view.nbytes
        self.size += n
        if n < _INLINE_LIMIT:
            self.token(b"b", view.tobytes())
            return
        self.parts.append(b"B" + struct.pack("<Q", n))
        self.parts.append(_Big(view))
        self.big_bytes += n

    def finish(self) -> str:
        bigs = [p for p in self.parts if isinstance(p, _Big)]
        if bigs:
            _hash_big_buffers(bigs, parallel=self.big_bytes >= _PARALLEL_MIN)
        hasher = xxhash.xxh3_128()
        for part in self.parts:
            hasher.update(part.digest if isinstance(part, _Big) else part)
        return hasher.hexdigest()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, min(8, os.cpu_count() or 1))
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="nbtrail-hash")
        return _pool


def _hash_big_buffers(bigs: list[_Big], *, parallel: bool) -> None:
    # Each big buffer is split into fixed 16 MiB blocks; a buffer of one block is hashed
    # directly, a longer one as the digest of its block digests (a fixed, documented tree).
    jobs: list[tuple[int, memoryview]] = []
    for i, big in enumerate(bigs):
        for offset in range(0, big.view.nbytes, _BLOCK):
            jobs.append((i, big.view[offset : offset + _BLOCK]))
    run = _executor().map if parallel and len(jobs) > 1 else map
    digests = list(run(xxhash.xxh3_128_digest, (view for _, view in jobs)))
    per_buffer: list[list[bytes]] = [[] for _ in bigs]
    for (i, _), digest in zip(jobs, digests, strict=True):
        per_buffer[i].append(digest)
    for big, blocks in zip(bigs, per_buffer, strict=True):
        if len(blocks) == 1:
            big.digest = blocks[0]
        else:
            big.digest = xxhash.xxh3_128_digest(b"tree" + b"".join(blocks))
        big.view = None  # release the memory as soon as possible


# ----------------------------------------------------------------------------------------------
# walking objects


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
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        s.text(_dtype_name(column.dtype))
        _walk_values(_series_values(column), s)


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
    elif isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType) or (
        inspect.ismethod(obj)
    ):
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


# ----------------------------------------------------------------------------------------------
# schema and description


def _dtype_name(dtype) -> str:
    if isinstance(dtype, np.dtype):
        if dtype.byteorder == ">":
            dtype = dtype.newbyteorder("<")
        return dtype.str if dtype.names is None else json.dumps(dtype.descr, default=str)
    return str(dtype)


def _columns_meta(df) -> list[list[str]]:
    return [[_label(name), str(dtype)] for name, dtype in zip(df.columns, df.dtypes, strict=True)]


def _label(value) -> str:
    return value if isinstance(value, str) else repr(value)


def schema_fingerprint(obj) -> str | None:
    """Return the digest of an object's schema (names and dtypes), or None if it has none.

    Parameters
    ----------
    obj : DataFrame, Series or ndarray
        Other objects have no schema and give None.
    """
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        spec = {
            "columns": _columns_meta(obj),
            "index": [[_label(n), str(obj.index.dtype)] for n in obj.index.names],
        }
    elif isinstance(obj, pd.Series):
        spec = {"name": _label(obj.name), "dtype": str(obj.dtype)}
    elif isinstance(obj, np.ndarray):
        spec = {"dtype": _dtype_name(obj.dtype), "shape": list(obj.shape[1:])}
    else:
        return None
    return xxhash.xxh3_128_hexdigest(json.dumps(spec, sort_keys=True).encode())


def _describe(obj) -> tuple[str, dict]:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        columns = _columns_meta(obj)
        meta = {"rows": int(obj.shape[0]), "n_columns": int(obj.shape[1])}
        meta["columns"] = columns[:_MAX_COLUMNS_IN_META]
        if len(columns) > _MAX_COLUMNS_IN_META:
            meta["columns_truncated"] = True
        return "dataframe", meta
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
        A pandas DataFrame, Series or Index, a numpy array, a fitted (or unfitted)
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
    kind, meta = _describe(obj)
    return Fingerprint(
        digest=stream.finish(),
        kind=kind,
        schema=schema_fingerprint(obj),
        size=stream.size,
        meta=meta,
    )


# ----------------------------------------------------------------------------------------------
# files


class StatCache:
    """Remembers file digests by (device, inode, size, mtime_ns, ctime_ns).

    DVC keys its cache on inode, size and mtime; nbtrail adds the inode change time, which
    no one can set back: rewriting a file and restoring its mtime (``touch -r``, ``cp -p``,
    ``os.utime``) does not fool it.

    A file whose modification time is within two seconds of the moment it was hashed is not
    cached: a second write in the same clock tick would keep the same stat ("racy git").

    Parameters
    ----------
    path : path-like, optional
        A JSON file that keeps the cache across processes; None keeps it in memory only.
    """

    RACY_NS = 2_000_000_000

    def __init__(self, path: str | os.PathLike | None = None, *, max_entries: int = 100_000):
        self.path = Path(path) if path is not None else None
        self.max_entries = max_entries
        self._entries: dict[str, str] = {}
        self._lock = threading.Lock()
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text())
                if isinstance(loaded, dict):
                    self._entries = {str(k): str(v) for k, v in loaded.items()}
            except (OSError, ValueError):
                self._entries = {}  # a damaged cache is only a slower start

    @staticmethod
    def key(st: os.stat_result) -> str:
        """Return the cache key of a stat result."""
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def get(self, st: os.stat_result) -> str | None:
        """Return the cached digest for a stat result, if any."""
        with self._lock:
            return self._entries.get(self.key(st))

    def put(self, st: os.stat_result, digest: str, hashed_at_ns: int) -> None:
        """Remember a digest unless the file was modified too recently to trust its stat."""
        if hashed_at_ns - st.st_mtime_ns < self.RACY_NS:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[self.key(st)] = digest
            self._dirty = True

    def save(self) -> None:
        """Write the cache to its file atomically (no-op for an in-memory cache)."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            payload = json.dumps(self._entries)
            self._dirty = False
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(payload)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the cache is an optimisation; never fail for it


_default_cache = StatCache()


def _hash_open_file(fh: io.BufferedReader, size: int) -> str:
    if size > 0:
        try:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                if hasattr(mapped, "madvise"):
                    mapped.madvise(mmap.MADV_SEQUENTIAL)
                return xxhash.xxh3_128_hexdigest(mapped)
        except (ValueError, OSError):
            fh.seek(0)  # not mappable (a pipe, a special file): stream it instead
    hasher = xxhash.xxh3_128()
    buf = bytearray(1 << 23)
    view = memoryview(buf)
    while True:
        n = fh.readinto(buf)
        if not n:
            break
        hasher.update(view[:n])
    return hasher.hexdigest()


def fingerprint_file(
    path: str | os.PathLike, *, cache: StatCache | None = _default_cache
) -> Fingerprint:
    """Fingerprint a file's full bytes (the digest equals ``xxhsum -H2``).

    Parameters
    ----------
    path : path-like
        The file to read. It is memory-mapped and hashed in one pass.
    cache : StatCache or None
        Where to look up and remember digests by stat; None always reads the file.

    Returns
    -------
    Fingerprint
        ``kind="file"``; ``meta`` holds the absolute path and size.

    Raises
    ------
    FingerprintError
        If the path does not exist, is a folder, or cannot be read.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            st = os.fstat(fh.fileno())
            if not _is_regular(st):
                raise FingerprintError(f"{p}: not a regular file")
            digest = cache.get(st) if cache is not None else None
            if digest is None:
                digest = _hash_open_file(fh, st.st_size)
                after = os.fstat(fh.fileno())
                if StatCache.key(after) != StatCache.key(st):
                    raise FingerprintError(f"{p}: the file changed while it was being read")
                if cache is not None:
                    cache.put(st, digest, time.time_ns())
    except IsADirectoryError:
        raise FingerprintError(f"{p}: is a folder, not a file") from None
    except FileNotFoundError:
        raise FingerprintError(f"{p}: no such file") from None
    except PermissionError:
        raise FingerprintError(f"{p}: permission denied") from None
    except OSError as exc:
        raise FingerprintError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    return Fingerprint(
        digest=digest,
        kind="file",
        schema=None,
        size=st.st_size,
        meta={"path": str(p.resolve()), "size": st.st_size},
    )


def _is_regular(st: os.stat_result) -> bool:
    import stat as stat_module

    return stat_module.S_ISREG(st.st_mode)
