"""The files a DuckDB statement reads and writes, from DuckDB's own parser and tokenizer.

DuckDB is asked, never a regular expression: ``extract_statements`` splits a string into
statements and says what kind each is, ``json_serialize_sql`` gives a SELECT's parse tree (the
files it reads: ``'x.parquet'`` as a table, ``read_csv([...])``, globs), and ``tokenize`` finds
the parts of the statements it cannot serialize:

* ``COPY (query) TO 'file'`` reads the query's files and writes the file; ``COPY table TO
  'file'`` writes it; ``COPY table FROM 'file'`` reads it;
* ``CREATE TABLE ... AS query`` and ``INSERT INTO ... query`` read the query's files.

Not covered: ``ATTACH``-ed database files (read and written by later statements as tables),
``EXPORT``/``IMPORT DATABASE``, and statements DuckDB cannot parse (which fail in the call).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import NamedTuple

from ._paths import expand

__all__ = ["ReadsAndWrites", "sql_io"]

_lock = threading.Lock()
_parser = None  # a private in-memory connection: parsing never touches the user's
_TABLE_READERS = ("read_", "parquet_scan", "delta_scan", "iceberg_scan", "sniff_csv")
_QUERY_STARTS = ("select", "from", "with", "values", "pivot", "unpivot")


class ReadsAndWrites(NamedTuple):
    """What one call read and wrote (the ``paths`` of a hook that does both)."""

    read: list
    written: list


def _connection():
    global _parser
    if _parser is None:
        _parser = sys.modules["duckdb"].connect(":memory:")
    return _parser


def sql_io(text) -> ReadsAndWrites:
    """The files the statements in ``text`` read and write (empty when DuckDB is not loaded)."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is None or not isinstance(text, str):
        return ReadsAndWrites([], [])
    with _lock:
        try:
            statements = _connection().extract_statements(text)
        except Exception:  # noqa: BLE001 - DuckDB will refuse it in the call itself
            return ReadsAndWrites([], [])
    read, written = [], []
    for statement in statements:
        kind, query = statement.type.name, statement.query
        if kind == "SELECT":
            read += select_paths(query)
        elif kind == "COPY":
            r, w = _copy(query)
            read += r
            written += w
        elif kind in ("CREATE", "INSERT"):
            tokens = _tokens(query)
            start = next(
                (t[0] for t in tokens if t[3] == 0 and t[1].lower() in _QUERY_STARTS), None
            )
            if start is not None:
                read += select_paths(query[start:])
    return ReadsAndWrites(list(dict.fromkeys(read)), list(dict.fromkeys(written)))


def _tokens(query: str) -> list:
    """(offset, text, kind, parenthesis depth) per token of ``query``."""
    duckdb = sys.modules["duckdb"]
    raw = duckdb.tokenize(query)
    out, depth = [], 0
    for k, (start, kind) in enumerate(raw):
        end = raw[k + 1][0] if k + 1 < len(raw) else len(query)
        text = query[start:end].strip()
        if text == ")":
            depth -= 1
        out.append((start, text, kind.name, depth))
        if text == "(":
            depth += 1
    return out


def _string(token_text: str) -> str:
    return token_text[1:-1].replace("''", "'") if token_text.startswith("'") else token_text


def _copy(query: str) -> tuple[list, list]:
    tokens = _tokens(query)
    way = next(
        (k for k, t in enumerate(tokens) if t[3] == 0 and t[1].lower() in ("to", "from")), None
    )
    if way is None or way + 1 >= len(tokens) or tokens[way + 1][2] != "string_const":
        return [], []
    path = _string(tokens[way + 1][1])
    if tokens[way][1].lower() == "from":
        return expand(path), []
    read = []
    if len(tokens) > 2 and tokens[1][1] == "(":  # COPY (query) TO: the query's files
        close = next((k for k in range(2, way) if tokens[k][1] == ")" and tokens[k][3] == 0), 0)
        read = select_paths(query[tokens[2][0] : tokens[close][0]]) if close else []
    return read, [path]


def select_paths(text: str) -> list:
    """Files a DuckDB SELECT reads, from DuckDB's own parse tree (``json_serialize_sql``)."""
    if sys.modules.get("duckdb") is None or not isinstance(text, str):
        return []
    with _lock:
        tree = json.loads(
            _connection().execute("select json_serialize_sql(?)", [text]).fetchone()[0]
        )
    if tree.get("error"):
        return []  # not a query DuckDB can serialize: nothing recorded
    found: list = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "BASE_TABLE" and not node.get("schema_name"):
            name = node.get("table_name") or ""
            if os.path.isfile(os.path.expanduser(name)) or any(c in name for c in "*?"):
                found.extend(expand(name))
        elif node.get("type") == "TABLE_FUNCTION":
            function = node.get("function") or {}
            if str(function.get("function_name", "")).startswith(_TABLE_READERS):
                arguments = function.get("arguments") or function.get("children") or []
                if arguments:
                    found.extend(_constants(arguments[0]))
        stack.extend(node.values())
    return list(dict.fromkeys(found))


def _constants(node) -> list:
    """String constants in a parse-tree argument (one, or a list of them), globs expanded."""
    out: list = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            literal = item.get("literal") if item.get("class") == "CONSTANT" else None
            if isinstance(literal, dict) and literal.get("kind") == "STRING":
                out.extend(expand(literal.get("text")))
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out
