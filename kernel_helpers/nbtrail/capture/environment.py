"""The environment a run executes in, and where a kernel's notebook lives.

The environment (Python, platform, every installed distribution and its version) is recorded
as an artifact of kind ``environment``: content-addressed like any other, so it is stored once
per distinct environment however many runs use it, and two runs' environments can be compared
by fingerprint, then package by package.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel imports this module when capture loads: keep numpy out of it
    from ..fingerprints import Fingerprint

__all__ = ["describe_environment", "environment_fingerprint", "kernel_id", "notebook_path"]


def _installed() -> set[str]:
    """Return ``name==version`` of every installed distribution.

    Read from the names of their metadata folders (``pandas-3.1.1.dist-info``): a directory
    listing, not a read of every METADATA file, so it costs milliseconds. Egg-info folders,
    whose names may omit the version, are read the slow way.
    """
    found: dict[str, str] = {}
    slow = False
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
                if "-" in stem:
                    dist, version = stem.split("-", 1)
                    found.setdefault(dist.lower().replace("_", "-"), version)
            elif name.endswith(".egg-info"):
                slow = True
    if slow:
        for dist in metadata.distributions():
            name = dist.metadata.get("Name")
            if name:
                found.setdefault(name.lower().replace("_", "-").replace(".", "-"), dist.version)
    return {f"{name}=={version}" for name, version in found.items()}


def describe_environment() -> dict:
    """Return Python, platform and installed distributions (``name==version``, sorted)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": sorted(_installed()),
    }


def environment_fingerprint(env: dict | None = None) -> tuple[Fingerprint, bytes]:
    """Return the environment's fingerprint and its canonical JSON bytes (the snapshot).

    The executable's path is described but not fingerprinted: the same packages in two
    virtual environments are the same environment.
    """
    from ..fingerprints import Fingerprint, digest_bytes

    env = describe_environment() if env is None else env
    identity = {k: v for k, v in env.items() if k != "executable"}
    data = json.dumps(identity, sort_keys=True, indent=1).encode()
    fp = Fingerprint(
        digest=digest_bytes(data),
        kind="environment",
        size=len(data),
        meta={
            "python": env["python"],
            "platform": env["platform"],
            "packages": len(env["packages"]),
        },
    )
    return fp, data


def notebook_path(user_ns: dict | None = None) -> str | None:
    """Return the path of the notebook this kernel runs, when anything tells it.

    In order: ``NBTRAIL_NOTEBOOK`` (set by ``nbtrail run``), ``JPY_SESSION_NAME`` (set by
    jupyter_server for every kernel it starts), VS Code's ``__vsc_ipynb_file__``, and
    papermill's ``PAPERMILL_INPUT_PATH`` parameter.

    Plain papermill tells the kernel nothing about the notebook: it sets no variable in the
    kernel's environment, and ``--inject-input-path`` defines ``PAPERMILL_INPUT_PATH`` only in
    the injected parameters cell, which runs after an extension loaded with ``--ext``. So run
    ``NBTRAIL_NOTEBOOK=path papermill ...`` (the kernel inherits the variable), or load the
    extension after the parameters cell with ``--inject-input-path``. ``nbtrail run`` sets
    ``NBTRAIL_NOTEBOOK`` itself.
    """
    for name in ("NBTRAIL_NOTEBOOK", "JPY_SESSION_NAME"):
        value = os.environ.get(name)
        if value:
            return str(Path(value).expanduser())
    for name in ("__vsc_ipynb_file__", "PAPERMILL_INPUT_PATH"):
        if user_ns and isinstance(user_ns.get(name), str) and user_ns[name]:
            return user_ns[name]
    return None


def kernel_id() -> str | None:
    """Return the Jupyter kernel id from the kernel's connection file, if in a kernel."""
    try:
        from ipykernel import get_connection_file

        name = Path(get_connection_file()).stem
    except Exception:  # noqa: BLE001 - not in a kernel, or an ipykernel without the helper
        return None
    return name.removeprefix("kernel-")
