"""How good is the label-free performance estimate on drifting Adult batches?

    python benchmarks/bench_performance.py [--batches 20] [--rows 2000] [--repeat 5]

A logistic-regression pipeline (one-hot + scaling) is fitted on the Adult training split and
scores the test split. From the test rows, ``--batches`` batches of ``--rows`` rows are drawn
(with replacement) in three scenarios:

* **none**: uniform draws, no drift (the estimate's error floor);
* **age shift**: rows weighted by ``exp(beta * standardised age)``, ``beta`` rising from 0 to
  1.5 over the batches (covariate shift: the model stays calibrated where it is well
  specified, so the estimate should follow the realised value);
* **label rate**: positive rows weighted up so the positive share rises from about 24% to
  about 60% (prior shift: the scores no longer mean what they meant, which confidence-based
  estimation cannot see; shown to say where it breaks).

For each batch ``monitor.estimate_performance`` estimates accuracy and ROC AUC from the scores
alone (with its 95% interval: 400 simulated outcome draws per window), and the realised value
comes from the labels in the same call. Reported per scenario and metric: mean and maximum
absolute error of the estimate against the realised value, and the share of intervals that
cover it. Time: the median of ``--repeat`` calls over all batches (after one warm-up call),
divided by the number of batches, with the labelled check ``monitor.performance`` beside it.
No peer runs here: NannyML (CBPE's origin) needs its own environment (see
``../shared/notes/libraries.md``); this script measures the estimate against the truth.

The last line is the one to quote.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _machine import contention_note, measure, wait_for_quiet

from nbtrail.datasets import load_adult
from nbtrail.monitor import estimate_performance, performance


def scored_test():
    """The Adult test split with the scores of a model fitted on the training split."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train, test = load_adult("train"), load_adult("test")
    cat = [c for c in train.columns if train[c].dtype != "int64" and c != "income"]
    num = [c for c in train.columns if train[c].dtype == "int64"]
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), cat), (StandardScaler(), num)
        ),
        LogisticRegression(max_iter=2000),
    )
    pipe.fit(train.drop(columns="income"), train["income"])
    test = test.copy()
    test["score"] = pipe.predict_proba(test.drop(columns="income"))[:, 1]
    return test


def batches(test: pd.DataFrame, scenario: str, count: int, rows: int, seed: int = 0):
    """``count`` batches of ``rows`` drawn with replacement, drifting as the scenario says."""
    rng = np.random.default_rng(seed)
    age = ((test["age"] - test["age"].mean()) / test["age"].std()).to_numpy()
    positive = (test["income"] == ">50K").to_numpy()
    base = positive.mean()
    parts = []
    for k in range(count):
        step = k / max(1, count - 1)
        if scenario == "age shift":
            weights = np.exp(1.5 * step * age)
        elif scenario == "label rate":
            share = base + (0.60 - base) * step
            ratio = share / (1 - share) * (1 - base) / base  # odds of a positive row drawn
            weights = np.where(positive, ratio, 1.0)
        else:
            weights = np.ones(len(test))
        pick = rng.choice(len(test), size=rows, replace=True, p=weights / weights.sum())
        parts.append(test.iloc[pick].assign(batch=f"b{k + 1:02d}"))
    return pd.concat(parts, ignore_index=True)


def errors(result) -> dict:
    """Per metric: mean and max |estimate - realised|, and the share of intervals covering."""
    out = {}
    for metric, part in result.details.groupby("metric", sort=False):
        gap = part["error"].abs()
        inside = (part["low"] <= part["realised"]) & (part["realised"] <= part["high"])
        out[metric] = (float(gap.mean()), float(gap.max()), float(inside.mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    test = scored_test()
    print(
        f"Adult test split scored: {len(test):,} rows, positive share "
        f"{(test['income'] == '>50K').mean():.3f}",
        flush=True,
    )
    wait_for_quiet()
    figures, per_window = {}, {}
    for scenario in ("none", "age shift", "label rate"):
        frame = batches(test, scenario, args.batches, args.rows)
        result = estimate_performance(
            frame, score="score", target="income", batch="batch", min_roc_auc=None
        )
        figures[scenario] = errors(result)
        for metric, (mean, worst, covered) in figures[scenario].items():
            first, last = (
                result.details[result.details["metric"] == metric].iloc[i] for i in (0, -1)
            )
            print(
                f"{scenario:>10} {metric:>8}: realised {first['realised']:.3f} -> "
                f"{last['realised']:.3f}, estimated {first['estimate']:.3f} -> "
                f"{last['estimate']:.3f}; |error| mean {mean:.4f} max {worst:.4f}; interval "
                f"covers realised in {covered:.0%} of batches",
                flush=True,
            )
        if scenario == "age shift":
            times, _ = measure(
                {
                    "estimate": lambda f=frame: estimate_performance(
                        f, score="score", batch="batch", min_roc_auc=None
                    ),
                    "labelled": lambda f=frame: performance(
                        f, target="income", score="score", batch="batch"
                    ),
                },
                args.repeat,
            )
            per_window = {k: v / args.batches * 1000 for k, v in times.items()}
            print(
                f"per window of {args.rows:,} rows: estimate + interval "
                f"{per_window['estimate']:.1f} ms, labelled metrics + intervals "
                f"{per_window['labelled']:.1f} ms (median of {args.repeat})",
                flush=True,
            )
    print(contention_note())

    def part(scenario: str) -> str:
        auc, acc = figures[scenario]["roc_auc"], figures[scenario]["accuracy"]
        return (
            f"{scenario}: ROC AUC |error| mean {auc[0]:.4f} max {auc[1]:.4f}, covered "
            f"{auc[2]:.0%}; accuracy mean {acc[0]:.4f} max {acc[1]:.4f}, covered {acc[2]:.0%}"
        )

    print(
        f"label-free estimate (CBPE idea) vs realised on {args.batches} Adult batches of "
        f"{args.rows:,} rows, 95% intervals: "
        + "; ".join(part(s) for s in ("none", "age shift", "label rate"))
        + f"; {per_window['estimate']:.1f} ms per window (labelled check "
        f"{per_window['labelled']:.1f} ms)"
    )


if __name__ == "__main__":
    main()
