"""Label verification with injected label noise on the Adult data, beside cleanlab.

    python benchmarks/bench_labels.py [--noise 0.1 0.2] [--repeat 21]

For each noise level, a share of the (clean, deduplicated) Adult labels is flipped at random.
Out-of-fold predicted probabilities are computed once (5-fold, nbtrail's default model; not
part of either side's time), and the same labels and probabilities go to:

* ``nbtrail.checks.confident_learning(labels, probs)`` (prune by noise rate), which returns the
  suspects as a mask and ranked by self-confidence, plus the thresholds, confident joint and
  noise matrix;
* cleanlab's ``find_label_issues(labels, probs, filter_by="prune_by_noise_rate",
  return_indices_ranked_by="self_confidence", n_jobs=1)``: the same suspects ranked the same
  way, on one process (nbtrail is single-threaded here; cleanlab's default would fork one
  worker per core).

Reported: precision and recall of the rows each flags against the rows actually flipped, how
many rows the two agree on, and the median time of ``--repeat`` calls each, after one warm-up
call each, alternating which goes first (a call during which other processes took CPU is
run again: ``_machine.py``). cleanlab is imported before any timing. cleanlab is
AGPL-3.0: it runs here only when installed in the benchmark environment.

The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
from _machine import contention_note, measure, versus, wait_for_quiet

from nbtrail.checks import confident_learning
from nbtrail.datasets import load_adult


def out_of_fold(X, labels):
    """Out-of-fold probabilities from nbtrail's default label-check model."""
    # internal: adapt if nbtrail.checks._labels moves (the helper behind checks.label_issues)
    from nbtrail.checks._labels import out_of_fold_probabilities

    return out_of_fold_probabilities(X, labels, cv=5, random_state=0)


def score(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    flagged, truth = set(flagged.tolist()), set(truth.tolist())
    hit = len(flagged & truth)
    return hit / max(1, len(flagged)), hit / max(1, len(truth))


def same_work(labels, probs, find_label_issues) -> dict:
    """Both sides' calls on the same labels and probabilities, asking for the same outputs."""
    contenders = {"nbtrail": lambda: confident_learning(labels, probs)}
    if find_label_issues is not None:
        contenders["cleanlab"] = lambda: find_label_issues(
            labels,
            probs,
            filter_by="prune_by_noise_rate",
            return_indices_ranked_by="self_confidence",
            n_jobs=1,
        )
    return contenders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    find_label_issues = None
    if importlib.util.find_spec("cleanlab") is not None:
        from cleanlab.filter import find_label_issues
    adult = load_adult().dropna().drop_duplicates().reset_index(drop=True)
    X = adult.drop(columns=["income"])
    clean = (adult["income"] == ">50K").to_numpy().astype(np.int64)
    parts = []
    for rate in args.noise:
        rng = np.random.default_rng(int(rate * 1000))
        flipped = rng.choice(len(clean), size=int(rate * len(clean)), replace=False)
        labels = clean.copy()
        labels[flipped] = 1 - labels[flipped]
        start = time.perf_counter()
        probs = out_of_fold(X, labels)
        t_probs = time.perf_counter() - start
        contenders = same_work(labels, probs, find_label_issues)
        wait_for_quiet()
        times, results = measure(contenders, args.repeat)
        ours = results["nbtrail"]
        p_ours, r_ours = score(ours.ranked, flipped)
        t_ours = times["nbtrail"] * 1000
        line = (
            f"noise {rate:.0%} ({len(flipped):,} of {len(labels):,} rows; probabilities "
            f"{t_probs:.1f}s): nbtrail flags {len(ours.ranked):,}, precision {p_ours:.3f} "
            f"recall {r_ours:.3f} in {t_ours:.1f} ms"
        )
        part = f"{rate:.0%} noise P {p_ours:.2f} R {r_ours:.2f}"
        if "cleanlab" in results:
            theirs = results["cleanlab"]  # indices, least self-confident first
            p_theirs, r_theirs = score(theirs, flipped)
            mask = np.zeros(len(labels), dtype=bool)
            mask[theirs] = True
            agree = float((mask == ours.issues).mean())
            # Same ranking up to ties: the self-confidence sequences match position by position.
            confidence = ours.self_confidence
            same_order = len(theirs) == len(ours.ranked) and bool(
                np.array_equal(confidence[theirs], confidence[ours.ranked])
            )
            t_theirs = times["cleanlab"] * 1000
            line += (
                f"; cleanlab flags {len(theirs):,}, precision {p_theirs:.3f} recall "
                f"{r_theirs:.3f} in {t_theirs:.1f} ms; the two agree on {agree:.2%} of rows"
                f"{', same ranking (ties aside)' if same_order else ', rankings differ'}"
            )
            part += (
                f" (cleanlab P {p_theirs:.2f} R {r_theirs:.2f}, {agree:.1%} of rows agree) in "
                f"{t_ours:.1f} ms vs {t_theirs:.1f} ms, {versus(t_ours, t_theirs)}"
            )
        else:
            part += f" in {t_ours:.1f} ms"
        print(line, flush=True)
        parts.append(part)
    print(contention_note())
    peer = "nbtrail vs cleanlab n_jobs=1" if find_label_issues else "cleanlab not installed here"
    print(
        f"label verification on Adult with injected noise, same probabilities, {peer}, "
        f"median of {args.repeat}: " + "; ".join(parts)
    )


if __name__ == "__main__":
    main()
