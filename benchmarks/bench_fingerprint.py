"""Fingerprint throughput beside pandas.util.hash_pandas_object and hashlib.md5, same data.

    python benchmarks/bench_fingerprint.py [--file-gb 1.0] [--repeat 3]

Three inputs, as the issue names them:

* a 1M x 40 float64 frame (320 MB);
* a frame with 2M strings (Arrow-backed ``str`` columns, pandas' default);
* a 1 GB file of random bytes (read from the page cache by every contender: it is read once
  before timing).

Contenders on the same objects, in this process:

* nbtrail ``fingerprint`` / ``fingerprint_file`` (no stat cache: every byte is hashed);
* ``pandas.util.hash_pandas_object`` (index included, as pandas does by default): the per-row
  hash many tools use to detect frame changes;
* ``hashlib.md5`` over the same bytes: DVC's way (for frames, the column buffers nbtrail reads;
  for the file, streamed in 1 MiB chunks as DVC reads).

Throughput is content bytes (what nbtrail's fingerprint covers) divided by the best of
``--repeat`` timings. The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time

import numpy as np
import pandas as pd

from nbtrail.capture.fingerprints import fingerprint, fingerprint_file


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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


def bench_frame(label: str, frame: pd.DataFrame, repeat: int) -> dict:
    size = fingerprint(frame).size
    buffers = frame_buffers(frame)
    t_nb = best_of(repeat, lambda: fingerprint(frame))
    t_hpo = best_of(repeat, lambda: pd.util.hash_pandas_object(frame))
    t_md5 = best_of(repeat, lambda: md5_buffers(buffers))
    return {"label": label, "bytes": size, "nbtrail": t_nb, "hpo": t_hpo, "md5": t_md5}


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
        md5_file(path)  # warm the page cache for every contender alike
        t_nb = best_of(repeat, lambda: fingerprint_file(path, cache=None))
        t_md5 = best_of(repeat, lambda: md5_file(path))
    return {"label": f"{gb:g} GB file", "bytes": size, "nbtrail": t_nb, "hpo": None, "md5": t_md5}


def gbps(row: dict, key: str) -> float | None:
    return None if row[key] is None else row["bytes"] / row[key] / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
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
    rows = [
        bench_frame("1M x 40 float frame", numeric, args.repeat),
        bench_frame("2M strings frame", strings, args.repeat),
        bench_file(args.file_gb, args.repeat),
    ]
    print(f"{'input':<22}{'MB':>8}  {'nbtrail':>9}  {'hash_pandas_object':>18}  {'md5':>8}   GB/s")
    for row in rows:
        hpo = gbps(row, "hpo")
        print(
            f"{row['label']:<22}{row['bytes'] / 1e6:>8.0f}  {gbps(row, 'nbtrail'):>9.2f}  "
            f"{hpo if hpo is None else round(hpo, 2)!s:>18}  {gbps(row, 'md5'):>8.2f}"
        )
    summary = []
    for row in rows:
        part = f"{row['label']}: {gbps(row, 'nbtrail'):.1f} GB/s"
        if row["hpo"] is not None:
            part += f" = {row['hpo'] / row['nbtrail']:.0f}x hash_pandas_object"
        part += f", {row['md5'] / row['nbtrail']:.1f}x md5"
        summary.append(part)
    print("fingerprint throughput (nbtrail vs peers, same data, same run): " + "; ".join(summary))


if __name__ == "__main__":
    main()
