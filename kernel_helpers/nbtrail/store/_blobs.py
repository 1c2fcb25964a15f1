"""Content-addressed blob storage: snapshots, models, executed notebooks.

A blob's name is the XXH3-128 digest of its bytes, so equal content is stored once and any
changed byte is detectable. The default store is a folder (``.nbtrail/objects/ab/cdef...``)
written atomically: bytes go to a temporary file in ``objects/tmp/``, are fsynced, then renamed
into place, so a reader never sees a partial blob even if the writer is killed. Any fsspec URL
(``s3://bucket/trail``, ``memory://...``) can replace the folder through the same interface.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import xxhash

from ..errors import SnapshotError, StoreError

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


class FsspecBlobStore(BlobStore):
    """Blobs under any fsspec URL (S3, GCS, Azure, memory, ...).

    Object stores make each put atomic; for file-like backends the blob is written under a
    temporary name and moved into place.

    Parameters
    ----------
    url : str
        An fsspec URL such as ``s3://bucket/nbtrail/objects``.
    **storage_options
        Passed to ``fsspec.core.url_to_fs``.
    """

    def __init__(self, url: str, **storage_options):
        import fsspec.core

        self.url = url.rstrip("/")
        self.fs, self._root = fsspec.core.url_to_fs(self.url, **storage_options)

    def _key(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self._root}/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        """Return whether a blob with this digest is stored."""
        return bool(self.fs.exists(self._key(digest)))

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading."""
        try:
            return self.fs.open(self._key(digest), "rb")
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is missing from {self.url}") from None

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their digest."""
        digest = xxhash.xxh3_128_hexdigest(data)
        if not self.exists(digest):
            key = self._key(digest)
            tmp = f"{self._root}/tmp/{digest}.{os.getpid()}"
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, key)
        return digest

    def put_file(self, path: str | os.PathLike, *, expected: str | None = None) -> str:
        """Store a file's bytes; if ``expected`` is given, refuse a file whose bytes differ."""
        data = Path(path).read_bytes()
        digest = xxhash.xxh3_128_hexdigest(data)
        if expected is not None and digest != expected:
            raise SnapshotError(
                f"{path}: the file changed after it was fingerprinted; nothing was stored"
            )
        return self.put_bytes(data)

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob."""
        if not self.fs.exists(self._root):
            return
        for fan in sorted(self.fs.ls(self._root, detail=False)):
            name = fan.rstrip("/").rsplit("/", 1)[-1]
            if len(name) != 2:
                continue
            for entry in sorted(self.fs.ls(fan, detail=False)):
                yield name + entry.rstrip("/").rsplit("/", 1)[-1]


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


def open_blob_store(location: str | os.PathLike) -> BlobStore:
    """Open the blob store at a folder path or fsspec URL."""
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        return FsspecBlobStore(text)
    return LocalBlobStore(text.removeprefix("file://"))
