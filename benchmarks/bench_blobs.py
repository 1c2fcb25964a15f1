"""Blob put/get: a local folder beside an S3-compatible store, and a plain boto3 upload.

    python benchmarks/bench_blobs.py [--sizes-mb 1 100] [--repeat 5]

The S3 store is **moto's standalone server on loopback** (``moto_server`` on 127.0.0.1, started
and stopped here), not real S3: there is no network latency or bandwidth limit, and moto keeps
objects in its own process's memory, so the figures show nbtrail's own cost (hashing, the
temporary upload, its check, the server-side copy, the delete) and moto's, not S3's.

Contenders, per size, on a file of random bytes served from the page cache:

* ``put local``: ``LocalBlobStore.put_file`` (temporary file, fsync, rename);
* ``put s3``: ``FsspecBlobStore.put_file`` to ``s3://bench/objects`` (streamed upload to a
  temporary key, ETag check, conditional copy, delete);
* ``boto3 upload_file``: the same file uploaded once with boto3's transfer manager, no
  hashing, no temporary key: the floor an atomic, content-addressed put is compared with;
* ``get local`` / ``get s3``: ``copy_to`` of the stored blob to a local file.

Every put stores new content (the file's first 16 bytes change before each call, untimed
cost negligible), because storing the same bytes again is a no-op by design. One untimed
warm-up each, ``--repeat`` timed calls each in alternating order, median reported. The last
line compares nbtrail's S3 put of the largest size with boto3's upload of it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _machine import contention_note, measure, versus, wait_for_quiet

from nbtrail.store import LocalBlobStore, open_blob_store

BUCKET = "bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            return proc, endpoint
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("moto_server did not start (pip install 'moto[server]')") from None
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    proc, endpoint = start_moto()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    try:
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), client, args)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def run(tmp: Path, client, args) -> None:
    local = LocalBlobStore(tmp / "objects")
    remote = open_blob_store(f"s3://{BUCKET}/objects")
    wait_for_quiet()
    print(
        f"blob store: local folder vs moto S3 on loopback ({remote.url}); not real S3", flush=True
    )
    last = {}
    for size_mb in args.sizes_mb:
        path = tmp / f"blob-{size_mb}mb.bin"
        with path.open("wb") as out:
            for _ in range(size_mb):
                out.write(os.urandom(1 << 20))
        counter = [0]

        def fresh(path=path, counter=counter) -> Path:
            counter[0] += 1
            with path.open("r+b") as fh:
                fh.write(counter[0].to_bytes(16, "little"))
            return path

        stored = {}

        def put(store, name, fresh=fresh, stored=stored):
            stored[name] = store.put_file(fresh())

        def get(store, name, size_mb=size_mb, stored=stored):
            store.copy_to(stored[name], tmp / f"out-{name}-{size_mb}.bin")

        contenders = {
            "put local": lambda put=put: put(local, "local"),
            "put s3": lambda put=put: put(remote, "s3"),
            "boto3 upload_file": lambda fresh=fresh, size_mb=size_mb: client.upload_file(
                str(fresh()), BUCKET, f"plain/{size_mb}mb"
            ),
        }
        medians, _ = measure(contenders, args.repeat)
        getters = {
            "get local": lambda get=get: get(local, "local"),
            "get s3": lambda get=get: get(remote, "s3"),
        }
        gets, _ = measure(getters, args.repeat)
        medians.update(gets)
        for name, seconds in medians.items():
            rate = size_mb / seconds if seconds else float("inf")
            print(
                f"{size_mb:>5} MB  {name:<18} {seconds * 1000:9.1f} ms  {rate:8.1f} MB/s",
                flush=True,
            )
        last = {"size": size_mb, **medians}
    print(contention_note())
    print(
        f"{last['size']} MB put to loopback moto S3: nbtrail (atomic, content-addressed, "
        f"checked) {last['put s3']:.2f} s vs boto3 upload_file {last['boto3 upload_file']:.2f} s: "
        f"{versus(last['put s3'], last['boto3 upload_file'])}; local folder put "
        f"{last['put local']:.2f} s"
    )


if __name__ == "__main__":
    main()
