"""Drift on 1M rows x 50 columns: nbtrail's ``checks.drift`` vs Evidently's DataDriftPreset.

    python benchmarks/bench_drift.py [--rows 1000000] [--repeat 1] [--no-sweep]

The data: 40 numeric columns (normal at varied scales, integer-valued, zero-inflated) and 10
categorical ones (5 to 30 levels, one with 10,000 levels), reference and current drawn apart.
Seven columns are shifted in the current batch: ``x0`` to ``x4`` by +0.1 to +0.5 standard
deviations, ``c0`` and ``c1`` tilted (ten points of share moved from the most common category
to the rarest). Both tools judge every column; their verdicts are compared with that truth.

Each contender runs in a subprocess of its own interpreter, so that its peak memory can be
measured alone (a thread samples the resident set size every 5 ms during the timed call):
nbtrail in this environment, Evidently 0.7.23 in ``.bench-evidently`` (it needs pandas < 3;
``benchmarks/requirements-evidently.txt`` says how to make it; without it the line says
"Evidently not measured"). Both read the same Parquet files, untimed, then run once untimed
on 20,000 rows (warm-up: imports and first-call costs), then once timed on every row. The
order of the two alternates over ``--repeat`` rounds; figures are medians. A timed call
during which other processes took CPU is reported (nbtrail's is run again, see
``_machine.py``). Evidently took about four minutes here at 1M rows; should it pass five
(``--peer-limit``), both are measured at 200,000 rows instead and the line says so.

Then the sweep, nbtrail alone: false alarms among the unshifted columns and the share of
shifted columns found, at n = 1e3 (100 trials), 1e4 (20), 1e5 (4), 1e6 (1) and 1e7 (1 trial
of 18 columns, to keep time and memory sane) rows on each side. The last line is the one to
quote.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _machine import Watch, contention_note, quietly, versus, wait_for_quiet

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".bench-evidently" / "bin" / "python"
SHIFTS = {"x0": 0.1, "x1": 0.2, "x2": 0.3, "x3": 0.4, "x4": 0.5}
TILTED = ("c0", "c1")
TRUTH = set(SHIFTS) | set(TILTED)
LEVELS = (5, 8, 12, 20, 30, 6, 10, 15, 25)


def make(rows: int, seed: int, *, shifted: bool, numeric: int = 40, categorical: int = 9):
    """A frame of the benchmark's layout; ``shifted`` applies the seven known shifts."""
    layout = np.random.default_rng(0)  # the same columns' shapes in every frame
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(numeric):
        loc, scale = layout.uniform(-50, 50), layout.lognormal(0, 1.5)
        if i >= 30 and i < 35:
            data[f"x{i}"] = rng.poisson(scale + 1, size=rows)  # integer-valued
        elif i >= 35:
            spike = rng.random(rows) < 0.9  # zero-inflated, like capital_gain
            data[f"x{i}"] = np.where(spike, 0.0, rng.exponential(scale * 100, size=rows))
        else:
            data[f"x{i}"] = loc + scale * rng.normal(size=rows)
        if shifted and f"x{i}" in SHIFTS:
            data[f"x{i}"] = data[f"x{i}"] + SHIFTS[f"x{i}"] * scale
    for j in range(categorical):
        k = LEVELS[j % len(LEVELS)]
        p = 1 / np.arange(1, k + 1) ** 1.2
        p /= p.sum()
        if shifted and f"c{j}" in TILTED:
            p[0] -= 0.10
            p[-1] += 0.10
        names = np.array([f"c{j}_{v}" for v in range(k)])
        data[f"c{j}"] = pd.array(names[rng.choice(k, size=rows, p=p)], dtype="str")
    if categorical:
        ids = np.char.add("id", np.arange(10_000).astype(str))
        data["ident"] = pd.array(ids[rng.integers(0, 10_000, size=rows)], dtype="str")
    return pd.DataFrame(data)


# -- one contender in its own process -------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """The largest resident set size seen every 5 ms while the ``with`` block runs."""

    def __enter__(self) -> PeakRSS:
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def nbtrail_side(reference, current):
    from nbtrail import checks

    def run(ref, cur):
        details = checks.drift(ref, cur).details
        return {str(c): bool(d) for c, d in zip(details["column"], details["drifted"], strict=True)}

    return run


def evidently_side(reference, current):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in reference.columns if c.startswith("x")]
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=[c for c in reference.columns if c not in numeric],
    )

    def run(ref, cur):
        snapshot = Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        )
        verdicts = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if "ValueDrift" not in config.get("type", ""):
                continue
            method, limit = config["method"].lower(), config["threshold"]
            is_test = "p_value" in method or "test" in method
            value = metric["value"]
            verdicts[config["column"]] = bool(value < limit if is_test else value >= limit)
        return verdicts

    return run


def side(name: str, folder: str) -> None:
    """Child process: load (untimed), warm up on 20,000 rows, time one full call."""
    reference = pd.read_parquet(Path(folder) / "reference.parquet")
    current = pd.read_parquet(Path(folder) / "current.parquet")
    run = (nbtrail_side if name == "nbtrail" else evidently_side)(reference, current)
    run(reference.head(20_000), current.head(20_000))
    loaded = _rss()

    def once():
        with Watch() as watch, PeakRSS() as peak:
            start = time.perf_counter()
            verdicts = run(reference, current)
            seconds = time.perf_counter() - start
        return (verdicts, seconds, peak.peak, watch), watch.contended

    if name == "nbtrail":
        verdicts, seconds, peak, watch = quietly(once, watches=True)
    else:
        (verdicts, seconds, peak, watch), _ = once()  # minutes a call: not run again
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss": peak,
                "loaded_rss": loaded,
                "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "contended": watch.contended,
                "verdicts": verdicts,
            }
        )
    )


def launch(name: str, folder: str, limit: float | None) -> dict | None:
    python = sys.executable if name == "nbtrail" else str(PEER)
    env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [python, __file__, "--side", name, "--data", folder],
        capture_output=True,
        text=True,
        env=env,
        timeout=limit,
        check=False,
    )
    if done.returncode != 0:
        print(f"{name} failed:\n{done.stderr[-3000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def score(verdicts: dict, columns: list[str]) -> tuple[int, int, int]:
    """(shifted found, false alarms, unshifted columns) against the truth."""
    found = sum(bool(verdicts.get(c)) for c in TRUTH)
    calm = [c for c in columns if c not in TRUTH]
    return found, sum(bool(verdicts.get(c)) for c in calm), len(calm)


def head_to_head(rows: int, repeat: int, limit: float) -> tuple[int, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:
        make(rows, 1, shifted=False).to_parquet(Path(folder) / "reference.parquet")
        make(rows, 2, shifted=True).to_parquet(Path(folder) / "current.parquet")
        names = ["nbtrail"] + (["Evidently"] if PEER.exists() else [])
        figures: dict[str, list[dict]] = {name: [] for name in names}
        for r in range(repeat):
            for name in names if r % 2 == 0 else names[::-1]:
                try:
                    out = launch(name, folder, limit if name == "Evidently" else None)
                except subprocess.TimeoutExpired:
                    return -1, {}
                if out is not None:
                    figures[name].append(out)
                    print(
                        f"round {r + 1}: {name} {out['seconds']:.2f} s, peak "
                        f"{out['peak_rss'] / 1e9:.2f} GB (data loaded: "
                        f"{out['loaded_rss'] / 1e9:.2f} GB)"
                        + (" [contended]" if out["contended"] else ""),
                        flush=True,
                    )
    return rows, figures


def sweep() -> tuple[float, float, list[str]]:
    """False alarms and found share of shifted columns at n = 1e3 .. 1e7 (nbtrail only)."""
    from nbtrail import checks

    plan = [(1_000, 100, {}), (10_000, 20, {}), (100_000, 4, {}), (1_000_000, 1, {})]
    plan.append((10_000_000, 1, {"numeric": 14, "categorical": 3}))
    worst_alarm, worst_found, lines = 0.0, 1.0, []
    for n, trials, shape in plan:
        alarms = calm = found = shifted = 0
        start = time.perf_counter()
        for t in range(trials):
            reference = make(n, 100 + 2 * t, shifted=False, **shape)
            current = make(n, 101 + 2 * t, shifted=True, **shape)
            details = checks.drift(reference, current).details
            verdicts = dict(zip(details["column"], details["drifted"], strict=True))
            truth = [c for c in current.columns if c in TRUTH]
            others = [c for c in current.columns if c not in TRUTH]
            found += sum(bool(verdicts[c]) for c in truth)
            shifted += len(truth)
            alarms += sum(bool(verdicts[c]) for c in others)
            calm += len(others)
            del reference, current
        alarm_share = alarms / calm
        found_share = found / shifted
        worst_alarm = max(worst_alarm, alarm_share)
        if n >= 100_000:
            worst_found = min(worst_found, found_share)
        lines.append(
            f"n={n:>10,}: {trials:>3} trial(s) x {calm // trials} unshifted + "
            f"{shifted // trials} shifted columns: false alarms {alarms}/{calm} "
            f"({alarm_share:.2%}), shifted found {found}/{shifted} ({found_share:.0%}) "
            f"[{time.perf_counter() - start:.0f} s]"
        )
        print(lines[-1], flush=True)
    return worst_alarm, worst_found, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--peer-limit", type=float, default=300.0)
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(args.side, args.data)
        return
    wait_for_quiet()
    rows, figures = head_to_head(args.rows, args.repeat, args.peer_limit)
    fallback = ""
    if rows < 0:
        print(f"Evidently took over {args.peer_limit:.0f} s at {args.rows:,} rows: 200,000 rows")
        fallback = f" (Evidently passed {args.peer_limit:.0f} s at {args.rows:,} rows)"
        rows, figures = head_to_head(200_000, args.repeat, None)
    columns = list(make(10, 0, shifted=False).columns)
    parts = {}
    for name, outs in figures.items():
        if not outs:
            continue
        seconds = statistics.median(o["seconds"] for o in outs)
        peak = statistics.median(o["peak_rss"] for o in outs) / 1e9
        added = statistics.median(o["peak_rss"] - o["loaded_rss"] for o in outs) / 1e9
        found, alarms, calm = score(outs[0]["verdicts"], columns)
        parts[name] = (seconds, peak, found, alarms, calm, added)
        verdicts = outs[0]["verdicts"]
        missed = sorted(c for c in TRUTH if not verdicts.get(c))
        wrong = sorted(c for c in columns if c not in TRUTH and verdicts.get(c))
        print(
            f"{name}: {seconds:.2f} s, peak {peak:.2f} GB; shifted found {found}/{len(TRUTH)} "
            f"(missed: {', '.join(missed) or 'none'}), false alarms {alarms}/{calm} "
            f"({', '.join(wrong) or 'none'})"
        )
    sweep_text = ""
    if not args.no_sweep:
        worst_alarm, worst_found, _ = sweep()
        sweep_text = (
            f"; sweep n=1e3..1e7: false alarms <= {worst_alarm:.2%} of unshifted columns at "
            f"every n; shifted found at n >= 1e5: {worst_found:.0%}"
        )
    print(contention_note())
    ours = parts.get("nbtrail")
    if ours is None:
        raise SystemExit("nbtrail's side failed")
    text = (
        f"drift {rows:,} rows x 50 columns, 7 shifted{fallback}: nbtrail {ours[0]:.2f} s, "
        f"{ours[1]:.2f} GB peak RSS (+{ours[5]:.2f} GB over the loaded data), found "
        f"{ours[2]}/7, {ours[3]}/{ours[4]} false alarms"
    )
    peer = parts.get("Evidently")
    if peer is None:
        text += "; Evidently not measured"
    else:
        text += (
            f" vs Evidently DataDriftPreset {peer[0]:.1f} s, {peer[1]:.2f} GB peak "
            f"(+{peer[5]:.2f} GB), found {peer[2]}/7, {peer[3]}/{peer[4]} false alarms: "
            f"{versus(ours[0], peer[0], digits=0)}"
        )
    print(text + sweep_text)


if __name__ == "__main__":
    main()
