"""The HTML report runs no script: links that cannot be schemes, escaped values, checked statuses.

A template may be called ``javascript:document.title='x'+document.domain<!--.ipynb`` (a valid
file name); the report links to its executed notebook, so the link must stay a path to a file
whatever the name. The browser tests open a report made by a real ``nbtrail run`` of such a
template from ``file://`` and from a plain HTTP server on loopback (standing in for Jupyter's
``/files/``), click every link, each in a fresh page, and look for any sign of script: a
changed title, a dialog, a marker set on ``window``, a console message (a Content-Security-
Policy refusal is one). A control page with the unsafe link proves the harness would notice.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlparse

import pandas as pd
import pytest

from nbtrail.cli import main
from nbtrail.report import _safe
from nbtrail.report.html import render_report, write_report
from nbtrail.report.runs import summarize
from nbtrail.store import init_trail, open_trail

TEMPLATE = "javascript:document.title='x'+document.domain<!--.ipynb"
# Each payload would leave a mark if it ever ran: a title, a dialog or window.__pwned.
PAYLOADS = {
    "run": "<script>window.__pwned='run'</script>\"'<!--",
    "source": "<img src=x onerror=window.__pwned='source'>\"'<!--.csv",  # no "/" in a file name
    "target": "javascript:alert('target')<!--.csv",
    "metric": "<script>document.title='PWNED'</script>",
    "output": "javascript:window.__pwned='output'",
    "check": "<script>window.__pwned='check'</script>\"'<!--",
    "summary": "<img src=x onerror=alert('summary')> javascript:alert(1)",
    "status": "\"'><script>window.__pwned='status'</script><!--",
}


class _Elements(HTMLParser):
    """Every element, attribute and comment a browser would build from the page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)

    def handle_comment(self, data):
        self.comments.append(data)


def _parse(page: str) -> _Elements:
    found = _Elements()
    found.feed(page)
    found.close()
    return found


def _assert_inert(page: str) -> list[str]:
    """The page builds no script, no handler, no comment; every link is a local path. Hrefs."""
    found = _parse(page)
    assert not {"script", "img", "iframe", "object", "embed", "base", "form"} & set(found.tags)
    assert not [name for name, _ in found.attributes if name.startswith("on")]
    assert found.comments == []
    assert "<script" not in page.lower() and "<!--" not in page
    hrefs = [value for name, value in found.attributes if name in ("href", "src", "action")]
    for href in hrefs:
        assert href.startswith(("./", "../", "file:")), href
        assert "javascript" not in href.lower() or "javascript%3A" in href, href
        assert not set(href) & set("'\"<> #?:") or href.startswith("file:"), href
    csp = [v for n, v in found.attributes if n == "content" and "default-src 'none'" in v]
    assert csp == [_safe.CSP]
    return hrefs


# -- links ------------------------------------------------------------------------------------


def test_a_link_is_a_relative_percent_encoded_path(tmp_path):
    here = tmp_path / "site"
    assert _safe.local_href(here / TEMPLATE, here) == (
        "./javascript%3Adocument.title%3D%27x%27%2Bdocument.domain%3C%21--.ipynb"
    )
    assert _safe.local_href(here / "a b#c?d%e.ipynb", here) == "./a%20b%23c%3Fd%25e.ipynb"
    nested = tmp_path / "runs" / "r1" / "javascript:x.ipynb"
    assert _safe.local_href(nested, here) == "../runs/r1/javascript%3Ax.ipynb"
    assert _safe.local_href(here / "..x" / "n.ipynb", here) == "./..x/n.ipynb"
    assert _safe.local_href(here, here) == "./"


def test_a_file_on_another_drive_is_a_file_url(tmp_path, monkeypatch):
    def no_relative_path(path, start):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(_safe.os.path, "relpath", no_relative_path)
    href = _safe.local_href(tmp_path / TEMPLATE, tmp_path / "site")
    assert href == (tmp_path / TEMPLATE).as_uri()
    assert href.startswith("file:///") and not set(href) & set("'\"<> ")


def test_esc_escapes_both_quotes():
    assert _safe.esc("\"'<>&") == "&quot;&#x27;&lt;&gt;&amp;"


# -- a report of hostile names ------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """A pipeline whose every name is hostile, its step's notebook called like the template."""
    monkeypatch.setenv("NBTRAIL_USER", PAYLOADS["run"])
    trail = init_trail(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    notebook = site / TEMPLATE
    notebook.write_text("{}")
    source = tmp_path / PAYLOADS["source"]
    source.write_text("x\n1\n")
    pipeline = trail.start_run(PAYLOADS["run"], kind="pipeline", attrs={"git": None})
    step = pipeline.start_run(
        TEMPLATE[: -len(".ipynb")],
        kind="template",
        params={PAYLOADS["run"]: PAYLOADS["run"]},
        attrs={"outputs": {PAYLOADS["output"]: PAYLOADS["output"]}},
    )
    used = step.use(source)
    frame = step.produce(pd.DataFrame({"x": [1]}), name=PAYLOADS["check"], derived_from=[used])
    step.record_check(PAYLOADS["check"], "warn", summary=PAYLOADS["summary"], artifact=frame)
    step.record_check("to be edited", "pass", summary="fine", artifact=frame)
    step.log_metrics({PAYLOADS["metric"]: 1.0})
    step.end("succeeded", attrs={"executed_notebook": str(notebook)})
    pipeline.end("succeeded")
    yield trail, pipeline.id, site
    trail.close()


def test_hostile_names_make_no_script_and_no_scheme(hostile, tmp_path):
    trail, run_id, site = hostile
    page = render_report(trail, run_id, base=site)
    assert _assert_inert(page) == [
        "./javascript%3Adocument.title%3D%27x%27%2Bdocument.domain%3C%21--.ipynb"
    ]
    elsewhere = tmp_path / "elsewhere"
    assert _assert_inert(render_report(trail, run_id, base=elsewhere)) == [
        "../site/javascript%3Adocument.title%3D%27x%27%2Bdocument.domain%3C%21--.ipynb"
    ]
    for payload in PAYLOADS.values():
        assert payload not in page
    assert "&lt;script&gt;window.__pwned=&#x27;check&#x27;&lt;/script&gt;" in page


def _edit(home: Path, sql: str, *values) -> None:
    """Change the trail's SQLite file behind nbtrail's back."""
    with contextlib.closing(sqlite3.connect(home / "trail.db")) as db:
        changed = db.execute(sql, values).rowcount
        db.commit()
    assert changed >= 1


def test_a_status_edited_in_the_database_is_shown_as_unknown(hostile, tmp_path):
    trail, run_id, site = hostile
    home = tmp_path / ".nbtrail"
    _edit(home, "UPDATE checks SET status = ? WHERE name = 'to be edited'", PAYLOADS["status"])
    _edit(home, "UPDATE runs SET status = ? WHERE kind = 'template'", PAYLOADS["status"])
    _edit(home, "UPDATE runs SET status = ? WHERE kind = 'pipeline'", PAYLOADS["status"])
    page = render_report(trail, run_id, base=site)
    _assert_inert(page)
    assert PAYLOADS["status"] not in page
    found = _parse(page)
    classes = [value for name, value in found.attributes if name == "class"]
    assert not [c for c in classes if "script" in c or "pwned" in c]
    assert page.count("<span class='badge unknown'") == 4  # run, step, verdict, card
    card = page[page.index("data-check='to be edited'") :]
    assert card.startswith("data-check='to be edited' data-status='unknown'>")
    assert "It did not work." in page and "<title>" in page
    assert "document.domain&lt;!--: unknown</title>" in page and " · unknown</text>" in page
    statuses = {c.status for _, c in summarize(trail, run_id).checks}
    assert PAYLOADS["status"] in statuses  # the trail really holds it; the report refused it


# -- a real nbtrail run, a real browser ---------------------------------------------------------


def _template(path: Path) -> None:
    source = [
        "import pandas as pd\n",
        "from pathlib import Path\n",
        "import nbtrail\n",
        "from nbtrail.checks import CheckResult\n",
        f"frame = pd.read_csv({PAYLOADS['source']!r})\n",
        f"target = 'out/' + {PAYLOADS['target']!r}\n",
        "frame.head(rows).to_csv(target, index=False)\n",
        f"nbtrail.log_metric({PAYLOADS['metric']!r}, float(rows))\n",
        "nbtrail.output('kept', target)  # an output's name is an identifier\n",
        f"CheckResult({PAYLOADS['check']!r}, 'warn', {PAYLOADS['summary']!r}).record()\n",
        "CheckResult('to be edited', 'pass', 'fine').record()\n",
    ]
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ["rows: int = 2"]},
        {"cell_type": "code", "metadata": {}, "source": source},
    ]
    for number, cell in enumerate(cells):
        cell.update(id=f"cell{number}", execution_count=None, outputs=[])
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def _http_server(root: Path):
    """A plain static file server on loopback, like Jupyter's /files/."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _click_every_link(browser, url: str) -> tuple[list[str], list[str]]:
    """Click each link of the page at ``url`` in a fresh page; return (hrefs, signs of script)."""
    first = browser.new_page()
    first.goto(url)
    title = first.title()
    hrefs = first.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
    first.close()
    problems = []
    for index, href in enumerate(hrefs):
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        seen: dict[str, list] = {"dialog": [], "console": [], "error": [], "popup": []}
        requested: list[str] = []
        responses: dict[str, int] = {}
        page.on("dialog", lambda d, seen=seen: (seen["dialog"].append(d.message), d.dismiss()))
        page.on("console", lambda m, seen=seen: seen["console"].append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e, seen=seen: seen["error"].append(str(e)))
        page.on("request", lambda r, got=requested: got.append(r.url))
        page.on("response", lambda r, got=responses: got.update({r.url: r.status}))
        context.on("page", lambda p, seen=seen: seen["popup"].append(p.url))
        page.goto(url)
        page.locator("a").nth(index).click()
        page.wait_for_timeout(500)
        target = urljoin(url, href)
        where = page.url
        if where == url:  # still the report (the notebook was downloaded): unchanged?
            state = page.evaluate(
                "[document.title, window.__pwned || null, document.body.innerText]"
            )
            if state[0] != title or state[1] is not None or "It " not in state[2]:
                problems.append(f"link {href!r} changed the report: {state[:2]}")
        elif where != target:
            problems.append(f"link {href!r} went to {where}, not {target}")
        if target not in requested:
            problems.append(f"link {href!r} did not load {target}: {requested}")
        elif target.startswith("http") and responses.get(target) != 200:
            problems.append(f"link {href!r}: HTTP {responses.get(target)}")
        problems += [f"link {href!r}: {kind} {what}" for kind, got in seen.items() for what in got]
        context.close()
    return hrefs, problems


@pytest.fixture
def unsafe_page(tmp_path) -> Path:
    """The report's old link, with no Content-Security-Policy: the harness must catch it."""
    folder = tmp_path / "control"
    folder.mkdir()
    (folder / TEMPLATE).write_text("{}")
    href = "javascript:document.title=&#x27;x&#x27;+document.domain&lt;!--.ipynb"
    page = folder / "report.html"
    page.write_text(f"<title>control</title><p>It is here</p><a href='{href}'>notebook</a>")
    return page


def test_the_harness_sees_a_link_that_runs_script(browser, unsafe_page):
    _, problems = _click_every_link(browser, unsafe_page.as_uri())
    assert any("changed the report" in problem for problem in problems), problems


def test_clicking_every_link_of_a_real_report_runs_no_script(
    capsys, tmp_path, monkeypatch, browser, screenshot_dir
):
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    monkeypatch.chdir(project)
    monkeypatch.setenv("NBTRAIL_HOME", str(project / ".nbtrail"))
    monkeypatch.setenv("NBTRAIL_USER", PAYLOADS["run"])
    (project / PAYLOADS["source"]).write_text("value\n1\n2\n3\n")
    _template(project / TEMPLATE)
    args = ["run", TEMPLATE, "--output", f"out/{TEMPLATE}", "--report", "out/report.html"]
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    assert code == 0, capsys.readouterr().err
    report = project / "out" / "report.html"
    executed = project / "out" / TEMPLATE
    assert executed.is_file()
    page = report.read_text(encoding="utf-8")
    assert _assert_inert(page) == ["./" + quote(TEMPLATE, safe="")]
    assert "It worked, with warnings to read." in page

    # The trail edited behind nbtrail's back: a check status that is markup.
    edit = "UPDATE checks SET status = ? WHERE name = 'to be edited'"
    _edit(project / ".nbtrail", edit, PAYLOADS["status"])
    with open_trail(project) as trail:
        (run,) = trail.runs(kind="template")
        write_report(trail, run.id, report)
    page = report.read_text(encoding="utf-8")
    _assert_inert(page)
    assert "data-check='to be edited' data-status='unknown'" in page

    file_hrefs, problems = _click_every_link(browser, report.as_uri())
    assert problems == []
    assert file_hrefs and all(
        (report.parent / unquote(urlparse(href).path)).resolve().is_file() for href in file_hrefs
    )
    with _http_server(project) as origin:
        http_hrefs, problems = _click_every_link(browser, f"{origin}/out/report.html")
    assert problems == []
    assert http_hrefs == file_hrefs

    view = browser.new_page()
    view.goto(report.as_uri())
    badge = view.locator(".card[data-check='to be edited'] .badge.unknown")
    assert badge.text_content() == "unknown" and badge.is_visible()
    assert view.evaluate("window.__pwned || null") is None
    assert view.title().startswith("javascript:document.title='x'+document.domain<!--")
    view.screenshot(path=str(screenshot_dir / "report.png"), full_page=True)
    view.close()
