"""What the API accepts: notebook paths, run ids and job bodies, checked before any work is done.

A path from the browser names a notebook the way JupyterLab's contents API does: relative to the
server's root, with ``/`` between folders. The server serves such a path only when

* it is a string of at most :data:`MAX_PATH` characters without NUL or other control characters;
* it names a notebook (``.ipynb``);
* no segment is hidden (starts with ``.``), as the contents API refuses hidden files;
* it stays inside the server's root once symbolic links are resolved;
* it lies outside the trail's own folder (``.nbtrail`` or ``NBTRAIL_HOME``).

The last rule matters beyond secrecy: a process that opens and closes the trail's SQLite file
itself drops the POSIX locks its SQLite connections hold on it, after which another process
may delete the ``-wal`` and ``-shm`` files under them. Refusals are :class:`Refused` errors
whose messages never hold an absolute path; :func:`scrub` removes those from any other error
message the API sends.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path, PurePosixPath

import tornado.web

__all__ = [
    "MAX_BODY",
    "MAX_PATH",
    "Refused",
    "check_notebook",
    "check_run_ref",
    "parse_approve_body",
    "parse_job_body",
    "scrub",
]

MAX_PATH = 4096
MAX_BODY = 256 * 1024
MAX_PARAMETERS = 32 * 1024  # JSON bytes handed to the job on its standard input (fits a pipe)
MAX_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RUN_REF = re.compile(r"[0-9a-fA-F-]{4,36}")


class Refused(tornado.web.HTTPError):
    """A request the API will not serve; ``log_message`` is what the browser is told."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.message = message


def check_notebook(relative, root: Path, trail_home: Path | None) -> Path:
    """The notebook ``relative`` names, resolved inside ``root``; :class:`Refused` otherwise.

    Nothing is opened: only the path's links are resolved. Whether the notebook exists is for
    the caller to ask.
    """
    if not isinstance(relative, str):
        raise Refused(400, "'notebook' must be a string (a path relative to the server root)")
    if len(relative) > MAX_PATH:
        raise Refused(400, f"the notebook path is longer than {MAX_PATH} characters")
    if _CONTROL.search(relative):
        raise Refused(400, "the notebook path holds a NUL or another control character")
    if relative.startswith(("/", "\\")) or PurePosixPath(relative).is_absolute():
        raise Refused(403, "paths are relative to the server root")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts:
        raise Refused(400, "the notebook path is empty")
    try:
        path = (root / Path(*parts)).resolve(strict=False)
    except (OSError, RuntimeError):  # a symbolic link loop, a name too long for the system
        raise Refused(400, "the notebook path cannot be resolved") from None
    if not path.is_relative_to(root):
        raise Refused(403, "path outside the server root")
    inside = path.relative_to(root).parts
    if any(p.startswith(".") and p != ".." for p in parts) or any(
        p.startswith(".") for p in inside
    ):
        raise Refused(403, "hidden files and folders (names starting with '.') are not served")
    if trail_home is not None and (path == trail_home or path.is_relative_to(trail_home)):
        raise Refused(403, "files of the trail itself are not served")
    if path.suffix != ".ipynb" or PurePosixPath(parts[-1]).suffix != ".ipynb":
        raise Refused(400, "only notebooks (.ipynb files) can be named here")
    return path


def check_run_ref(ref) -> str:
    """A run id or a prefix of one (hex digits and dashes); :class:`Refused` otherwise."""
    if not isinstance(ref, str) or not _RUN_REF.fullmatch(ref):
        raise Refused(400, "'run' must be a run id or a prefix of one (4 to 36 hex digits)")
    return ref


def _depth(value) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _json_object(body: bytes) -> dict:
    if len(body) > MAX_BODY:
        raise Refused(400, f"the request body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}", parse_constant=_no_constant)
    except RecursionError:
        raise Refused(400, "the request body nests too deeply") from None
    except ValueError:  # also bad UTF-8 and raw control characters
        raise Refused(400, "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the request body must be a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise Refused(400, f"the request body nests deeper than {MAX_DEPTH} levels")
    return data


def parse_approve_body(body: bytes) -> tuple[str, int, str]:
    """``{"name": MODEL, "version": N, "comment": TEXT}``; :class:`Refused` otherwise."""
    data = _json_object(body)
    name, version, comment = data.get("name"), data.get("version"), data.get("comment", "")
    if not isinstance(name, str) or not name:
        raise Refused(400, "'name' (the registered model) is required")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise Refused(400, "'version' must be a version number (1 or more)")
    if not isinstance(comment, str) or len(comment) > 2000:
        raise Refused(400, "'comment' must be text of at most 2000 characters")
    return name, version, comment


def parse_job_body(body: bytes) -> tuple[str, dict]:
    """``{"notebook": PATH, "parameters": {...}}`` from a body; :class:`Refused` otherwise."""
    data = _json_object(body)
    notebook = data.get("notebook")
    if notebook is None or notebook == "":
        raise Refused(400, "the 'notebook' field is required")
    if not isinstance(notebook, str):
        raise Refused(400, "'notebook' must be a string (a path relative to the server root)")
    parameters = data.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise Refused(400, "'parameters' must be an object of names to values")
    for value in parameters.values():
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(400, "parameter values must be finite numbers")
    if len(json.dumps(parameters)) > MAX_PARAMETERS:
        raise Refused(400, f"the parameters are larger than {MAX_PARAMETERS} bytes as JSON")
    return notebook, parameters


_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/:,()\[\]]+/)+([^\s'\"/:,()\[\]]*)")


def scrub(message: str, root: Path, *others: Path | None) -> str:
    """``message`` without absolute paths: paths in ``root`` become relative, others their name."""
    text = str(message)
    for base in (root, *others):
        if base is None:
            continue
        prefix = str(base)
        if prefix and prefix != os.sep:
            label = "." if base == root else base.name
            text = text.replace(prefix + os.sep, "" if base == root else label + "/")
            text = text.replace(prefix, label)
    return _ABSOLUTE.sub(lambda m: m.group(1) or "<path>", text)
