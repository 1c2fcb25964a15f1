"""Blobs in an object store or any other fsspec file system (``NBTRAIL_BLOB_URL=s3://b/p``).

Layout: ``PREFIX/ab/cdef...`` holds the blob whose XXH3-128 digest is ``abcdef...``; uploads in
progress live in ``PREFIX/tmp/`` and are never counted as blobs.

A write never makes a partial or wrong blob visible:

1. the bytes are streamed to a temporary key (``PREFIX/tmp/<random>.part``), hashed as they go,
   so a multi-GB file is never held in memory and the digest is of the bytes actually sent;
2. the temporary object is checked before it is published: its size, and its checksum (S3's
   ETag, an MD5 that can be predicted for single and multipart uploads; where it cannot, the
   temporary object is read back and rehashed);
3. it is published by a server-side copy to its content-addressed key with ``If-None-Match:
   *`` (S3 conditional write): a key, once written, is never replaced, and a concurrent writer
   of the same blob is harmless (same name, same bytes); other file systems move it into place;
4. the temporary object is deleted. A writer killed before step 4 leaves a temporary object at
   most (listed by :meth:`FsspecBlobStore.stale_temporaries`; an S3 lifecycle rule that expires
   ``PREFIX/tmp/`` and aborts incomplete multipart uploads cleans them up).

Settings: the URL comes from ``NBTRAIL_BLOB_URL`` (or ``blob_url`` in ``[tool.nbtrail]``).
Everything else is the storage library's own configuration, so nbtrail never sees a secret:
s3fs reads ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` or
``AWS_PROFILE``, ``AWS_DEFAULT_REGION``, and ``AWS_ENDPOINT_URL`` for an S3-compatible server
(MinIO, Ceph, moto); any other s3fs option goes in fsspec's ``FSSPEC_S3`` variable as JSON
(``FSSPEC_S3='{"endpoint_url": "http://minio:9000", "anon": false}'``).
The store is probed when it is opened (one cheap listing): an unreachable endpoint, a missing
bucket or refused credentials fail then, naming the setting, never in the middle of a write.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import uuid
from collections.abc import Iterator
from typing import BinaryIO

import xxhash

from .._optional import require
from .._secrets import mask_url
from ..errors import NbtrailError, SnapshotError, StoreError, UsageError
from ._blobs import _CHUNK, BlobStore, _check_digest

__all__ = ["SETTING", "FsspecBlobStore"]

SETTING = "NBTRAIL_BLOB_URL (blob_url in [tool.nbtrail])"
_MiB = 1 << 20
_MAX_PARTS = 9_000  # S3 allows 10 000 parts per upload; keep a margin
_MAX_COPY = 5 * (1 << 30)  # a single CopyObject copies at most 5 GiB
_S3_SCHEMES = ("s3", "s3a")


class _Upload:
    """Bytes on their way to a temporary object: hashed, and S3's ETag for them predicted.

    With a file handle the bytes are written to it part by part (streamed); without one they
    are only hashed, for an upload that s3fs then makes with the same part size. ``single``
    says the upload will be one PUT (whose ETag is the MD5 of the whole).
    """

    def __init__(self, fh, part_size: int, *, single: bool = False):
        self.fh, self.part_size = fh, part_size
        self.hasher = xxhash.xxh3_128()
        self.whole = hashlib.md5(usedforsecurity=False) if single else None
        self.part_md5s: list[bytes] = []
        self.size = 0
        self._pending = bytearray()

    def write(self, data) -> None:
        self.hasher.update(data)
        if self.whole is not None:
            self.whole.update(data)
        self.size += len(data)
        self._pending += data
        while len(self._pending) >= self.part_size:
            self._part(bytes(self._pending[: self.part_size]))
            del self._pending[: self.part_size]

    def _part(self, part: bytes) -> None:
        self.part_md5s.append(hashlib.md5(part, usedforsecurity=False).digest())
        if self.fh is not None:
            self.fh.write(part)  # exactly one part: s3fs uploads it as one part

    def finish(self) -> None:
        if self._pending:
            self._part(bytes(self._pending))
            self._pending = bytearray()

    @property
    def digest(self) -> str:
        """The blob's name: the XXH3-128 digest of every byte written."""
        return self.hasher.hexdigest()

    def etag(self) -> str:
        """The ETag S3 gives these bytes: an MD5, or the MD5 of part MD5s for a multipart."""
        if self.whole is not None:
            return self.whole.hexdigest()
        if len(self.part_md5s) <= 1:
            return self.part_md5s[0].hex() if self.part_md5s else hashlib.md5(b"").hexdigest()
        joined = hashlib.md5(b"".join(self.part_md5s), usedforsecurity=False).hexdigest()
        return f"{joined}-{len(self.part_md5s)}"


def _part_size(size: int | None) -> int:
    """Parts of 8 MiB, larger when needed to stay under S3's part limit."""
    if not size:
        return _CHUNK
    return max(_CHUNK, math.ceil(size / _MAX_PARTS / _MiB) * _MiB)


class FsspecBlobStore(BlobStore):
    """Blobs under any fsspec URL (S3 and S3-compatible servers, GCS, Azure, memory, ...).

    See the module docstring for the layout, how writes stay atomic and how to configure S3.

    Parameters
    ----------
    url : str
        An fsspec URL such as ``s3://bucket/nbtrail/objects``.
    setting : str
        Where the URL came from, for error messages.
    probe : bool
        Check at once that the store is reachable, the bucket exists and the credentials are
        accepted (one listing call), so a bad setting fails when the trail is opened.
    **storage_options
        Passed to the fsspec file system (``endpoint_url=...``, ``key=...`` for s3fs); they
        override what fsspec reads from its ``FSSPEC_<PROTOCOL>`` variables.
    """

    def __init__(self, url: str, *, setting: str = SETTING, probe: bool = True, **storage_options):
        scheme, sep, path = url.partition("://")
        self.url = f"{scheme}{sep}{path.rstrip('/')}"
        self.setting = setting
        self.fs, self._root = _connect(self.url, setting, storage_options)
        self._root = self._root.rstrip("/")
        self._s3 = bool(set(_protocols(self.fs)) & set(_S3_SCHEMES))
        if probe:
            self.probe()

    def __repr__(self) -> str:
        return f"<FsspecBlobStore {self._shown}>"

    @property
    def _shown(self) -> str:
        return mask_url(self.url)

    # -- reading --------------------------------------------------------------------------

    def _key(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self._root}/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        """Return whether a blob with this digest is stored."""
        key = self._key(digest)
        with self._failures("cannot look up a blob"):
            return bool(self.fs.exists(key))

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading (streamed: large blobs are not read into memory)."""
        try:
            return self.fs.open(self._key(digest), "rb", block_size=_CHUNK)
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is missing from {self._shown}") from None
        except Exception as exc:  # noqa: BLE001 - the transport's error becomes one line
            raise StoreError(f"{self._shown}: cannot read blob {digest} ({_reason(exc)})") from None

    def rehash(self, digest: str) -> str:
        """Read a blob back in chunks; return the digest of the bytes actually stored.

        Raises OSError (what ``nbtrail verify`` reports as unreadable) when it cannot be read.
        """
        try:
            return super().rehash(digest)
        except (StoreError, OSError) as exc:
            raise OSError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a transport failure is a verify finding
            raise OSError(f"{self._shown}: {_reason(exc)}") from None

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob, sorted (temporary uploads are not blobs)."""
        with self._failures("cannot list blobs"):
            try:
                keys = self.fs.find(self._root)
            except FileNotFoundError:
                keys = []
        found = []
        for key in keys:
            rel = key.removeprefix(self._root.lstrip("/")).removeprefix(self._root).lstrip("/")
            fan, _, rest = rel.partition("/")
            if len(fan) == 2 and "/" not in rest and len(fan + rest) == 32:
                with contextlib.suppress(StoreError):
                    found.append(_check_digest(fan + rest))
        yield from sorted(found)

    def stale_temporaries(self) -> list[str]:
        """Return temporary uploads left by interrupted writes (never visible as blobs)."""
        with self._failures("cannot list temporary uploads"):
            try:
                return sorted(self.fs.find(f"{self._root}/tmp"))
            except FileNotFoundError:
                return []

    # -- writing --------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their digest. Storing the same bytes twice stores them once."""
        digest = xxhash.xxh3_128_hexdigest(data)
        if self.exists(digest):
            return digest
        view = memoryview(data)

        def send(upload: _Upload) -> None:
            for start in range(0, len(view), upload.part_size):
                upload.write(view[start : start + upload.part_size])

        def put(tmp: str, part_size: int) -> None:
            self.fs.pipe_file(tmp, bytes(data), chunksize=part_size)

        self._store(send, len(data), expected=digest, source="bytes", put=put)
        return digest

    def put_file(self, path: str | os.PathLike, *, expected: str | None = None) -> str:
        """Store a file's bytes, streamed; if ``expected`` is given, refuse a file that differs.

        The digest is computed from the bytes as they are uploaded, so a file that changes
        while it is read is caught (``SnapshotError``) and never published.
        """
        if expected is not None and self.exists(expected):
            return expected
        try:
            src = open(path, "rb")  # closed below, after the upload
        except OSError as exc:
            raise SnapshotError(f"{path}: cannot be read ({exc.strerror})") from None

        def send(upload: _Upload) -> None:
            src.seek(0)
            for chunk in iter(lambda: src.read(upload.part_size), b""):
                upload.write(chunk)

        def put(tmp: str, part_size: int) -> None:
            self.fs.put_file(os.fspath(path), tmp, chunksize=part_size)

        with src:
            size = os.fstat(src.fileno()).st_size
            return self._store(send, size, expected=expected, source=os.fspath(path), put=put)

    def _store(self, send, size: int, *, expected: str | None, source: str, put=None) -> str:
        """Upload to a temporary key, check it, publish it; the temporary is always removed.

        On S3 the bytes are hashed first and then uploaded by s3fs with parts in parallel
        (``put``); the check of the upload catches a source that changed in between.
        Elsewhere they are hashed as they are streamed to the temporary object.
        """
        tmp = f"{self._root}/tmp/{uuid.uuid4().hex}.part"
        part_size = _part_size(size)
        try:
            if self._s3 and put is not None:
                upload = _Upload(None, part_size, single=size < 2 * part_size)
                send(upload)  # s3fs PUTs below two parts, else uploads parts of part_size
                upload.finish()
                _same(expected, upload.digest, source)  # before a byte is sent
                with self._failures("cannot upload a blob"):
                    put(tmp, part_size)
            else:
                upload = self._upload(tmp, send, part_size)
                _same(expected, upload.digest, source)
            digest = upload.digest
            self._check_upload(tmp, upload, digest)
            if not self.exists(digest):
                self._publish(tmp, self._key(digest), upload.size)
            return digest
        finally:
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)

    def _upload(self, tmp: str, send, part_size: int) -> _Upload:
        with self._failures("cannot upload a blob"):
            with self.fs.open(tmp, "wb", block_size=part_size) as fh:
                upload = _Upload(fh, part_size)
                send(upload)
                upload.finish()
        return upload

    def _check_upload(self, tmp: str, upload: _Upload, digest: str) -> None:
        """The temporary object must hold exactly the bytes hashed, before it is published."""
        with self._failures("cannot check an upload"):
            info = self.fs.info(tmp)
        if info.get("size") != upload.size:
            raise StoreError(
                f"{self._shown}: an upload holds {info.get('size')} bytes instead of "
                f"{upload.size}; nothing was stored"
            )
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if etag and etag == upload.etag():
            return
        # No checksum to compare (or an ETag that is not an MD5, e.g. SSE-KMS): read it back.
        hasher = xxhash.xxh3_128()
        with self._failures("cannot read back an upload"):
            with self.fs.open(tmp, "rb", block_size=_CHUNK) as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    hasher.update(chunk)
        if hasher.hexdigest() != digest:
            raise StoreError(
                f"{self._shown}: an upload does not hold the bytes sent (it hashes to "
                f"{hasher.hexdigest()[:12]}, not {digest[:12]}); nothing was stored"
            )

    def _publish(self, tmp: str, key: str, size: int) -> None:
        """Make a checked temporary object visible under its content-addressed key."""
        with self._failures("cannot publish a blob"):
            if not self._s3:
                self.fs.mv(tmp, key)
                return
            if size > _MAX_COPY:  # multipart copy; the exists() check above guards it
                self.fs.copy(tmp, key)
                return
            bucket, source, _ = self.fs.split_path(tmp)
            _, target, _ = self.fs.split_path(key)
            try:
                self.fs.call_s3(
                    "copy_object",
                    Bucket=bucket,
                    Key=target,
                    CopySource={"Bucket": bucket, "Key": source},
                    IfNoneMatch="*",
                )
            except OSError as exc:
                if not _precondition_failed(exc):
                    raise
                # another writer published the same digest first: same name, same bytes

    # -- opening --------------------------------------------------------------------------

    def probe(self) -> None:
        """Check that the store answers, the bucket exists and the credentials are accepted."""
        try:
            if self._s3:
                bucket, prefix, _ = self.fs.split_path(self._root)
                listing = {"Bucket": bucket, "Prefix": f"{prefix}/" if prefix else "", "MaxKeys": 1}
                self.fs.call_s3("list_objects_v2", **listing)
            else:
                self.fs.exists(self._root)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line naming the setting
            raise self._open_error(exc) from None

    def _open_error(self, exc: BaseException) -> NbtrailError:
        where = f"{self.setting}: {self._shown}"
        endpoint = self._endpoint()
        at = f" (endpoint {endpoint})" if endpoint else ""
        code = _error_code(exc)
        name = type(exc).__name__
        if code == "NoSuchBucket" or (self._s3 and not code and isinstance(exc, FileNotFoundError)):
            bucket = self._root.split("/", 1)[0]
            return UsageError(f"{where}: bucket {bucket!r} does not exist{at}")
        if name == "NoCredentialsError":
            return UsageError(
                f"{where}: no credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            )
        if code in _CREDENTIAL_CODES:
            return UsageError(
                f"{where}: the object store refused the credentials{at}: "
                f"{_CREDENTIAL_CODES[code]} ({code}); check AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY / AWS_PROFILE"
            )
        if code in ("AccessDenied", "AllAccessDisabled") or isinstance(exc, PermissionError):
            return UsageError(
                f"{where}: access denied{at}; the credentials may not list this bucket"
            )
        if name == "ParamValidationError":
            return UsageError(f"{where}: {_reason(exc)}")
        if name in _UNREACHABLE or isinstance(exc, ConnectionError | TimeoutError):
            return StoreError(f"{where}: cannot reach the object store{at}")
        return StoreError(f"{where}: cannot be opened{at} ({_reason(exc)})")

    def _endpoint(self) -> str | None:
        if not self._s3:
            return None
        try:
            return mask_url(self.fs.s3.meta.endpoint_url)
        except Exception:  # noqa: BLE001 - only for the message
            return None

    @contextlib.contextmanager
    def _failures(self, what: str):
        """Turn a transport failure into one StoreError line naming the store."""
        try:
            yield
        except NbtrailError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"{self._shown}: {what} ({_reason(exc)})") from None


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the access key id is unknown",
    "SignatureDoesNotMatch": "the secret key does not match the access key id",
    "InvalidToken": "the session token is invalid",
    "ExpiredToken": "the session token has expired",
    "TokenRefreshRequired": "the session token has expired",
}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerTimeoutError",
}


def _same(expected: str | None, digest: str, source: str) -> None:
    if expected is not None and digest != expected:
        raise SnapshotError(
            f"{source}: the file changed after it was fingerprinted "
            f"(expected {expected[:12]}, read {digest[:12]}); nothing was stored"
        )


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return tuple(proto) if isinstance(proto, tuple | list) else (proto,)


def _error_code(exc: BaseException) -> str | None:
    """The service's error code (``NoSuchBucket``) from the exception or what caused it."""
    seen = 0
    while exc is not None and seen < 5:
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            return str(response["Error"]["Code"])
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _precondition_failed(exc: BaseException) -> bool:
    return isinstance(exc, FileExistsError) or _error_code(exc) in ("PreconditionFailed", "412")


def _reason(exc: BaseException) -> str:
    """A short reason with no URL query strings or credentials in it."""
    code = _error_code(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = mask_url(text if len(text) <= 240 else text[:240] + "...")
    return f"{code}: {text}" if code and code not in text else text


def _connect(url: str, setting: str, storage_options: dict):
    """Build the fsspec file system for ``url``; bad schemes and missing packages are named."""
    import fsspec
    import fsspec.core

    scheme = fsspec.core.split_protocol(url)[0]
    if scheme in _S3_SCHEMES:
        require("s3fs", purpose=f"blobs at {scheme}:// ({setting})")
        if not url.partition("://")[2].strip("/"):
            raise UsageError(f"{setting}: {mask_url(url)} names no bucket; use s3://bucket/prefix")
        # a fresh client: credentials and endpoint are read from the environment now, and
        # listings are not cached (another writer may add blobs at any time)
        storage_options = {
            "skip_instance_cache": True,
            "use_listings_cache": False,
            **storage_options,
        }
    try:
        fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise UsageError(
            f"{setting}: {mask_url(url)} has a scheme fsspec does not know ({scheme!r}); "
            "use s3://bucket/prefix, gs://..., az://..., or a folder"
        ) from None
    except ImportError as exc:
        raise UsageError(
            f"{setting}: {scheme}:// needs a package that is not installed ({exc})"
        ) from None
    try:
        return fsspec.core.url_to_fs(url, **storage_options)
    except NbtrailError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad URL or option, named with the setting
        raise UsageError(f"{setting}: cannot open {mask_url(url)} ({_reason(exc)})") from None
