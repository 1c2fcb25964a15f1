"""The hooks: where capture sees files read and written, data loaded and saved, models fitted.

Two mechanisms, both removable except the first, which is inert when capture is off:

* An audit hook (``sys.addaudithook``, the ``open`` event) sees every file Python opens.
  Audit hooks cannot be removed, so the one hook is installed once per process and does
  nothing unless a capture session is recording.
* Library patches wrap the functions that read and write data (pandas ``read_*`` and
  ``to_*``, numpy, joblib, pickle, pyarrow, matplotlib's ``savefig``) and every estimator's
  ``fit``, ``partial_fit``, ``fit_transform`` and ``fit_predict``. They are applied to modules
  already imported and, through an import hook, to modules imported later; ``restore()`` puts
  every original back.

Every wrapper calls the original first and exactly as it was called. If the original raises,
the same exception passes through with the wrapper's own frame cut out of its traceback (a
bare ``raise`` after dropping the head entry adds none back), so the user's traceback shows
no nbtrail frame, not even where a C function such as ``pickle.load`` raised. Only after the
original returned does capture look at the arguments and the result, inside a guard that logs
and counts its own failures. Nested hooked calls (a Pipeline's inner fits, the file pandas
opens inside ``read_csv``) are recorded once, by the outermost call. The wrappers themselves
are in :mod:`._wrappers`.

New hooks are added with :func:`register_reader` and :func:`register_writer` (or the lower
level :func:`register`), the same way the built-in ones are; readers of other data frame
libraries (polars, Arrow datasets, DuckDB) are in :mod:`._readers`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import inspect
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import recording

__all__ = [
    "IOSpec",
    "Patch",
    "Patcher",
    "bind_arguments",
    "install_audit_hook",
    "register",
    "register_reader",
    "register_writer",
]

_FIT_METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict")


@dataclass(frozen=True)
class IOSpec:
    """What a hooked function does, and which of its arguments matter.

    Attributes
    ----------
    action : {"read", "write", "quiet"}
        ``read``: the result was read from ``path`` (or the ``sql`` query on ``con``).
        ``write``: ``obj`` was written to ``path`` (or to table ``sql`` on ``con``).
        ``quiet``: nothing inside the call is recorded (cross-validation's fold fits).
    path : str, optional
        Name of the argument holding the path, file object, or URL.
    obj : str, optional
        Name of the argument holding the written object (default: ``self``).
    sql, con : str, optional
        Names of the arguments holding a query or table name, and the connection.
    paths : callable, optional
        ``paths(arguments, result)`` returns the paths the call read or wrote, for calls
        where that is not one argument (a dataset's files, a query's tables, a lazy plan).
    """

    action: str
    path: str | None = None
    obj: str | None = None
    sql: str | None = None
    con: str | None = None
    paths: Callable | None = None


@dataclass(frozen=True)
class Patch:
    """One function to wrap: ``module.owner.attr`` (owner empty for module-level functions)."""

    module: str
    owner: str
    attr: str
    spec: IOSpec


_REGISTRY: list[Patch] = []
_WATCHED: set[str] = {"sklearn.base"}


_PATCHERS: weakref.WeakSet = weakref.WeakSet()


def register(module: str, owner: str, attr: str, spec: IOSpec) -> Patch:
    """Add a hook; built-in hooks are registered this way too.

    A hook registered while capture records is applied at once (if its module is imported)
    and otherwise when the module is imported.
    """
    patch = Patch(module, owner, attr, spec)
    _REGISTRY.append(patch)
    _WATCHED.add(module)
    for patcher in list(_PATCHERS):
        with _guarded(f"hooking {module}.{attr}"):
            patcher.apply_available()
    return patch


def register_reader(
    module: str,
    attr: str,
    *,
    owner: str = "",
    path_arg: str | None = None,
    paths: Callable | None = None,
) -> Patch:
    """Record what ``module.owner.attr`` reads: a third-party reader is one call.

    ``path_arg`` names the argument holding the path (or file object); ``paths(arguments,
    result)`` instead returns every path read, for readers of many files. The result is
    tracked as derived from the files: pandas frames and arrays as objects, polars and Arrow
    data by content.

    Examples
    --------
    >>> from nbtrail.capture import register_reader
    >>> register_reader("mylib.io", "load_table", path_arg="path")  # doctest: +SKIP
    >>> register_reader("mylib", "read", owner="Store", paths=lambda a, r: a["self"].files)
    ... # doctest: +SKIP
    """
    return register(module, owner, attr, IOSpec("read", path=path_arg, paths=paths))


def register_writer(
    module: str,
    attr: str,
    *,
    owner: str = "",
    path_arg: str | None = None,
    obj_arg: str | None = "self",
    paths: Callable | None = None,
) -> Patch:
    """Record what ``module.owner.attr`` writes: ``obj_arg`` is the argument written.

    The file is recorded as produced by the cell and derived from the written object.
    """
    return register(module, owner, attr, IOSpec("write", path=path_arg, obj=obj_arg, paths=paths))


def _read(module, owner, attr, path=None, *, sql=None, con=None):
    register(module, owner, attr, IOSpec("read", path=path, sql=sql, con=con))


def _write(module, owner, attr, path=None, *, obj=None, sql=None, con=None):
    register(module, owner, attr, IOSpec("write", path=path, obj=obj, sql=sql, con=con))


for _name, _arg in (
    ("read_csv", "filepath_or_buffer"),
    ("read_table", "filepath_or_buffer"),
    ("read_parquet", "path"),
    ("read_json", "path_or_buf"),
    ("read_excel", "io"),
    ("read_feather", "path"),
    ("read_pickle", "filepath_or_buffer"),
    ("read_orc", "path"),
):
    _read("pandas", "", _name, _arg)
_read("pandas", "", "read_sql", sql="sql", con="con")
_read("pandas", "", "read_sql_query", sql="sql", con="con")
_read("pandas", "", "read_sql_table", sql="table_name", con="con")
for _name, _arg in (
    ("to_csv", "path_or_buf"),
    ("to_json", "path_or_buf"),
    ("to_excel", "excel_writer"),
    ("to_pickle", "path"),
    ("to_parquet", "path"),
    ("to_feather", "path"),
):
    _write("pandas", "DataFrame", _name, _arg, obj="self")
_write("pandas", "DataFrame", "to_sql", obj="self", sql="name", con="con")
_read("numpy", "", "load", "file")
_read("numpy", "", "loadtxt", "fname")
_read("numpy", "", "genfromtxt", "fname")
_write("numpy", "", "save", "file", obj="arr")
_write("numpy", "", "savetxt", "fname", obj="X")
_write("numpy", "", "savez", "file", obj="args")
_write("numpy", "", "savez_compressed", "file", obj="args")
_read("joblib", "", "load", "filename")
_write("joblib", "", "dump", "filename", obj="value")
_read("pickle", "", "load", "file")
_write("pickle", "", "dump", "file", obj="obj")
_read("pyarrow.parquet", "", "read_table", "source")
_write("pyarrow.parquet", "", "write_table", "where", obj="table")
_read("pyarrow.csv", "", "read_csv", "input_file")
_read("pyarrow.feather", "", "read_table", "source")
_read("pyarrow.feather", "", "read_feather", "source")
_write("pyarrow.feather", "", "write_feather", "dest", obj="df")
_write("matplotlib.figure", "Figure", "savefig", "fname", obj="self")
# Model evaluation fits throw-away clones, one per fold: nothing inside them is recorded.
for _name in (
    "cross_val_score",
    "cross_validate",
    "cross_val_predict",
    "learning_curve",
    "validation_curve",
    "permutation_test_score",
):
    register("sklearn.model_selection", "", _name, IOSpec("quiet"))

_WATCHED.update(p.module for p in _REGISTRY)


# ----------------------------------------------------------------------------------------------
# applying and restoring


class Patcher:
    """Applies the registered hooks (now and on later imports) and restores the originals."""

    def __init__(self):
        self._applied: dict[tuple[int, str], tuple[object, str, object, bool]] = {}
        self._lock = threading.RLock()
        self._finder: _ImportWatcher | None = None
        self.active = False

    def install(self) -> None:
        """Wrap everything available now, and what gets imported from now on."""
        with self._lock:
            self.active = True
            _PATCHERS.add(self)
            self.apply_available()
            if self._finder is None:
                self._finder = _ImportWatcher(self)
                sys.meta_path.insert(0, self._finder)

    def apply_available(self, ready: str | None = None) -> None:
        """Wrap the hooks whose modules are imported (idempotent).

        ``ready`` names a module whose code has just run: importlib still marks it as being
        imported, but its attributes are all there.
        """

        def importing(module) -> bool:
            return module.__name__ != ready and _initializing(module)

        with self._lock:
            if not self.active:
                return
            for patch in _REGISTRY:
                module = sys.modules.get(patch.module)
                if module is None or importing(module):
                    continue
                owner = module
                if patch.owner:
                    owner = getattr(module, patch.owner, None)
                    if owner is None:
                        continue
                    owner = next((c for c in owner.__mro__ if patch.attr in c.__dict__), None)
                    if owner is None:
                        continue
                self._wrap(
                    owner, patch.attr, lambda original, s=patch.spec: _io_wrapper(original, s)
                )
            base = sys.modules.get("sklearn.base")
            if base is not None and not importing(base):
                self._patch_sklearn(base)

    def _wrap(self, owner, attr: str, make) -> None:
        key = (id(owner), attr)
        if key in self._applied:
            return
        had = attr in getattr(owner, "__dict__", {})
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr, None)
        if original is None or getattr(original, "__nbtrail_original__", None) is not None:
            return
        if not callable(original):
            return
        try:
            setattr(owner, attr, make(original))
        except (TypeError, AttributeError):
            return  # an immutable extension type: its method cannot be hooked
        self._applied[key] = (owner, attr, original, had)

    def _patch_sklearn(self, base) -> None:
        estimator = base.BaseEstimator
        seen: set[int] = set()
        stack = [estimator]
        while stack:
            cls = stack.pop()
            if id(cls) in seen:
                continue
            seen.add(id(cls))
            self._patch_estimator_class(cls)
            stack.extend(cls.__subclasses__())
        key = (id(estimator), "__init_subclass__")
        if key not in self._applied:
            patcher = self

            def __init_subclass__(cls, **kwargs):
                super(estimator, cls).__init_subclass__(**kwargs)
                if patcher.active:
                    with _guarded("hooking an estimator class"):
                        patcher._patch_estimator_class(cls)

            had = "__init_subclass__" in estimator.__dict__
            original = estimator.__dict__.get("__init_subclass__")
            estimator.__init_subclass__ = classmethod(__init_subclass__)
            self._applied[key] = (estimator, "__init_subclass__", original, had)

    def _patch_estimator_class(self, cls) -> None:
        for klass in cls.__mro__:
            if klass is object:
                continue
            for name in _FIT_METHODS:
                function = klass.__dict__.get(name)
                if function is not None and inspect.isfunction(function):
                    self._wrap(klass, name, _fit_wrapper)

    def restore(self) -> None:
        """Put every original function back."""
        with self._lock:
            self.active = False
            _PATCHERS.discard(self)
            for owner, attr, original, had in reversed(list(self._applied.values())):
                if had:
                    setattr(owner, attr, original)
                else:
                    try:
                        delattr(owner, attr)
                    except AttributeError:
                        pass
            self._applied.clear()
            if self._finder is not None:
                try:
                    sys.meta_path.remove(self._finder)
                except ValueError:
                    pass
                self._finder = None

    @property
    def count(self) -> int:
        """How many functions are wrapped now."""
        return len(self._applied)


@contextlib.contextmanager
def _guarded(what: str) -> Iterator[None]:
    """Run hook plumbing in the user's call path: a failure is counted, never raised."""
    session = recording.active()
    if session is not None:
        with session.guard(what):
            yield
        return
    try:
        yield
    except Exception:
        logging.getLogger("nbtrail.capture").exception("capture failed while %s", what)


def _initializing(module) -> bool:
    """Whether a module is still being imported (its attributes may not exist yet)."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Applies hooks to a watched module right after it is imported."""

    def __init__(self, patcher: Patcher):
        self.patcher = patcher
        self._finding = threading.local()

    def find_spec(self, fullname, path, target=None):
        if fullname not in _WATCHED or getattr(self._finding, "name", None) == fullname:
            return None
        self._finding.name = fullname
        try:
            spec = importlib.util.find_spec(fullname)
        except (ImportError, ValueError):
            return None
        finally:
            self._finding.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, patcher = spec.loader, self.patcher
        exec_original = loader.exec_module

        def exec_module(module):
            exec_original(module)
            with _guarded(f"hooking {fullname}"):
                patcher.apply_available(ready=module.__name__)

        # Only this loader instance's exec_module changes; the module keeps its own loader.
        loader.exec_module = exec_module
        return spec


# ----------------------------------------------------------------------------------------------
# the audit hook

_audit_installed = False


_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"}


def _audit(event: str, args) -> None:
    if event == "open":
        _audit_open(args)
    elif event in _PROCESS_EVENTS or event == "urllib.Request":
        session = _capturing()
        if session is None:
            return
        try:
            if event == "urllib.Request":
                session.saw_url(str(args[0]))
            else:
                session.saw_process(f"{event}: {str(args[0])[:200]}")
        except Exception:  # noqa: BLE001 - an audit hook must never raise into the caller
            session.count_error(f"audit hook ({event})")


def _capturing():
    """The active recorder if it is a capture session (a plain Run records what it is told)."""
    session = recording.active()
    if session is None or recording.is_quiet() or not hasattr(session, "saw_file"):
        return None
    return session


def _audit_open(args) -> None:
    # Reads inside hooked calls count too (a vectorizer reading files inside its fit): a path
    # a hook recorded itself is recorded once, by the hook.
    session = _capturing()
    if session is None:
        return
    path, mode, flags = args
    if isinstance(path, int) or path is None:
        return
    if mode is None:
        write = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC))
    else:
        write = any(c in mode for c in "wax+")
    try:
        session.saw_file(os.fspath(path), write)
    except Exception:  # noqa: BLE001 - an audit hook must never raise into the caller
        session.count_error("audit hook")


def install_audit_hook() -> None:
    """Install the process's one audit hook (idempotent; it is inert without a session)."""
    global _audit_installed
    if not _audit_installed:
        sys.addaudithook(_audit)
        _audit_installed = True


from ._wrappers import bind_arguments, fit_wrapper, io_wrapper  # noqa: E402

_io_wrapper, _fit_wrapper = io_wrapper, fit_wrapper
from . import _readers  # noqa: E402, F401 - registers polars, Arrow dataset and DuckDB hooks
