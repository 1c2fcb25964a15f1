"""The server extension's API, with a real Jupyter server (pytest-jupyter) and auth turned on."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import tornado
from tornado.httpclient import HTTPClientError

from nbtrail.store import init_trail, open_trail

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbtrail": True}}}


@pytest.fixture
def project(jp_root_dir, monkeypatch):
    """A trail in the server's root with a session of a notebook that read a file and checked it."""
    root = Path(jp_root_dir)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    shutil.copy(NOTEBOOKS / "template_modes.ipynb", root / "analysis.ipynb")
    (root / "data.csv").write_text("x,y\n1,a\n2,b\n")
    with (
        init_trail(root) as trail,
        trail.start_run(
            "analysis.ipynb", kind="session", notebook=root / "analysis.ipynb"
        ) as session,
    ):
        cell = session.start_run("cell 1", kind="cell")
        source = cell.use(root / "data.csv")
        frame = pd.read_csv(root / "data.csv")
        derived = cell.produce(frame, name="frame", derived_from=[source])
        cell.record_check(
            "schema",
            "fail",
            artifact=derived,
            summary="y has 1 problem",
            details=pd.DataFrame({"column": ["y"], "failures": [1]}),
        )
        cell.end()
    return {"root": root, "session": session.id}


async def get(jp_fetch, path, **params):
    response = await jp_fetch("nbtrail", "api", path, params=params)
    return json.loads(response.body)


async def test_status_and_runs_for_a_notebook(jp_fetch, project):
    status = await get(jp_fetch, "status")
    assert status["trail"].startswith("sqlite:///") and status["jobs_running"] == 0
    runs = await get(jp_fetch, "runs", notebook="analysis.ipynb")
    assert [r["id"] for r in runs["runs"]] == [project["session"]]
    assert runs["runs"][0]["failing_checks"] == 1
    assert (await get(jp_fetch, "runs", notebook="other.ipynb"))["runs"] == []
    one = await get(jp_fetch, f"runs/{project['session']}")
    assert one["name"] == "analysis.ipynb" and one["children"][0]["name"] == "cell 1"


async def test_lineage_and_checks_of_a_notebook(jp_fetch, project):
    graph = await get(jp_fetch, "lineage", notebook="analysis.ipynb")
    labels = {n["label"]: n for n in graph["nodes"]}
    assert {"data.csv", "frame"} <= set(labels)
    assert {
        "source": labels["data.csv"]["id"],
        "target": labels["frame"]["id"],
        "kind": "derived",
    } in graph["edges"]
    checks = await get(jp_fetch, "checks", notebook="analysis.ipynb")
    (check,) = checks["checks"]
    assert check["status"] == "fail" and check["details"] == [{"column": "y", "failures": 1}]
    artifacts = await get(jp_fetch, "artifacts")
    assert len(artifacts["artifacts"]) == 2


async def test_schema_of_a_template(jp_fetch, project):
    schema = await get(jp_fetch, "schema", notebook="analysis.ipynb")
    rows = {p["name"]: p for p in schema["parameters"]}
    assert rows["rows"]["allowed"] == "in [1, 1000]"
    assert rows["mode"]["choices"] == ["ok", "fail", "gate", "die", "hang"]


async def test_unauthenticated_requests_are_refused(jp_fetch, project):
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("nbtrail", "api", "runs", headers={"Authorization": "token wrong"})
    assert exc.value.code == 403
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch(
            "nbtrail", "api", "jobs", method="POST", body="{}", headers={"Authorization": ""}
        )
    assert exc.value.code == 403


@pytest.mark.parametrize(
    "path",
    ["../outside.ipynb", "../../etc/passwd", "/etc/passwd", "sub/../../outside.ipynb"],
)
async def test_paths_outside_the_root_are_refused(jp_fetch, project, path):
    for endpoint in ("lineage", "checks", "schema", "runs"):
        with pytest.raises(HTTPClientError) as exc:
            await jp_fetch("nbtrail", "api", endpoint, params={"notebook": path})
        assert exc.value.code == 403, endpoint
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("nbtrail", "api", "jobs", method="POST", body=json.dumps({"notebook": path}))
    assert exc.value.code == 403


async def test_bad_requests_get_json_errors(jp_fetch, project):
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("nbtrail", "api", "runs/ffffffff")
    assert exc.value.code == 404
    assert "no run matches" in json.loads(exc.value.response.body)["error"]
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch(
            "nbtrail",
            "api",
            "jobs",
            method="POST",
            body=json.dumps({"notebook": "analysis.ipynb", "parameters": {"rows": 0}}),
        )
    assert exc.value.code == 400
    assert "parameter 'rows' must be in [1, 1000]" in json.loads(exc.value.response.body)["error"]
    for endpoint, limit in (("runs", "abc"), ("runs", "0"), ("artifacts", "-5")):
        with pytest.raises(HTTPClientError) as exc:
            await jp_fetch("nbtrail", "api", endpoint, params={"limit": limit})
        assert exc.value.code == 400
        assert "'limit' must be a whole number" in json.loads(exc.value.response.body)["error"]
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("nbtrail", "api", "jobs", method="POST", body="not json")
    assert exc.value.code == 400
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("nbtrail", "api", "schema", params={"notebook": "missing.ipynb"})
    assert exc.value.code == 404


async def run_job(jp_fetch, parameters: dict) -> dict:
    """Start a job for analysis.ipynb and poll it until it ends (or four minutes pass)."""
    response = await jp_fetch(
        "nbtrail",
        "api",
        "jobs",
        method="POST",
        body=json.dumps({"notebook": "analysis.ipynb", "parameters": parameters}),
    )
    assert response.code == 202
    job = json.loads(response.body)
    deadline = time.monotonic() + 240
    while job["status"] == "running" and time.monotonic() < deadline:
        await tornado.gen.sleep(1)
        job = await get(jp_fetch, f"jobs/{job['id']}")
    return job


async def test_a_job_runs_the_notebook_as_an_audited_run(jp_fetch, project):
    job = await run_job(jp_fetch, {"rows": 3})
    assert job["status"] == "succeeded", job
    root = project["root"]
    assert (root / job["executed_notebook"]).is_file() and (root / job["report"]).is_file()
    runs = await get(jp_fetch, "runs", notebook="analysis.ipynb")
    assert job["run_id"] in [r["id"] for r in runs["runs"]]


async def test_a_failing_job_reports_the_cell_error_and_keeps_its_notebook(jp_fetch, project):
    job = await run_job(jp_fetch, {"mode": "fail"})
    assert job["status"] == "failed", job
    assert "asked to fail with 5 rows" in job["error"]
    assert (project["root"] / job["executed_notebook"]).is_file()
    run = await get(jp_fetch, f"runs/{job['run_id']}")
    assert run["status"] == "failed" and "asked to fail" in run["error"]


async def test_no_trail_yet_is_an_empty_answer(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    assert (await get(jp_fetch, "status"))["trail"] is None
    assert (await get(jp_fetch, "runs"))["runs"] == []
    assert (await get(jp_fetch, "lineage", notebook="x.ipynb"))["nodes"] == []
    assert (await get(jp_fetch, "monitoring"))["runs"] == []


def test_both_extension_lists_say_ok():
    import subprocess
    import sys

    jupyter = [sys.executable, "-m", "jupyter"]
    lab = subprocess.run([*jupyter, "labextension", "list"], capture_output=True, text=True)
    server = subprocess.run(
        [*jupyter, "server", "extension", "list"], capture_output=True, text=True
    )
    clean = __import__("re").compile(r"\x1b\[[0-9;]*m")
    lab_out = clean.sub("", lab.stdout + lab.stderr)
    server_out = clean.sub("", server.stdout + server.stderr)
    assert "nbtrail v0.1.0 enabled OK" in lab_out, lab_out
    assert "nbtrail enabled" in server_out and "nbtrail 0.1.0 OK" in server_out, server_out


def test_hidden_kinds_are_contracted_not_cut():
    from nbtrail.server.views import _contract

    kinds = {"f": "file", "d1": "dataframe", "d2": "dataframe", "m": "model", "o": "file"}
    nodes = {n: {"id": n, "kind": k} for n, k in kinds.items()}
    edges = {("f", "d1", "derived"), ("d1", "d2", "derived"), ("d2", "m", "derived")}
    edges |= {("m", "o", "derived"), ("d1", "x", "derived")}  # x is not a node: ignored
    kept, contracted = _contract(nodes, edges, {"file", "model"})
    assert set(kept) == {"f", "m", "o"}
    assert contracted == {("f", "m", "via"), ("m", "o", "derived")}
    # Nothing hidden: the same graph back.
    kept, contracted = _contract(nodes, edges, set(kinds.values()))
    assert set(kept) == set(nodes) and contracted == edges - {("d1", "x", "derived")}


async def test_lineage_filtered_by_kind(jp_fetch, project):
    graph = await get(jp_fetch, "lineage", notebook="analysis.ipynb", kinds="file")
    assert [n["label"] for n in graph["nodes"]] == ["data.csv"] and graph["edges"] == []


# -- robustness: history on a shared trail, bounded queries, jobs under a lock ----------------


def _many_other_runs(root, count: int) -> None:
    """Runs of other notebooks, all newer than the analysis session (a busy shared trail)."""
    from nbtrail.store import NewRun, open_trail

    with open_trail(root) as trail:
        batch = trail.batch()
        for i in range(count):
            batch.add(
                NewRun(f"other-{i}.ipynb", kind="session", notebook=root / f"other-{i}.ipynb")
            )
        batch.commit()


async def test_a_notebooks_history_survives_a_busy_shared_trail(jp_fetch, project):
    _many_other_runs(project["root"], 400)
    runs = await get(jp_fetch, "runs", notebook="analysis.ipynb")
    assert [r["id"] for r in runs["runs"]] == [project["session"]]
    assert (await get(jp_fetch, "checks", notebook="analysis.ipynb"))["checks"]


def _statements(jp_serverapp):
    """Count the SQL statements the server's trail executes."""
    import sqlalchemy as sa

    engine = jp_serverapp.web_app.settings["nbtrail"].trail().engine
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


async def test_views_cost_the_same_number_of_queries_whatever_the_number_of_cells(
    jp_fetch, jp_serverapp, project
):
    from nbtrail.store import open_trail

    seen = _statements(jp_serverapp)

    async def cost() -> dict[str, int]:
        out = {}
        for endpoint in ("runs", "lineage", "checks"):
            seen.clear()
            await get(jp_fetch, endpoint, notebook="analysis.ipynb")
            out[endpoint] = len(seen)
        return out

    small = await cost()
    with open_trail(project["root"]) as trail:
        session = trail.get_run(project["session"])
        batch = trail.batch()
        from nbtrail.store import NewCheck, NewRun

        for i in range(40):
            cell = NewRun(f"cell {i + 2}", kind="cell", parent_id=session.id, status="succeeded")
            batch.add(cell, NewCheck(cell.id, f"check {i}", "warn" if i % 2 else "fail"))
        batch.commit()
    large = await cost()
    assert large == small, (small, large)
    runs = await get(jp_fetch, "runs", notebook="analysis.ipynb")
    assert runs["runs"][0]["failing_checks"] == 1 + 20


def test_jobs_beyond_max_jobs_are_refused_under_a_lock(tmp_path, monkeypatch):
    import threading

    from nbtrail.server.jobs import Job, Jobs, TooManyJobs

    jobs = Jobs(tmp_path, max_jobs=2)

    def slow_launch(notebook, parameters):
        time.sleep(0.05)  # wide enough for every other request to arrive meanwhile
        return Job(f"{threading.get_ident():012x}"[-12:], "n.ipynb", {}, "o", "r")

    monkeypatch.setattr(jobs, "_launch", slow_launch)
    started, refused = [], []
    barrier = threading.Barrier(8)

    def request():
        barrier.wait()
        try:
            started.append(jobs.start(tmp_path / "n.ipynb", {}))
        except TooManyJobs as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 2 and len(refused) == 6
    assert refused[0] == "2 runs are already going; wait for one to end"
    assert jobs.running() == 2


def _monitor_runs(root, count: int) -> list[str]:
    """Monitoring runs as ``nbtrail monitor`` records them: judged checks, deliveries, a trigger."""
    from nbtrail.store import open_trail

    ids = []
    with open_trail(root) as trail:
        for i in range(count):
            with trail.start_run(f"watch {i}", kind="monitor") as run:
                run.record_check("drift", "fail", summary="2 of 14 columns drifted: age, workclass")
                run.record_check("performance_decay", "pass", summary="no window dropped")
                run.record_check(
                    "estimated_performance", "fail", summary="estimated ROC AUC 0.71", kind="x"
                )
                run.record_check("alert_delivery", "warn", summary="1 of 2 deliveries succeeded")
                run.record_check(
                    "retraining_trigger",
                    "warn",
                    summary="rule 'drift' held: started pipeline run P",
                    params={"rule": "drift", "pipeline_run": f"run-{i}"},
                )
            ids.append(run.id)
    return ids


async def test_monitoring_lists_runs_with_their_alerts_triggers_and_deliveries(
    jp_fetch, jp_serverapp, project
):
    assert (await get(jp_fetch, "monitoring"))["runs"] == []  # sessions are not monitoring runs
    ids = _monitor_runs(project["root"], 3)
    seen = _statements(jp_serverapp)
    reply = await get(jp_fetch, "monitoring", limit="2")
    few = len(seen)
    assert [r["id"] for r in reply["runs"]] == ids[::-1][:2]  # newest first, limited
    newest = reply["runs"][0]
    assert newest["name"] == "watch 2" and newest["checks"] == 3
    assert [(a["name"], a["status"]) for a in newest["alerts"]] == [
        ("drift", "fail"),
        ("estimated_performance", "fail"),
    ]
    drift = newest["alerts"][0]
    assert drift["summary"].startswith("2 of 14") and "reference" in drift["action"]
    # A check kind without its own advice still says where to look.
    assert "card" in newest["alerts"][1]["action"]
    assert newest["triggers"] == [
        {
            "check_id": newest["triggers"][0]["check_id"],
            "status": "warn",
            "summary": "rule 'drift' held: started pipeline run P",
            "rule": "drift",
            "pipeline_run": "run-2",
        }
    ]
    assert newest["deliveries"] == "1 of 2 deliveries succeeded"
    _monitor_runs(project["root"], 5)
    seen.clear()
    assert len((await get(jp_fetch, "monitoring", limit="8"))["runs"]) == 8
    assert len(seen) == few  # the same queries however many runs and checks


async def test_monitoring_limit_is_checked(jp_fetch, project):
    with pytest.raises(HTTPClientError) as raised:
        await get(jp_fetch, "monitoring", limit="0")
    assert raised.value.code == 400
    assert "'limit'" in json.loads(raised.value.response.body)["error"]


def _registered(root: Path, monkeypatch, *, roles: str) -> str:
    """A registered model under a policy needing one approval; returns the approver's key path."""
    from conftest import training_run

    from nbtrail import registry
    from nbtrail.registry import generate_key

    public = generate_key(root / "carol.key")
    (root / "pyproject.toml").write_text(
        "[tool.nbtrail.policy.champion]\nrequire_checks = ['schema']\napprovals = 1\n"
        f"approver_roles = ['risk']\n[tool.nbtrail.roles]\n{roles}\n"
        f'[tool.nbtrail.approvers]\ncarol = "{public}"\n'
    )
    monkeypatch.setenv("NBTRAIL_USER", "bob")
    with training_run(root, "income") as (run, recorded):
        run.record_check("schema", "pass", artifact=recorded["frame"])
    with open_trail(root) as trail:
        registry.register(recorded["path"], name="income", trail=trail)
    monkeypatch.setenv("NBTRAIL_USER", "carol")
    monkeypatch.setenv("NBTRAIL_APPROVER_KEY", str(root / "carol.key"))
    return str(root / "carol.key")


async def post(jp_fetch, path, body) -> dict:
    response = await jp_fetch(
        "nbtrail", "api", *path.split("/"), method="POST", body=json.dumps(body)
    )
    return json.loads(response.body)


async def test_the_registry_lists_policy_states_and_approves_for_a_role_holder(
    jp_fetch, project, monkeypatch
):
    _registered(project["root"], monkeypatch, roles="risk = ['carol']")
    reply = await get(jp_fetch, "registry")
    assert reply["user"] == {"name": "carol", "roles": ["risk"], "can_approve": True, "why": None}
    ((model,),) = [reply["models"]]
    (version,) = model["versions"]
    assert version["policy"] == [
        {
            "alias": "champion",
            "satisfied": False,
            "missing": ["approvals: missing (0 of 1 signed approval(s) by risk)"],
        }
    ]
    approved = await post(jp_fetch, "registry/approve", {"name": "income", "version": 1})
    assert approved["approver"] == "carol" and "approved income@1" in approved["message"]
    (version,) = (await get(jp_fetch, "registry"))["models"][0]["versions"]
    assert version["approvals"] == ["carol"] and version["policy"][0]["satisfied"] is True


async def test_an_approval_without_the_role_is_refused_by_the_server(
    jp_fetch, project, monkeypatch
):
    _registered(project["root"], monkeypatch, roles="risk = ['alice']")
    reply = await get(jp_fetch, "registry")
    assert (
        reply["user"]["can_approve"] is False and "holds no approving role" in reply["user"]["why"]
    )
    with pytest.raises(HTTPClientError) as refused:
        await post(jp_fetch, "registry/approve", {"name": "income", "version": 1})
    assert refused.value.code == 403
    assert "carol holds no approving role" in json.loads(refused.value.response.body)["error"]
    with open_trail(project["root"]) as trail:
        from nbtrail.store import registry_history

        assert [r["action"] for r in registry_history(trail)] == ["register"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"version": 1}, "'name' (the registered model) is required"),
        ({"name": "income", "version": "1"}, "'version' must be a version number"),
        ({"name": "income", "version": 1, "comment": 5}, "'comment' must be text"),
    ],
)
async def test_bad_approval_requests_get_400_naming_the_field(jp_fetch, project, body, message):
    with pytest.raises(HTTPClientError) as refused:
        await post(jp_fetch, "registry/approve", body)
    assert refused.value.code == 400
    assert message in json.loads(refused.value.response.body)["error"]
