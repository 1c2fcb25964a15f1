"""A fitted model that logs what it answers, and optionally routes a canary share to a challenger.

``nbtrail.monitored(model)`` returns a wrapper whose ``predict`` and ``predict_proba`` answer
exactly as the model does and append the batch to its :class:`PredictionLog`. Logging is
nbtrail's business, never the caller's: a failure to log is reported on the ``nbtrail``
logger and the answer is returned all the same.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._logs import PredictionLog

__all__ = ["Monitored", "monitored"]

_log = logging.getLogger("nbtrail")


class Monitored:
    """A model that logs its answers (see :func:`monitored`)."""

    def __init__(self, model, *, log, id_column, challenger, challenger_log, canary, seed):
        self.model = model
        self.log = log
        self.id_column = id_column
        self.challenger = challenger
        self.challenger_log = challenger_log
        self.canary = canary
        self.rng = np.random.default_rng(seed)
        self.failures = 0

    def __getattr__(self, name):
        return getattr(self.model, name)  # classes_, feature_names_in_ ... of the model

    def _split(self, X):
        if not isinstance(X, pd.DataFrame):
            raise UsageError("a monitored model takes a pandas DataFrame (its log keeps columns)")
        ids = None
        if self.id_column is not None:
            if self.id_column not in X.columns:
                raise UsageError(f"id_column {self.id_column!r} is not in the input")
            ids = X[self.id_column].to_numpy()
            X = X.drop(columns=[self.id_column])
        return X, ids

    def _answer(self, method: str, X: pd.DataFrame):
        champion = getattr(self.model, method)
        if self.challenger is None or self.canary <= 0:
            return champion(X), None
        routed = self.rng.random(len(X)) < self.canary
        answers = None
        for mask, model in ((~routed, self.model), (routed, self.challenger)):
            if not mask.any():
                continue
            part = np.asarray(getattr(model, method)(X[mask]))
            if answers is None:
                answers = np.empty((len(X), *part.shape[1:]), dtype=part.dtype)
            answers[mask] = part
        return answers, routed

    def _record(self, X, ids, predictions, scores, routed) -> None:
        try:
            if routed is None:
                self.log.predictions(X, predictions, scores=scores, ids=ids)
                return
            for mask, log, variant in (
                (~routed, self.log, "champion"),
                (routed, self.challenger_log, "challenger"),
            ):
                if mask.any():
                    log.predictions(
                        X[mask],
                        np.asarray(predictions)[mask],
                        scores=None if scores is None else np.asarray(scores)[mask],
                        ids=None if ids is None else ids[mask],
                        variant=variant,
                    )
        except Exception as exc:  # noqa: BLE001 - logging must never break the answer
            self.failures += 1
            _log.warning("nbtrail: prediction not logged (%s: %s)", type(exc).__name__, exc)

    def predict(self, X):
        """The model's predictions, logged."""
        X, ids = self._split(X)
        predictions, routed = self._answer("predict", X)
        self._record(X, ids, predictions, None, routed)
        return predictions

    def predict_proba(self, X):
        """The model's probabilities, logged with the predicted class."""
        X, ids = self._split(X)
        proba, routed = self._answer("predict_proba", X)
        classes = getattr(self.model, "classes_", None)
        predictions = np.asarray(classes)[np.argmax(proba, axis=1)] if classes is not None else None
        if predictions is not None:
            self._record(X, ids, predictions, proba, routed)
        return proba

    def close(self) -> None:
        """Close the logs' trails if they opened them."""
        self.log.close()
        if self.challenger_log is not None:
            self.challenger_log.close()


def monitored(
    model,
    *,
    reference=None,
    id_column: str | None = None,
    challenger=None,
    challenger_reference=None,
    canary: float = 0.0,
    seed: int = 0,
    trail=None,
) -> Monitored:
    """Wrap a fitted model so that each ``predict`` / ``predict_proba`` call is logged.

    Parameters
    ----------
    model : fitted estimator
        Answers every call (or the share not routed to the challenger).
    reference : path or artifact id, optional
        What the log is attached to: the model's saved file (``models/model.joblib``) or its
        artifact id. Default: the model object itself, fingerprinted.
    id_column : str, optional
        A column of the input holding row ids: removed before the model sees the rows, logged
        as keyed pseudonyms so outcomes can be joined later (needs ``NBTRAIL_PSEUDONYM_KEY``).
    challenger : fitted estimator, optional
        A canary: answers a random ``canary`` share of rows; both are logged, each in its own
        model's log, with ``_variant`` ``champion`` or ``challenger``.
    canary : float
        The challenger's share of rows, in [0, 1].
    trail : Trail, optional
        Default: the trail of the working directory.

    Returns
    -------
    Monitored
    """
    if not 0 <= canary <= 1:
        raise UsageError(f"canary must be a share in [0, 1], got {canary!r}")
    if canary > 0 and challenger is None:
        raise UsageError("canary needs a challenger model to route rows to")
    log = PredictionLog(reference if reference is not None else model, trail=trail)
    challenger_log = None
    if challenger is not None:
        target = challenger_reference if challenger_reference is not None else challenger
        challenger_log = PredictionLog(target, trail=log.trail)
    return Monitored(
        model,
        log=log,
        id_column=id_column,
        challenger=challenger,
        challenger_log=challenger_log,
        canary=float(canary),
        seed=seed,
    )
