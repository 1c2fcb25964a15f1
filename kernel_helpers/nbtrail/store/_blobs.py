"""Content-addressed blob storage: snapshots, models, executed notebooks.

A blob's name is the XXH3-128 digest of its bytes, so equal content is stored once and any
changed byte is detectable. The default store is a folder (``.nbtrail/objects/ab/cdef...``)
written atomically: bytes go to a temporary file in ``objects/tmp/``, are fsynced, then renamed
into place, so a reader never sees a partial blob even if the writer is killed. Any fsspec URL
(``s3://bucket/trail``, ``memory://...``) can replace the folder through the same interface:
:class:`FsspecBlobStore`, in ``_object_blobs`` (imported only when such a URL is used).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import xxhash

from ..errors import SnapshotError, StoreError

if TYPE_CHECKING:
    from ._object_blobs import FsspecBlobStore

__all__ = ["BlobStore", "FsspecBlobStore", "LocalBlobStore", "open_blob_store"]

_DIGEST = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 1 << 23


def _check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise StoreError(f"{digest!r} is not a blob digest (32 lowercase hex digits)")
    return digest


class BlobStore:
    """What every blob store offers; local folders and fsspec URLs implement it."""

    url: str

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their digest. Storing the same bytes twice stores them once."""
        raise NotImplementedError

    def put_file(self, path: str | os.PathLike, *, expected: str | None = None) -> str:
        """Store a file's bytes; if ``expected`` is given, refuse a file whose bytes differ."""
        raise NotImplementedError

    def exists(self, digest: str) -> bool:
        """Return whether a blob with this digest is stored."""
        raise NotImplementedError

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading."""
        raise NotImplementedError

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob."""
        raise NotImplementedError

    def stale_temporaries(self) -> list:
        """Return temporaries left by interrupted writes (never visible as blobs)."""
        return []

    def get_bytes(self, digest: str) -> bytes:
        """Return a stored blob's bytes."""
        with self.open(digest) as fh:
            return fh.read()

    def rehash(self, digest: str) -> str:
        """Read a blob back and return the digest of the bytes actually stored."""
        hasher = xxhash.xxh3_128()
        with self.open(digest) as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                hasher.update(chunk)
        return hasher.hexdigest()

    def copy_to(self, digest: str, target: str | os.PathLike) -> None:
        """Write a blob's exact bytes to a local file, atomically."""
        target = Path(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open(digest) as src:
                shutil.copyfileobj(src, out, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class LocalBlobStore(BlobStore):
    """Blobs in a local folder, fanned out by the first two hex digits of their digest.

    Parameters
    ----------
    root : path-like
        The ``objects`` folder. Created on first write.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.url = str(self.root)
        self._tmp = self.root / "tmp"

    def path(self, digest: str) -> Path:
        """Return where the blob with this digest lives (whether or not it exists)."""
        _check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        """Return whether a blob with this digest is stored."""
        return self.path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is missing from {self.root}") from None

    def _writer(self):
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="blob.", dir=self._tmp)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot write blobs ({exc.strerror})") from None
        return fd, tmp

    def _commit(self, tmp: str, digest: str) -> str:
        final = self.path(digest)
        if final.is_file():
            os.unlink(tmp)  # already stored: content addressing makes this a no-op
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        return digest

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their digest. Storing the same bytes twice stores them once."""
        digest = xxhash.xxh3_128_hexdigest(data)
        if self.exists(digest):
            return digest
        fd, tmp = self._writer()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return self._commit(tmp, digest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put_file(self, path: str | os.PathLike, *, expected: str | None = None) -> str:
        """Store a file's bytes; if ``expected`` is given, refuse a file whose bytes differ."""
        if expected is not None and self.exists(expected):
            return expected
        fd, tmp = self._writer()
        hasher = xxhash.xxh3_128()
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.hexdigest()
            if expected is not None and digest != expected:
                raise SnapshotError(
                    f"{path}: the file changed after it was fingerprinted "
                    f"(expected {expected[:12]}, read {digest[:12]}); nothing was stored"
                )
            return self._commit(tmp, digest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob (temporary files are not blobs)."""
        if not self.root.is_dir():
            return
        for fan in sorted(self.root.iterdir()):
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            for entry in sorted(fan.iterdir()):
                yield fan.name + entry.name

    def stale_temporaries(self) -> list[Path]:
        """Return temporary files left by interrupted writes (never visible as blobs)."""
        return sorted(self._tmp.iterdir()) if self._tmp.is_dir() else []


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def open_blob_store(location: str | os.PathLike, *, setting: str | None = None) -> BlobStore:
    """Open the blob store at a folder path or fsspec URL.

    Parameters
    ----------
    location : str or path-like
        A folder, ``file://`` URL, or any fsspec URL (``s3://bucket/prefix``).
    setting : str, optional
        Where the location came from, named in errors (default: ``NBTRAIL_BLOB_URL``).

    Raises
    ------
    UsageError
        For a scheme fsspec does not know, a missing bucket or refused credentials.
    StoreError
        When the object store cannot be reached.
    MissingExtra
        When the scheme's library (s3fs for ``s3://``) is not installed.
    """
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        from ._object_blobs import SETTING, FsspecBlobStore

        return FsspecBlobStore(text, setting=setting or SETTING)
    return LocalBlobStore(text.removeprefix("file://"))


def __getattr__(name: str):
    # FsspecBlobStore lives in its own module, loaded (with fsspec) only when asked for.
    if name == "FsspecBlobStore":
        from ._object_blobs import FsspecBlobStore

        return FsspecBlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
