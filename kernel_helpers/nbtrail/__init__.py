"""nbtrail: lineage, checks and audited pipeline runs for notebook machine learning.

In a notebook, ``%load_ext nbtrail`` records everything the notebook reads, trains and writes.
In a script, ``with nbtrail.track("name"):`` does the same. By hand, everything nbtrail does
reads and writes one store, the trail::

    import nbtrail

    trail = nbtrail.open_trail()          # the nearest .nbtrail folder, like git
    with trail.start_run("train") as run:
        data = run.use("data/adult.csv")  # a file: fingerprinted, linked
        model = run.produce(fitted_model, derived_from=[data], snapshot=True)
        run.log_metric("accuracy", 0.85)
"""

import logging

# A library never prints through logging's last-resort handler: a capture failure must not
# appear in the user's cell output. Sessions log to .nbtrail/logs/capture.log instead.
logging.getLogger("nbtrail").addHandler(logging.NullHandler())

from .errors import GateFailed, NbtrailError  # noqa: E402

# The rest is imported on first use: ``%load_ext nbtrail`` imports this package on the kernel's
# thread, and must not pay there for SQLAlchemy, pandas and numpy (capture starts off-thread).
_LAZY = {
    # Reading the installed version costs importlib.metadata (about 25 ms): on first use only.
    "__version__": "_version",
    "flush": "capture",
    "log_metric": "capture",
    "output": "capture",
    "snapshot": "capture",
    "track": "capture",
    "gate": "checks",
    "produce": "checks",
    "Fingerprint": "fingerprints",
    "fingerprint": "fingerprints",
    "fingerprint_file": "fingerprints",
    "read_table": "pipeline",
    "log_outcomes": "monitor",
    "log_predictions": "monitor",
    "monitored": "monitor",
    "Run": "store",
    "Trail": "store",
    "init_trail": "store",
    "open_trail": "store",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f".{name}", __name__)  # nbtrail.store and the like
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Fingerprint",
    "GateFailed",
    "NbtrailError",
    "Run",
    "Trail",
    "__version__",
    "fingerprint",
    "fingerprint_file",
    "flush",
    "gate",
    "init_trail",
    "load_ipython_extension",
    "log_metric",
    "log_outcomes",
    "log_predictions",
    "monitored",
    "open_trail",
    "output",
    "produce",
    "read_table",
    "snapshot",
    "track",
    "unload_ipython_extension",
]


def load_ipython_extension(ip) -> None:
    """``%load_ext nbtrail``: record this kernel's session (see :mod:`nbtrail.capture.magics`)."""
    from .capture.magics import load_ipython_extension as load

    load(ip)


def unload_ipython_extension(ip) -> None:
    """``%unload_ext nbtrail``: stop recording and end the session run."""
    from .capture.magics import unload_ipython_extension as unload

    unload(ip)


def _jupyter_server_extension_points() -> list[dict]:
    """Jupyter server: the extension lives in :mod:`nbtrail.server`."""
    return [{"module": "nbtrail.server"}]


def _jupyter_labextension_paths() -> list[dict]:
    """JupyterLab: the prebuilt frontend shipped in the package."""
    return [{"src": "labextension", "dest": "nbtrail"}]
