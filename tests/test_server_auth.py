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


async def test_a_notebook_written_through_the_contents_api_is_not_run_without_execute(
    jp_fetch, jp_root_dir, monkeypatch
):
    """The probe: someone allowed to write files (not to run code) saves a notebook through
    Jupyter's contents API, then asks nbtrail to run it as a job."""
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    root = Path(jp_root_dir)
    notebook = json.loads((NOTEBOOKS / "template_modes.ipynb").read_text())
    notebook["cells"].append(
        {
            "cell_type": "code",
            "id": "written-by-someone-without-execute",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "open('pwned', 'w').write('ran')",
        }
    )
    ASKED.clear()
    saved = await jp_fetch(
        "api",
        "contents",
        "evil.ipynb",
        method="PUT",
        body=json.dumps({"type": "notebook", "format": "json", "content": notebook}),
    )
    assert saved.code in (200, 201) and (root / "evil.ipynb").is_file()
    assert ("write", "contents") in ASKED  # writing was allowed
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch(
            "nbtrail",
            "api",
            "jobs",
            method="POST",
            body=json.dumps({"notebook": "evil.ipynb", "parameters": {}}),
        )
    assert exc.value.code == 403
    assert ("execute", "nbtrail") in ASKED
    reply = json.loads(exc.value.response.body)
    assert reply["status"] == 403 and "Traceback" not in reply["error"]
    assert not (root / "nbtrail-runs").exists() and not (root / "pwned").exists()
    status = json.loads((await jp_fetch("nbtrail", "api", "status")).body)
    assert status["jobs_running"] == 0
