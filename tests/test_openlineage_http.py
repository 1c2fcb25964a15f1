"""OpenLineage over HTTP: a real receiver on loopback that goes down, fails and comes back.

The receiver is :mod:`http.server` in a thread on a free port: it records every JSON body it
is sent, can be stopped and started again on the same port, and answers 500 or 400 on demand.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import run_cli
from test_openlineage import _validate

from nbtrail.config import Settings, load_settings
from nbtrail.errors import UsageError
from nbtrail.export._lineage_http import InvalidEvent, check_url, post_events, validate_event
from nbtrail.export._lineage_live import (
    lineage_settings,
    on_run_change,
    wait_for_delivery,
)
from nbtrail.export._lineage_queue import LineageQueue, queue_for
from nbtrail.export.openlineage import run_events
from nbtrail.store import init_trail, open_trail


class Receiver:
    """An OpenLineage consumer on 127.0.0.1: records bodies; ``answer`` decides the status."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.bodies: list[dict] = []
        self.requests: list[tuple[str, dict]] = []
        self.answer = lambda body: 201
        self.delay = 0.0
        self._server = None
        self._thread = None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                time.sleep(receiver.delay)
                receiver.requests.append((self.path, dict(self.headers)))
                status = receiver.answer(body)
                if 200 <= status < 300:
                    receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 400 else b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def run_ids(self) -> list[tuple[str, str]]:
        return [(b["run"]["runId"], b["eventType"]) for b in self.bodies]


@pytest.fixture
def receiver():
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def home_trail(tmp_path):
    trail = init_trail(tmp_path / "work")
    try:
        yield trail
    finally:
        trail.close()


def _runs(trail, n: int, *, fail_last: bool = False) -> list[str]:
    ids = []
    for i in range(n):
        run = trail.start_run(f"step-{i}", kind="step")
        if fail_last and i == n - 1:
            run.end("failed", error="ValueError: bad rows")
        else:
            run.end()
        ids.append(run.id)
    return ids


def _events(trail, ids) -> list:
    return [e for run_id in ids for e in run_events(trail, run_id)]


def _expected(ids, last="COMPLETE") -> list[tuple[str, str]]:
    out = []
    for i, run_id in enumerate(ids):
        out += [(run_id, "START"), (run_id, last if i == len(ids) - 1 else "COMPLETE")]
    return out


# -- sending and validating ------------------------------------------------------------------


def test_events_arrive_in_order_as_json_and_follow_the_schema(home_trail, receiver):
    ids = _runs(home_trail, 2, fail_last=True)
    result = post_events(_events(home_trail, ids), receiver.url + "/", timeout=5)
    assert (result.delivered, result.queued, result.error) == (4, 0, None) and result.ok
    assert receiver.run_ids() == _expected(ids, last="FAIL")
    for path, headers in receiver.requests:
        assert path == "/api/v1/lineage"
        assert headers["Content-Type"] == "application/json"
    for body in receiver.bodies:
        _validate(body)  # the transcribed OpenLineage 2-0-2 RunEvent schema
        assert validate_event(body) == body
    assert receiver.bodies[-1]["run"]["facets"]["errorMessage"]["message"] == "ValueError: bad rows"
    assert "4 delivered" in repr(result)


def test_url_with_a_path_or_the_endpoint_posts_to_the_lineage_api(home_trail, receiver):
    ids = _runs(home_trail, 1)
    post_events(_events(home_trail, ids), receiver.url + "/marquez", timeout=5)
    post_events(_events(home_trail, ids), receiver.url + "/api/v1/lineage", timeout=5)
    assert [p for p, _ in receiver.requests] == ["/marquez/api/v1/lineage"] * 2 + [
        "/api/v1/lineage"
    ] * 2


def test_api_key_is_sent_as_a_bearer_token(home_trail, receiver):
    post_events(_events(home_trail, _runs(home_trail, 1)), receiver.url, api_key="s3cret")
    assert receiver.requests[0][1]["Authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda e: e["run"].update(runId="not-a-uuid"), "UUID"),
        (lambda e: e.update(eventTime="2024-01-01"), "time"),
        (lambda e: e.update(eventType="FINISHED"), "FINISHED"),
        (lambda e: e["job"].pop("name"), "job.name"),
        (lambda e: e.pop("producer"), "producer"),
        (lambda e: e["run"]["facets"]["processing_engine"].pop("_producer"), "_producer"),
        (lambda e: e["inputs"].append({"namespace": "file"}), "inputs[0].name"),
        (lambda e: e["run"]["facets"]["processing_engine"].update(x=float("nan")), "NaN"),
    ],
)
def test_invalid_events_are_refused_naming_the_part(home_trail, tmp_path, change, named):
    from openlineage.client.serde import Serde

    good, bad = (Serde.to_dict(e) for e in _events(home_trail, _runs(home_trail, 1)))
    change(bad)
    with pytest.raises(InvalidEvent, match=re.escape(named)):
        validate_event(bad)
    queue = LineageQueue(tmp_path / "q")
    with pytest.raises(InvalidEvent):
        queue.put([good, bad])
    assert queue.pending() == []  # all or nothing


@pytest.mark.parametrize(
    "url", ["localhost:5000", "ftp://host/x", "", "http://", "http://host:notaport"]
)
def test_bad_url_is_a_usage_error_naming_the_setting(url):
    with pytest.raises(UsageError, match="--url"):
        check_url(url, "--url")


# -- the durable queue -----------------------------------------------------------------------


def test_receiver_down_keeps_events_queued_then_delivers_them_in_order(home_trail, receiver):
    ids = _runs(home_trail, 3)
    queue = queue_for(home_trail.home, receiver.url)
    assert str(queue.folder).startswith(str(home_trail.home / "openlineage" / "queue"))
    receiver.stop()
    files = queue.put(_events(home_trail, ids))
    result = queue.drain(receiver.url, timeout=2)
    assert result.delivered == 0 and result.queued == 6
    assert "unreachable" in result.error and receiver.url in result.error
    assert queue.pending() == files and all(f.is_file() for f in files)
    on_disk = [json.loads(f.read_text()) for f in files]
    assert [(e["run"]["runId"], e["eventType"]) for e in on_disk] == _expected(ids)

    receiver.start()  # the same port: the receiver came back
    again = LineageQueue(queue.folder)  # a new process sees the same queue
    result = again.drain(receiver.url, timeout=5)
    assert (result.delivered, result.queued, result.error) == (6, 0, None)
    assert receiver.run_ids() == _expected(ids)
    assert again.pending() == [] and len(again) == 0


def test_5xx_stops_delivery_and_keeps_everything_queued(home_trail, receiver):
    ids = _runs(home_trail, 2)
    queue = queue_for(home_trail.home, receiver.url)
    queue.put(_events(home_trail, ids))
    receiver.answer = lambda body: 503
    result = queue.drain(receiver.url, timeout=5)
    assert result.error.startswith("HTTP 503") and result.queued == 4
    assert len(receiver.requests) == 1  # no hidden retries: the queue is the retry
    receiver.answer = lambda body: 200
    assert queue.drain(receiver.url, timeout=5).delivered == 4
    assert receiver.run_ids() == _expected(ids)


def test_429_means_later_not_rejected(home_trail, receiver):
    queue = queue_for(home_trail.home, receiver.url)
    queue.put(_events(home_trail, _runs(home_trail, 1)))
    receiver.answer = lambda body: 429
    result = queue.drain(receiver.url, timeout=5)
    assert (result.rejected, result.queued) == (0, 2) and queue.rejected() == []


def test_4xx_sets_the_event_aside_and_the_rest_are_delivered(home_trail, receiver):
    ids = _runs(home_trail, 3)
    queue = queue_for(home_trail.home, receiver.url)
    files = queue.put(_events(home_trail, ids))
    refused = (ids[1], "START")
    receiver.answer = lambda b: 400 if (b["run"]["runId"], b["eventType"]) == refused else 200
    result = queue.drain(receiver.url, timeout=5)
    assert (result.delivered, result.rejected, result.queued) == (5, 1, 0) and not result.ok
    assert receiver.run_ids() == [e for e in _expected(ids) if e != refused]
    assert [p.name for p in queue.rejected()] == [files[2].name]
    note = json.loads((queue.rejected_folder / f"{files[2].stem}.reason.json").read_text())
    assert note["reason"].startswith("HTTP 400") and note["url"] == receiver.url + "/"
    assert json.loads(queue.rejected()[0].read_text())["run"]["runId"] == ids[1]
    # New events take numbers after the rejected one: nothing is overwritten.
    (new,) = queue.put(_events(home_trail, ids)[:1])
    assert new.name > files[-1].name


def test_queue_survives_a_dead_writer_and_a_lost_counter(home_trail, receiver):
    ids = _runs(home_trail, 2)
    queue = queue_for(home_trail.home, receiver.url)
    first = queue.put(_events(home_trail, ids[:1]))
    (queue.folder / ".tmp-99999-dead").write_text('{"half": ')  # a writer killed mid-write
    (queue.folder / ".seq").unlink()
    second = queue.put(_events(home_trail, ids[1:]))
    assert [p.name for p in queue.pending()] == [p.name for p in first + second]
    assert not list(queue.folder.glob(".tmp-*"))
    assert queue.drain(receiver.url, timeout=5).delivered == 4
    assert receiver.run_ids() == _expected(ids)


def test_queues_are_per_receiver(home_trail, receiver):
    one = queue_for(home_trail.home, receiver.url)
    other = queue_for(home_trail.home, "http://marquez.example:5000")
    assert one.folder != other.folder and one.folder.parent == other.folder.parent
    other.put(_events(home_trail, _runs(home_trail, 1)))
    assert one.drain(receiver.url).delivered == 0 and len(other) == 2
    assert receiver.bodies == []


_DRAIN = """
import sys, time
from pathlib import Path
from nbtrail.export._lineage_queue import LineageQueue
print("ready", flush=True)
while not Path(sys.argv[3]).exists():
    time.sleep(0.005)
r = LineageQueue(sys.argv[1]).drain(sys.argv[2], timeout=10, lock_timeout=60)
print(r.delivered, r.error, flush=True)
"""


def test_two_processes_draining_at_once_deliver_each_event_once_in_order(
    home_trail, receiver, tmp_path
):
    ids = _runs(home_trail, 15)
    queue = queue_for(home_trail.home, receiver.url)
    queue.put(_events(home_trail, ids))
    receiver.delay = 0.02  # a drain takes about 0.6 s: the two overlap
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, "-c", _DRAIN, str(queue.folder), receiver.url, str(go)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
        go.touch()  # both start draining at the same moment
        outs = [p.communicate(timeout=60)[0].split() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert sorted(int(o[0]) for o in outs) == [0, 30] and all(o[1] == "None" for o in outs)
    assert receiver.run_ids() == _expected(ids)  # each once, in order
    assert len(receiver.requests) == 30 and queue.pending() == []


# -- the live transport ----------------------------------------------------------------------


@pytest.fixture
def live_trail(home_trail, receiver, monkeypatch):
    """The trail opened again with ``NBTRAIL_OPENLINEAGE_URL`` pointing at the receiver."""
    monkeypatch.setenv("NBTRAIL_OPENLINEAGE_URL", receiver.url)
    trail = open_trail(home_trail.home.parent)
    try:
        yield trail
    finally:
        trail.close()


def test_live_transport_sends_start_and_end_as_runs_happen(live_trail, receiver):
    # No explicit call: the store's run listener (the entry point) queues and sends.
    run = live_trail.start_run("train", kind="script")
    assert wait_for_delivery(10)
    assert receiver.run_ids() == [(run.id, "START")]
    run.end("aborted", error="KeyboardInterrupt")
    assert wait_for_delivery(10)
    assert receiver.run_ids() == [(run.id, "START"), (run.id, "ABORT")]
    assert receiver.bodies[0]["job"]["namespace"] == "nbtrail"


def test_live_transport_never_raises_and_delivers_the_backlog_later(live_trail, receiver, caplog):
    receiver.stop()
    with caplog.at_level(logging.WARNING, logger="nbtrail.openlineage"):
        first = live_trail.start_run("a")
        first.end()  # neither raises, though the receiver is down
        assert wait_for_delivery(10)
    assert "unreachable" in caplog.text and "stay queued" in caplog.text
    assert "NBTRAIL_OPENLINEAGE_URL" in caplog.text
    queue = queue_for(live_trail.home, receiver.url)
    assert len(queue) == 2
    receiver.start()
    second = live_trail.start_run("b")
    assert wait_for_delivery(10)
    assert receiver.run_ids() == [(first.id, "START"), (first.id, "COMPLETE"), (second.id, "START")]


def test_live_transport_off_or_misconfigured_does_nothing_and_does_not_raise(home_trail, caplog):
    run = home_trail.start_run("a")
    on_run_change(home_trail, run.id, "start")
    assert not (home_trail.home / "openlineage").exists()
    home_trail.settings = replace(home_trail.settings, openlineage_url="ftp://example.org")
    with caplog.at_level(logging.WARNING, logger="nbtrail.openlineage"):
        on_run_change(home_trail, run.id, "start")
    assert "openlineage.url" in caplog.text and "ftp://example.org" in caplog.text
    assert not (home_trail.home / "openlineage").exists()


def test_live_settings_name_where_the_url_came_from(tmp_path):
    cfg = tmp_path / "pyproject.toml"
    settings = Settings(openlineage_url="http://m:5000", config_file=cfg)
    config = lineage_settings(settings, env={})
    assert (config.url, config.setting) == ("http://m:5000/", f"{cfg}: openlineage.url")
    env = {"NBTRAIL_OPENLINEAGE_URL": "https://other", "NBTRAIL_OPENLINEAGE_API_KEY": "k3y"}
    config = lineage_settings(replace(settings, openlineage_url="https://other"), env=env)
    assert (config.url, config.setting, config.api_key) == (
        "https://other/",
        "NBTRAIL_OPENLINEAGE_URL",
        "k3y",
    )
    assert "k3y" not in repr(config)
    assert lineage_settings(Settings(), env={}) is None
    cfg.write_text('[tool.nbtrail.openlineage]\nurl = "http://m:5000"\nnamespace = "team"\n')
    config = lineage_settings(load_settings(tmp_path, env={}), env={})
    assert (config.url, config.namespace) == ("http://m:5000/", "team")


# -- the command line ------------------------------------------------------------------------


def test_cli_posts_a_run_and_drains_after_an_outage(home_trail, receiver, capsys):
    (run_id,) = _runs(home_trail, 1)
    code, out, err = run_cli(capsys, "export", "openlineage", run_id, "--url", receiver.url)
    assert (code, err) == (0, "")
    assert f"delivered 2 OpenLineage events to {receiver.url}/" in out
    assert receiver.run_ids() == _expected([run_id])

    receiver.stop()
    code, out, err = run_cli(capsys, "export", "openlineage", run_id, "--url", receiver.url)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "--url" in err and receiver.url in err and "2 events stay queued" in err
    assert len(queue_for(home_trail.home, receiver.url)) == 2

    receiver.start()
    code, out, err = run_cli(capsys, "export", "openlineage", "--drain", "--url", receiver.url)
    assert code == 0 and "delivered 2 OpenLineage events" in out
    assert receiver.run_ids() == _expected([run_id]) * 2


def test_cli_drain_uses_the_configured_url(home_trail, receiver, capsys, monkeypatch):
    (run_id,) = _runs(home_trail, 1)
    monkeypatch.setenv("NBTRAIL_OPENLINEAGE_URL", receiver.url)
    receiver.stop()
    code, _, err = run_cli(capsys, "export", "openlineage", run_id, "--drain")
    assert code == 2 and "NBTRAIL_OPENLINEAGE_URL" in err
    receiver.start()
    code, out, _ = run_cli(capsys, "export", "openlineage", "--drain")
    assert "delivered 2 OpenLineage events" in out
    assert code == 0 and receiver.run_ids() == _expected([run_id])


def test_cli_rejected_event_is_exit_1(home_trail, receiver, capsys):
    (run_id,) = _runs(home_trail, 1)
    receiver.answer = lambda body: 400 if body["eventType"] == "START" else 200
    code, out, err = run_cli(capsys, "export", "openlineage", run_id, "--url", receiver.url)
    assert code == 1 and "delivered 1 " in out and "1 events rejected" in err
    assert "rejected" in err and len(queue_for(home_trail.home, receiver.url).rejected()) == 1


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--url", "localhost:5000"], "--url"),
        (["--url", "ftp://example.org/lineage"], "--url"),
        (["--drain"], "NBTRAIL_OPENLINEAGE_URL"),
        (["--url", "http://127.0.0.1:9", "-o", "x.jsonl"], "--output"),
        ([], "RUN"),
    ],
)
def test_cli_bad_input_is_exit_2_naming_it(home_trail, capsys, args, named):
    code, out, err = run_cli(capsys, "export", "openlineage", *args)
    assert code == 2 and out == "" and named in err and len(err.strip().splitlines()) == 1
    assert not (home_trail.home / "openlineage").exists()


def test_cli_unknown_run_queues_nothing(home_trail, receiver, capsys):
    code, _, err = run_cli(capsys, "export", "openlineage", "ffffffff", "--url", receiver.url)
    assert code == 2 and "ffffffff" in err
    assert len(queue_for(home_trail.home, receiver.url)) == 0 and receiver.requests == []


def test_cli_never_prints_credentials_in_the_url(home_trail, receiver, capsys):
    (run_id,) = _runs(home_trail, 1)
    url = f"http://alice:hunter2@127.0.0.1:{receiver.port}"
    code, out, err = run_cli(capsys, "export", "openlineage", run_id, "--url", url)
    assert code == 0 and "hunter2" not in out + err
    receiver.stop()
    code, out, err = run_cli(capsys, "export", "openlineage", run_id, "--url", url)
    assert code == 2 and "hunter2" not in out + err and "alice" not in out + err
    assert not any("hunter2" in str(p) for p in Path(home_trail.home).rglob("*"))


def test_a_template_run_and_its_kernel_session_post_their_events_live(
    tmp_path, receiver, monkeypatch, capsys
):
    # End to end: `nbtrail run` in this process, its kernel in another; both write runs, and
    # each process's store hands its runs' events to the live transport.
    from conftest import run_cli

    work = tmp_path / "work"
    init_trail(work).close()
    template = Path(__file__).parent / "notebooks" / "template_modes.ipynb"
    monkeypatch.setenv("NBTRAIL_OPENLINEAGE_URL", receiver.url)
    code, out, err = run_cli(capsys, "run", template, "-p", "rows", "3")
    assert code == 0, out + err
    assert wait_for_delivery(10)
    with open_trail(work, readonly=True) as trail:
        runs = {r.id: r for r in trail.runs()}
    template_run = next(r for r in runs.values() if r.kind == "template")
    sessions = [r for r in runs.values() if r.kind == "session"]
    assert sessions and sessions[0].parent_id == template_run.id
    events = receiver.run_ids()
    for run in (template_run, sessions[0]):
        assert (run.id, "START") in events and (run.id, "COMPLETE") in events, events
        assert events.index((run.id, "START")) < events.index((run.id, "COMPLETE"))
    assert not queue_for(work / ".nbtrail", receiver.url).pending()
