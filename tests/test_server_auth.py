"""Starting a job runs code: the server asks for the ``execute`` permission, not just ``write``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NOTEBOOKS = Path(__file__).parent / "notebooks"
ASKED: list[tuple[str, str]] = []


class ReadWriteButNoExecute(Authorizer):
    """A deployment's policy: people may read and write, not run code."""

    def is_authorized(self, handler, user, action, resource):
        ASKED.append((action, resource))
        return action != "execute"


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {
            "jpserver_extensions": {"nbtrail": True},
            "authorizer_class": ReadWriteButNoExecute,
        }
    }


async def test_starting_a_job_needs_the_execute_permission(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    shutil.copy(NOTEBOOKS / "template_modes.ipynb", Path(jp_root_dir) / "analysis.ipynb")
    ASKED.clear()
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch(
            "nbtrail",
            "api",
            "jobs",
            method="POST",
            body=json.dumps({"notebook": "analysis.ipynb", "parameters": {}}),
        )
    assert exc.value.code == 403
    assert ("execute", "nbtrail") in ASKED
    assert not (Path(jp_root_dir) / "nbtrail-runs").exists()  # nothing was started
    response = await jp_fetch("nbtrail", "api", "schema", params={"notebook": "analysis.ipynb"})
    assert response.code == 200 and ("read", "nbtrail") in ASKED
