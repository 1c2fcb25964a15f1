"""An estimator whose one feature is another model's score (for threshold mitigation).

fairlearn's ThresholdOptimizer validates ``X`` as numbers, which a pipeline's own input
(string columns) is not. Its thresholds act on the model's scores alone, so the model is
scored first and the optimizer sees only that column through :class:`ScoreColumn`. A module
of its own: it imports scikit-learn, which importing the checks does not, and a mitigated
model must pickle (snapshots) with this class findable by name.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["ScoreColumn"]


class ScoreColumn(BaseEstimator):
    """Predicts the score it is given: the first (only) column of ``X``."""

    def fit(self, X, y=None, **kwargs):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.asarray(X, dtype="float64")[:, 0]
