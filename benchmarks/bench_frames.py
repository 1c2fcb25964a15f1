"""Fingerprint throughput of the same data as a pandas, a polars and an Arrow frame; wide frames.

    python benchmarks/bench_frames.py [--rows 1000000] [--columns 20] [--repeat 5]

1. **One frame, three libraries**: a ``--rows`` x ``--columns`` float64 frame (160 MB by
   default) built once with numpy, then given to pandas (``pd.DataFrame``), polars
   (``pl.from_numpy``, one contiguous column each) and Arrow (``pa.table``). nbtrail's
   fingerprint of each, on one thread (the 16 MiB-block thread pool pandas' large columns
   could use is switched off, so every contender hashes serially). Throughput is content
   bytes (``Fingerprint.size``) over the median time.
2. **A wide frame**: 10,000 columns x 1,000 rows (a quarter each float64, int64, bool and
   short strings), fingerprinted as nbtrail does now (numeric columns read from pandas' 2D
   blocks) and column by column with one ``iloc`` each (the way before); both give the same
   digest, which is checked.

Each contender runs once untimed, then ``--repeat`` times, order alternating; medians
(``_machine.measure``); a unit during which other processes took CPU is run again. The last
line is the one to quote.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pyarrow as pa
from _machine import contention_note, measure, versus, wait_for_quiet

from nbtrail.fingerprints import _core, _walk, fingerprint


def gbps(size: int, seconds: float) -> float:
    return size / seconds / 1e9


def bench_libraries(rows: int, columns: int, repeat: int) -> dict:
    import polars as pl

    values = np.random.default_rng(0).normal(size=(rows, columns))
    names = [f"c{i}" for i in range(columns)]
    frames = {
        "pandas": pd.DataFrame(values, columns=names),
        "polars": pl.from_numpy(values, schema=names, orient="row").rechunk(),
        "arrow": pa.table({n: values[:, i].copy() for i, n in enumerate(names)}),
    }
    sizes = {name: fingerprint(frame).size for name, frame in frames.items()}
    saved = _core._PARALLEL_MIN
    _core._PARALLEL_MIN = 1 << 62  # one thread, as the columnar path always is
    try:
        times, _ = measure(
            {name: (lambda f=frame: fingerprint(f)) for name, frame in frames.items()}, repeat
        )
    finally:
        _core._PARALLEL_MIN = saved
    return {name: (sizes[name], times[name]) for name in frames}


def wide_frame(columns: int = 10_000, rows: int = 1_000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    data = {}
    for i in range(columns):
        kind = i % 4
        if kind == 0:
            data[f"f{i}"] = rng.normal(size=rows)
        elif kind == 1:
            data[f"i{i}"] = rng.integers(0, 100, size=rows)
        elif kind == 2:
            data[f"b{i}"] = rng.integers(0, 2, size=rows).astype(bool)
        else:
            data[f"s{i}"] = pd.array([f"s{j % 7}" for j in range(rows)], dtype="str")
    return pd.DataFrame(data)


def bench_wide(repeat: int) -> dict:
    frame = wide_frame()
    real = _walk._block_columns

    def per_column():
        _walk._block_columns = lambda df: {}
        try:
            return fingerprint(frame).digest
        finally:
            _walk._block_columns = real

    times, results = measure(
        {"blocks": lambda: fingerprint(frame).digest, "per column": per_column}, repeat
    )
    assert results["blocks"] == results["per column"], "the block path changed the digest"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    wait_for_quiet()
    libs = bench_libraries(args.rows, args.columns, args.repeat)
    wide = bench_wide(args.repeat)
    print(f"median of {args.repeat} after a warm-up, order alternating, one thread")
    for name, (size, seconds) in libs.items():
        rate = gbps(size, seconds)
        print(f"{name:<8}{size / 1e6:>8.0f} MB {seconds * 1e3:>9.1f} ms {rate:>7.2f} GB/s")
    print(
        f"wide 10,000 x 1,000 frame: blocks {wide['blocks'] * 1e3:.0f} ms, "
        f"per column {wide['per column'] * 1e3:.0f} ms"
    )
    print(contention_note())
    pandas_t, polars_t, arrow_t = (libs[n][1] for n in ("pandas", "polars", "arrow"))
    print(
        f"fingerprint of the same {args.rows:,} x {args.columns} float64 frame, one thread: "
        f"pandas {gbps(*libs['pandas']):.2f} GB/s, polars {gbps(*libs['polars']):.2f} GB/s "
        f"({versus(polars_t, pandas_t)} than pandas), arrow {gbps(*libs['arrow']):.2f} GB/s "
        f"({versus(arrow_t, pandas_t)}); a 10,000-column frame "
        f"{versus(wide['blocks'], wide['per column'])} than column by column "
        f"({wide['blocks'] * 1e3:.0f} vs {wide['per column'] * 1e3:.0f} ms)"
    )


if __name__ == "__main__":
    main()
