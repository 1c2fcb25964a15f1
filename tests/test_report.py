"""The stakeholder report: verdict first, cards that name what they judged, nothing unescaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

from nbtrail.report.html import render_report
from nbtrail.store import init_trail

HOSTILE = "<img src=x onerror=alert(1)>'\"><script>alert(2)</script>"


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from the page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRAIL_USER", HOSTILE)
    trail = init_trail(tmp_path)
    yield trail
    trail.close()


def _pipeline_with(trail, tmp_path, *, name: str, checks: list[dict], metrics: dict):
    pipeline = trail.start_run(
        name, kind="pipeline", params={name: name}, attrs={"git": None, name: name}
    )
    step = pipeline.start_run(
        name, kind="template", params={name: name}, attrs={"outputs": {name: name}}
    )
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    source = step.use(data)
    frame = step.produce(pd.DataFrame({"x": [1]}), name=name, derived_from=[source])
    for check in checks:
        step.record_check(artifact=frame, **check)
    step.log_metrics(metrics)
    step.end("failed", error=name)
    pipeline.end("failed", error=name)
    return pipeline


def test_every_value_from_the_trail_is_escaped(project, tmp_path):
    details = pd.DataFrame({HOSTILE: [HOSTILE], "status": [HOSTILE]})
    run = _pipeline_with(
        project,
        tmp_path,
        name=HOSTILE,
        checks=[
            {
                "name": HOSTILE,
                "status": "fail",
                "summary": HOSTILE,
                "metrics": {HOSTILE: HOSTILE},
                "thresholds": {HOSTILE: HOSTILE},
                "details": details,
            }
        ],
        metrics={HOSTILE: 1.0},
    )
    page = render_report(project, run.id)
    found = _parse(page)
    assert "script" not in found.tags and "img" not in found.tags
    assert not [a for a, _ in found.attributes if a.startswith("on")]
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_verdict_comes_first_and_names_what_failed(project, tmp_path):
    run = _pipeline_with(
        project,
        tmp_path,
        name="adult",
        checks=[
            {"name": "leakage", "status": "fail", "summary": "12% of test rows also in train"},
            {"name": "labels", "status": "warn", "summary": "3% of labels look wrong"},
            {"name": "schema", "status": "pass", "summary": "all rows match"},
        ],
        metrics={"accuracy": 0.8512, "rows": 30162.0},
    )
    page = render_report(project, run.id)
    verdict = page.index("class='verdict bad'")
    assert verdict < page.index("<h2>Steps</h2>") < page.index("<h2>Checks</h2>")
    section = page[verdict : page.index("</section>", verdict)]
    assert "It did not work." in section
    assert "3 checks: 1 failing, 1 warning" in section
    assert section.index("leakage") < section.index("labels")
    assert "12% of test rows also in train" in section and "all rows match" not in section
    assert "<b>30,162</b>rows" in section and "<b>0.8512</b>accuracy" in section
    assert "git not a git repository" in page


def test_check_cards_name_their_subject_and_collapse_long_findings(project, tmp_path):
    run = _pipeline_with(
        project,
        tmp_path,
        name="adult",
        checks=[
            {
                "name": "quality",
                "status": "warn",
                "summary": "25 findings",
                "details": pd.DataFrame({"column": [f"c{i}" for i in range(25)]}),
            }
        ],
        metrics={},
    )
    page = render_report(project, run.id)
    card = page[page.index("data-check='quality'") :]
    assert "subject: <b>adult</b> <span class='muted'>data.csv</span>" in card
    first = card[card.index("<table>") : card.index("</table>")]
    assert first.count("<tr>") == 11  # the header and ten findings
    collapsed = card[card.index("<details class='more'>") :]
    assert "15 more finding(s)" in collapsed and "c24" in collapsed
