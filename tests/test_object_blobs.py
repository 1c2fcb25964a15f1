"""Blobs in an S3-compatible object store: a real moto server on loopback, started here.

The server is moto's standalone ``moto_server`` in its own process (a real HTTP S3 endpoint;
s3fs and boto3 talk to it over TCP), started once for the module on a free port and killed in
the finalizer. Each test writes under its own prefix of one bucket.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import xxhash
from conftest import run_cli, training_run

pytest.importorskip("s3fs", reason="the s3 extra (s3fs) is not installed")
pytest.importorskip("moto", reason="moto[server] (test extra) is not installed")
boto3 = pytest.importorskip("boto3", reason="boto3 (test extra) is not installed")

from nbtrail.errors import MissingExtra, SnapshotError, StoreError, UsageError  # noqa: E402
from nbtrail.store import FsspecBlobStore, open_blob_store, open_trail  # noqa: E402

BUCKET = "nbtrail-blobs"
KEY_NAME = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{30}$")
MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_api(endpoint: str, path: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}",
        data=body,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def _start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    """Start ``moto_server`` on a free loopback port; return it once it answers."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            _moto_api(endpoint, "")
            return proc, endpoint
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """A moto S3 server in its own process on 127.0.0.1, with one bucket."""
    if not MOTO_SERVER.exists():
        pytest.skip(f"{MOTO_SERVER} is missing (install moto[server])")
    proc, endpoint = _start_moto(tmp_path_factory.mktemp("moto") / "server.log")
    try:
        _client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        _stop(proc)


def _client(endpoint: str, **credentials):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials.get("key", "testing"),
        aws_secret_access_key=credentials.get("secret", "testing"),
    )


@pytest.fixture
def s3(moto_endpoint, monkeypatch, tmp_path):
    """AWS settings for the server; a trail home and a fresh blob prefix for this test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    prefix = f"trail-{uuid.uuid4().hex[:8]}/objects"
    url = f"s3://{BUCKET}/{prefix}"
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NBTRAIL_BLOB_URL", url)
    return _Bucket(_client(moto_endpoint), prefix, url, moto_endpoint)


class _Bucket:
    def __init__(self, client, prefix: str, url: str, endpoint: str):
        self.client, self.prefix, self.url, self.endpoint = client, prefix, url, endpoint

    def keys(self, under: str = "") -> list[str]:
        """Every key under the prefix, relative to it."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{self.prefix}/{under}"
        )
        start = len(self.prefix) + 1
        return sorted(o["Key"][start:] for page in pages for o in page.get("Contents", []))

    def blob_keys(self) -> list[str]:
        return [k for k in self.keys() if not k.startswith("tmp/")]

    def read(self, rel: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=f"{self.prefix}/{rel}")["Body"].read()

    def write(self, rel: str, data: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=f"{self.prefix}/{rel}", Body=data)

    def pending_uploads(self) -> list[dict]:
        found = self.client.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{self.prefix}/")
        return found.get("Uploads", [])


def _artifact_snapshots(trail) -> set[str]:
    import sqlalchemy as sa

    with trail.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT snapshot FROM artifacts WHERE snapshot IS NOT NULL"))
        return {r[0] for r in rows}


def _record(work: Path) -> None:
    """A training run (conftest) whose data, frame and model file are snapshotted."""
    import pandas as pd

    with training_run(work, "model") as (run, recorded):
        run.trail.snapshot(work / "model.csv")
        run.trail.snapshot(pd.read_csv(work / "model.csv"), name="frame")
        run.trail.snapshot(recorded["path"])


# -- the happy path, end to end ----------------------------------------------------------------


def test_a_trail_on_s3_records_content_addressed_blobs_and_verifies(s3, capsys, tmp_path):
    _record(Path.cwd())
    code, out, err = run_cli(capsys, "verify")
    assert code == 0, out + err
    blobs = int(re.search(r"(\d+) blobs", out).group(1))
    assert blobs == 3  # the csv, the frame, the joblib file

    keys = s3.blob_keys()
    assert len(keys) == blobs and s3.keys("tmp/") == []
    for key in keys:
        assert KEY_NAME.match(key), key
        assert xxhash.xxh3_128_hexdigest(s3.read(key)) == key.replace("/", "")
    assert not list((tmp_path / "home" / "objects").rglob("*?/*"))  # nothing went local

    with open_trail(readonly=True) as trail:
        assert isinstance(trail.blobs, FsspecBlobStore)
        snapshots = _artifact_snapshots(trail)
        assert snapshots and snapshots <= {k.replace("/", "") for k in keys}
        # every snapshot restores from the object store to the very bytes recorded
        for digest in snapshots:
            assert xxhash.xxh3_128_hexdigest(trail.blobs.get_bytes(digest)) == digest


def test_a_tampered_object_fails_verify_naming_the_blob(s3, capsys):
    _record(Path.cwd())
    victim = s3.blob_keys()[0]
    original = s3.read(victim)
    s3.write(victim, original[:-1] + bytes([original[-1] ^ 1]))
    code, out, _ = run_cli(capsys, "verify")
    digest = victim.replace("/", "")
    assert code == 1
    assert "does NOT verify" in out and f"blob {digest}" in out
    assert "do not match its fingerprint" in out

    s3.write(victim, original)  # put back: verifies again
    code, out, _ = run_cli(capsys, "verify")
    assert code == 0, out


def test_a_missing_object_fails_verify(s3, capsys):
    _record(Path.cwd())
    victim = s3.blob_keys()[-1]
    s3.client.delete_object(Bucket=BUCKET, Key=f"{s3.prefix}/{victim}")
    code, out, _ = run_cli(capsys, "verify")
    assert code == 1 and f"blob {victim.replace('/', '')}" in out and "missing" in out


# -- atomic writes -----------------------------------------------------------------------------


def test_same_bytes_stored_twice_are_one_object(s3, tmp_path):
    store = open_blob_store(s3.url)
    data = os.urandom(1000)
    first = store.put_bytes(data)
    assert store.put_bytes(data) == first
    path = tmp_path / "same.bin"
    path.write_bytes(data)
    assert store.put_file(path) == first
    assert store.put_file(path, expected=first) == first
    assert s3.blob_keys() == [f"{first[:2]}/{first[2:]}"]
    assert s3.keys("tmp/") == [] and store.stale_temporaries() == []


def test_concurrent_writers_of_one_blob_are_harmless(s3):
    data = os.urandom(17 * 2**20 + 7)  # multipart: parts of 8 MiB
    digest = xxhash.xxh3_128_hexdigest(data)
    results, errors = [], []

    def writer():
        try:  # each writer has its own client, like separate processes
            results.append(open_blob_store(s3.url).put_bytes(data))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [digest] * 4
    assert s3.blob_keys() == [f"{digest[:2]}/{digest[2:]}"]
    assert s3.read(s3.blob_keys()[0]) == data
    assert s3.keys("tmp/") == [] and s3.pending_uploads() == []


def test_large_file_is_streamed_in_parts_and_checked_without_reading_back(
    s3, tmp_path, monkeypatch
):
    path = tmp_path / "big.bin"
    chunk = os.urandom(2**20)
    with path.open("wb") as out:
        for i in range(20):
            out.write(chunk[i:] + chunk[:i])
    store = open_blob_store(s3.url)
    reads = []
    opened = store.fs.open

    def watched(key, mode="rb", **kwargs):
        if "r" in mode:
            reads.append(key)
        return opened(key, mode, **kwargs)

    store.fs.open = watched
    checked = FsspecBlobStore._check_upload
    etags = []

    def check(self, tmp, upload, digest):
        _, key, _ = self.fs.split_path(tmp)
        etags.append((upload.etag(), s3.client.head_object(Bucket=BUCKET, Key=key)["ETag"]))
        return checked(self, tmp, upload, digest)

    monkeypatch.setattr(FsspecBlobStore, "_check_upload", check)
    digest = store.put_file(path)
    assert digest == xxhash.xxh3_128_hexdigest(path.read_bytes())
    # three parts of 8 MiB at most, whose multipart ETag was predicted from the bytes sent:
    # the upload is checked without downloading it again
    assert len(etags) == 1 and etags[0][0].endswith("-3")
    assert etags[0][1].strip('"') == etags[0][0]
    assert reads == []
    head = s3.client.head_object(Bucket=BUCKET, Key=f"{s3.prefix}/{digest[:2]}/{digest[2:]}")
    assert head["ContentLength"] == 20 * 2**20
    assert store.rehash(digest) == digest


def test_a_file_that_differs_from_its_fingerprint_is_not_stored(s3, tmp_path):
    store = open_blob_store(s3.url)
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(SnapshotError, match="changed after it was fingerprinted"):
        store.put_file(path, expected="0" * 32)
    assert s3.keys() == []


def test_an_upload_the_server_stored_wrongly_is_never_published(s3, monkeypatch):
    store = open_blob_store(s3.url)
    check = FsspecBlobStore._check_upload

    def corrupting(self, tmp, upload, digest):
        # the object store now holds other bytes of the same size under the temporary key
        _, key, _ = self.fs.split_path(tmp)
        s3.client.put_object(Bucket=BUCKET, Key=key, Body=b"Y" * upload.size)
        return check(self, tmp, upload, digest)

    monkeypatch.setattr(FsspecBlobStore, "_check_upload", corrupting)
    with pytest.raises(StoreError, match="does not hold the bytes sent"):
        store.put_bytes(b"X" * 4096)
    assert s3.keys() == []  # not published, and the temporary object is gone


def test_a_file_changed_between_hashing_and_uploading_is_not_published(s3, tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"A" * 100_000)
    store = open_blob_store(s3.url)
    put_file = store.fs.put_file

    def changing(lpath, rpath, **kwargs):
        path.write_bytes(b"B" * 100_000)  # same size: only the checksum can tell
        return put_file(lpath, rpath, **kwargs)

    store.fs.put_file = changing
    with pytest.raises(StoreError, match="does not hold the bytes sent"):
        store.put_file(path)
    assert s3.keys() == []


def test_a_failed_publish_leaves_no_blob_and_no_fact(s3, monkeypatch, capsys):
    import pandas as pd

    def broken(self, tmp, key, size):
        raise ConnectionResetError("connection reset by peer")

    with monkeypatch.context() as patched, open_trail() as trail:
        patched.setattr(FsspecBlobStore, "_publish", broken)
        with pytest.raises(ConnectionResetError):
            trail.snapshot(pd.DataFrame({"a": [1, 2, 3]}), name="frame")
        assert _artifact_snapshots(trail) == set()
    assert s3.keys() == []  # the temporary object was removed as the error passed
    code, out, err = run_cli(capsys, "verify")
    assert code == 0 and "0 blobs" in out, out + err


_DIES_AFTER_UPLOAD = """
import os, sys
import pandas as pd
from nbtrail.store import FsspecBlobStore, open_trail
def die(self, tmp, key, size):
    print(tmp, flush=True)
    os._exit(9)  # killed between the upload and the publish
FsspecBlobStore._publish = die
with open_trail() as trail:
    trail.snapshot(pd.DataFrame({"a": [1, 2, 3]}), name="frame")
"""


def test_a_writer_killed_after_uploading_leaves_only_a_stale_temporary(s3, capsys):
    proc = subprocess.run(
        [sys.executable, "-c", _DIES_AFTER_UPLOAD], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 9, proc.stderr
    stale = s3.keys("tmp/")
    assert len(stale) == 1 and proc.stdout.strip().endswith(stale[0])
    assert s3.blob_keys() == []
    store = open_blob_store(s3.url)
    assert list(store.digests()) == []
    assert [k.rsplit("/", 1)[-1] for k in store.stale_temporaries()] == [stale[0][4:]]
    code, out, err = run_cli(capsys, "verify")
    assert code == 0 and "0 blobs" in out, out + err
    assert f"1 temporary files from interrupted writes in {s3.url}/tmp" in out + err
    with open_trail(readonly=True) as trail:
        assert _artifact_snapshots(trail) == set()


_PUTS_A_BIG_FILE = """
import sys
from nbtrail.store import open_blob_store
open_blob_store(sys.argv[1]).put_file(sys.argv[2])
print("finished", flush=True)
"""


def test_a_writer_killed_mid_upload_leaves_no_blob(s3, tmp_path):
    path = tmp_path / "huge.bin"
    with path.open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(2**20))
    proc = subprocess.Popen(
        [sys.executable, "-c", _PUTS_A_BIG_FILE, s3.url, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not s3.pending_uploads():  # the multipart upload of the temporary is under way
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.02)
        proc.kill()
    finally:
        if proc.poll() is None:
            proc.kill()
        out, _ = proc.communicate(timeout=30)
    assert b"finished" not in out
    assert s3.blob_keys() == [] and s3.keys("tmp/") == []
    assert list(open_blob_store(s3.url).digests()) == []
    # what is left is an incomplete multipart upload, which S3 never shows as an object
    for upload in s3.pending_uploads():
        assert upload["Key"].startswith(f"{s3.prefix}/tmp/")
        s3.client.abort_multipart_upload(
            Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
        )


# -- bad settings: refused when the trail is opened, one line, exit 2 --------------------------


def test_an_unknown_scheme_names_the_setting(s3, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("NBTRAIL_BLOB_URL", "nosuchfs://bucket/trail")
    with pytest.raises(UsageError, match="NBTRAIL_BLOB_URL.*'nosuchfs'"):
        open_blob_store("nosuchfs://bucket/trail")
    code, out, err = run_cli(capsys, "init")
    assert code == 2 and out == ""
    assert "NBTRAIL_BLOB_URL" in err and "nosuchfs" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "home" / "trail.db").exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [("s3://", "names no bucket"), ("s3://Not_A_Bucket!/x", "Invalid bucket name")],
)
def test_a_malformed_s3_url_is_refused(s3, monkeypatch, capsys, url, says):
    monkeypatch.setenv("NBTRAIL_BLOB_URL", url)
    code, out, err = run_cli(capsys, "init")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "NBTRAIL_BLOB_URL" in err and says in err


def test_missing_s3fs_names_the_extra(s3, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(MissingExtra, match=r"nbtrail\[s3\]"):
        open_blob_store(s3.url)
    code, _, err = run_cli(capsys, "init")
    assert code == 2 and "s3fs is not installed" in err and "nbtrail[s3]" in err


def test_an_unreachable_endpoint_fails_at_open(s3, monkeypatch, capsys, tmp_path):
    dead = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    started = time.monotonic()
    code, out, err = run_cli(capsys, "init")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "NBTRAIL_BLOB_URL" in err and s3.url in err and dead in err
    assert "cannot reach the object store" in err and "testing" not in err
    assert time.monotonic() - started < 30
    assert not (tmp_path / "home" / "trail.db").exists()


def test_a_missing_bucket_fails_at_open(s3, monkeypatch, capsys):
    monkeypatch.setenv("NBTRAIL_BLOB_URL", "s3://no-such-bucket/trail")
    code, out, err = run_cli(capsys, "init")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "NBTRAIL_BLOB_URL" in err and "s3://no-such-bucket/trail" in err
    assert "bucket 'no-such-bucket' does not exist" in err
    with pytest.raises(UsageError, match="does not exist"):
        open_blob_store("s3://no-such-bucket/trail")


@pytest.fixture
def enforced_auth(s3):
    """Make moto check signatures against its IAM users: one user may use the bucket."""
    iam = boto3.client(
        "iam",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    user = f"nbtrail-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}
    policy["Statement"][0]["Resource"] = "*"
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _moto_api(s3.endpoint, "reset-auth", b"0")
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _moto_api(s3.endpoint, "reset-auth", b"inf")


def test_wrong_credentials_are_named_never_printed(s3, enforced_auth, monkeypatch, capsys):
    key_id, secret = enforced_auth
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert open_blob_store(s3.url).put_bytes(b"allowed") is not None  # the right key works

    wrong_secret = "Wr0ngSecretThatMustNeverBePrinted"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    code, out, err = run_cli(capsys, "init")
    assert code == 2 and len(err.splitlines()) == 1
    assert "NBTRAIL_BLOB_URL" in err and "refused the credentials" in err
    assert "SignatureDoesNotMatch" in err and "AWS_SECRET_ACCESS_KEY" in err
    assert wrong_secret not in out + err and key_id not in out + err and secret not in out + err

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    with pytest.raises(UsageError, match="InvalidAccessKeyId") as caught:
        open_blob_store(s3.url)
    assert "AKIAUNKNOWNKEY000000" not in str(caught.value) and wrong_secret not in str(caught.value)


def test_no_credentials_at_all_are_named(s3, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(UsageError, match="no credentials found.*AWS_ACCESS_KEY_ID"):
        open_blob_store(s3.url)


def test_a_server_lost_after_open_gives_one_store_error(s3, monkeypatch, tmp_path):
    proc, endpoint = _start_moto(tmp_path / "second.log")
    try:
        _client(endpoint).create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        store = open_blob_store(s3.url)
        digest = store.put_bytes(b"stored before the server went away")
    finally:
        _stop(proc)
    with pytest.raises(StoreError, match=re.escape(s3.url)) as caught:
        store.put_bytes(b"never stored")
    assert len(str(caught.value).splitlines()) == 1
    with pytest.raises(OSError, match=re.escape(s3.url)):
        store.rehash(digest)  # what verify reports as "cannot be read"


def test_doctor_writes_and_reads_back_its_probe_blob_on_s3(s3, capsys):
    assert run_cli(capsys, "init")[0] == 0
    code, out, err = run_cli(capsys, "doctor")
    assert code == 0, out + err
    (line,) = [x for x in out.splitlines() if x.split()[1:2] == ["blobs"]]
    assert line.startswith("ok") and s3.url in line and "wrote and read back" in line
    assert len(s3.blob_keys()) == 1 and s3.keys("tmp/") == []


def test_doctor_names_a_missing_bucket_with_its_setting(s3, capsys, monkeypatch):
    assert run_cli(capsys, "init")[0] == 0
    monkeypatch.setenv("NBTRAIL_BLOB_URL", "s3://no-such-bucket-here/objects")
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 2
    (line,) = [x for x in out.splitlines() if x.split()[1:2] == ["blobs"]]
    assert line.startswith("FAILED") and "no-such-bucket-here" in line
    assert "NBTRAIL_BLOB_URL" in line and "testing" not in line
