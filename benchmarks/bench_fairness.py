"""A fairness audit with bootstrap intervals: nbtrail's ``fairness`` vs fairlearn's MetricFrame.

    python benchmarks/bench_fairness.py [--n-boot 200] [--repeat 1]

Adult test set (all 16,281 rows), sensitive features sex x race (10 intersectional groups),
predictions and scores of a OneHotEncoder + LogisticRegression pipeline fitted once on the
train split (untimed, as are imports). Both contenders compute the same eight metrics per
group (base rate, selection rate, TPR, FPR, FNR, precision, accuracy, ROC AUC) with 95%
bootstrap intervals from ``--n-boot`` resamples:

* **nbtrail**: ``checks.fairness(y_true, y_pred, y_score=..., sensitive_features=...)``
  outside any recording session (it also judges the disparities and fingerprints its inputs);
* **fairlearn**: ``MetricFrame(metrics=..., n_boot=..., ci_quantiles=[0.025, 0.975])`` (ROC AUC
  gets the scores through ``sample_params``, so they are resampled with their rows), then
  ``difference_ci()`` and ``ratio_ci()`` for the disparities' intervals.

What differs, by design: fairlearn resamples the whole dataset (a group's size varies from
resample to resample), nbtrail resamples within each group (a group keeps its size), so the
intervals differ slightly; the script prints the largest difference of interval ends where
both are defined (all groups, and judged groups only: the small ones differ most). Point
estimates must agree; fairlearn gives 0.0 where a rate is undefined, nbtrail NaN, so those
cells are left out of the comparison.

fairlearn's bootstrap is a Python loop (about a minute at 200 resamples here), so the default
is ``--repeat 1``: each contender runs once untimed with 5 resamples (warm-up), then
``--repeat`` times timed, order alternating; medians. The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from functools import partial

import numpy as np
import pandas as pd
from _machine import alternating, contention_note, timed, versus, wait_for_quiet

METRICS = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "roc_auc")


def setup():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from nbtrail.datasets import load_adult

    train, test = load_adult("train"), load_adult("test")
    cat = [c for c in train.columns if train[c].dtype != "int64" and c != "income"]
    num = [c for c in train.columns if train[c].dtype == "int64"]
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), cat), (StandardScaler(), num)
        ),
        LogisticRegression(max_iter=1000),
    )
    pipe.fit(train.drop(columns="income"), train["income"])
    X = test.drop(columns="income")
    y_true = (test["income"] == ">50K").astype(int).to_numpy()
    y_pred = (pipe.predict(X) == ">50K").astype(int)
    y_score = pipe.predict_proba(X)[:, 1]
    return y_true, y_pred, y_score, X[["sex", "race"]].reset_index(drop=True)


def ours(data, n_boot):
    from nbtrail.checks._fairness import fairness

    y_true, y_pred, y_score, sensitive = data
    return fairness(y_true, y_pred, y_score=y_score, sensitive_features=sensitive, n_boot=n_boot)


def theirs(data, n_boot):
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    y_true, y_pred, y_score, sensitive = data
    metrics = {
        "base_rate": lambda t, p: np.mean(t),
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "precision": partial(precision_score, zero_division=np.nan),
        "accuracy": accuracy_score,
        "roc_auc": lambda t, p, score: roc_auc_score(t, score),
    }
    with warnings.catch_warnings():  # one-class groups: sklearn warns and returns NaN
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        frame = MetricFrame(
            metrics=metrics,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive,
            sample_params={"roc_auc": {"score": y_score}},
            n_boot=n_boot,
            ci_quantiles=[0.025, 0.975],
            random_state=0,
        )
        frame.difference_ci()
        frame.ratio_ci()
    return frame


def compare(result, frame) -> tuple[float, pd.DataFrame]:
    """Largest point-estimate difference; every interval end's difference, cell by cell."""
    table = result.details.set_index("group")
    index = [", ".join(key) for key in frame.by_group.index]
    lows, highs = frame.by_group_ci
    point, gaps = 0.0, []
    for metric in METRICS:
        mine = table.loc[index, metric].to_numpy(dtype="float64")
        defined = ~np.isnan(mine)
        theirs_ = frame.by_group[metric].to_numpy(dtype="float64")
        point = max(point, float(np.nanmax(np.abs(mine - theirs_)[defined])))
        for end, their in (("lower", lows), ("upper", highs)):
            a = table.loc[index, f"{metric}_{end}"].to_numpy(dtype="float64")
            b = their[metric].to_numpy(dtype="float64")
            for group, x, y, ok in zip(index, a, b, defined, strict=True):
                if ok and not (np.isnan(x) or np.isnan(y)):
                    judged = bool(table.loc[group, "judged"])
                    gaps.append((metric, end, group, judged, abs(x - y)))
    return point, pd.DataFrame(gaps, columns=["metric", "end", "group", "judged", "gap"])


def _worst(gaps: pd.DataFrame) -> str:
    top = gaps.loc[gaps["gap"].idxmax()]
    return f"{top['gap']:.3f} ({top['metric']} {top['end']}, {top['group']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    data = setup()
    kept: dict = {}
    contenders = {
        "nbtrail": lambda: kept.__setitem__("nbtrail", ours(data, args.n_boot)),
        "fairlearn": lambda: kept.__setitem__("fairlearn", theirs(data, args.n_boot)),
    }
    ours(data, 5), theirs(data, 5)  # warm-up
    wait_for_quiet()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(args.repeat):
        for name in alternating(list(contenders), r):
            times[name].append(timed(contenders[name]))
    point, gaps = compare(kept["nbtrail"], kept["fairlearn"])
    assert point <= 1e-12, point
    judged = gaps[gaps["judged"]]
    mine, peer = (statistics.median(times[n]) for n in ("nbtrail", "fairlearn"))
    print(f"point estimates: max abs diff {point:.1e} (8 metrics x 10 groups, defined cells)")
    print(
        f"interval ends (fairlearn resamples the whole dataset, nbtrail within each group): "
        f"max abs diff {_worst(gaps)} over all groups; over judged groups max "
        f"{_worst(judged)}, 95th percentile {judged['gap'].quantile(0.95):.3f}, median "
        f"{judged['gap'].median():.3f}"
    )
    print(contention_note())
    print(
        f"fairness audit, Adult test (16,281 rows), sex x race, 8 metrics, {args.n_boot} "
        f"bootstrap resamples, median of {args.repeat}: nbtrail {mine:.3f} s, fairlearn "
        f"MetricFrame {peer:.2f} s ({versus(mine, peer)}; goal at least 20x faster)"
    )


if __name__ == "__main__":
    main()
