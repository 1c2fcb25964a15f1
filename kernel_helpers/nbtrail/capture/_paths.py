"""Which file accesses are the user's work, and which belong to the environment.

Inside the project every file counts, except the trail itself, notebook checkpoints and an
environment that happens to live there (a ``.venv``). A compiled module read from
``__pycache__`` counts as its source: importing a project module is reading its code.

Outside the project, data files count too (they are fingerprinted, so a changed file is
noticed), but not the environment: the interpreter and installed packages (the environment's
fingerprint covers them), system folders, per-user caches and settings, the scratch folders of
kernels and worker pools in the temporary folder, and Python code files.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import site
import sys
import tempfile

__all__ = ["Classifier", "expand"]

_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".pyd", ".so", ".pth")
_SYSTEM = ("/proc/", "/sys/", "/dev/", "/etc/", "/usr/", "/lib/", "/lib64/", "/run/", "/var/")
_USER_DIRS = (".cache", ".config", ".local", ".ipython", ".jupyter", ".matplotlib", ".nbtrail")
# Scratch folders in the temporary folder that belong to the machinery, not to the data.
_SCRATCH = ("ipykernel_", "joblib_memmapping", "pymp-", "nbtrail-", "loky-", "matplotlib-")


def _folder(path: str) -> str:
    return os.path.realpath(path).rstrip(os.sep) + os.sep


def _prefixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the interpreter's own folders, every other environment folder)."""
    interpreter = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    other = set()
    try:
        other.update(site.getsitepackages())
        other.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv without the site helpers
        pass
    home = os.path.expanduser("~")
    if home and home != "~":
        other.update(os.path.join(home, name) for name in _USER_DIRS)
    # Name prefixes, not folders: /tmp/ipykernel_ covers /tmp/ipykernel_1234/...
    temp = os.path.realpath(tempfile.gettempdir())
    scratch = tuple(os.path.join(temp, name) for name in _SCRATCH)
    return tuple(map(_folder, interpreter)), tuple(map(_folder, other | interpreter)) + scratch


class Classifier:
    """Decides, for a path, whether capture records it and as what.

    Parameters
    ----------
    root : str
        The project folder (the one holding ``.nbtrail``).
    home : str or None
        The trail folder, never recorded.
    """

    def __init__(self, root: str, home: str | None):
        self.roots = tuple({os.path.abspath(root) + os.sep, _folder(root)})
        self.home = tuple({os.path.abspath(home) + os.sep, _folder(home)}) if home else ()
        self.interpreter, self.environment = _prefixes()

    def classify(self, path: str) -> tuple[str, str] | None:
        """Return ``(where, path)`` for a file capture records, else None.

        ``where`` is ``project`` or ``outside``; a ``.pyc`` in ``__pycache__`` is given as
        its source file.
        """
        full = os.path.abspath(path)
        if "__pycache__" in full:
            try:
                full = importlib.util.source_from_cache(full)
            except ValueError:
                return None
        if full.startswith(self.home) or ".ipynb_checkpoints" in full:
            return None
        if "site-packages" in full or "dist-packages" in full:
            return None
        if full.startswith(self.roots):
            if full.startswith(self.interpreter):  # a .venv inside the project
                return None
            return "project", full
        if full.endswith(_CODE_SUFFIXES) or full.startswith(_SYSTEM):
            return None
        real = os.path.realpath(full)
        if real.startswith(self.roots):
            return "project", full
        if full.startswith(self.environment) or real.startswith(self.environment):
            return None
        return "outside", full


def expand(value) -> list:
    """A path, a list of paths, or a glob, as the list of paths (file objects kept)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [p for item in value for p in expand(item)]
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if isinstance(value, str) and "://" not in value and any(c in value for c in "*?["):
        return sorted(glob.glob(os.path.expanduser(value), recursive=True)) or [value]
    return [value]
