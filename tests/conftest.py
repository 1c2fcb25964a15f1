"""Shared fixtures: one parametrised store fixture runs the store suite on SQLite and PostgreSQL.

PostgreSQL is real: ``NBTRAIL_TEST_POSTGRES_URL`` if set, otherwise the suite starts a throwaway
server on loopback with ``tests/helpers/postgres.sh`` (needs the PostgreSQL server binaries).
Where neither is possible the PostgreSQL cases are skipped with a loud reason, unless
``NBTRAIL_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from nbtrail.config import Settings
from nbtrail.store import LocalBlobStore, Trail

REQUIRE_PG = os.environ.get("NBTRAIL_REQUIRE_POSTGRES") == "1"
PG_SCRIPT = Path(__file__).parent / "helpers" / "postgres.sh"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test sees the developer's trail settings, and each starts in its own folder."""
    for name in list(os.environ):
        if (
            name.startswith("NBTRAIL_")
            and not name.startswith("NBTRAIL_TEST_")
            and name
            not in (
                "NBTRAIL_REQUIRE_POSTGRES",
                "NBTRAIL_REQUIRE_BROWSER",
                "NBTRAIL_REQUIRE_NODE",
            )
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NBTRAIL_USER", "tester")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def _no_postgres(reason: str):
    message = f"PostgreSQL tests cannot run: {reason}"
    if REQUIRE_PG:
        pytest.fail("NBTRAIL_REQUIRE_POSTGRES=1 but " + message)
    pytest.skip("SKIPPED LOUDLY: " + message)


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a PostgreSQL server for the session: given, or started here and stopped after."""
    given = os.environ.get("NBTRAIL_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    # Not under pytest's tmp folder: as root the server runs as `postgres`, which must reach it.
    folder = tempfile.mkdtemp(prefix="nbtrail-pg-")
    started = subprocess.run(
        ["bash", str(PG_SCRIPT), "start", folder], capture_output=True, text=True
    )
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _no_postgres(started.stderr.strip().splitlines()[-1] if started.stderr else "no server")
    url = started.stdout.strip().rsplit("=", 1)[1]
    try:
        yield url
    finally:
        subprocess.run(["bash", str(PG_SCRIPT), "stop", folder], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def throwaway_database(server_url: str, prefix: str = "nbtrail_test"):
    """A fresh, empty PostgreSQL database on the server; dropped afterwards. Yields its URL."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def pg_database(pg_server_url):
    """A fresh, empty PostgreSQL database; dropped afterwards. Yields its URL."""
    with throwaway_database(pg_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A store URL for an empty trail database, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trail.db'}"
    else:
        yield request.getfixturevalue("pg_database")


def make_trail(
    store_url: str, blob_dir: Path, *, key: bytes | None = None, readonly: bool = False
) -> Trail:
    """Open a trail on ``store_url`` with blobs in ``blob_dir`` (to write, or only to read)."""
    return Trail(
        store_url,
        blobs=LocalBlobStore(blob_dir),
        home=None,
        settings=Settings(actor="tester", signing_key=key),
        readonly=readonly,
        create=not readonly,
    )


@pytest.fixture
def trail(store_url, tmp_path):
    t = make_trail(store_url, tmp_path / "objects")
    try:
        yield t
    finally:
        t.close()


# -- a real browser --------------------------------------------------------------------------

REQUIRE_BROWSER = os.environ.get("NBTRAIL_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(
    os.environ.get("NBTRAIL_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts")
)


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright (the system's browser; nothing is downloaded).

    Module-scoped on purpose: while Playwright's sync API is open it holds a running asyncio
    loop in the main thread, which breaks pytest-jupyter's server fixtures in later modules.
    """
    executable = _find_chromium()
    if executable is None:
        message = "no Chromium found (Debian: apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail("NBTRAIL_REQUIRE_BROWSER=1 but " + message)
        pytest.skip("SKIPPED LOUDLY: browser tests need Chromium: " + message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def screenshot_dir(request) -> Path:
    """Where a browser test saves its screenshots (kept as CI artifacts)."""
    folder = ARTIFACTS / request.node.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- an unprivileged user ----------------------------------------------------------------------


@pytest.fixture
def unprivileged(tmp_path):
    """A folder and an effective user that file permissions apply to.

    Permission tests are meaningless as root (CI runs as root): there the effective user and
    group drop to ``nobody`` for the test, in a folder ``nobody`` owns, and come back after.
    As an ordinary user the test runs as that user, in its own temporary folder.
    """
    if os.geteuid() != 0:
        yield tmp_path
        return
    import pwd

    nobody = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="nbtrail-unprivileged-", dir="/tmp"))
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield folder
    finally:
        os.seteuid(0)
        os.setegid(0)
        shutil.rmtree(folder, ignore_errors=True)


def run_cli(capsys, *args):
    """Run ``nbtrail ARGS`` in this process: (exit code, stdout, stderr)."""
    from nbtrail.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys):
    """:func:`run_cli` bound to this test's captured output."""
    return lambda *args: run_cli(capsys, *args)


@contextlib.contextmanager
def training_run(root, name: str, *, seed: int = 0, rows: int = 200, kind: str = "session"):
    """A recorded run that reads ``NAME.csv``, fits a model and saves ``NAME.joblib``.

    Yields ``(run, recorded)``: ``recorded`` holds the artifacts (``data``, ``frame``,
    ``model``, ``file``) and ``path``, so the caller can record checks on them in the run.
    """
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from nbtrail.store import open_trail

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "y": rng.integers(0, 2, rows)})
    data, path = Path(root) / f"{name}.csv", Path(root) / f"{name}.joblib"
    frame.to_csv(data, index=False)
    with open_trail(root) as trail, trail.start_run(f"train {name}", kind=kind) as run:
        read = run.use(data, name="data")
        table = run.produce(frame, name="frame", derived_from=[read])
        model = LogisticRegression().fit(frame[["x"]], frame["y"])
        fitted = run.produce(model, name="model", derived_from=[table])
        joblib.dump(model, path)
        saved = run.produce(path, name="model file", derived_from=[fitted])
        recorded = {"data": read, "frame": table, "model": fitted, "file": saved, "path": path}
        yield run, recorded
