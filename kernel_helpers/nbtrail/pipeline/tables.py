"""Reading the tables a template is given: CSV or Parquet, by the file's suffix.

Templates take paths as parameters. ``read_table(train, parameter="train")`` reads the file
whatever its format, and refuses anything else in one sentence naming the parameter, so a
pipeline given the wrong file stops with that sentence instead of a parser's traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError

__all__ = ["TABLE_SUFFIXES", "read_table"]

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def _format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, kind in sorted(TABLE_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return kind
    return None


def read_table(
    path: str | os.PathLike, *, parameter: str | None = None, csv_options: dict | None = None
):
    """Read a CSV or Parquet file as a pandas DataFrame, by its suffix.

    Parameters
    ----------
    path : path-like
        ``.csv`` (also ``.csv.gz``), ``.tsv``, ``.parquet`` or ``.pq``.
    parameter : str, optional
        The template parameter that named the file, for the error message.
    csv_options : dict, optional
        Passed to ``pandas.read_csv`` for a CSV or TSV file (``{"na_values": "?"}``).

    Raises
    ------
    UsageError
        When the file is missing, has another suffix, or cannot be parsed; the message names
        the parameter and the file.
    """
    import pandas as pd

    where = f"parameter {parameter!r}: " if parameter else ""
    target = Path(path).expanduser()
    kind = _format(target)
    if kind is None:
        known = ", ".join(sorted(TABLE_SUFFIXES))
        raise UsageError(f"{where}{target} is not a table nbtrail reads (suffixes: {known})")
    if not target.is_file():
        raise UsageError(f"{where}{target}: no such file")
    try:
        if kind == "parquet":
            return pd.read_parquet(target)
        options = {"sep": "\t" if kind == "tsv" else ",", **(csv_options or {})}
        return pd.read_csv(target, **options)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{where}{target} cannot be read as {kind}: {first}") from None
