"""Business value of a classifier's decisions: nbtrail's ``business_value`` vs a sklearn scan.

    python benchmarks/bench_business_value.py [--rows 1000000] [--n-boot 200] [--repeat 3]
                                              [--peer-boot 2]

``--rows`` calibrated scores (a logistic of a normal, labels drawn from them; seeded) and a
cost matrix where a missed positive costs ten false alarms. Both contenders produce the same
outputs: value per decision and accuracy at the current threshold (0.5), the value of
accepting and of rejecting everyone, a value-by-threshold table on the same grid (0, 0.01,
..., 1), the value-maximising threshold, and a bootstrap over ``--n-boot`` row resamples in
which the threshold is re-optimised over the same grid nbtrail's resamples use (257 score
quantiles, 0, the current threshold, reject all), giving the intervals of the value at the
current threshold, of the best threshold and of the gain (nbtrail's grid also holds its exact
optimum; the peer's cannot, as it has no exact scan).

* **nbtrail**: ``checks.business_value(y, s, cost_matrix=..., n_boot=...)`` outside any
  recording session (it also fingerprints labels and scores, and finds the exact optimum over
  every distinct score, not only the grid).
* **sklearn**: the plain way: for each threshold of the grid, ``confusion_matrix(y, s >= t)``
  and the value from its four cells; each resample draws row indices with replacement and
  scans the grid again.

What differs, by design: a sklearn resample scans ~260 thresholds with one
``confusion_matrix`` each (about 10 s at 1M rows), so 200 resamples would take over half an
hour a run. The peer's bootstrap is timed on ``--peer-boot`` resamples per repeat and its
per-resample time, times ``--n-boot``, is added to its timed point scan; the last line says
so. Point outputs are compared (the value table must agree to 1e-9, the peer's grid optimum
may not beat nbtrail's exact one). Imports are untimed; every contender runs once untimed,
then ``--repeat`` times, order alternating; medians. The last line is the one to quote.
"""

from __future__ import annotations

import argparse

import numpy as np
from _machine import contention_note, measure, wait_for_quiet

COSTS = {"tp": 0.0, "fp": 1.0, "tn": 0.0, "fn": 10.0}
THRESHOLD = 0.5
GRID_QUANTILES = 257  # as nbtrail's resamples


def setup(rows: int):
    rng = np.random.default_rng(0)
    scores = 1 / (1 + np.exp(3.0 - 6.0 * rng.normal(size=rows)))
    return rng.random(rows) < scores, scores


def resample_grid(s: np.ndarray) -> np.ndarray:
    """The thresholds nbtrail re-optimises over in each resample (but its exact optimum)."""
    ranked = np.sort(s)
    picks = ranked[np.linspace(0, len(s) - 1, GRID_QUANTILES).round().astype(np.int64)]
    edges = np.unique(np.concatenate([picks, [0.0, THRESHOLD]]))
    return np.append(edges[edges <= s.max()], np.nextafter(s.max(), np.inf))


def ours(data, n_boot):
    from nbtrail.checks import business_value

    y, s = data
    return business_value(y, s, cost_matrix=COSTS, threshold=THRESHOLD, n_boot=n_boot)


def _value(y, s, t) -> tuple[float, float]:
    from sklearn.metrics import confusion_matrix

    (tn, fp), (fn, tp) = confusion_matrix(y, s >= t, labels=[False, True])
    value = -(COSTS["tp"] * tp + COSTS["fp"] * fp + COSTS["tn"] * tn + COSTS["fn"] * fn)
    return value / len(y), (tp + tn) / len(y)


def theirs_point(data, grid):
    """Value table on 0, 0.01, ..., 1, the constants, and the best threshold on the grid."""
    y, s = data
    table = {t: _value(y, s, t)[0] for t in np.linspace(0, 1, 101)}
    scan = np.array([_value(y, s, t)[0] for t in grid])
    current, accuracy = _value(y, s, THRESHOLD)
    return {
        "table": table,
        "value": current,
        "accuracy": accuracy,
        "accept_all": scan[0],
        "reject_all": scan[-1],
        "optimal_value": float(scan.max()),
        "optimal_threshold": float(grid[int(np.argmax(scan))]),
    }


def theirs_resamples(data, grid, count, seed=0):
    """``count`` row resamples, each scanning the grid: value at current, best threshold."""
    y, s = data
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        pick = rng.integers(0, len(y), size=len(y))
        yy, ss = y[pick], s[pick]
        scan = np.array([_value(yy, ss, t)[0] for t in grid])
        out.append((scan[int(np.searchsorted(grid, THRESHOLD))], grid[int(np.argmax(scan))]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-boot", type=int, default=2)
    args = parser.parse_args()
    data = setup(args.rows)
    grid = resample_grid(data[1])
    wait_for_quiet()
    times, results = measure(
        {
            "nbtrail": lambda: ours(data, args.n_boot),
            "nbtrail point": lambda: ours(data, 0),
            "sklearn point": lambda: theirs_point(data, grid),
            "sklearn resamples": lambda: theirs_resamples(data, grid, args.peer_boot),
        },
        args.repeat,
    )
    mine, peer = results["nbtrail"], results["sklearn point"]
    m = mine.metrics
    table = mine.details.set_index("threshold")["value_per_decision"]
    gap = max(abs(table.loc[t] - v) for t, v in peer["table"].items())
    assert gap <= 1e-9, gap
    assert abs(m["value_per_decision"] - peer["value"]) <= 1e-12
    assert abs(m["accuracy"] - peer["accuracy"]) <= 1e-12
    assert abs(m["baseline_value"] - max(peer["accept_all"], peer["reject_all"])) <= 1e-12
    assert peer["optimal_value"] <= m["optimal_value"] + 1e-12
    size = f"{args.rows:.0e}".replace("e+0", "e").replace("e+", "e")
    per_resample = times["sklearn resamples"] / args.peer_boot
    peer_total = times["sklearn point"] + args.n_boot * per_resample
    print(
        f"point outputs agree: value table max abs diff {gap:.1e} (101 thresholds); optimum "
        f"nbtrail exact {m['optimal_threshold']:.4f} (value {m['optimal_value']:.5f}), sklearn "
        f"grid {peer['optimal_threshold']:.4f} (value {peer['optimal_value']:.5f})"
    )
    print(
        f"no bootstrap: nbtrail {times['nbtrail point']:.3f} s vs sklearn scan "
        f"{times['sklearn point']:.2f} s ({times['sklearn point'] / times['nbtrail point']:.0f}x); "
        f"sklearn per resample {per_resample:.2f} s ({len(grid)} thresholds)"
    )
    print(contention_note())
    print(
        f"business_value {size} rows, n_boot={args.n_boot}, median of {args.repeat}: "
        f"nbtrail {times['nbtrail']:.3f} s vs sklearn confusion_matrix scan {peer_total:.0f} s "
        f"({peer_total / times['nbtrail']:.0f}x; sklearn's resamples extrapolated from "
        f"{args.peer_boot} timed)"
    )


if __name__ == "__main__":
    main()
