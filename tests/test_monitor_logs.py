"""Prediction logs, the logging wrapper and its canary, alert channels against a real receiver."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nbtrail
from nbtrail import monitor
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.store import init_trail

NUM = ["age", "education_num", "hours_per_week"]
KEY = "test-key-0123456789abcdef"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    monkeypatch.setenv("NBTRAIL_PSEUDONYM_KEY", KEY)
    init_trail(tmp_path).close()
    frame = load_adult("train").head(3000)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        frame[NUM], frame["income"] == ">50K"
    )
    (tmp_path / "models").mkdir()
    joblib.dump(model, tmp_path / "models" / "model.joblib")
    return {"model": model, "frame": frame, "path": "models/model.joblib"}


def _batch(frame, start, rows=200):
    part = frame.iloc[start : start + rows]
    requests = part[NUM].assign(
        email=[f"person{i}@example.org" for i in range(start, start + rows)]
    )
    return part, requests


def test_segments_append_join_outcomes_by_pseudonym_and_drop_identifiers(project):
    model, frame = project["model"], project["frame"]
    with monitor.PredictionLog(project["path"]) as log:
        for start in (0, 200):
            part, requests = _batch(frame, start)
            log.predictions(
                requests,
                model.predict(part[NUM]),
                scores=model.predict_proba(part[NUM]),
                ids=part.index.to_numpy(),
            )
        # Outcomes for the first batch only, days later, plus two ids nobody predicted for.
        first = frame.iloc[:200]
        log.outcomes([*first.index, 10**9, 10**9 + 1], [*first["income"], "x", "y"])
        seen = log.read()
    assert seen.segments == 2 and len(seen.frame) == 400
    assert "email" not in seen.frame.columns, "an identifier column is never logged"
    assert seen.unmatched == 2
    assert seen.frame["outcome"].notna().sum() == 200
    assert (seen.frame["outcome"].iloc[:200].to_numpy() == first["income"].to_numpy()).all()
    assert seen.frame["score"].between(0, 1).all()
    # Ids are keyed pseudonyms, and no identifier value reaches the trail's files.
    assert not set(seen.frame["_id"]) & {str(i) for i in frame.index[:400]}
    stored = b"".join(p.read_bytes() for p in Path(".nbtrail").rglob("*") if p.is_file())
    assert b"person7@example.org" not in stored


def test_ids_are_refused_without_a_key_and_nothing_is_half_written(project, monkeypatch):
    monkeypatch.delenv("NBTRAIL_PSEUDONYM_KEY")
    part, requests = _batch(project["frame"], 0)
    with monitor.PredictionLog(project["path"]) as log:
        with pytest.raises(UsageError, match="NBTRAIL_PSEUDONYM_KEY"):
            log.predictions(requests, np.zeros(len(part)), ids=part.index)
        assert log.read().segments == 0
        log.predictions(requests, np.zeros(len(part)))  # without ids: no key needed
        assert log.read().segments == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"predictions": np.zeros(3)}, "predictions: 3 values for 200 input rows"),
        ({"scores": np.zeros(5)}, "scores: 5 values for 200"),
        ({"inputs": pd.DataFrame()}, "an empty batch"),
        ({"inputs": "not a frame"}, "inputs must be a pandas DataFrame"),
        ({"timestamp": ["not a date"] * 200}, "timestamp: values that do not parse"),
    ],
)
def test_bad_batches_are_refused_naming_the_parameter(project, change, message):
    part, requests = _batch(project["frame"], 0)
    arguments = {"inputs": requests, "predictions": np.zeros(len(part)), **change}
    with monitor.PredictionLog(project["path"]) as log:
        with pytest.raises(UsageError, match=message):
            log.predictions(arguments.pop("inputs"), arguments.pop("predictions"), **arguments)
        assert log.read().segments == 0


def test_monitored_answers_like_the_model_and_routes_a_canary_share(project):
    model, frame = project["model"], project["frame"]
    challenger = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(
        frame[NUM], frame["income"] == ">50K"
    )
    wrapped = nbtrail.monitored(
        model, reference=project["path"], id_column="customer", challenger=challenger, canary=0.25
    )
    requests = frame[NUM].iloc[:1000].assign(customer=np.arange(1000))
    proba = wrapped.predict_proba(requests)
    assert proba.shape == (1000, 2)
    logged = wrapped.log.read().frame
    canary = wrapped.challenger_log.read().frame
    wrapped.close()
    assert len(logged) + len(canary) == 1000
    assert 150 < len(canary) < 350  # a quarter, give or take
    assert set(logged["_variant"]) == {"champion"} and set(canary["_variant"]) == {"challenger"}
    assert "customer" not in logged.columns and logged["_id"].notna().all()
    # Each row was answered, and logged, by the model it was routed to.
    assert np.allclose(logged["score"], model.predict_proba(logged[NUM])[:, 1])
    assert np.allclose(canary["score"], challenger.predict_proba(canary[NUM])[:, 1])
    assert not np.allclose(canary["score"], model.predict_proba(canary[NUM])[:, 1])


def test_a_logging_failure_never_breaks_the_prediction(project, caplog):
    model, frame = project["model"], project["frame"]
    wrapped = nbtrail.monitored(model, reference=project["path"])
    wrapped.log.trail.close()  # the store goes away under the service
    wrapped.log.trail = None
    answers = wrapped.predict(frame[NUM].iloc[:50])
    assert (answers == model.predict(frame[NUM].iloc[:50])).all()
    assert wrapped.failures == 1 and "prediction not logged" in caplog.text


# -- alert channels against a real HTTP receiver on loopback ----------------------------------


class _Receiver(BaseHTTPRequestHandler):
    behaviour: ClassVar[list] = []
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        mode = self.behaviour.pop(0) if self.behaviour else "ok"
        if mode == "hang":
            time.sleep(3)
        self.received.append((mode, json.loads(body)))
        self.send_response(500 if mode == "500" else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.behaviour, _Receiver.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _alert():
    return monitor.Alert("drift", "fail", "age drifted", [{"column": "age"}], "run-1", "chk-1")


def test_a_webhook_answering_500_is_retried_with_backoff_until_it_accepts(receiver):
    _, url = receiver
    _Receiver.behaviour[:] = ["500", "500", "ok"]
    channel = monitor.WebhookChannel(url, timeout=2, retries=3, backoff=0.05)
    started = time.monotonic()
    delivery = channel.send(_alert(), time.monotonic() + 10)
    assert delivery.ok and delivery.attempts == 3
    assert time.monotonic() - started >= 0.05 + 0.1  # two pauses, doubling
    assert _Receiver.received[-1][1]["summary"] == "age drifted"


def test_a_hanging_webhook_is_bounded_by_the_deadline_and_recorded_as_failed(receiver):
    _, url = receiver
    _Receiver.behaviour[:] = ["hang"] * 5
    channel = monitor.WebhookChannel(url, timeout=0.5, retries=5, backoff=0.1)
    started = time.monotonic()
    delivery = channel.send(_alert(), time.monotonic() + 1.5)
    assert not delivery.ok and "timed out" in delivery.error.lower()
    assert time.monotonic() - started < 2.5


def test_a_refused_connection_and_a_file_channel(tmp_path):
    delivery = monitor.WebhookChannel("http://127.0.0.1:9/none", retries=1, backoff=0.01).send(
        _alert(), time.monotonic() + 5
    )
    assert not delivery.ok and delivery.attempts == 2
    target = tmp_path / "alerts" / "alerts.jsonl"
    channel = monitor.FileChannel(target)
    assert channel.send(_alert(), time.monotonic() + 1).ok
    assert channel.send(_alert(), time.monotonic() + 1).ok
    lines = target.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["check_id"] == "chk-1"
