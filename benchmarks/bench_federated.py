"""Federated training with SecAgg+ beside central training: wall time and held-out accuracy.

    python benchmarks/bench_federated.py [--clients 3] [--rounds 3] [--repeats 1]

Both sides learn a logistic regression on the same features of Adult (age, education_num,
hours_per_week scaled to public bounds; capital gain and loss log-scaled to theirs), the 30,162
complete training rows, and are scored on the 15,060 complete test rows:

- **federated**: :func:`nbtrail.privacy.federated_fit`: the rows split at random into
  ``--clients`` partitions, Flower's Deployment Engine on loopback (one SuperLink, one SuperNode
  per client, real processes), FedAvg through SecAgg+, ``--rounds`` rounds of 5 L-BFGS
  iterations per client. The time runs from starting the server to the aggregated model,
  processes started and stopped included; writing the partitions and the import are not timed.
- **central**: scikit-learn's LogisticRegression(max_iter=1000) on all the rows in one process.

The order alternates over ``--repeats``; the figures are medians. Flower's SuperNodes poll
every 3 s when idle and start a fresh process for each message (four per SecAgg+ round), which
is most of the federated time. The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _machine import contention_note, wait_for_quiet

from nbtrail import privacy
from nbtrail.datasets import load_adult

BOUNDS = {"age": (17, 90), "education_num": (1, 16), "hours_per_week": (1, 99)}
LOG_BOUNDS = {"capital_gain": 99999, "capital_loss": 4356}


def features(frame):
    columns = [(frame[c].clip(lo, hi) - lo) / (hi - lo) for c, (lo, hi) in BOUNDS.items()]
    columns += [np.log1p(frame[c].clip(0, top)) / np.log1p(top) for c, top in LOG_BOUNDS.items()]
    return np.column_stack(columns), (frame["income"] == ">50K").to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    X, y = features(load_adult("train").dropna())
    X_test, y_test = features(load_adult("test").dropna())
    majority = max(y_test.mean(), 1 - y_test.mean())

    def central():
        started = time.perf_counter()
        model = LogisticRegression(max_iter=1000).fit(X, y)
        return time.perf_counter() - started, model.score(X_test, y_test)

    def federated():
        fit = privacy.federated_fit(
            X, y, partitions=args.clients, X_test=X_test, y_test=y_test, rounds=args.rounds
        )
        print(fit.rounds.to_string(index=False))
        return fit.seconds, fit.accuracy

    central()  # warm-up: scikit-learn's first fit loads its solvers
    wait_for_quiet()
    runs = {"federated": [], "central": []}
    for repeat in range(args.repeats):
        order = [("federated", federated), ("central", central)]
        for name, work in order if repeat % 2 == 0 else order[::-1]:
            runs[name].append(work())
    fed_s = statistics.median(s for s, _ in runs["federated"])
    fed_acc = statistics.median(a for _, a in runs["federated"])
    cen_s = statistics.median(s for s, _ in runs["central"])
    cen_acc = statistics.median(a for _, a in runs["central"])
    print(contention_note())
    print(
        f"Federated ({args.clients} clients, {args.rounds} SecAgg+ rounds, real processes): "
        f"accuracy {fed_acc:.4f} in {fed_s:.1f} s vs central {cen_acc:.4f} in {cen_s:.2f} s "
        f"({fed_acc - cen_acc:+.4f} accuracy, {fed_s / cen_s:.0f}x the time; majority class "
        f"{majority:.4f}; median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
