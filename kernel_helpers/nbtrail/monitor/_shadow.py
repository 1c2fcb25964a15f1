"""Shadow evaluation: the champion and a challenger on the same logged traffic, decided fairly.

Both models answer every logged request that has an outcome; the comparison is paired (the
same rows), so it needs far fewer rows than comparing two accuracies measured apart. The
decision rule, in order:

1. fewer than ``min_rows`` rows with outcomes: **wait** (status ``warn``);
2. McNemar's exact test on the rows where exactly one model is right, two-sided at ``alpha``:
   the challenger significantly better by at least ``min_gain`` accuracy: **promote**
   (``pass``); significantly worse: **keep** (``fail``);
3. not significant: **wait** while fewer than ``max_rows`` rows have outcomes, then **keep**
   (no evidence the challenger is better after enough traffic).

With scores, the ROC AUC difference and its paired bootstrap interval are reported beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import CheckResult, check
from ..errors import UsageError

__all__ = ["shadow_compare"]


def _mcnemar(champion_right: np.ndarray, challenger_right: np.ndarray) -> tuple[int, int, float]:
    from scipy.stats import binomtest

    only_champion = int(np.sum(champion_right & ~challenger_right))
    only_challenger = int(np.sum(challenger_right & ~champion_right))
    discordant = only_champion + only_challenger
    p = 1.0 if discordant == 0 else binomtest(only_challenger, discordant, 0.5).pvalue
    return only_champion, only_challenger, float(p)


def _auc_difference(y, a, b, seed: int, rounds: int = 300):
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None, None, None
    delta = roc_auc_score(y, b) - roc_auc_score(y, a)
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(rounds):
        pick = rng.integers(0, len(y), len(y))
        if len(np.unique(y[pick])) == 2:
            found.append(roc_auc_score(y[pick], b[pick]) - roc_auc_score(y[pick], a[pick]))
    low, high = np.quantile(found, [0.025, 0.975])
    return float(delta), float(low), float(high)


@check("shadow_comparison", version=1, roles={"champion": "champion", "challenger": "challenger"})
def shadow_compare(
    champion,
    challenger,
    *,
    traffic: pd.DataFrame,
    features: list | None = None,
    target: str = "outcome",
    positive=None,
    alpha: float = 0.05,
    min_gain: float = 0.0,
    min_rows: int = 200,
    max_rows: int = 5000,
    seed: int = 0,
    name: str = "shadow_comparison",
) -> CheckResult:
    """Replay logged traffic through both models and decide: promote, keep, or wait.

    Parameters
    ----------
    champion, challenger : fitted classifiers
        The model in production and the candidate.
    traffic : pandas.DataFrame
        Logged requests (``monitor.logged(model).frame``); rows without ``target`` are
        replayed but not judged.
    features : list of str, optional
        The columns the models take; default every column not written by the log.
    positive : label, optional
        The positive class, for ROC AUC; default the models' second class.

    Returns
    -------
    CheckResult
        ``pass`` promote, ``fail`` keep, ``warn`` wait; the decision in ``metrics`` and the
        summary, the per-model figures in ``details``.
    """
    if target not in traffic.columns:
        raise UsageError(f"traffic has no {target!r} column (the outcomes)")
    if features is None:
        features = [c for c in traffic.columns if not c.startswith("_")]
        features = [c for c in features if c not in {target, "prediction", "score"}]
    missing = [c for c in features if c not in traffic.columns]
    if missing:
        raise UsageError(f"traffic lacks the feature column(s) {missing}")
    known = traffic[traffic[target].notna()]
    n = len(known)
    rows = []
    metrics: dict = {"rows": n}
    decision, status = "wait", "warn"
    if n:
        X, y = known[features], known[target].to_numpy()
        right = {}
        for label, model in (("champion", champion), ("challenger", challenger)):
            right[label] = np.asarray(model.predict(X)) == y
            rows.append({"model": label, "rows": n, "accuracy": float(right[label].mean())})
        only_a, only_b, p = _mcnemar(right["champion"], right["challenger"])
        gain = rows[1]["accuracy"] - rows[0]["accuracy"]
        metrics |= {
            "accuracy_gain": gain,
            "p_value": p,
            "only_champion": only_a,
            "only_challenger": only_b,
        }
        if hasattr(champion, "predict_proba") and hasattr(challenger, "predict_proba"):
            classes = list(getattr(champion, "classes_", [0, 1]))
            pos = positive if positive is not None else classes[-1]
            column = classes.index(pos) if pos in classes else len(classes) - 1
            delta, low, high = _auc_difference(
                (y == pos).astype(int),
                champion.predict_proba(X)[:, column],
                challenger.predict_proba(X)[:, column],
                seed,
            )
            if delta is not None:
                metrics |= {
                    "roc_auc_gain": delta,
                    "roc_auc_gain_low": low,
                    "roc_auc_gain_high": high,
                }
        if n < min_rows:
            reason = f"only {n} rows with outcomes (need {min_rows})"
        elif p < alpha and gain > min_gain:
            decision, status = "promote", "pass"
            reason = f"challenger right on {only_b} rows the champion got wrong, vs {only_a}"
        elif p < alpha and gain < 0:
            decision, status = "keep", "fail"
            reason = f"challenger significantly worse ({gain:+.4f} accuracy)"
        elif n >= max_rows:
            decision, status = "keep", "fail"
            reason = f"no significant gain after {n} rows (p = {p:.3g})"
        else:
            reason = f"not significant yet (p = {p:.3g}, {gain:+.4f} accuracy)"
    else:
        reason = "no outcomes have arrived"
    metrics["decision"] = {"promote": 1.0, "keep": -1.0, "wait": 0.0}[decision]
    summary = f"{decision}: {reason}"
    return CheckResult(
        name, status, summary, metrics, {"alpha": alpha, "min_rows": min_rows}, pd.DataFrame(rows)
    )
