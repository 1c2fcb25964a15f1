"""Fingerprints of files: their raw bytes, memory-mapped, with a stat cache."""

from __future__ import annotations

import io
import json
import mmap
import os
import stat as stat_module
import threading
import time
from pathlib import Path

import xxhash

from ..errors import FingerprintError
from ._core import Fingerprint

__all__ = ["StatCache", "fingerprint_file"]


class StatCache:
    """Remembers file digests by (device, inode, size, mtime_ns, ctime_ns).

    DVC keys its cache on inode, size and mtime; nbtrail adds the inode change time, which
    no one can set back: rewriting a file and restoring its mtime (``touch -r``, ``cp -p``,
    ``os.utime``) does not fool it.

    A file whose modification time is within two seconds of the moment it was hashed is not
    cached: a second write in the same clock tick would keep the same stat ("racy git").

    Parameters
    ----------
    path : path-like, optional
        A JSON file that keeps the cache across processes; None keeps it in memory only.
    """

    RACY_NS = 2_000_000_000

    def __init__(self, path: str | os.PathLike | None = None, *, max_entries: int = 100_000):
        self.path = Path(path) if path is not None else None
        self.max_entries = max_entries
        self._entries: dict[str, str] = {}
        self._lock = threading.Lock()
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text())
                if isinstance(loaded, dict):
                    self._entries = {str(k): str(v) for k, v in loaded.items()}
            except (OSError, ValueError):
                self._entries = {}  # a damaged cache is only a slower start

    @staticmethod
    def key(st: os.stat_result) -> str:
        """Return the cache key of a stat result."""
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def get(self, st: os.stat_result) -> str | None:
        """Return the cached digest for a stat result, if any."""
        with self._lock:
            return self._entries.get(self.key(st))

    def put(self, st: os.stat_result, digest: str, hashed_at_ns: int) -> None:
        """Remember a digest unless the file was modified too recently to trust its stat."""
        if hashed_at_ns - st.st_mtime_ns < self.RACY_NS:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[self.key(st)] = digest
            self._dirty = True

    def save(self) -> None:
        """Write the cache to its file atomically (no-op for an in-memory cache)."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            payload = json.dumps(self._entries)
            self._dirty = False
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(payload)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the cache is an optimisation; never fail for it


_default_cache = StatCache()


def _hash_open_file(fh: io.BufferedReader, size: int) -> str:
    if size > 0:
        try:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                if hasattr(mapped, "madvise"):
                    mapped.madvise(mmap.MADV_SEQUENTIAL)
                return xxhash.xxh3_128_hexdigest(mapped)
        except (ValueError, OSError):
            fh.seek(0)  # not mappable (a pipe, a special file): stream it instead
    hasher = xxhash.xxh3_128()
    buf = bytearray(1 << 23)
    view = memoryview(buf)
    while True:
        n = fh.readinto(buf)
        if not n:
            break
        hasher.update(view[:n])
    return hasher.hexdigest()


def fingerprint_file(
    path: str | os.PathLike, *, cache: StatCache | None = _default_cache
) -> Fingerprint:
    """Fingerprint a file's full bytes (the digest equals ``xxhsum -H2``).

    Parameters
    ----------
    path : path-like
        The file to read. It is memory-mapped and hashed in one pass.
    cache : StatCache or None
        Where to look up and remember digests by stat; None always reads the file.

    Returns
    -------
    Fingerprint
        ``kind="file"``; ``meta`` holds the absolute path and size.

    Raises
    ------
    FingerprintError
        If the path does not exist, is a folder, or cannot be read.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            st = os.fstat(fh.fileno())
            if not _is_regular(st):
                raise FingerprintError(f"{p}: not a regular file")
            digest = cache.get(st) if cache is not None else None
            if digest is None:
                digest = _hash_open_file(fh, st.st_size)
                after = os.fstat(fh.fileno())
                if StatCache.key(after) != StatCache.key(st):
                    raise FingerprintError(f"{p}: the file changed while it was being read")
                if cache is not None:
                    cache.put(st, digest, time.time_ns())
    except IsADirectoryError:
        raise FingerprintError(f"{p}: is a folder, not a file") from None
    except FileNotFoundError:
        raise FingerprintError(f"{p}: no such file") from None
    except PermissionError:
        raise FingerprintError(f"{p}: permission denied") from None
    except OSError as exc:
        raise FingerprintError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    return Fingerprint(
        digest=digest,
        kind="file",
        schema=None,
        size=st.st_size,
        meta={"path": _resolved(p, st), "size": st.st_size},
    )


_RESOLVED: dict[tuple, str] = {}


def _resolved(p: Path, st: os.stat_result) -> str:
    """``p.resolve()``, remembered per (path, device, inode).

    A hooked reader fingerprints the same file again and again, and resolving a path walks
    every component (tens of microseconds).
    """
    key = (os.path.abspath(p), st.st_dev, st.st_ino)
    found = _RESOLVED.get(key)
    if found is None:
        if len(_RESOLVED) >= 10_000:
            _RESOLVED.clear()
        found = _RESOLVED[key] = str(p.resolve())
    return found


def _is_regular(st: os.stat_result) -> bool:
    return stat_module.S_ISREG(st.st_mode)
