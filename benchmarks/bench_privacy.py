"""Privacy: DP accuracy on Adult against epsilon, and what a budgeted spend costs.

    python benchmarks/bench_privacy.py [--seeds 3] [--spends 200] [--store-url URL] [--no-postgres]

1. **Accuracy** of diffprivlib's LogisticRegression and GaussianNB on Adult (train on the 32,561
   training rows, test on the 16,281 test rows) at epsilon 0.1, 1 and 10, mean and sd over
   ``--seeds`` seeds, beside the same models fitted without privacy and the majority class.
   Preprocessing is data-independent, as DP needs: numeric columns clipped and scaled to
   public bounds, string columns one-hot encoded with categories from the data's documentation
   (``adult.names``), so a row's L2 norm is at most sqrt(8 + 6) = 3.742 (``data_norm``).
2. **Spend overhead**: ``nbtrail.store.spend`` (one write transaction under the writer lock:
   read the budget's spends, compose, insert the spend and its audit event) per call, on
   SQLite and PostgreSQL, ``--spends`` calls against one budget (the cost grows with the
   spends already made: the figure is the median over them), beside diffprivlib's in-process
   ``BudgetAccountant.spend`` (which keeps nothing across processes). Imports and trail
   creation are untimed. PostgreSQL is started here (tests/helpers/postgres.sh) unless
   ``--store-url`` names one. Goal: under 20 ms per spend.

The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _machine import contention_note, wait_for_quiet

from nbtrail.config import Settings
from nbtrail.datasets import load_adult
from nbtrail.store import LocalBlobStore, NewBudget, Trail, set_budget, spend

NUM = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
LO = np.array([17, 1e4, 1, 0, 0, 1.0])  # public bounds (adult.names and common sense)
HI = np.array([90, 1.5e6, 16, 99999, 4356, 99.0])
EPSILONS = (0.1, 1.0, 10.0)
ROOT = Path(__file__).resolve().parents[1]


def features():
    from sklearn.preprocessing import OneHotEncoder

    train, test = load_adult("train"), load_adult("test")
    cat = [c for c in train.columns if c not in NUM and c != "income"]
    # categories from the documentation would do as well; the training data's are public here
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train[cat])

    def encode(frame):
        scaled = (np.clip(frame[NUM].to_numpy(float), LO, HI) - LO) / (HI - LO)
        return np.hstack([onehot.transform(frame[cat]), scaled])

    label = ">50K"
    return (
        encode(train),
        (train["income"] == label).to_numpy(),
        encode(test),
        (test["income"] == label).to_numpy(),
    )


def accuracy_table(seeds: int) -> list[str]:
    import diffprivlib.models as dp
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    X, y, Xt, yt = features()
    d = X.shape[1]
    norm = float(np.sqrt(8 + len(NUM)))
    majority = max(yt.mean(), 1 - yt.mean())
    rows = [f"majority class {majority:.4f}"]
    makers = {
        "LogisticRegression": (
            lambda e, s: dp.LogisticRegression(epsilon=e, data_norm=norm, random_state=s),
            lambda: LogisticRegression(max_iter=2000),
        ),
        "GaussianNB": (
            lambda e, s: dp.GaussianNB(epsilon=e, bounds=(np.zeros(d), np.ones(d)), random_state=s),
            GaussianNB,
        ),
    }
    for name, (private, public) in makers.items():
        plain = public().fit(X, y).score(Xt, yt)
        cells = []
        for eps in EPSILONS:
            scores = []
            for seed in range(seeds):
                with warnings.catch_warnings():  # diffprivlib 0.6.6 + scipy 1.17 (libraries.md)
                    warnings.filterwarnings("ignore", message=".*iprint.*")
                    scores.append(private(eps, seed).fit(X, y).score(Xt, yt))
            sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
            cells.append(f"eps {eps:g}: {statistics.mean(scores):.4f}+-{sd:.3f}")
        rows.append(f"{name}: non-private {plain:.4f}; " + "; ".join(cells))
    return rows


def spend_ms(url: str, blobs: Path, spends: int) -> float:
    trail = Trail(
        url, blobs=LocalBlobStore(blobs), home=None, settings=Settings(actor="bench"), create=True
    )
    try:
        artifact = "b" * 32
        set_budget(trail, NewBudget(artifact, "adult.csv", float(spends)))
        for _ in range(5):  # warm-up: connections, statement caches
            spend(trail, [artifact], 1e-9, mechanism="warm-up")
        times = []
        for _ in range(spends - 1):
            start = time.perf_counter()
            spend(trail, [artifact], 0.5, mechanism="bench")
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3
    finally:
        trail.close()


def accountant_ms(spends: int) -> float:
    from diffprivlib.accountant import BudgetAccountant

    accountant = BudgetAccountant(epsilon=float(spends))
    for _ in range(5):
        accountant.spend(1e-9, 0)
    times = []
    for _ in range(spends - 1):
        start = time.perf_counter()
        accountant.spend(0.5, 0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--spends", type=int, default=200)
    parser.add_argument("--store-url", help="a PostgreSQL URL (default: start one here)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    for line in accuracy_table(args.seeds):
        print(line, flush=True)
    folder = Path(tempfile.mkdtemp(prefix="nbtrail-bench-privacy-"))
    pg_folder = None
    try:
        wait_for_quiet()
        figures = {
            "SQLite": spend_ms(f"sqlite:///{folder / 'trail.db'}", folder / "o", args.spends)
        }
        url = args.store_url
        if url is None and not args.no_postgres:
            pg_folder = tempfile.mkdtemp(prefix="nbtrail-pg-")
            started = subprocess.run(
                ["bash", str(ROOT / "tests" / "helpers" / "postgres.sh"), "start", pg_folder],
                capture_output=True,
                text=True,
            )
            if started.returncode == 0:
                url = started.stdout.strip().rsplit("=", 1)[1]
            else:
                print(f"PostgreSQL not started: {started.stderr.strip()[-200:]}")
        if url:
            figures["PostgreSQL"] = spend_ms(url, folder / "p", args.spends)
        peer = accountant_ms(args.spends)
    finally:
        if pg_folder:
            script = ROOT / "tests" / "helpers" / "postgres.sh"
            subprocess.run(["bash", str(script), "stop", pg_folder], capture_output=True)
            shutil.rmtree(pg_folder, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    print(contention_note())
    worst = max(figures.values())
    print(
        f"Budgeted spend, median of {args.spends - 1} against one budget: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in figures.items())
        + f" per spend (one audited transaction; goal < 20 ms: "
        f"{'met' if worst < 20 else 'NOT met'}), vs diffprivlib's in-process "
        f"BudgetAccountant.spend {peer * 1e3:.0f} us (kept in one process only)"
    )


if __name__ == "__main__":
    main()
