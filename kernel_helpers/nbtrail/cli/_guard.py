"""What the command line does so that bad input gets one line and exit 2, never a traceback.

* :func:`shown` makes any name, path or message safe to print: control characters (an escape
  sequence that recolours the terminal, a newline that forges a second line) and bytes that
  were not UTF-8 appear as visible escapes, so one record is one line.
* :func:`check_outputs` checks every file a command will write *before* it runs or records
  anything: a folder, an unwritable place or a clash is refused up front.
* :func:`check_text_arguments` refuses parameter values that are not UTF-8 text.
* :func:`store_failure` turns a database error nbtrail did not anticipate (a truncated or
  overwritten ``trail.db``) into one sentence naming the store.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path

from ..errors import UsageError

__all__ = [
    "check_outputs",
    "check_query_arguments",
    "check_text_arguments",
    "is_store_failure",
    "shown",
    "store_failure",
    "undecodable_input",
]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value) -> str:
    r"""Return ``value`` as text fit for one line of a terminal.

    Control characters (C0, DEL, C1), line and paragraph separators, format characters (bidi
    overrides) and undecodable bytes become visible escapes such as ``\x1b`` and ``\n``;
    everything else, accents and scripts included, is kept as it is.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case, in C
        return text
    return "".join(_escape(c) if _hidden(c) else c for c in text)


_ZWJ = "\u200d"  # joins emoji sequences; harmless, and escaping it would break them


def _hidden(char: str) -> bool:
    category = unicodedata.category(char)
    return category in ("Cc", "Cs", "Zl", "Zp", "Co") or (category == "Cf" and char != _ZWJ)


def check_text_arguments(pairs, option: str = "-p") -> None:
    """Refuse NAME VALUE pairs whose name or value is not UTF-8 text (from raw argv bytes)."""
    for name, value in pairs or ():
        for part, text in (("name", name), ("value", value)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(
                    f"{option} {shown(name)}: the {part} is not valid UTF-8 text"
                ) from None


# Arguments that name files: any bytes the file system allows are fine there.
_PATH_ARGUMENTS = {"notebook", "spec", "file", "output", "junit", "report", "path", "chdir", "dir"}


def check_query_arguments(args) -> None:
    """Refuse a run id, name, status, kind or reference that is not UTF-8 text.

    Such text is looked up in the trail, which holds only UTF-8; arguments that name files
    are left to the file system.
    """
    for dest, value in vars(args).items():
        if dest in _PATH_ARGUMENTS or not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"{dest} {shown(value)}: not valid UTF-8 text") from None


def undecodable_input(exc: UnicodeEncodeError) -> str | None:
    """One line for text from raw bytes (argv, a file name) that reached an encoder, or None."""
    text = exc.object if isinstance(exc.object, str) else ""
    if not any(0xDC80 <= ord(c) <= 0xDCFF for c in text[exc.start : exc.end]):
        return None
    snippet = text[max(0, exc.start - 30) : exc.end + 30]
    return f"input is not valid UTF-8 text: {shown(snippet)}"


def _probe_folder(folder: Path, option: str, target: Path) -> None:
    """The nearest existing ancestor of ``folder`` must be a folder this process can write."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {shown(target)}: {shown(existing)} is not a folder")
    try:
        probe = tempfile.TemporaryFile(dir=existing)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UsageError(
            f"{option} {shown(target)}: cannot write in {shown(existing)} ({why})"
        ) from None
    probe.close()


def check_outputs(args, options: tuple[str, ...]) -> None:
    """Check each output path option given in ``args`` before anything runs.

    A path is refused when it names a folder, when an ancestor is a file, when its folder (or
    the nearest existing ancestor, for folders still to be made) is not writable, when the
    file itself exists but cannot be written, and when two options name the same file.

    Raises
    ------
    UsageError
        Naming the option and the path.
    """
    seen: dict[Path, str] = {}
    for option in options:
        value = getattr(args, option.lstrip("-").replace("-", "_"), None)
        if value in (None, "-"):
            continue
        if not str(value).strip():
            raise UsageError(f"{option}: the path is empty")
        try:
            _check_output(Path(value).expanduser(), option, seen)
        except OSError as exc:  # stat itself refused (a folder we may not search)
            why = exc.strerror or type(exc).__name__
            raise UsageError(f"{option} {shown(value)}: cannot be checked ({why})") from None


def _check_output(target: Path, option: str, seen: dict[Path, str]) -> None:
    if target.is_dir():
        raise UsageError(f"{option} {shown(target)}: is a folder; give a file path")
    absolute = Path(os.path.abspath(target))
    if absolute in seen:
        raise UsageError(f"{option} and {seen[absolute]} both name {shown(target)}")
    seen[absolute] = option
    if target.is_symlink() and not target.exists():
        raise UsageError(f"{option} {shown(target)}: a dangling symbolic link")
    if target.exists():
        if target.is_file():
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_APPEND))
            except OSError as exc:
                raise UsageError(
                    f"{option} {shown(target)}: cannot be written ({exc.strerror})"
                ) from None
        return
    _probe_folder(absolute.parent, option, target)


def _store_location() -> str:
    try:
        from ..config import load_settings

        settings = load_settings()
        if settings.store_url:
            from sqlalchemy.engine import make_url

            return make_url(settings.store_url).render_as_string(hide_password=True)
        if settings.home is not None:
            return str(settings.home / "trail.db")
    except Exception:  # noqa: BLE001 - naming the store must not fail in turn
        pass
    return "the trail database"


def is_store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error (SQLAlchemy's wrapper, or sqlite3's own)."""
    import sqlite3

    from sqlalchemy.exc import DatabaseError

    return isinstance(exc, DatabaseError | sqlite3.DatabaseError)


_DAMAGE = ("malformed", "not a database", "corrupt", "disk i/o error", "database or disk is full")


def store_failure(exc: BaseException) -> str:
    """One line for a database error the store did not turn into a message of its own."""
    cause = getattr(exc, "orig", None) or exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    if len(reason) > 200:
        reason = reason[:200] + "..."
    message = f"{_store_location()}: the trail database cannot be read ({reason})"
    if any(marker in reason.lower() for marker in _DAMAGE):
        message += "; the file is damaged: restore it from a backup"
    return shown(message)
