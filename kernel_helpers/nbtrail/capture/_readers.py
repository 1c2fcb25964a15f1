"""Readers and writers of other data frame libraries: polars, Arrow datasets, DuckDB.

They are registered with :func:`.hooks.register_reader` / :func:`.hooks.register_writer`, as
a third party would register theirs. What each records:

* polars ``read_*`` and ``DataFrame.write_*``: the file(s), like pandas. ``LazyFrame.collect``
  and ``sink_*`` record the files the lazy plan scans, found by walking polars' own plan,
  when the data is really read (at collect time, so a file changed between ``scan_csv`` and
  ``collect`` is recorded as it was read). ``scan_*`` records nothing itself, except with a
  polars whose plan cannot be read (then the files are recorded at scan time).
* Arrow: ``pyarrow.dataset.dataset(...)`` records the dataset's files when it is opened (its
  ``to_table`` is a method of an immutable extension type and cannot be hooked);
  ``write_dataset`` records the files under ``base_dir``. ``pyarrow.parquet``/``csv``/
  ``feather`` are in :mod:`.hooks`.
* DuckDB ``sql``/``query``/``execute`` (module functions and connection methods): the files
  each statement reads and writes (a SELECT's tables and table functions, ``COPY ... TO`` and
  ``FROM``, ``CREATE TABLE ... AS`` and ``INSERT ... SELECT``), found with DuckDB's own parser
  and tokenizer (:mod:`._duck`), never a regular expression; ``read_csv``, ``read_parquet``,
  ``read_json``, ``from_*``: their path argument. A relation's ``df()``, ``pl()``, ``arrow()``
  results derive from the files of the query that made the relation. Not covered:
  ``ATTACH``-ed database files.

polars and Arrow results are not followed by name the way pandas frames are: they are
recorded by content (an artifact derived from the files, fingerprinted on the writer thread
when large), and remembered by identity so that a model fitted on one, or on data the cell
derived from one it names, derives from its files.
"""

from __future__ import annotations

import glob
import os
import weakref

from ..fingerprints import is_columnar
from ._duck import ReadsAndWrites, sql_io
from ._paths import expand
from .hooks import IOSpec, register_reader, register_writer

__all__ = ["is_foreign", "record_call"]

_EAGER_BYTES = 8 << 20  # larger results are fingerprinted on the writer thread

# id(obj) -> (weak reference, digests of the files it was read from)
_ORIGINS: dict[int, tuple] = {}


def is_foreign(obj) -> bool:
    """Whether a result is polars or Arrow data (recorded by content, not followed by name)."""
    module = type(obj).__module__
    return bool(module) and module.startswith(("polars", "pyarrow")) and is_columnar(obj)


def origins(obj) -> list[str]:
    """The file digests ``obj`` was read from, if capture saw it being read."""
    entry = _ORIGINS.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return list(entry[1])
    return []


def _remember(obj, digests: list[str]) -> None:
    if not digests:
        return
    key = id(obj)
    try:
        ref = weakref.ref(obj, lambda _r, key=key: _ORIGINS.pop(key, None))
    except TypeError:
        return  # not weakly referenceable: not remembered
    _ORIGINS[key] = (ref, tuple(dict.fromkeys(digests)))


# ----------------------------------------------------------------------------------------------
# recording a call


class _Prebound:
    """Stands for an original whose arguments are already bound (see hooks.bind_arguments)."""


PREBOUND = _Prebound()
_READ_ONE = IOSpec("read", path="path")
_WRITE_ONE = IOSpec("write", path="path", obj="obj")


def record_call(session, spec: IOSpec, arguments: dict, result) -> None:
    """Record a call with many paths or a polars/Arrow result (called by the hooks)."""
    if session.unit is None:
        return
    with session.guard(f"recording {spec.action}"):
        unit = session.unit
        if unit is None:
            return
        paths = spec.paths(arguments, result) if spec.paths is not None else None
        written = []
        if isinstance(paths, ReadsAndWrites):  # a SQL statement can do both (COPY ... TO)
            paths, written = paths
        paths = list(paths or ()) if spec.paths is not None else None
        before = len(unit.facts)
        if spec.action == "read":
            inherited = origins(arguments.get("self"))
            if paths == [] and not inherited and not written:
                return  # a plan over data in memory, a relation capture did not see made
            if paths is None:
                session.hooked(spec, PREBOUND, (), arguments, None)
            for path in paths or ():
                session.hooked(_READ_ONE, PREBOUND, (), {"path": path}, None)
            digests = _used_digests(unit.facts[before:]) + inherited
            _adopt(session, unit, result, digests, _label(paths, arguments, spec))
            for path in written:  # after the reads, as a sink's file (derived from them)
                session.hooked(_WRITE_ONE, PREBOUND, (), {"path": path, "obj": None}, None)
            return
        obj = arguments.get(spec.obj) if spec.obj else None
        if paths is None:
            session.hooked(spec, PREBOUND, (), arguments, result)
            return
        if type(arguments.get("self")).__name__ == "LazyFrame":
            # A sink runs the plan: it reads the plan's files, then writes (derived from them).
            for path in _collected(arguments, None):
                session.hooked(_READ_ONE, PREBOUND, (), {"path": path}, None)
        for path in paths:
            session.hooked(_WRITE_ONE, PREBOUND, (), {"path": path, "obj": obj}, None)


def _used_digests(facts) -> list[str]:
    from ..store import NewEdge

    return [f.artifact_id for f in facts if isinstance(f, NewEdge) and f.kind == "used"]


def _label(paths, arguments: dict, spec: IOSpec) -> str:
    first = paths[0] if paths else (arguments.get(spec.path) if spec.path else None)
    if isinstance(first, str | os.PathLike):
        return f"read:{os.path.basename(os.fspath(first))}"
    return "read"


def _adopt(session, unit, result, digests: list[str], label: str) -> None:
    """Remember and record a result derived from ``digests``."""
    if result is None:
        return
    _remember(result, digests)
    if not is_foreign(result):
        adopt = getattr(session, "_adopt", None)  # pandas, numpy: followed by name
        if adopt is not None:
            adopt(result, unit, list(digests), label)
        return
    from ..fingerprints import fingerprint
    from ..store import NewArtifact, NewEdge

    run_id, ref = unit.run_id, weakref.ref(result)
    size = _nbytes(result)

    def facts() -> list:
        obj = ref()
        if obj is None:
            return []
        try:
            fp = fingerprint(obj)
        except Exception:  # noqa: BLE001 - on the writer thread: a lost fact, never a failed batch
            return []
        out = [NewArtifact.of(fp, label), NewEdge("produced", run_id, fp.digest)]
        out += [
            NewEdge("derived", run_id, fp.digest, source_id=d) for d in digests if d != fp.digest
        ]
        return out

    # Small results now; large ones on the writer thread (Arrow data does not change).
    unit.facts.extend(facts() if size <= _EAGER_BYTES else [facts])


def _nbytes(obj) -> int:
    for attr in ("estimated_size", "get_total_buffer_size"):
        method = getattr(obj, attr, None)
        if method is not None:
            try:
                return int(method())
            except Exception:  # noqa: BLE001 - a size is only a hint
                break
    return int(getattr(obj, "nbytes", 0) or 0)


# ----------------------------------------------------------------------------------------------
# fits on polars and Arrow data


def _named_origins(session, unit) -> list[str]:
    """Files behind the polars/Arrow objects the running cell names."""
    names = getattr(getattr(unit, "names", None), "reads", ()) or ()
    namespace = getattr(session, "_namespace", dict)()
    out: list[str] = []
    for name in names:
        obj = namespace.get(name)
        if obj is not None and type(obj).__module__.startswith(("polars", "pyarrow", "duckdb")):
            out += origins(obj)
    return out


def before_fit(session, X, y) -> None:
    """A fit whose data came from polars/Arrow objects: their files are inputs of the cell."""
    unit = session.unit
    if unit is None:
        return
    with session.guard("linking a fit's data"):
        for digest in origins(X) + origins(y) + _named_origins(session, unit):
            unit.add_input(digest)


def after_fit(session, X, y) -> None:
    """polars/Arrow X and y (recorded by content by the fit) derive from their files."""
    unit = session.unit
    if unit is None or not (is_foreign(X) or is_foreign(y)):
        return
    from ..fingerprints import fingerprint
    from ..store import NewEdge

    with session.guard("linking a fit's data"):
        named = None
        for data in (X, y):
            if not is_foreign(data):
                continue
            sources = origins(data)
            if not sources:
                if named is None:
                    named = _named_origins(session, unit) + [
                        s for s in unit.inputs if isinstance(s, str) and s in unit.file_digests
                    ]
                sources = named
            if not sources:
                continue
            digest = fingerprint(data).digest
            unit.facts.extend(
                NewEdge("derived", unit.run_id, digest, source_id=s)
                for s in dict.fromkeys(sources)
                if s != digest
            )


# ----------------------------------------------------------------------------------------------
# finding paths


def _arg(*names: str, index: int = 0):
    """Paths from the first named argument present (or positional ``args[index]``)."""

    def paths(arguments: dict, _result) -> list:
        for name in names:
            if name in arguments:
                return expand(arguments[name])
        extra = arguments.get("kwargs") or {}
        for name in names:
            if name in extra:
                return expand(extra[name])
        args = arguments.get("args") or ()
        return expand(args[index]) if len(args) > index else []

    return paths


def _polars_plan_paths(lazy) -> list | None:
    """The files a polars LazyFrame scans, from polars' own plan; None if it cannot be read.

    polars' node traverser (the interface its GPU engine reads plans through) is walked from
    the root; every ``Scan`` node lists its paths. It costs milliseconds whatever the data
    (serialising the plan would copy in-memory frames into it).
    """
    try:
        traverser = lazy._ldf.visit()
        found: list = []
        stack = [traverser.get_node()]
        seen: set = set()
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            traverser.set_node(node_id)
            node = traverser.view_current_node()
            if type(node).__name__ == "Scan":
                for path in getattr(node, "paths", None) or ():
                    found.extend(expand(os.fspath(path) if not isinstance(path, str) else path))
            stack.extend(traverser.get_inputs())
    except Exception:  # noqa: BLE001 - a private interface: when it changes, scans record
        return None
    return list(dict.fromkeys(found))


def _collected(arguments: dict, _result) -> list:
    lazy = arguments.get("self")
    return (_polars_plan_paths(lazy) or []) if lazy is not None else []


def _scanned(arguments: dict, result) -> list:
    if result is not None and _polars_plan_paths(result) is not None:
        return []  # recorded when collected, as read then
    return expand(arguments.get("source"))


def _dataset_files(arguments: dict, result) -> list:
    files = getattr(result, "files", None)
    return list(files) if files else expand(arguments.get("source"))


def _written_dataset(arguments: dict, _result) -> list:
    base = arguments.get("base_dir")
    if not isinstance(base, str | os.PathLike):
        return []
    base = os.fspath(base)
    return sorted(
        p for p in glob.glob(os.path.join(base, "**", "*"), recursive=True) if os.path.isfile(p)
    )


def _query(arguments: dict, _result) -> ReadsAndWrites:
    text = arguments.get("query")
    if text is None:  # execute(): no Python signature, positional
        text = next((v for k, v in sorted(arguments.items()) if isinstance(v, str)), None)
    return sql_io(text)


def _relation_result(_arguments: dict, _result) -> list:
    return []  # derives from the relation's own files (see record_call)


# ----------------------------------------------------------------------------------------------
# the registrations

for _name in (
    "read_csv",
    "read_parquet",
    "read_ipc",
    "read_ipc_stream",
    "read_json",
    "read_ndjson",
    "read_excel",
    "read_ods",
    "read_avro",
):
    register_reader("polars", _name, paths=_arg("source"))
for _name in ("scan_csv", "scan_parquet", "scan_ipc", "scan_ndjson"):
    register_reader("polars", _name, paths=_scanned)
register_reader("polars", "collect", owner="LazyFrame", paths=_collected)
for _name in ("csv", "parquet", "ipc", "json", "ndjson", "ipc_stream", "avro"):
    register_writer("polars", f"write_{_name}", owner="DataFrame", path_arg="file")
register_writer("polars", "write_excel", owner="DataFrame", path_arg="workbook")


def _sunk(arguments: dict, _result) -> list:
    return expand(arguments.get("path"))


for _name in ("sink_csv", "sink_parquet", "sink_ipc", "sink_ndjson"):
    register_writer("polars", _name, owner="LazyFrame", obj_arg=None, paths=_sunk)

register_reader("pyarrow.dataset", "dataset", paths=_dataset_files)
register_writer("pyarrow.dataset", "write_dataset", obj_arg="data", paths=_written_dataset)

for _owner in ("", "DuckDBPyConnection"):
    for _name in ("sql", "query", "execute"):
        register_reader("duckdb", _name, owner=_owner, paths=_query)
    register_reader("duckdb", "read_csv", owner=_owner, paths=_arg("path_or_buffer", "name"))
    register_reader("duckdb", "from_csv_auto", owner=_owner, paths=_arg("path_or_buffer", "name"))
    for _name in ("read_parquet", "from_parquet"):
        register_reader(
            "duckdb", _name, owner=_owner, paths=_arg("path_or_buffer", "file_glob", "file_globs")
        )
    register_reader("duckdb", "read_json", owner=_owner, paths=_arg("path_or_buffer", "name"))
for _name in ("df", "to_df", "pl", "arrow", "fetch_arrow_table", "to_arrow_table", "fetchdf"):
    register_reader("duckdb", _name, owner="DuckDBPyRelation", paths=_relation_result)
