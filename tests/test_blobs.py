"""Blob stores: content addressing, de-duplication, atomic writes, the fsspec seam."""

from __future__ import annotations

import os

import pytest
import xxhash

from nbtrail.errors import StoreError
from nbtrail.store import FsspecBlobStore, LocalBlobStore, open_blob_store


@pytest.fixture(params=["local", "memory"])
def blobs(request, tmp_path):
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "objects")
        return
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"memory://nbtrail-test-{os.getpid()}-{id(request)}"
    store = FsspecBlobStore(root)
    yield store
    if fs.exists(store._root):
        fs.rm(store._root, recursive=True)


def test_put_get_and_deduplicate(blobs, tmp_path):
    data = b"hello trail" * 1000
    digest = blobs.put_bytes(data)
    assert digest == xxhash.xxh3_128_hexdigest(data)
    assert blobs.put_bytes(data) == digest
    assert list(blobs.digests()) == [digest]
    assert blobs.get_bytes(digest) == data and blobs.rehash(digest) == digest
    path = tmp_path / "f.bin"
    path.write_bytes(b"other")
    second = blobs.put_file(path, expected=xxhash.xxh3_128_hexdigest(b"other"))
    assert sorted(blobs.digests()) == sorted([digest, second])
    out = tmp_path / "copy.bin"
    blobs.copy_to(second, out)
    assert out.read_bytes() == b"other"


def test_missing_and_malformed_digests(blobs):
    with pytest.raises(StoreError, match="missing"):
        blobs.open("0" * 32)
    with pytest.raises(StoreError, match="not a blob digest"):
        blobs.exists("../../etc/passwd")


def test_local_blobs_are_read_only_and_temporaries_are_separate(tmp_path):
    store = LocalBlobStore(tmp_path / "objects")
    digest = store.put_bytes(b"x" * 10)
    assert oct(store.path(digest).stat().st_mode & 0o777) == "0o444"
    assert store.stale_temporaries() == []
    (tmp_path / "objects" / "tmp" / "blob.partial").write_bytes(b"half")
    assert list(store.digests()) == [digest]  # a temporary is never a blob


def test_open_blob_store_picks_the_backend(tmp_path):
    assert isinstance(open_blob_store(tmp_path), LocalBlobStore)
    assert isinstance(open_blob_store(f"file://{tmp_path}"), LocalBlobStore)
    assert isinstance(open_blob_store("memory://somewhere"), FsspecBlobStore)


def test_trail_with_fsspec_blobs_snapshots_and_verifies(tmp_path, monkeypatch):
    import pandas as pd

    from nbtrail.store import open_trail

    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NBTRAIL_BLOB_URL", f"memory://trail-{os.getpid()}")
    with open_trail() as trail:
        assert isinstance(trail.blobs, FsspecBlobStore)
        art = trail.snapshot(pd.DataFrame({"a": [1, 2]}), name="frame")
        pd.testing.assert_frame_equal(trail.load(art.id), pd.DataFrame({"a": [1, 2]}))
        report = trail.verify()
        assert report.ok and report.blobs == 1
