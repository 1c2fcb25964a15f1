"""Model cards from trail evidence: every number with its ids, gaps said plainly, no invention."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import training_run

from nbtrail import registry
from nbtrail.report import model_card
from nbtrail.store import NewBudget, init_trail, open_trail, set_budget, spend


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    monkeypatch.setenv("NBTRAIL_USER", "bob")
    init_trail(tmp_path).close()
    return tmp_path


def _train(root: Path, name: str, *, evidence: bool) -> tuple[Path, dict]:
    with training_run(root, name, rows=300, kind="template") as (run, recorded):
        ids = {"run": run.id, "data": recorded["data"].id}
        if evidence:
            run.log_metric("accuracy", 0.8123)
            ids["schema"] = run.record_check(
                "schema",
                "pass",
                artifact=recorded["frame"],
                summary="every rule held",
                kind="schema",
            ).id
            ids["fairness"] = run.record_check(
                "fairness",
                "warn",
                subjects={"model": recorded["model"]},
                summary="selection rate differs by 0.09 <script>alert(1)</script>",
                metrics={"demographic_parity_difference": 0.09},
                kind="fairness",
            ).id
            with open_trail(root) as trail:
                set_budget(trail, NewBudget(recorded["data"].id, f"{name}.csv", 4.0))
                spend(trail, [recorded["data"].id], 1.5, mechanism="fit", run_id=run.id)
    return recorded["path"], ids


def _front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, text[:200]
    return yaml.safe_load(match.group(1))


def test_the_card_is_made_of_evidence_with_the_ids_it_came_from(project, cli):
    path, ids = _train(project, "adult", evidence=True)
    registry.register(path, name="income")
    (project / "intent.yaml").write_text(
        "intended_use: ranking loan applications for human review\n"
        "users: [credit analysts]\nout_of_scope: [automated rejection]\nlicense: cc-by-4.0\n"
    )
    code, out, err = cli("card", "income", "--intent", "intent.yaml")
    assert code == 0, err
    meta = _front_matter(out)
    assert meta["model_name"] == "income@1" and meta["license"] == "cc-by-4.0"
    assert meta["datasets"] == [f"adult.csv ({ids['data'][:12]})"]
    (result,) = meta["model-index"][0]["results"]
    assert result["metrics"] == [{"type": "accuracy", "value": 0.8123}]
    assert ids["data"] in out  # the source file's full fingerprint
    assert f"check {ids['schema'][:12]}" in out and f"check {ids['fairness'][:12]}" in out
    limits = out.split("## Known limitations and failure modes")[1].split("\n## ")[0]
    assert "fairness" in limits and "warn" in limits and "schema" not in limits
    assert "epsilon 1.5 of 4 spent in 1 spend(s)" in out
    assert "ranking loan applications" in out and "**Missing:** intended use" not in out
    assert "no approval recorded for income@1" in out


def test_a_model_without_evidence_gets_a_card_that_says_so(project, cli):
    path, _ = _train(project, "bare", evidence=False)
    code, out, err = cli("card", path)
    assert code == 0, err
    assert "no evaluation metric was logged" in out
    assert "no fairness / fairness_mitigation / recourse check judged this model" in out
    assert "not registered" in out
    assert "**Missing:** intended use: not declared" in out
    assert "model-index" not in _front_matter(out)  # no metric invented


def test_the_html_card_is_inert_and_written_where_asked(project, cli):
    path, _ = _train(project, "adult", evidence=True)
    code, _, err = cli("card", path, "--output", project / "card.html")
    assert code == 0, err
    html = (project / "card.html").read_text()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html


def test_bad_card_input_exits_2_naming_it(project, cli):
    path, _ = _train(project, "adult", evidence=False)
    (project / "intent.yaml").write_text("intended_use: x\naudience: y\n")
    code, _, err = cli("card", path, "--intent", "intent.yaml")
    assert code == 2 and "unknown key 'audience'" in err
    code, _, err = cli("card", "nobody@champion")
    assert code == 2 and "no registered model named 'nobody'" in err
    code, _, err = cli("card", project / "adult.csv")
    assert code == 2 and "not a model" in err


def test_the_card_shows_the_registry_history_and_verified_approvals(project, cli, monkeypatch):
    path, _ = _train(project, "adult", evidence=True)
    _, out, _ = cli("registry", "keygen", project / "carol.key", "--user", "carol")
    key = out.strip().splitlines()[-1].split('"')[1]
    (project / "pyproject.toml").write_text(
        "[tool.nbtrail.policy.champion]\nrequire_checks = ['schema']\napprovals = 1\n"
        "approver_roles = ['risk']\n[tool.nbtrail.roles]\nrisk = ['carol']\n"
        f'[tool.nbtrail.approvers]\ncarol = "{key}"\n'
    )
    registry.register(path, name="income")
    monkeypatch.setenv("NBTRAIL_USER", "carol")
    assert (
        cli(
            "registry",
            "approve",
            "income",
            "1",
            "--key",
            project / "carol.key",
            "--comment",
            "reviewed the fairness card",
        )[0]
        == 0
    )
    assert cli("registry", "promote", "income", "1", "--to", "champion")[0] == 0
    doc = model_card("income@champion")
    text = doc.markdown()
    assert "Approved by carol (risk)" in text and "signature verifies" in text
    history = text.split("## Registry history and approvals")[1]
    assert "register" in history and "champion" in history


def test_the_annex_iv_bundle_maps_items_to_evidence_and_fingerprints_every_file(project, cli):
    import hashlib
    import json

    path, ids = _train(project, "adult", evidence=True)
    registry.register(path, name="income")
    code, out, err = cli("audit", "income@1", "--annex-iv", "--output", project / "bundle")
    assert code == 0, err
    bundle = project / "bundle"
    assert (
        "Items without evidence: 1(c), 1(h), 2(e), 4, 5, 7, 8, 9." in out
    )  # no environment recorded here
    index = (bundle / "index.md").read_text()
    assert "| 2(g) | validation and testing" in index and "`checks.json`" in index
    assert "| 8 | EU declaration of conformity | **no evidence on the trail** |" in index
    checks = json.loads((bundle / "checks.json").read_text())
    assert {c["id"] for c in checks} >= {ids["schema"], ids["fairness"]}
    assert all(c["actor"] == "bob" for c in checks)
    assert (bundle / "datasheets" / f"{ids['data'][:12]}.md").is_file()
    events = [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]
    assert {"registry.register", "check.add", "run.start"} <= {e["action"] for e in events}
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    verify = json.loads((bundle / "verify.json").read_text())
    assert verify["ok"] is True and verify["head"] in index
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"MANIFEST.json"}
    for name, entry in listed.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == entry["sha256"]
    # An existing folder is never mixed into: exit 2, the old bundle untouched.
    code, _, err = cli("audit", "income@1", "--annex-iv", "--output", bundle)
    assert code == 2 and "not an empty folder" in err
    code, _, err = cli("audit", "income@1")
    assert code == 2 and "--annex-iv" in err


def test_the_datasheet_command_prints_or_writes_and_refuses_unknown_data(project, cli):
    _, ids = _train(project, "adult", evidence=True)
    code, out, err = cli("datasheet", "adult.csv")
    assert code == 0, err
    assert out.startswith("# Datasheet: ") and ids["data"] in out
    code, out, err = cli("datasheet", ids["data"][:12], "--output", project / "sheet.html")
    assert code == 0 and "sheet.html" in out, err
    assert "Content-Security-Policy" in (project / "sheet.html").read_text()
    (project / "other.csv").write_text("a\n1\n")
    code, _, err = cli("datasheet", "other.csv")
    assert code == 2 and "not on the trail" in err


def test_the_cards_registry_history_keeps_its_version_and_the_recent_facts(project):
    paths = []
    for seed in range(14):
        with training_run(project, f"m{seed}", seed=seed) as (_, recorded):
            paths.append(recorded["path"])
    for path in paths:
        registry.register(path, name="income")
    text = model_card("income@1").markdown()
    history = text.split("## Registry history and approvals")[1]
    rows = [line for line in history.splitlines() if line.startswith("| 20")]
    assert len(rows) == 11  # version 1's own registration and the 10 most recent facts
    assert "| register | 1 |" in history and "| register | 14 |" in history
    assert "| register | 3 |" not in history
    assert "3 earlier facts about other versions of income are left out" in history
