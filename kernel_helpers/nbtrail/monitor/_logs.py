"""Prediction logs: what a model was asked and answered in production, and what happened.

Each call appends one segment: a Parquet snapshot in the trail's blob store, recorded as the
artifact of a short ``log`` run and derived from the model's artifact, so a prediction log is
found from its model and every segment is on the audit chain. Nothing is ever rewritten.

Privacy safeguards, decided once per log (not per call): columns that hold direct identifiers
(:func:`nbtrail.checks.identifier_columns`, or declared in ``[tool.nbtrail.privacy]
identifiers``) are dropped from the logged inputs; the row ids that join predictions with
outcomes arriving days later are stored only as keyed HMAC pseudonyms
(:func:`nbtrail.privacy.pseudonym`, key from ``NBTRAIL_PSEUDONYM_KEY``), refused without a key.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UsageError

__all__ = ["Logged", "PredictionLog", "log_outcomes", "log_predictions", "logged"]

ID = "_id"
AT = "_at"
PREDICTION = "prediction"
SCORE = "score"
OUTCOME = "outcome"
VARIANT = "_variant"


def _now(rows: int) -> pd.Series:
    return pd.Series(pd.Timestamp(dt.datetime.now(dt.UTC)), index=range(rows))


def _times(timestamp, rows: int) -> pd.Series:
    if timestamp is None:
        return _now(rows)
    if np.ndim(timestamp) == 0:
        timestamp = [timestamp]  # one time for the whole batch
    try:
        values = pd.to_datetime(pd.Series(list(timestamp)), utc=True)
    except (ValueError, TypeError):
        raise UsageError("timestamp: values that do not parse as dates") from None
    if len(values) == 1 and rows != 1:
        values = pd.Series(values.iloc[0], index=range(rows))
    if len(values) != rows:
        raise UsageError(f"timestamp: {len(values)} values for {rows} rows")
    return values


def _column(values, rows: int, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 2 and what == "scores":
        array = array[:, 1]  # predict_proba of a binary classifier: the positive class
    if array.ndim != 1 or len(array) != rows:
        raise UsageError(f"{what}: {len(array)} values for {rows} input rows (one per row)")
    return array


class PredictionLog:
    """The prediction log of one model in one trail.

    Parameters
    ----------
    model : path, fitted model, or artifact id
        The model whose answers are logged: its artifact is what every segment derives from.
    trail : Trail, optional
        Default: the trail that applies in the working directory.
    key : str or bytes, optional
        The pseudonym key; default the ``NBTRAIL_PSEUDONYM_KEY`` environment variable.
    """

    def __init__(self, model, *, trail=None, key=None):
        from ..store import open_trail

        self._own = trail is None
        self.trail = open_trail() if trail is None else trail
        self.key = key
        self.model_id = self._model_id(model)
        self.dropped: list[str] | None = None  # identifier columns, decided on the first batch

    def _model_id(self, model) -> str:
        if isinstance(model, str) and not os.path.exists(model):
            return self.trail.get_artifact(model).id  # an artifact id, name or recorded path
        with self.trail.start_run("register model", kind="log") as run:
            return run.use(model, name="model").id

    def close(self) -> None:
        """Close the trail if this log opened it."""
        if self._own:
            self.trail.close()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pseudonyms(self, ids, rows: int) -> np.ndarray:
        from ..privacy import pseudonym

        values = _column(ids, rows, "ids")
        return np.array([pseudonym(v, key=self.key) for v in values], dtype=object)

    def _safe_inputs(self, inputs: pd.DataFrame) -> pd.DataFrame:
        if self.dropped is None:
            from ..checks import identifier_columns
            from ..config import load_settings

            declared = load_settings().privacy.identifiers
            self.dropped = identifier_columns(inputs, identifiers=declared)
        kept = inputs.drop(columns=[c for c in self.dropped if c in inputs.columns])
        return kept.reset_index(drop=True)

    def _append(self, segment: pd.DataFrame, what: str):
        """One write: the segment's bytes, its artifact and lineage, its run started and ended."""
        import io

        buffer = io.BytesIO()
        segment.to_parquet(buffer, engine="pyarrow")
        fp = self.trail.fingerprint(segment)
        batch = self.trail.batch()
        run_id = batch.start_run(
            f"{what} {self.model_id[:12]}",
            kind="log",
            params={"model": self.model_id, "log": what, "rows": len(segment)},
        )
        blob = batch.add_blob(buffer.getvalue())
        batch.add_artifact(fp, what, (blob, "parquet"))
        batch.add_edge("produced", run_id, fp.digest, name=what)
        batch.add_edge("derived", run_id, fp.digest, source_id=self.model_id, role="model")
        batch.end_run(run_id, "succeeded")
        batch.commit()
        return self.trail.get_artifact(fp.digest)

    def predictions(
        self, inputs, predictions, *, scores=None, ids=None, timestamp=None, variant=None
    ):
        """Append one batch of answers; returns the segment's artifact record.

        Parameters
        ----------
        inputs : pandas.DataFrame
            What the model was asked, one row per prediction.
        predictions : array-like
            Its answers, one per row.
        scores : array-like, optional
            Its scores (the positive class's probability; a two-column ``predict_proba`` is
            taken as that).
        ids : array-like, optional
            Row ids to join outcomes later; stored as keyed pseudonyms only.
        timestamp : array-like or scalar, optional
            When each prediction was made; default now (UTC).
        variant : str, optional
            Which model answered (``champion``, ``challenger``) in a canary.
        """
        if not isinstance(inputs, pd.DataFrame):
            raise UsageError(f"inputs must be a pandas DataFrame, got {type(inputs).__name__}")
        rows = len(inputs)
        if not rows:
            raise UsageError("inputs: an empty batch, nothing to log")
        segment = self._safe_inputs(inputs)
        reserved = [c for c in (ID, AT, PREDICTION, SCORE, VARIANT) if c in segment.columns]
        if reserved:
            raise UsageError(f"inputs: column(s) {reserved} are reserved for the log's own fields")
        segment[PREDICTION] = _column(predictions, rows, "predictions")
        if scores is not None:
            segment[SCORE] = _column(scores, rows, "scores").astype(float)
        if ids is not None:
            segment[ID] = self._pseudonyms(ids, rows)
        if variant is not None:
            segment[VARIANT] = str(variant)
        segment[AT] = _times(timestamp, rows)
        return self._append(segment, "predictions")

    def outcomes(self, ids, outcomes, *, timestamp=None):
        """Append outcomes that arrived for earlier predictions, by the same ids."""
        values = np.asarray(outcomes)
        rows = len(values)
        if not rows:
            raise UsageError("outcomes: an empty batch, nothing to log")
        segment = pd.DataFrame({ID: self._pseudonyms(ids, rows), OUTCOME: values})
        segment[AT] = _times(timestamp, rows)
        return self._append(segment, "outcomes")

    def read(self, *, since=None) -> Logged:
        """Every segment of this model's log, predictions joined with their outcomes."""
        frames: dict[str, list] = {"predictions": [], "outcomes": []}
        for run in self.trail.runs(kind="log"):
            if run.params.get("model") != self.model_id or run.status != "succeeded":
                continue
            what = run.params.get("log")
            if what not in frames:
                continue
            for used in self.trail.run_details(run.id).produced:
                frames[what].append(self.trail.load(used.artifact.id))
        return _joined(frames["predictions"], frames["outcomes"], since)


@dataclass
class Logged:
    """A model's logged predictions with the outcomes that arrived, as one table.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per prediction, oldest first; ``outcome`` is missing where none arrived yet.
    unmatched : int
        Outcomes whose id matches no logged prediction (counted, not joined).
    segments : int
        How many prediction segments were read.
    """

    frame: pd.DataFrame
    unmatched: int = 0
    segments: int = 0
    outcomes: int = field(default=0)

    def __repr__(self) -> str:
        known = int(self.frame[OUTCOME].notna().sum()) if OUTCOME in self.frame else 0
        return (
            f"<Logged {len(self.frame)} predictions in {self.segments} segments, "
            f"{known} with outcomes; {self.unmatched} outcomes matched no prediction>"
        )


def _joined(predictions: list, outcomes: list, since) -> Logged:
    if not predictions:
        return Logged(pd.DataFrame(columns=[PREDICTION, AT, OUTCOME]), 0, 0)
    frame = pd.concat(predictions, ignore_index=True).sort_values(AT, kind="stable")
    if since is not None:
        frame = frame[frame[AT] >= pd.Timestamp(since, tz="UTC")]
    frame = frame.reset_index(drop=True)
    unmatched = total = 0
    if outcomes:
        arrived = pd.concat(outcomes, ignore_index=True).sort_values(AT, kind="stable")
        arrived = arrived.drop_duplicates(ID, keep="last")  # a corrected outcome wins
        total = len(arrived)
        known = set(frame[ID]) if ID in frame else set()
        unmatched = int((~arrived[ID].isin(known)).sum())
        if ID in frame:
            lookup = arrived.set_index(ID)[OUTCOME]
            frame[OUTCOME] = frame[ID].map(lookup)
    if OUTCOME not in frame:
        frame[OUTCOME] = pd.Series([None] * len(frame), dtype=object)
    return Logged(frame, unmatched, len(predictions), total)


def log_predictions(inputs, predictions, *, model, scores=None, ids=None, timestamp=None):
    """Log one batch of a model's answers to the trail (see :class:`PredictionLog`)."""
    with PredictionLog(model) as log:
        return log.predictions(inputs, predictions, scores=scores, ids=ids, timestamp=timestamp)


def log_outcomes(ids, outcomes, *, model, timestamp=None):
    """Log outcomes that arrived for a model's earlier predictions, joined by id."""
    with PredictionLog(model) as log:
        return log.outcomes(ids, outcomes, timestamp=timestamp)


def logged(model, *, since=None, trail=None) -> Logged:
    """A model's logged predictions joined with their outcomes."""
    log = PredictionLog(model, trail=trail)
    try:
        return log.read(since=since)
    finally:
        log.close()
