"""Per-call cost of a hooked reader: ``pd.read_csv`` of a 150-row file, plain vs captured.

    python benchmarks/bench_capture_calls.py [--calls 1000] [--repeat 5]

A 150-row, 5-column CSV (about 10 kB, its modification time set a minute back, as a data
file's is) is read ``--calls`` times in a loop:

* **plain**: no capture;
* **captured**: inside ``nbtrail.track(...)`` (the same session, hooks and recording as a
  kernel's; a script has one unit instead of cells). Untimed: starting the session and
  committing its start-up facts (the environment), and ending it. Timed: the loop only, so
  every call is recorded (the file fingerprinted through the stat cache, the frame tracked and
  fingerprinted, its facts queued).

Each variant runs once untimed, then ``--repeat`` times, order alternating; medians. A round
during which other processes took CPU is run again (``_machine.py``). Goal: captured at most
1.3x plain. The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _machine import Watch, alternating, contention_note, quietly, versus, wait_for_quiet


def make_csv(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(150),
            "a": rng.normal(size=150).round(4),
            "b": rng.integers(0, 100, 150),
            "c": rng.choice(list("xyz"), 150),
            "label": rng.integers(0, 2, 150),
        }
    )
    path = folder / "small.csv"
    frame.to_csv(path, index=False)
    old = time.time_ns() - 60 * 1_000_000_000
    os.utime(path, ns=(old, old))
    return path


def loop(path: Path, calls: int) -> None:
    for _ in range(calls):
        pd.read_csv(path)


def plain_round(path: Path, calls: int):
    with Watch() as watch:
        start = time.perf_counter()
        loop(path, calls)
        seconds = time.perf_counter() - start
    return seconds, watch.contended


def captured_round(path: Path, calls: int):
    import nbtrail
    from nbtrail import recording

    with nbtrail.track("bench-calls"):
        session = recording.active()
        session.writer.flush()
        with Watch() as watch:
            start = time.perf_counter()
            loop(path, calls)
            seconds = time.perf_counter() - start
        errors = session.health.errors
    assert errors == 0, session.health.error_messages
    return seconds, watch.contended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as folder:
        os.chdir(folder)
        path = make_csv(Path(folder))
        rounds = {
            "plain": lambda: plain_round(path, args.calls),
            "captured": lambda: captured_round(path, args.calls),
        }
        for run in rounds.values():
            run()  # warm-up
        wait_for_quiet()
        times: dict[str, list[float]] = {name: [] for name in rounds}
        for r in range(args.repeat):
            for name in alternating(list(rounds), r):
                times[name].append(quietly(rounds[name], watches=True))
        os.chdir("/")
    per_call = {name: statistics.median(v) / args.calls for name, v in times.items()}
    plain, captured = per_call["plain"], per_call["captured"]
    print(contention_note())
    print(
        f"pd.read_csv of a 150-row file, {args.calls} calls, median of {args.repeat}: "
        f"plain {plain * 1e3:.3f} ms/call, captured {captured * 1e3:.3f} ms/call "
        f"(+{(captured - plain) * 1e3:.3f} ms, {captured / plain:.2f}x plain; "
        f"{versus(captured, plain, digits=2)}; goal at most 1.3x)"
    )


if __name__ == "__main__":
    main()
