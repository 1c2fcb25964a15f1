"""The JupyterLab extension in a real browser: a real JupyterLab, a real kernel, headless Chromium.

Skipped loudly without Chromium, unless NBTRAIL_REQUIRE_BROWSER=1 (set by .ci/run), which
turns that into a failure. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbtrail import fingerprint
from nbtrail.store import init_trail

NOTEBOOKS = Path(__file__).parent / "notebooks"
TOKEN = "nbtrail-test-token"


# pytest-jupyter, once test_server.py loads it, makes two of its fixtures autouse for every test
# of the session: one closes "the" asyncio loop after each test, the other runs the Jupyter
# server's cleanup on that loop. Here that loop is the one Playwright's sync API keeps running,
# so both fail (and a later module's order decided whether they did). JupyterLab runs in a
# subprocess in this module: neither is wanted.
@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


FAIRNESS_CELLS = (
    "%load_ext nbtrail",
    "from sklearn.linear_model import LogisticRegression\n"
    "from nbtrail import checks\nfrom nbtrail.datasets import load_adult",
    'frame = load_adult("test").sample(3000, random_state=0)\n'
    'X, y = frame[["age", "education_num", "hours_per_week"]], frame["income"] == ">50K"\n'
    "model = LogisticRegression(max_iter=500).fit(X, y)",
    'checks.fairness(y, model.predict(X), sensitive_features=frame["sex"], n_boot=50)',
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """A JupyterLab server on a free loopback port, with a trail and two notebooks."""
    root = tmp_path_factory.mktemp("lab")
    home = root / ".nbtrail"
    (root / "old.csv").write_text("age,label\n30,1\n40,0\n")
    with (
        init_trail(root) as trail,
        trail.start_run(
            "analysis.ipynb", kind="template", notebook=root / "analysis.ipynb"
        ) as older,
    ):
        older.use(root / "old.csv")  # an earlier run of the notebook, for the run history
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "age": rng.integers(18, 80, 120),
            "city": rng.choice(["north", "south"], 120),
            "label": rng.integers(0, 2, 120),
        }
    ).to_csv(root / "people.csv", index=False)
    nb = new_notebook()
    nb.cells = [
        new_code_cell("%load_ext nbtrail"),
        new_code_cell(
            "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
            "from nbtrail import checks"
        ),
        new_code_cell('people = pd.read_csv("people.csv")'),
        new_code_cell('model = LogisticRegression().fit(people[["age"]], people["label"])'),
        new_code_cell(
            "bad = people.assign(city=['atlantis'] * len(people))\n"
            "checks.validate(bad, checks.infer_schema(people))"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "analysis.ipynb")
    shutil.copy(NOTEBOOKS / "template_modes.ipynb", root / "job.ipynb")
    audit = new_notebook(cells=[new_code_cell(source) for source in FAIRNESS_CELLS])
    audit.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(audit, root / "fairness.ipynb")
    port = _free_port()
    env = dict(
        os.environ,
        NBTRAIL_HOME=str(home),
        JUPYTER_CONFIG_DIR=str(root / ".jupyter-config"),
        NBTRAIL_APPROVER_KEY=str(root / "approver.key"),  # the server user's, made by a test
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI machines run as root
    with open(root / "lab.log", "wb") as log:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:])
    try:
        yield {"url": url, "root": root, "home": home}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _open(browser, lab, path):
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab['url']}/lab/tree/{path}?token={TOKEN}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
    # The restored layout may hold other notebooks (hidden tabs): wait for one to exist.
    page.wait_for_selector(".jp-Notebook", state="attached", timeout=60_000)
    # JupyterLab restores the previous layout too: make this notebook the current one.
    page.evaluate(
        "path => window.jupyterapp.commands.execute('docmanager:open', {path})", str(path)
    )
    page.wait_for_function(
        "path => { const w = window.jupyterapp.shell.currentWidget;"
        " return w && w.context && w.context.path === path && w.sessionContext &&"
        " w.sessionContext.session && w.sessionContext.session.kernel &&"
        " w.sessionContext.session.kernel.status === 'idle'; }",
        arg=str(path),
        timeout=90_000,
    )
    return page, errors


def _lineage(page) -> tuple[dict, set]:
    nodes = page.eval_on_selector_all(
        "#nbtrail-panel g.nbtrail-node",
        "els => els.map(e => [e.dataset.label, e.dataset.kind])",
    )
    edges = page.eval_on_selector_all(
        "#nbtrail-panel path.nbtrail-edge",
        "els => els.map(e => [e.dataset.source, e.dataset.target])",
    )
    return dict(nodes), {tuple(e) for e in edges}


def _reaches(edges: set, start: str, goal: str) -> bool:
    frontier, seen = [start], {start}
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        for source, target in edges:
            if source == node and target not in seen:
                seen.add(target)
                frontier.append(target)
    return False


def test_trail_panel_shows_lineage_checks_and_status(lab, browser, screenshot_dir):
    page, errors = _open(browser, lab, "analysis.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
        ".filter(p => /\\[\\d+\\]/.test(p.textContent)).length >= 5",
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.shell.activateById('nbtrail-panel')")
    page.wait_for_selector("#nbtrail-panel", state="visible")
    # The panel refreshes after cells run; the background writer commits when the kernel idles.
    page.wait_for_selector("#nbtrail-panel g.nbtrail-node[data-kind='model']", timeout=60_000)
    page.wait_for_selector("#nbtrail-panel li.nbtrail-check[data-status='fail']", timeout=60_000)
    nodes, edges = _lineage(page)
    assert nodes["people.csv"] == "file"
    assert nodes["people"] == "dataframe"
    assert "model" in nodes and nodes["model"] == "model"
    assert _reaches(edges, "people.csv", "people")
    assert _reaches(edges, "people", "model")
    # In JupyterLab the check result is an ipywidgets view, not the static HTML.
    output = page.locator(".jp-Cell").nth(4).locator(".jp-OutputArea-output")
    output.locator(".widget-vbox, .jupyter-widgets").first.wait_for(timeout=30_000)
    assert output.locator(".jupyter-widgets").count() >= 2  # header, metrics, findings: widgets
    assert "schema" in output.inner_text() and "atlantis" in output.inner_text()
    check = page.locator("#nbtrail-panel li.nbtrail-check[data-status='fail']").first
    assert check.get_attribute("data-name") == "schema"
    card = check.locator(".nbtrail-card")
    assert card.is_hidden()  # drawn when opened
    check.locator(".nbtrail-check-head").click()
    card.wait_for(state="visible")
    # Opened, the check shows the card the server drew, sanitised: what it judged (the frame
    # `bad` the cell validated, named and fingerprinted), its metrics, its findings.
    people = pd.read_csv(lab["root"] / "people.csv")
    bad = fingerprint(people.assign(city=["atlantis"] * len(people))).digest
    subjects = card.locator(".subjects")
    assert " ".join(subjects.inner_text().split()) == f"on data: bad {bad[:12]}"
    assert subjects.locator("code").get_attribute("title") == bad
    assert "failing_row_share" in card.locator("table").first.inner_text()
    assert "city" in card.locator(".findings").inner_text()
    assert card.locator(".findings tr.bad").count() == 1
    # A refresh draws the list again; the opened check stays open.
    check.evaluate("e => { e.dataset.drawn = 'before'; }")
    page.click("#nbtrail-panel .nbtrail-refresh")
    page.wait_for_selector("#nbtrail-panel li.nbtrail-check:not([data-drawn])", timeout=30_000)
    check = page.locator("#nbtrail-panel li.nbtrail-check[data-status='fail']").first
    assert check.locator(".nbtrail-card .subjects").is_visible()
    status = page.locator(".nbtrail-status")
    page.wait_for_function(
        "() => document.querySelector('.nbtrail-status').dataset.failing === '1'", timeout=30_000
    )
    assert "recording" in status.inner_text() and "1 failing check" in status.inner_text()
    assert status.get_attribute("data-recording") == "true"
    page.screenshot(path=str(screenshot_dir / "trail-panel.png"))
    # The run history: the older run shows its own lineage; clicking it again follows the newest.
    runs = page.locator("#nbtrail-panel li.nbtrail-run")
    assert runs.count() == 2 and "nbtrail-selected" in runs.nth(0).get_attribute("class")
    runs.nth(1).click()
    page.wait_for_selector("#nbtrail-panel g.nbtrail-node[data-label='old.csv']", timeout=30_000)
    nodes, _ = _lineage(page)
    assert set(nodes) == {"old.csv"}
    assert page.locator("#nbtrail-panel li.nbtrail-check").count() == 0
    assert status.get_attribute("data-failing") == "1"  # the status bar still speaks of the newest
    page.screenshot(path=str(screenshot_dir / "older-run.png"))
    page.locator("#nbtrail-panel li.nbtrail-run").nth(1).click()
    page.wait_for_selector("#nbtrail-panel g.nbtrail-node[data-kind='model']", timeout=30_000)
    assert not errors, errors
    page.close()


def test_run_notebook_as_audited_pipeline_from_the_command(lab, browser, screenshot_dir):
    page, errors = _open(browser, lab, "job.ipynb")
    assert page.locator(".nbtrail-run-button").count() >= 1  # the notebook toolbar button
    # As a user would: the command palette, searched, then the item clicked.
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:activate-command-palette')")
    page.fill(".lm-CommandPalette-input", "audited pipeline")
    item = page.locator(".lm-CommandPalette-item", has_text="Run notebook as audited pipeline")
    item.first.click()
    page.wait_for_selector(".nbtrail-run-form select[name='mode']", timeout=30_000)
    values = page.eval_on_selector_all(
        ".nbtrail-run-form [name]", "els => Object.fromEntries(els.map(e => [e.name, e.value]))"
    )
    assert values == {"rows": "5", "mode": "ok", "scale": "1", "label": "demo"}
    page.eval_on_selector(
        ".nbtrail-run-form input[name='rows']",
        "e => { e.value = '7'; e.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    page.screenshot(path=str(screenshot_dir / "run-dialog.png"))
    page.click(".jp-Dialog button.jp-mod-accept")
    page.wait_for_selector(".nbtrail-run-status[data-status='succeeded']", timeout=240_000)
    assert page.locator(".nbtrail-open-notebook").count() == 1
    report = page.locator(".nbtrail-open-report").get_attribute("href")
    assert report.endswith(".html") and "/files/nbtrail-runs/" in report
    page.screenshot(path=str(screenshot_dir / "run-finished.png"))
    executed = list((lab["root"] / "nbtrail-runs").glob("job-*.ipynb"))
    assert len(executed) == 1
    assert '"rows": 7' in executed[0].read_text() or "rows = 7" in executed[0].read_text()
    assert not errors, errors
    page.close()


def test_settings_choose_which_artifact_kinds_the_graph_shows(lab, browser, screenshot_dir):
    page, errors = _open(browser, lab, "analysis.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.evaluate("() => window.jupyterapp.shell.activateById('nbtrail-panel')")
    page.wait_for_selector("#nbtrail-panel g.nbtrail-node[data-kind='model']", timeout=90_000)
    save = "raw => window.jupyterapp.serviceManager.settings.save('nbtrail:plugin', raw)"
    try:
        page.evaluate(save, json.dumps({"artifactKinds": ["file", "model"]}))
        page.close()  # a new page reads the saved settings when JupyterLab starts
        page, more_errors = _open(browser, lab, "analysis.ipynb")
        errors += more_errors
        page.wait_for_selector("#nbtrail-panel", state="attached", timeout=60_000)
        page.evaluate("() => window.jupyterapp.shell.activateById('nbtrail-panel')")
        page.wait_for_selector("#nbtrail-panel g.nbtrail-node[data-kind='model']", timeout=60_000)
        nodes, edges = _lineage(page)
        assert set(nodes.values()) == {"file", "model"}, nodes
        # The data frames between them are hidden, not the link: people.csv still reaches model.
        assert ("people.csv", "model") in edges
        page.screenshot(path=str(screenshot_dir / "files-and-models.png"))
    finally:
        # Through the server, not the page: a failure above may have left no page open.
        request = urllib.request.Request(
            f"{lab['url']}/lab/api/settings/nbtrail:plugin",
            data=json.dumps({"raw": "{}"}).encode(),
            method="PUT",
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()
    assert not errors, errors
    page.close()


def test_fairness_widget_switches_metric_and_the_panel_shows_its_card(lab, browser, screenshot_dir):
    page, errors = _open(browser, lab, "fairness.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Other notebooks of this module's tests may be open in hidden tabs: this one's cells only.
    current = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
    output = page.locator(f"[id='{current}'] .jp-Cell").nth(3).locator(".jp-OutputArea-output")
    select = output.locator(".widget-dropdown select")
    select.wait_for(timeout=120_000)
    chart = output.locator(".widget-html-content img").last
    chart.wait_for(timeout=30_000)
    first_metric, first = select.input_value(), chart.get_attribute("src")
    assert select.locator("option").count() >= 6  # one picture per metric
    select.select_option(index=3)  # another metric than the one shown first
    assert select.input_value() != first_metric
    # The HTML widget redraws by replacing its content: ask the locator again each time.
    deadline = time.monotonic() + 30
    while chart.get_attribute("src") == first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chart.get_attribute("src") != first, "the chart was not redrawn for the new metric"
    drawn = base64.b64decode(chart.get_attribute("src").split(",", 1)[1]).decode()
    assert drawn.startswith("<svg") and "Female" in drawn and "Male" in drawn
    page.screenshot(path=str(screenshot_dir / "fairness-widget.png"))
    # The Trail panel lists the check; opened, its card keeps the pictures through the sanitiser.
    page.evaluate("() => window.jupyterapp.shell.activateById('nbtrail-panel')")
    check = page.locator("#nbtrail-panel li.nbtrail-check[data-name='fairness']").first
    check.wait_for(timeout=60_000)
    check.locator(".nbtrail-check-head").click()
    card = check.locator(".nbtrail-card")
    card.wait_for(state="visible")
    assert card.locator("img[src^='data:image/svg+xml']").count() >= 6
    assert "Female" in card.inner_text()
    page.screenshot(path=str(screenshot_dir / "fairness-panel.png"))
    assert not errors, errors
    page.close()


def test_monitoring_runs_show_their_alerts_and_open_their_cards(lab, browser, screenshot_dir):
    import joblib
    from sklearn.linear_model import LogisticRegression

    from nbtrail import monitor
    from nbtrail.datasets import load_adult
    from nbtrail.store import open_trail

    numbers = ["age", "education_num", "hours_per_week"]
    root = lab["root"]
    train, test = load_adult("train").head(4000), load_adult("test").head(1500)
    model = LogisticRegression().fit(train[numbers], train["income"] == ">50K")
    joblib.dump(model, root / "income.joblib")
    train[numbers].to_parquet(root / "reference.parquet")
    older = test[numbers].assign(age=test["age"] + 8)  # ages shifted: drift
    with open_trail(root) as trail:
        with monitor.PredictionLog(str(root / "income.joblib"), trail=trail) as log:
            log.predictions(older, model.predict(older))
        spec = {
            "name": "income watch",
            "model": str(root / "income.joblib"),
            "reference": str(root / "reference.parquet"),
            "checks": {"drift": {}},
            "alerts": [{"file": str(root / "alerts.jsonl")}],
        }
        result = monitor.run_monitor(spec, trail=trail)
    assert result.alerted
    page, errors = _open(browser, lab, "analysis.ipynb")
    page.evaluate("() => window.jupyterapp.shell.activateById('nbtrail-panel')")
    page.click("#nbtrail-panel .nbtrail-refresh")
    watched = page.locator(f"#nbtrail-panel li.nbtrail-monitor[data-id='{result.run_id}']")
    watched.wait_for(timeout=60_000)
    assert watched.get_attribute("data-alerts") == "1"
    alert = watched.locator("li.nbtrail-alert[data-check='drift']")
    assert "age" in alert.inner_text() and "Next:" in alert.inner_text()
    assert "1 of 1 alert deliveries succeeded" in watched.inner_text()
    # Clicked, the panel shows the monitoring run's checks: the drift card with its histograms.
    watched.locator(".nbtrail-monitor-head").click()
    check = page.locator("#nbtrail-panel li.nbtrail-check[data-name='drift']")
    check.wait_for(timeout=30_000)
    assert page.locator("#nbtrail-panel li.nbtrail-check[data-name='schema']").count() == 0
    assert "monitor" in page.locator("#nbtrail-panel > .nbtrail-muted").first.inner_text()
    check.locator(".nbtrail-check-head").click()
    card = check.locator(".nbtrail-card")
    card.wait_for(state="visible")
    assert card.locator("img[src^='data:image/svg+xml'], svg").count() >= 1
    assert "age" in card.inner_text()
    assert "nbtrail-selected" in watched.get_attribute("class")
    page.screenshot(path=str(screenshot_dir / "monitoring-panel.png"))
    # Clicked again, the panel follows the notebook's newest run.
    watched.locator(".nbtrail-monitor-head").click()
    page.wait_for_selector(
        "#nbtrail-panel li.nbtrail-check[data-name='drift']", state="detached", timeout=30_000
    )
    assert not errors, errors
    page.close()


def _api(lab, path: str) -> dict:
    request = urllib.request.Request(
        f"{lab['url']}/nbtrail/api/{path}", headers={"Authorization": f"token {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_the_registry_section_approves_for_a_role_holder_only(
    lab, browser, screenshot_dir, monkeypatch
):
    from conftest import training_run

    from nbtrail import registry
    from nbtrail.registry import generate_key
    from nbtrail.store import open_trail

    root = lab["root"]
    user = _api(lab, "registry")["user"]["name"]  # who the server acts as
    public = generate_key(root / "approver.key")

    def policy(approvers_role: str) -> None:
        (root / "pyproject.toml").write_text(
            "[tool.nbtrail.policy.champion]\nrequire_checks = ['schema']\napprovals = 1\n"
            f"approver_roles = ['risk']\n[tool.nbtrail.roles]\nrisk = ['{approvers_role}']\n"
            f'[tool.nbtrail.approvers]\n"{user}" = "{public}"\n'
        )

    policy(user)
    monkeypatch.setenv("NBTRAIL_USER", "bob")  # bob trains and registers; the server user approves
    monkeypatch.setenv("NBTRAIL_HOME", str(lab["home"]))
    with training_run(root, "registered") as (run, recorded):
        run.record_check("schema", "pass", artifact=recorded["frame"])
    with open_trail(root) as trail:
        registry.register(recorded["path"], name="income", trail=trail)
    try:
        page, errors = _open(browser, lab, "analysis.ipynb")
        page.evaluate("() => window.jupyterapp.shell.activateById('nbtrail-panel')")
        page.click("#nbtrail-panel .nbtrail-refresh")
        income = "#nbtrail-panel li.nbtrail-model[data-name='income']"
        version = page.locator(f"{income} li.nbtrail-version[data-version='1']")
        version.wait_for(timeout=60_000)
        champion = version.locator(".nbtrail-policy[data-alias='champion']")
        assert champion.get_attribute("data-satisfied") == "false"
        assert "0 of 1 signed approval" in champion.inner_text()
        version.locator("button.nbtrail-approve").click()
        page.locator(".jp-Dialog input").fill("checked the schema card")
        page.locator(".jp-Dialog .jp-mod-accept").click()
        page.wait_for_selector(
            "#nbtrail-panel .nbtrail-policy[data-alias='champion'][data-satisfied='true']",
            timeout=60_000,
        )
        assert f"approved by {user}" in version.inner_text()
        assert version.locator("button.nbtrail-approve").count() == 0  # approved once
        page.screenshot(path=str(screenshot_dir / "registry-approved.png"))
        # Without the role, no button; and the server refuses a request made anyway.
        policy("alice")
        with training_run(root, "registered2", seed=1) as (run, recorded):
            run.record_check("schema", "pass", artifact=recorded["frame"])
        with open_trail(root) as trail:
            registry.register(recorded["path"], name="income", trail=trail)
        page.click("#nbtrail-panel .nbtrail-refresh")
        second = page.locator("#nbtrail-panel li.nbtrail-version[data-version='2']")
        second.wait_for(timeout=60_000)
        assert page.locator("#nbtrail-panel button.nbtrail-approve").count() == 0
        assert (
            page.locator("#nbtrail-panel .nbtrail-registry-list").get_attribute("data-can-approve")
            == "false"
        )
        status = page.evaluate(
            """async () => {
                const settings = window.jupyterapp.serviceManager.serverSettings;
                const url = settings.baseUrl + 'nbtrail/api/registry/approve';
                const init = {method: 'POST', body: JSON.stringify({name: 'income', version: 2})};
                const reply = await fetch(url, {
                    ...init,
                    headers: {Authorization: 'token ' + settings.token},
                });
                return [reply.status, (await reply.json()).error];
            }"""
        )
        assert status[0] == 403 and "holds no approving role" in status[1]
        assert not errors, errors
        page.close()
    finally:
        (root / "pyproject.toml").unlink()
