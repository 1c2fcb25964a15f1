"""Keyed pseudonyms: identifiers replaced by a keyed hash, so joins still work and names don't.

Each value becomes the hex HMAC-SHA256 of its canonical string (``str(value)``) under a secret
key, cut to ``length`` hex characters. The same value under the same key always gets the same
pseudonym, so tables pseudonymised with one key still join on the column; without the key
nobody can recompute a pseudonym from a guessed value (a plain hash of an e-mail or an SSN is
reversed by hashing every candidate). The key comes from the caller or from the environment
(``NBTRAIL_PSEUDONYM_KEY``), never from a project file, and is never stored with the result,
put in its ``attrs``, logged or repeated in an error message. Missing values stay missing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import UsageError

__all__ = ["pseudonym", "pseudonymise"]

ENV = "NBTRAIL_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16
_HINT = 'e.g. python -c "import secrets; print(secrets.token_hex(32))"'


def _key(key, env: str) -> bytes:
    """The key as bytes: given, or read from ``env``; refused when missing or short."""
    if key is None:
        if not isinstance(env, str) or not env:
            raise UsageError(f"env must name an environment variable, got {env!r}")
        key = os.environ.get(env) or None
        if key is None:
            raise UsageError(
                f"no pseudonym key: set {env} in the environment (at least {MIN_KEY_BYTES} "
                f"bytes, {_HINT}) or pass key="
            )
        source = f"the key in {env}"
    else:
        source = "key"
    if isinstance(key, str):
        raw = key.encode("utf-8")
    elif isinstance(key, bytes | bytearray | memoryview):
        raw = bytes(key)
    else:
        raise UsageError(f"key must be bytes or str, got {type(key).__name__}")
    if len(raw) < MIN_KEY_BYTES:
        raise UsageError(
            f"{source} is too short ({len(raw)} bytes); a pseudonym key needs at least "
            f"{MIN_KEY_BYTES} bytes ({_HINT})"
        )
    return raw


def _length(length) -> int:
    if (
        isinstance(length, bool)
        or not isinstance(length, int | np.integer)
        or not 8 <= length <= 64
    ):
        raise UsageError(f"length must be an integer from 8 to 64 (hex characters), got {length!r}")
    return int(length)


def _hasher(raw: bytes, length: int):
    base = hmac.new(raw, digestmod=hashlib.sha256)

    def digest(text: str) -> str:
        mac = base.copy()
        mac.update(text.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:length]

    return digest


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a missing scalar
        return False


def pseudonym(value, *, key=None, env: str = ENV, length: int = 16) -> str | None:
    """The keyed pseudonym of one value (None for a missing value).

    Parameters
    ----------
    value : object
        Any value; its canonical string ``str(value)`` is what is hashed.
    key : bytes or str, optional
        The secret key, at least 16 bytes. Default: the environment variable ``env``.
    env : str
        The environment variable that holds the key when ``key`` is not given.
    length : int
        Hex characters kept (8 to 64).

    Returns
    -------
    str or None
        The first ``length`` hex characters of HMAC-SHA256(key, str(value)), the same as
        :func:`pseudonymise` gives that value in a column; None when ``value`` is missing.
    """
    digest = _hasher(_key(key, env), _length(length))
    return None if _missing(value) else digest(str(value))


def _column_names(frame: pd.DataFrame, columns) -> list:
    if isinstance(columns, str) or not isinstance(columns, Iterable):
        columns = [columns]
    wanted = list(dict.fromkeys(columns))
    if not wanted:
        raise UsageError("columns must name at least one column")
    present = set(frame.columns)
    unknown = [c for c in wanted if c not in present]
    if unknown:
        raise UsageError(
            f"columns not in the frame: {', '.join(map(repr, unknown))} (columns: "
            f"{', '.join(map(str, frame.columns[:20]))})"
        )
    return wanted


def pseudonymise(
    frame: pd.DataFrame,
    columns,
    *,
    key=None,
    env: str = ENV,
    length: int = 16,
) -> pd.DataFrame:
    """A copy of ``frame`` with each value of ``columns`` replaced by its keyed pseudonym.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; it is not modified.
    columns : str or list of str
        The columns to pseudonymise (every column of a repeated name).
    key : bytes or str, optional
        The secret key, at least 16 bytes. Default: the environment variable ``env``
        (``NBTRAIL_PSEUDONYM_KEY``). Keep it out of the project: whoever holds it can test
        guesses against the pseudonyms.
    env : str
        The environment variable that holds the key when ``key`` is not given.
    length : int
        Hex characters kept per pseudonym (8 to 64; 16 gives 64 bits, collisions are unlikely
        below billions of distinct values).

    Returns
    -------
    pandas.DataFrame
        A copy where those columns hold ``hmac_sha256(key, str(value)).hexdigest()[:length]``
        as strings (object dtype), missing values kept as they were. Each distinct value is
        hashed once.

    Raises
    ------
    UsageError
        ``frame`` is not a DataFrame, a column is unknown, ``length`` is out of range, or the
        key is missing or shorter than 16 bytes.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    wanted = set(_column_names(frame, columns))
    digest = _hasher(_key(key, env), _length(length))
    out = frame.copy()
    for position, label in enumerate(frame.columns):
        if label in wanted:
            out.isetitem(position, _pseudonymise_column(frame.iloc[:, position], digest))
    return out


def _pseudonymise_column(series: pd.Series, digest) -> pd.Series:
    result = series.to_numpy(dtype=object).copy()
    present = ~series.isna().to_numpy(dtype=bool)
    texts = np.asarray([str(v) for v in result[present]], dtype=object)
    codes, uniques = pd.factorize(texts)
    hashed = np.asarray([digest(text) for text in uniques], dtype=object)
    result[present] = hashed[codes]
    return pd.Series(result, index=series.index, name=series.name, dtype=object)
