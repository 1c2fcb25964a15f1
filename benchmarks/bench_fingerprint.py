"""Fingerprint throughput beside pandas.util.hash_pandas_object and hashlib.md5, same data.

    python benchmarks/bench_fingerprint.py [--file-gb 1.0] [--repeat 5]

Three inputs:

* a 1M x 40 float64 frame (320 MB);
* a frame with 2M strings (two Arrow-backed ``str`` columns, pandas' default);
* a ``--file-gb`` file of random bytes, served from the page cache to every contender (it is
  read once before timing).

Contenders, on the same objects, in this process:

* ``nbtrail.fingerprint`` / ``nbtrail.fingerprint_file(path, cache=None)`` (no stat cache:
  every byte is hashed), measured twice:

  - **1 thread**: large buffers hashed serially, as every peer here hashes;
  - **all cores**: nbtrail's default, which hashes the 16 MiB blocks of large buffers (from
    64 MiB of them per object) on a thread pool of up to 8 threads; this machine's cores are
    all it can use. A file is always one mmap'd XXH3 stream on one thread, so for the file
    both figures are single-threaded.

* ``pandas.util.hash_pandas_object`` (index included, pandas' default): the per-row hash many
  tools use to detect frame changes. Single-threaded.
* ``hashlib.md5`` over the same bytes, DVC's way: for frames the column buffers nbtrail reads,
  for the file 1 MiB chunks as DVC streams them. Single-threaded.

Every contender is run once untimed (warm-up), then ``--repeat`` times with the order of
contenders reversed on every other repeat; the figure is the median. Throughput is content
bytes (what nbtrail's fingerprint covers: ``Fingerprint.size``) divided by that time, for every
contender alike. Imports are not timed. The last line is the one to quote; its ratios compare
nbtrail on one thread with the single-threaded peers, the all-cores figure is given beside.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile

import numpy as np
import pandas as pd
from _machine import contention_note, measure, wait_for_quiet

import nbtrail


@contextlib.contextmanager
def serial_hashing():
    """Make nbtrail hash every large buffer on the calling thread (no thread pool)."""
    # internal: adapt if nbtrail.capture moves. The threshold above which large buffers go to
    # the pool is the module constant _PARALLEL_MIN; wherever it lives, raise it past any size.
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("nbtrail") and hasattr(module, "_PARALLEL_MIN")
    ]
    if not holders:
        raise RuntimeError("nbtrail's _PARALLEL_MIN was not found: adapt serial_hashing()")
    saved = [module._PARALLEL_MIN for module in holders]
    for module in holders:
        module._PARALLEL_MIN = sys.maxsize
    try:
        yield
    finally:
        for module, value in zip(holders, saved, strict=True):
            module._PARALLEL_MIN = value


def frame_buffers(frame: pd.DataFrame) -> list[memoryview]:
    """The raw buffers of a frame's columns (what md5 is fed, DVC style)."""
    out = []
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i].array
        if hasattr(values, "__arrow_array__"):
            for chunk in values.__arrow_array__().chunks:
                out.extend(memoryview(b) for b in chunk.buffers() if b is not None)
        else:
            out.append(memoryview(np.ascontiguousarray(values.to_numpy())).cast("B"))
    return out


def md5_buffers(buffers) -> str:
    h = hashlib.md5()
    for b in buffers:
        h.update(b)
    return h.hexdigest()


def md5_file(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def serial(fn):
    def run():
        with serial_hashing():
            return fn()

    return run


def bench_frame(label: str, frame: pd.DataFrame, repeat: int) -> dict:
    default = nbtrail.fingerprint(frame)
    with serial_hashing():  # same work: the digest does not depend on how many threads hashed
        assert nbtrail.fingerprint(frame).digest == default.digest
    size = default.size
    buffers = frame_buffers(frame)
    times, _ = measure(
        {
            "nbtrail 1 thread": serial(lambda: nbtrail.fingerprint(frame)),
            "nbtrail all cores": lambda: nbtrail.fingerprint(frame),
            "hash_pandas_object": lambda: pd.util.hash_pandas_object(frame),
            "md5": lambda: md5_buffers(buffers),
        },
        repeat,
    )
    return {"label": label, "bytes": size, **times}


def bench_file(gb: float, repeat: int) -> dict:
    size = int(gb * (1 << 30))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.bin")
        rng = np.random.default_rng(0)
        with open(path, "wb") as fh:
            left = size
            while left:
                n = min(left, 1 << 26)
                fh.write(rng.bytes(n))
                left -= n
        md5_file(path)  # into the page cache, for every contender alike
        times, _ = measure(
            {
                "nbtrail 1 thread": serial(lambda: nbtrail.fingerprint_file(path, cache=None)),
                "nbtrail all cores": lambda: nbtrail.fingerprint_file(path, cache=None),
                "md5": lambda: md5_file(path),
            },
            repeat,
        )
    return {"label": f"{gb:g} GB file", "bytes": size, "hash_pandas_object": None, **times}


def gbps(row: dict, key: str) -> float | None:
    return None if row.get(key) is None else row["bytes"] / row[key] / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    numeric = pd.DataFrame(rng.normal(size=(1_000_000, 40)), columns=[f"f{i}" for i in range(40)])
    words = np.array([f"token-{i:07d}" for i in range(200_000)], dtype=object)
    strings = pd.DataFrame(
        {
            "a": pd.Series(words[rng.integers(0, len(words), 1_000_000)], dtype="str"),
            "b": pd.Series(words[rng.integers(0, len(words), 1_000_000)], dtype="str"),
        }
    )
    wait_for_quiet()
    rows = [
        bench_frame("1M x 40 float frame", numeric, args.repeat),
        bench_frame("2M strings frame", strings, args.repeat),
        bench_file(args.file_gb, args.repeat),
    ]
    cores = os.cpu_count()
    print(f"GB/s, median of {args.repeat} after a warm-up, order alternating; {cores} cores here")
    keys = ["nbtrail 1 thread", "nbtrail all cores", "hash_pandas_object", "md5"]
    print(f"{'input':<22}{'MB':>7}" + "".join(f"{k:>20}" for k in keys))
    for row in rows:
        cells = [gbps(row, k) for k in keys]
        print(
            f"{row['label']:<22}{row['bytes'] / 1e6:>7.0f}"
            + "".join(f"{'-' if v is None else f'{v:.2f}':>20}" for v in cells)
        )
    print(contention_note())
    summary = []
    for row in rows:
        one = row["nbtrail 1 thread"]
        part = f"{row['label']} {gbps(row, 'nbtrail 1 thread'):.2f} GB/s"
        if row["hash_pandas_object"] is not None:
            part += (
                f" vs hash_pandas_object {gbps(row, 'hash_pandas_object'):.2f} "
                f"({row['hash_pandas_object'] / one:.1f}x)"
            )
        part += f" vs md5 {gbps(row, 'md5'):.2f} ({row['md5'] / one:.1f}x)"
        if row["hash_pandas_object"] is not None:
            part += f", all cores {gbps(row, 'nbtrail all cores'):.2f}"
        else:
            part += " (files: one thread always)"
        summary.append(part)
    print(
        "fingerprint throughput, nbtrail on 1 thread vs single-threaded peers, same bytes, "
        f"median of {args.repeat}: " + "; ".join(summary)
    )


if __name__ == "__main__":
    main()
