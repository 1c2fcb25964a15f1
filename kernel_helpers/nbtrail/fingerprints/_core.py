"""The canonical token stream and its hashing: what every fingerprint is made of.

Every token is a type byte, an 8-byte little-endian length and the payload. Buffers of at
least 1 MiB are replaced by their own digest; buffers over 16 MiB are hashed as a fixed tree
of 16 MiB blocks, on all cores when there is enough to hash. The tree shape is part of the
definition, so a digest does not depend on how many threads computed it.
"""

from __future__ import annotations

import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import xxhash

__all__ = ["ALGORITHM", "Fingerprint", "digest_bytes"]

ALGORITHM = "xxh3-128"

_INLINE_LIMIT = 1 << 20  # buffers below this are hashed inline
_BLOCK = 1 << 24  # tree block size for large buffers
_PARALLEL_MIN = 1 << 26  # below this many big-buffer bytes, threads cost more than they save


@dataclass(frozen=True)
class Fingerprint:
    """The identity of an object's full content.

    Attributes
    ----------
    digest : str
        32 hex digits of XXH3-128 over the canonical content stream.
    kind : str
        What was fingerprinted: ``dataframe``, ``series``, ``ndarray``, ``model``, ``file``,
        ``object``.
    schema : str or None
        Digest of names and dtypes only, where the object has a schema.
    size : int
        Bytes of content hashed (file size for files).
    meta : dict
        Small JSON-ready description: shape, columns and dtypes, class, path.
    """

    digest: str
    kind: str
    schema: str | None = None
    size: int = 0
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def short(self) -> str:
        """First 12 hex digits, for display."""
        return self.digest[:12]

    def __str__(self) -> str:
        return self.digest


def digest_bytes(data: bytes | memoryview) -> str:
    """Return the XXH3-128 hex digest of raw bytes (the digest a file of these bytes gets)."""
    return xxhash.xxh3_128_hexdigest(data)


# ----------------------------------------------------------------------------------------------
# the token stream


class _Big:
    """A large buffer whose digest replaces it in the stream."""

    __slots__ = ("digest", "view")

    def __init__(self, view: memoryview):
        self.view = view
        self.digest: bytes | None = None


class _Stream:
    """Collects tokens; big buffers are hashed later, possibly on several threads."""

    def __init__(self):
        self.parts: list[bytes | _Big] = []
        self.big_bytes = 0
        self.size = 0
        self._active: set[int] = set()

    # Every token is: one type byte, an 8-byte little-endian length, the payload.
    def token(self, code: bytes, payload: bytes) -> None:
        self.parts.append(code + struct.pack("<Q", len(payload)) + payload)

    def tag(self, name: str) -> None:
        self.token(b"T", name.encode())

    def text(self, value: str) -> None:
        self.token(b"S", value.encode("utf-8", "surrogatepass"))

    def buffer(self, view: memoryview) -> None:
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        n = view.nbytes
        self.size += n
        if n < _INLINE_LIMIT:
            self.token(b"b", view.tobytes())
            return
        self.parts.append(b"B" + struct.pack("<Q", n))
        self.parts.append(_Big(view))
        self.big_bytes += n

    def finish(self) -> str:
        bigs = [p for p in self.parts if isinstance(p, _Big)]
        if bigs:
            _hash_big_buffers(bigs, parallel=self.big_bytes >= _PARALLEL_MIN)
        hasher = xxhash.xxh3_128()
        for part in self.parts:
            hasher.update(part.digest if isinstance(part, _Big) else part)
        return hasher.hexdigest()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, min(8, os.cpu_count() or 1))
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="nbtrail-hash")
        return _pool


def _hash_big_buffers(bigs: list[_Big], *, parallel: bool) -> None:
    # Each big buffer is split into fixed 16 MiB blocks; a buffer of one block is hashed
    # directly, a longer one as the digest of its block digests (a fixed, documented tree).
    jobs: list[tuple[int, memoryview]] = []
    for i, big in enumerate(bigs):
        for offset in range(0, big.view.nbytes, _BLOCK):
            jobs.append((i, big.view[offset : offset + _BLOCK]))
    run = _executor().map if parallel and len(jobs) > 1 else map
    digests = list(run(xxhash.xxh3_128_digest, (view for _, view in jobs)))
    per_buffer: list[list[bytes]] = [[] for _ in bigs]
    for (i, _), digest in zip(jobs, digests, strict=True):
        per_buffer[i].append(digest)
    for big, blocks in zip(bigs, per_buffer, strict=True):
        if len(blocks) == 1:
            big.digest = blocks[0]
        else:
            big.digest = xxhash.xxh3_128_digest(b"tree" + b"".join(blocks))
        big.view = None  # release the memory as soon as possible
