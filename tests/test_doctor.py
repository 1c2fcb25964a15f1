"""``nbtrail doctor``: one line per configured service, exit 2 when one does not answer."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
import sqlalchemy as sa
from conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    """An HTTP server on loopback that answers every GET with 200."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _lines(out: str) -> dict[str, str]:
    return {line.split()[1]: line for line in out.splitlines() if not line.startswith("nbtrail:")}


def test_a_local_trail_is_ok_and_unconfigured_services_are_off(capsys):
    assert run_cli(capsys, "init")[0] == 0
    code, out, err = run_cli(capsys, "doctor")
    assert code == 0, out + err
    lines = _lines(out)
    assert lines["trail"].startswith("ok") and "schema current" in lines["trail"]
    assert lines["blobs"].startswith("ok") and "wrote and read back" in lines["blobs"]
    assert lines["openlineage"].startswith("-") and "not configured" in lines["openlineage"]
    assert lines["dask"].startswith("-")


def test_the_probe_blob_is_stored_once_however_often_the_doctor_runs(capsys, tmp_path):
    run_cli(capsys, "init")
    run_cli(capsys, "doctor")
    objects = tmp_path / "work" / ".nbtrail" / "objects"

    def blobs():
        return sorted(p for p in objects.rglob("*") if p.is_file() and p.parent.name != "tmp")

    first = blobs()
    run_cli(capsys, "doctor")
    again = blobs()
    assert first == again and len(first) == 1


def test_no_trail_here_fails_the_trail_line_and_exits_2(capsys):
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 2
    assert _lines(out)["trail"].startswith("FAILED")
    assert "1 service(s) failed: trail" in out


def test_an_unreachable_lineage_receiver_is_named_with_its_setting(capsys, monkeypatch):
    run_cli(capsys, "init")
    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("NBTRAIL_OPENLINEAGE_URL", url)
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 2
    line = _lines(out)["openlineage"]
    assert line.startswith("FAILED") and url in line and "unreachable" in line


def test_a_live_lineage_receiver_answers(capsys, monkeypatch, receiver):
    run_cli(capsys, "init")
    monkeypatch.setenv("NBTRAIL_OPENLINEAGE_URL", receiver)
    code, out, err = run_cli(capsys, "doctor")
    assert code == 0, out + err
    assert "answered HTTP 200" in _lines(out)["openlineage"]


def test_a_lineage_url_that_is_not_http_is_a_settings_failure(capsys, monkeypatch):
    run_cli(capsys, "init")
    monkeypatch.setenv("NBTRAIL_OPENLINEAGE_URL", "ftp://example.org/lineage")
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 2
    assert "NBTRAIL_OPENLINEAGE_URL must be an http:// or https:// URL" in out


def test_a_blob_url_with_an_unknown_scheme_is_named(capsys, monkeypatch):
    run_cli(capsys, "init")
    monkeypatch.setenv("NBTRAIL_BLOB_URL", "nosuchscheme://bucket/prefix")
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 2
    line = _lines(out)["blobs"]
    assert line.startswith("FAILED") and "nosuchscheme://bucket/prefix" in line
    assert "NBTRAIL_BLOB_URL" in line


def test_an_unreachable_scheduler_is_named(capsys):
    run_cli(capsys, "init")
    address = f"tcp://127.0.0.1:{_free_port()}"
    code, out, _ = run_cli(capsys, "doctor", "--scheduler", address)
    assert code == 2
    line = _lines(out)["dask"]
    assert line.startswith("FAILED") and address in line


def test_a_live_scheduler_reports_its_workers(capsys):
    distributed = pytest.importorskip("distributed")
    run_cli(capsys, "init")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        code, out, err = run_cli(capsys, "doctor", "--scheduler", cluster.scheduler_address)
    assert code == 0, out + err
    assert "1 workers, nbtrail importable on each" in _lines(out)["dask"]


def test_a_postgresql_password_is_never_printed(capsys, monkeypatch, pg_database):
    url = sa.engine.make_url(pg_database).set(password="s3cret-do-not-show")
    monkeypatch.setenv("NBTRAIL_STORE_URL", url.render_as_string(hide_password=False))
    run_cli(capsys, "init")
    _, out, err = run_cli(capsys, "doctor")
    assert "s3cret-do-not-show" not in out + err
    assert "postgresql" in _lines(out)["trail"]
