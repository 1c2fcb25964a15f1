"""Label verification with injected label noise on the Adult data, beside cleanlab.

    python benchmarks/bench_labels.py [--noise 0.1 0.2]

For each noise level, a share of the (clean, deduplicated) Adult labels is flipped at random.
Out-of-fold predicted probabilities are computed once (5-fold, nbtrail's default model), and
the same probabilities are given to nbtrail's confident learning and to cleanlab's
``find_label_issues`` (both prune by noise rate). Reported: precision and recall of the rows
each flags against the rows actually flipped, and the time each takes on the probabilities.
cleanlab is AGPL-3.0: it runs here only when installed in the benchmark environment.

The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

from nbtrail.checks import confident_learning
from nbtrail.checks._labels import out_of_fold_probabilities
from nbtrail.datasets import load_adult


def score(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    flagged, truth = set(flagged.tolist()), set(truth.tolist())
    hit = len(flagged & truth)
    return hit / max(1, len(flagged)), hit / max(1, len(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2])
    args = parser.parse_args()
    adult = load_adult().dropna().drop_duplicates().reset_index(drop=True)
    X = adult.drop(columns=["income"])
    clean = (adult["income"] == ">50K").to_numpy().astype(np.int64)
    have_cleanlab = importlib.util.find_spec("cleanlab") is not None
    parts = []
    for rate in args.noise:
        rng = np.random.default_rng(int(rate * 1000))
        flipped = rng.choice(len(clean), size=int(rate * len(clean)), replace=False)
        labels = clean.copy()
        labels[flipped] = 1 - labels[flipped]
        start = time.perf_counter()
        probs = out_of_fold_probabilities(X, labels, cv=5, random_state=0)
        t_probs = time.perf_counter() - start
        start = time.perf_counter()
        ours = confident_learning(labels, probs)
        t_ours = time.perf_counter() - start
        p_ours, r_ours = score(np.flatnonzero(ours.issues), flipped)
        line = (
            f"noise {rate:.0%} ({len(flipped):,} of {len(labels):,} rows; probabilities "
            f"{t_probs:.1f}s): nbtrail precision {p_ours:.3f} recall {r_ours:.3f} "
            f"in {t_ours * 1000:.0f} ms"
        )
        part = f"{rate:.0%} noise: nbtrail P {p_ours:.2f} R {r_ours:.2f} {t_ours * 1000:.0f} ms"
        if have_cleanlab:
            from cleanlab.filter import find_label_issues

            start = time.perf_counter()
            theirs = find_label_issues(labels, probs, filter_by="prune_by_noise_rate")
            t_theirs = time.perf_counter() - start
            p_theirs, r_theirs = score(np.flatnonzero(theirs), flipped)
            agree = float((theirs == ours.issues).mean())
            line += (
                f"; cleanlab precision {p_theirs:.3f} recall {r_theirs:.3f} in "
                f"{t_theirs * 1000:.0f} ms; the two agree on {agree:.1%} of rows"
            )
            part += (
                f", cleanlab P {p_theirs:.2f} R {r_theirs:.2f} {t_theirs * 1000:.0f} ms "
                f"(agree {agree:.1%})"
            )
        print(line)
        parts.append(part)
    if not have_cleanlab:
        parts.append("cleanlab not installed here")
    print("label verification on Adult with injected noise: " + "; ".join(parts))


if __name__ == "__main__":
    main()
