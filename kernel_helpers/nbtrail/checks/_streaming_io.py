"""Parquet datasets opened for streaming: a folder, a file, or an fsspec URL, checked first.

Every file's footer is read before any work is done, so a file that is not Parquet, or whose
column types disagree with the others, is named up front. Batches are read with projected
columns, a bounded batch size and little read-ahead; memory then depends on the batch and on
the row groups the files were written with (a reader decodes a row group's pages as it goes).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

__all__ = ["DEFAULT_BATCH_SIZE", "Dataset", "open_dataset", "pa_is_text"]

DEFAULT_BATCH_SIZE = 65_536


@dataclass
class Dataset:
    """A Parquet dataset opened for streaming: its files, schema, rows and a content digest."""

    source: str
    files: list
    arrow: object = field(repr=False)  # pyarrow.dataset.Dataset
    rows: int = 0
    digest: str = ""
    filesystem: object = field(default=None, repr=False)  # pyarrow file system for URLs

    @property
    def columns(self) -> list[str]:
        """The column names, in file order."""
        return list(self.arrow.schema.names)

    def dtypes(self) -> dict:
        """Column name to the pandas dtype its values get when read (as ``read_parquet`` does)."""
        empty = self.arrow.schema.empty_table().to_pandas()
        return {str(c): empty[c].dtype for c in empty.columns}

    def batches(self, columns: list, batch_size: int = DEFAULT_BATCH_SIZE, *, codes=()):
        """Record batches of ``columns`` only, at most ``batch_size`` rows, file after file.

        One file is open at a time and read batch by batch (no read-ahead: measured, arrow's
        dataset scanner buffered several row groups more). Text columns named in ``codes``
        are read as dictionaries (codes and their labels, as Parquet stores them), so counting
        categories never builds the strings.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(columns)
        codes = [c for c in codes if pa_is_text(self.arrow.schema.field(c).type)]
        for name in self.files:
            source = self.filesystem.open_input_file(name) if self.filesystem else name
            try:
                reader = pq.ParquetFile(source, read_dictionary=codes or None)
                for batch in reader.iter_batches(batch_size=batch_size, columns=columns):
                    yield pa.RecordBatch.from_arrays(
                        [batch.column(c) for c in columns], names=columns
                    )
            finally:
                if self.filesystem:
                    source.close()

    def __repr__(self) -> str:
        return f"<Dataset {self.source}: {len(self.files)} file(s), {self.rows:,} rows>"


def _filesystem(text: str, storage_options: dict | None):
    """An arrow file system and the path inside it for a local path or an fsspec URL."""
    if "://" not in text:
        return None, text
    from .._optional import require

    fsspec = require("fsspec", purpose="reading a dataset from a URL")
    scheme = text.split("://", 1)[0]
    if scheme in ("s3", "s3a"):
        require("s3fs", purpose=f"reading {scheme}:// datasets")
    try:
        fs, path = fsspec.core.url_to_fs(text, **dict(storage_options or {}))
    except (ValueError, ImportError) as exc:
        raise UsageError(
            f"{scheme}:// in {text!r} is not a file system fsspec knows: {exc}"
        ) from None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return (fs, PyFileSystem(FSSpecHandler(fs))), path


def _list_files(text: str, fs, path: str, parameter: str) -> list[str]:
    def wanted(name: str) -> bool:
        base = name.rsplit("/", 1)[-1]
        return not base.startswith(("_", ".")) and base.endswith((".parquet", ".parq", ".pq"))

    if fs is None:
        where = Path(path)
        if where.is_file():
            return [str(where)]
        if not where.is_dir():
            raise UsageError(f"{parameter}: no such file or folder {text}")
        return sorted(str(p) for p in where.rglob("*") if p.is_file() and wanted(p.name))
    fsspec_fs = fs[0]
    try:
        if fsspec_fs.isfile(path):
            return [path]
        if not fsspec_fs.isdir(path):
            raise UsageError(f"{parameter}: nothing at {text}")
        return sorted(p for p in fsspec_fs.find(path) if wanted(p))
    except (OSError, PermissionError) as exc:
        raise UsageError(f"{parameter}: cannot list {text}: {type(exc).__name__}: {exc}") from None


def open_dataset(
    source,
    *,
    parameter: str = "current",
    storage_options: dict | None = None,
) -> Dataset:
    """Open a Parquet dataset for streaming, checking every file's footer first.

    Parameters
    ----------
    source : str, os.PathLike or Dataset
        A folder of ``.parquet`` files (searched recursively; names starting with ``_`` or
        ``.`` are left out), one file, or an fsspec URL such as ``s3://bucket/prefix``.
    parameter : str
        The name given in error messages (``current``, ``reference``).
    storage_options : dict, optional
        Passed to fsspec for a URL (``endpoint_url``, ``key``...).

    Returns
    -------
    Dataset

    Raises
    ------
    UsageError
        No such path, no Parquet file in it, a file that is not Parquet, or files whose
        column types disagree (each named).
    """
    if isinstance(source, Dataset):
        return source
    if not isinstance(source, str | os.PathLike):
        raise UsageError(
            f"{parameter} must be a path or URL of Parquet data, got {type(source).__name__}"
        )
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    text = os.fspath(source)
    fs, path = _filesystem(text, storage_options)
    files = _list_files(text, fs, path, parameter)
    if not files:
        raise UsageError(f"{parameter}: no .parquet files in {text}")
    arrow_fs = fs[1] if fs else None
    schema, first, rows, digest, pandas_meta = None, None, 0, hashlib.sha256(), None
    for name in files:
        try:
            meta = pq.read_metadata(name, filesystem=arrow_fs)
            file_schema = _data_columns(meta.schema.to_arrow_schema())
        except Exception as exc:  # noqa: BLE001 - arrow raises several kinds for bad files
            raise UsageError(f"{parameter}: {name} is not a Parquet file ({exc})") from None
        rows += meta.num_rows
        digest.update(f"{name}\0{meta.num_rows}\0{meta.serialized_size}\0".encode())
        if schema is None:
            schema, first = file_schema.remove_metadata(), name
            pandas_meta = file_schema.metadata
            continue
        for column in file_schema:
            known = schema.field(column.name) if column.name in schema.names else None
            if known is not None and not known.type.equals(column.type):
                raise UsageError(
                    f"{parameter}: {name}: column {column.name!r} is {column.type}, but "
                    f"{known.type} in {first}; every file must have the same column types"
                )
        missing = [c for c in schema.names if c not in file_schema.names]
        if missing:
            raise UsageError(f"{parameter}: {name} lacks column(s) {missing} that {first} has")
    if pandas_meta:  # read as read_parquet would: pandas dtypes kept in the file's metadata
        schema = schema.with_metadata(pandas_meta)
    arrow = ds.dataset(files, schema=schema, format="parquet", filesystem=arrow_fs)
    return Dataset(text, files, arrow, rows, digest.hexdigest()[:32], arrow_fs)


def _data_columns(schema):
    """The schema without the columns that hold a saved pandas index (``__index_level_0__``).

    ``pandas.read_parquet`` makes them the frame's index, not columns; read as columns they
    would be judged as data no reference has (and differ from file to file). The pandas
    metadata is rewritten to match, so that dtypes are still read as pandas wrote them.
    """
    import json

    import pyarrow as pa

    meta = schema.metadata or {}
    info = json.loads(meta.get(b"pandas", b"{}") or b"{}")
    index = {c for c in info.get("index_columns", []) if isinstance(c, str)}
    if not index:
        return schema
    info["index_columns"] = [c for c in info["index_columns"] if not isinstance(c, str)]
    info["columns"] = [c for c in info.get("columns", []) if c.get("field_name") not in index]
    fields = [f for f in schema if f.name not in index]
    return pa.schema(fields, metadata={**meta, b"pandas": json.dumps(info).encode()})


def pa_is_text(arrow_type) -> bool:
    """Whether an arrow type holds text (plain or large strings)."""
    import pyarrow as pa

    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
