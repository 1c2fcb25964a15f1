"""``privacy_utility``: whether a differentially private model learned anything at all.

At small epsilon a DP model can be no better than always predicting the most frequent class:
diffprivlib's random forest on Adult scored exactly the majority rate at every epsilon tried.
Accuracy alone hides that (76% sounds like a model); this check compares it with the majority
rate on the same rows, and with the non-private model's accuracy when given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import CheckResult, check
from ..errors import UsageError

__all__ = ["utility"]


@check("privacy_utility", version=1, roles={"model": "model", "X": "holdout"})
def utility(
    model,
    X,
    y,
    *,
    non_private_accuracy: float | None = None,
    margin: float = 0.01,
    name: str = "privacy_utility",
) -> CheckResult:
    """Accuracy of ``model`` on held-out rows against the majority class (and a non-private one).

    Fails when the accuracy is within ``margin`` of always predicting the most frequent label.
    """
    labels = np.asarray(y)
    if len(labels) == 0 or len(labels) != len(X):
        raise UsageError(f"utility needs as many labels as rows, got {len(labels)} for {len(X)}")
    if not 0 <= margin < 1:
        raise UsageError(f"margin is a share in [0, 1), got {margin!r}")
    predicted = np.asarray(model.predict(X))
    accuracy = float(np.mean(predicted == labels))
    values, counts = np.unique(labels, return_counts=True)
    majority = float(counts.max() / counts.sum())
    metrics = {"accuracy": accuracy, "majority_rate": majority, "lift": accuracy - majority}
    constant = len(np.unique(predicted)) == 1
    metrics["predicts_one_class"] = bool(constant)
    if non_private_accuracy is not None:
        metrics["non_private_accuracy"] = float(non_private_accuracy)
        metrics["cost_of_privacy"] = float(non_private_accuracy) - accuracy
    useless = accuracy <= majority + margin
    top = values[counts.argmax()]
    top = top.item() if hasattr(top, "item") else top  # a numpy scalar, shown as the value
    summary = (
        f"accuracy {accuracy:.4f} is no better than always predicting {top!r} ({majority:.4f})"
        if useless
        else f"accuracy {accuracy:.4f}, {accuracy - majority:+.4f} over the majority class"
    )
    if non_private_accuracy is not None:
        summary += f"; non-private {float(non_private_accuracy):.4f}"
    details = pd.DataFrame(
        [
            {"model": "private", "accuracy": accuracy},
            {"model": "majority class", "accuracy": majority},
        ]
        + (
            [{"model": "non-private", "accuracy": float(non_private_accuracy)}]
            if non_private_accuracy is not None
            else []
        )
    )
    thresholds = {"min_lift": margin}
    return CheckResult(name, "fail" if useless else "pass", summary, metrics, thresholds, details)
