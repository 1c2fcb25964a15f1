"""Arrow and polars data: column by column, straight from the Arrow buffers.

An Arrow Table, RecordBatch, ChunkedArray or Array, and a polars DataFrame or Series (through
``to_arrow()``, zero-copy for numeric columns), hash each column as one logical stream, so the
digest does not depend on chunking or slicing:

* fixed-width values (integers, floats, temporal, decimals): the value bytes of every chunk
  from its offset, with slots under a null zeroed (their bytes are undefined);
* booleans: one byte per value; strings and binaries (any width, views too): the lengths as
  int64, then the value bytes; dictionaries: decoded first;
* nulls: one validity byte per value, only when the column has nulls;
* anything else (lists, structs): the existing element-by-element Arrow walk.

Each column's stream is hashed at memory bandwidth into one digest, and the table's token
stream holds names, canonical types, lengths and those digests. String, large string and
string view hash alike (they are the same values), so a polars frame and the Arrow table it
converts to share a digest. A pandas frame of the same data does not: pandas' definition also
covers its index and its own dtypes (see :mod:`._walk`).
"""

from __future__ import annotations

import struct
import sys

import numpy as np
import xxhash

from ._core import _Stream

__all__ = ["is_columnar", "walk_columnar"]

_ARROW_TABLES = ("Table", "RecordBatch")
_ARROW_COLUMNS = ("ChunkedArray",)


def is_columnar(obj) -> bool:
    """Whether ``obj`` is Arrow or polars data (checked without importing either)."""
    module = type(obj).__module__ or ""
    if module.startswith("pyarrow"):
        pa = sys.modules.get("pyarrow")
        return pa is not None and isinstance(
            obj, pa.Table | pa.RecordBatch | pa.ChunkedArray | pa.Array
        )
    if module.startswith("polars"):
        pl = sys.modules.get("polars")
        return pl is not None and isinstance(obj, pl.DataFrame | pl.Series)
    return False


def describe_columnar(obj) -> tuple[str, dict, str | None]:
    """(kind, meta, schema digest) of Arrow or polars data."""
    import json

    table = _as_arrow(obj)
    if hasattr(table, "schema"):
        columns = [[f.name, _canonical_type(f.type)] for f in table.schema]
        meta = {"rows": int(table.num_rows), "n_columns": len(columns), "columns": columns[:500]}
        meta["library"] = type(obj).__module__.split(".")[0]
        spec = {"columns": columns}
        kind = "dataframe"
    else:
        name = getattr(obj, "name", None)
        meta = {"rows": len(table), "name": name, "dtype": _canonical_type(table.type)}
        spec = {"name": name, "dtype": meta["dtype"]}
        kind = "series"
    return kind, meta, xxhash.xxh3_128_hexdigest(json.dumps(spec, sort_keys=True).encode())


def _as_arrow(obj):
    module = type(obj).__module__ or ""
    if module.startswith("polars"):
        return obj.to_arrow()
    return obj


def walk_columnar(obj, s: _Stream) -> None:
    """Write Arrow or polars data into the token stream (see the module docstring)."""
    import pyarrow as pa

    name = getattr(obj, "name", None) if (type(obj).__module__ or "").startswith("polars") else None
    data = _as_arrow(obj)
    if isinstance(data, pa.Table | pa.RecordBatch):
        s.tag("columnar-table")
        s.token(b"h", struct.pack("<qq", data.num_rows, data.num_columns))
        for field, column in zip(data.schema, data.columns, strict=True):
            s.text(field.name)
            _walk_column(column, s)
        return
    s.tag("columnar-column")
    s.text("" if name is None else str(name))
    _walk_column(data, s)


def _canonical_type(typ) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if _is_string(typ):
        return "string"
    if _is_binary(typ):
        return "binary"
    return str(typ)


def _is_string(typ) -> bool:
    import pyarrow as pa

    view = getattr(pa.types, "is_string_view", None)
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or bool(view and view(typ))


def _is_binary(typ) -> bool:
    import pyarrow as pa

    view = getattr(pa.types, "is_binary_view", None)
    return pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or bool(view and view(typ))


def _chunks(column) -> list:
    import pyarrow as pa

    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _walk_column(column, s: _Stream) -> None:
    import pyarrow as pa

    typ = column.type
    chunks = [c for c in _chunks(column) if len(c)]
    if pa.types.is_dictionary(typ):
        chunks = [c.dictionary_decode() for c in chunks]
        typ = typ.value_type
    s.text(_canonical_type(typ))
    s.token(b"n", struct.pack("<q", len(column)))
    nulls = sum(c.null_count for c in chunks)
    if nulls:
        validity = xxhash.xxh3_128()
        for chunk in chunks:
            valid = np.asarray(chunk.is_valid()) if chunk.null_count else np.ones(len(chunk), bool)
            validity.update(valid.view(np.uint8))
        s.token(b"v", validity.digest())
    if pa.types.is_boolean(typ):
        values = xxhash.xxh3_128()
        for chunk in chunks:
            if chunk.null_count:
                chunk = chunk.fill_null(False)
            values.update(np.asarray(chunk.to_numpy(zero_copy_only=False)).view(np.uint8))
            s.size += len(chunk)
        s.token(b"c", values.digest())
        return
    if _is_string(typ) or _is_binary(typ):
        _walk_varwidth(chunks, typ, s)
        return
    width = _bit_width(typ)
    if width and width % 8 == 0:
        values = xxhash.xxh3_128()
        for chunk in chunks:
            view = _fixed_values(chunk, width // 8)
            values.update(view)
            s.size += view.nbytes
        s.token(b"c", values.digest())
        return
    # Lists, structs and the rest: exact, element by element, as one sequence of values.
    from ._walk import _walk_object_values

    values = pa.chunked_array(chunks, type=typ).to_pylist() if chunks else []
    items = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        items[i] = value  # one by one: equal-length lists must not become a 2D array
    s.tag("nested")
    _walk_object_values(items, s)


def _bit_width(typ) -> int:
    try:
        return int(typ.bit_width)
    except (ValueError, AttributeError, TypeError):
        return 0  # not fixed-width


def _fixed_values(chunk, width: int) -> np.ndarray:
    """The chunk's value bytes from its offset; slots under a null zeroed."""
    buffer = chunk.buffers()[1]
    raw = np.frombuffer(
        buffer, dtype=np.uint8, count=len(chunk) * width, offset=chunk.offset * width
    )
    if not chunk.null_count:
        return raw
    valid = np.asarray(chunk.is_valid())
    rows = raw.reshape(len(chunk), width).copy()
    rows[~valid] = 0
    return rows.reshape(-1)


def _walk_varwidth(chunks: list, typ, s: _Stream) -> None:
    import pyarrow as pa

    target = pa.large_string() if _is_string(typ) else pa.large_binary()
    lengths, values = xxhash.xxh3_128(), xxhash.xxh3_128()
    for chunk in chunks:
        if chunk.type != target:
            chunk = chunk.cast(target)  # string views and 32-bit offsets: one layout
        _, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(
            offsets_buf, dtype="<i8", count=len(chunk) + 1, offset=chunk.offset * 8
        )
        sizes = np.diff(offsets)
        if chunk.null_count:
            sizes = np.where(np.asarray(chunk.is_valid()), sizes, 0)
        lengths.update(sizes.astype("<i8", copy=False))
        start, stop = int(offsets[0]), int(offsets[-1])
        if data_buf is not None and stop > start:
            if chunk.null_count:
                # Nulls may own bytes in the buffer: hash only the valid values' bytes.
                data = np.frombuffer(data_buf, dtype=np.uint8)
                keep = np.repeat(np.asarray(chunk.is_valid()), np.diff(offsets))
                values.update(data[start:stop][keep])
            else:
                values.update(memoryview(data_buf)[start:stop])
            s.size += stop - start
    s.token(b"l", lengths.digest())
    s.token(b"c", values.digest())
