"""The model registry: versions, aliases under a promotion policy, signed approvals, rollback."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from conftest import training_run
from sklearn.linear_model import LogisticRegression

from nbtrail import registry
from nbtrail.errors import UsageError
from nbtrail.store import init_trail, open_trail

POLICY = """
[tool.nbtrail.policy.champion]
require_checks = ["schema", "fairness"]
max_age_days = 30
approvals = 1
approver_roles = ["risk"]

[tool.nbtrail.policy.challenger]
require_checks = ["schema"]

[tool.nbtrail.roles]
risk = ["alice", "carol"]
ml = ["bob"]
"""


def _config(root: Path, approvers: dict | None = None, policy: str = POLICY) -> None:
    text = "[tool.nbtrail]\n" + policy
    if approvers:
        text += "\n[tool.nbtrail.approvers]\n" + "".join(
            f'{user} = "{key}"\n' for user, key in approvers.items()
        )
    (root / "pyproject.toml").write_text(text)


@pytest.fixture
def project(tmp_path, monkeypatch, store_url):
    """A project whose trail (on each backend) holds two trained models, saved to files."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    if store_url.startswith("postgresql"):
        monkeypatch.setenv("NBTRAIL_STORE_URL", store_url)
    monkeypatch.setenv("NBTRAIL_USER", "bob")
    _config(tmp_path)
    init_trail(tmp_path).close()
    return tmp_path


def _train(root: Path, name: str, *, seed: int, checks: dict) -> Path:
    """A session that reads data, fits a model, saves it, and records the given checks."""
    with training_run(root, name, seed=seed) as (run, recorded):
        for check, status in checks.items():
            subject = recorded["frame"] if check == "schema" else recorded["model"]
            run.record_check(check, status, artifact=subject, summary=f"{check} {status}")
    return recorded["path"]


def test_versions_are_content_numbered_in_order_and_on_the_audit_chain(project, cli):
    first = _train(project, "m1", seed=0, checks={})
    second = _train(project, "m2", seed=1, checks={})
    v1 = registry.register(first, name="income")
    assert (v1.version, v1.registered_by) == (1, "bob")
    assert registry.register(first, name="income").version == 1  # the same bytes: version 1
    code, out, err = cli("registry", "register", second, "--name", "income", "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == 2
    code, out, _ = cli("registry", "list")
    assert "income" in out and "2" in out
    code, out, _ = cli("registry", "show", "income", "--json")
    shown = json.loads(out)
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert [h["action"] for h in shown["history"]] == ["register", "register"]
    code, out, _ = cli("verify")
    assert code == 0, out


def test_only_a_models_exact_recorded_bytes_can_be_registered(project, cli):
    path = _train(project, "m1", seed=0, checks={})
    code, _, err = cli("registry", "register", project / "m1.csv", "--name", "income")
    assert code == 2 and "is a file, not a model" in err
    stray = project / "stray.joblib"
    joblib.dump(LogisticRegression(), stray)
    code, _, err = cli("registry", "register", stray, "--name", "income")
    assert code == 2 and "not on the trail" in err
    code, _, err = cli("registry", "register", project / "nowhere.joblib", "--name", "income")
    assert code == 2 and "no such file" in err
    code, _, err = cli("registry", "register", path, "--name", "in come/x")
    assert code == 2 and "model name 'in come/x'" in err
    with open_trail(project) as trail:
        assert registry.list_models(trail=trail).empty  # nothing half-written


def test_promotion_refuses_missing_failed_and_stale_evidence_and_lists_it(project, cli):
    good = _train(project, "good", seed=0, checks={"schema": "pass", "fairness": "warn"})
    bare = _train(project, "bare", seed=1, checks={"schema": "pass"})
    bad = _train(project, "bad", seed=2, checks={"schema": "pass", "fairness": "fail"})
    for path in (good, bare, bad):
        registry.register(path, name="income")
    # challenger needs only schema (judged on the training frame, upstream of the file): met.
    code, out, err = cli("registry", "promote", "income", "2", "--to", "challenger")
    assert code == 0, out + err
    assert "met     schema" in out
    code, out, _ = cli("registry", "promote", "income", "2", "--to", "champion", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["satisfied"] is False
    states = {r["requirement"]: r["state"] for r in report["requirements"]}
    assert states == {"schema": "met", "fairness": "missing", "approvals": "missing"}
    code, out, _ = cli("registry", "check", "income", "3", "--for", "champion")
    assert code == 1 and "failed  fairness" in out and "newest is fail" in out
    with open_trail(project) as trail:
        model = registry.get_model("income", trail=trail)
        policy = registry.load_policies()["champion"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
        aged = registry.evaluate(trail, model, model.version(1), policy, now=later)
        assert dict(zip(aged.requirements.requirement, aged.requirements.state, strict=True)) == {
            "schema": "stale",
            "fairness": "stale",
            "approvals": "missing",
        }
        assert model.aliases == {"challenger": 2}  # the refusals moved nothing


def test_a_policy_or_role_map_that_is_wrong_exits_2_naming_it(project, cli):
    path = _train(project, "m1", seed=0, checks={"schema": "pass"})
    registry.register(path, name="income")
    _config(project, policy=POLICY.replace('["schema", "fairness"]', '["schema", "fairnes"]'))
    code, _, err = cli("registry", "promote", "income", "1", "--to", "champion")
    assert code == 2 and "unknown check 'fairnes'" in err
    _config(project, policy=POLICY.replace('risk = ["alice", "carol"]', 'risk = "alice"'))
    code, _, err = cli("registry", "promote", "income", "1", "--to", "challenger")
    assert code == 2 and "roles.risk must be a list of user names" in err
    _config(project, policy=POLICY + "\n[tool.nbtrail.policy.staging]\nneeds = 1\n")
    code, _, err = cli("registry", "promote", "income", "1", "--to", "challenger")
    assert code == 2 and "unknown key 'needs'" in err
    _config(project)
    for alias in ("my alias", "prod/eu", "Champion"):
        code, _, err = cli("registry", "alias", "income", alias, "1")
        assert code == 2 and f"alias {alias!r}" in err
    code, _, err = cli("registry", "promote", "income", "7", "--to", "challenger")
    assert code == 2 and "has no version 7" in err
    code, _, err = cli("registry", "promote", "nobody", "1", "--to", "challenger")
    assert code == 2 and "no registered model named 'nobody'" in err


def _keys(project: Path, cli, *users) -> dict:
    keys = {}
    for user in users:
        code, out, err = cli("registry", "keygen", project / f"{user}.key", "--user", user)
        assert code == 0, err
        keys[user] = out.strip().splitlines()[-1].split('"')[1]
    return keys


def test_signed_approvals_need_the_role_a_foreign_hand_and_the_right_key(project, cli, monkeypatch):
    keys = _keys(project, cli, "alice", "bob", "carol")
    _config(project, approvers=keys)
    path = _train(project, "m1", seed=0, checks={"schema": "pass", "fairness": "pass"})
    monkeypatch.setenv("NBTRAIL_USER", "alice")
    registry.register(path, name="income")  # alice registers: her approval would be her own
    code, _, err = cli("registry", "approve", "income", "1", "--key", project / "alice.key")
    assert code == 2 and "alice made income@1" in err and "forbids" in err
    monkeypatch.setenv("NBTRAIL_USER", "bob")
    code, _, err = cli("registry", "approve", "income", "1", "--key", project / "bob.key")
    assert code == 2 and "bob holds no approving role" in err
    monkeypatch.setenv("NBTRAIL_USER", "carol")
    code, _, err = cli("registry", "approve", "income", "1", "--key", project / "alice.key")
    assert code == 2 and "not the one [tool.nbtrail.approvers] lists for carol" in err
    code, out, _ = cli("registry", "promote", "income", "1", "--to", "champion")
    assert code == 1 and "0 of 1 signed approval" in out
    code, out, err = cli(
        "registry", "approve", "income", "1", "--key", project / "carol.key", "--comment", "ok"
    )
    assert code == 0, err
    code, out, err = cli("registry", "promote", "income", "1", "--to", "champion")
    assert code == 0, out + err
    assert "1 of 1 signed approval(s) by risk: carol" in out
    assert cli("verify")[0] == 0
    # Carol's key is replaced in the config: her recorded signature no longer verifies.
    _config(project, approvers=keys | {"carol": keys["bob"]})
    code, out, _ = cli("verify")
    assert code == 1 and "approval" in out and "by carol" in out and "does not verify" in out
    code, out, _ = cli("registry", "check", "income", "1", "--for", "champion")
    assert code == 1 and "0 of 1 signed approval" in out


def test_rollback_returns_the_alias_to_its_previous_version_with_the_reason(project, cli):
    for seed in (0, 1):
        path = _train(project, f"m{seed}", seed=seed, checks={"schema": "pass"})
        registry.register(path, name="income")
    code, _, err = cli("registry", "rollback", "income", "--alias", "challenger", "--reason", "x")
    assert code == 2 and "no alias 'challenger' to roll back" in err
    assert cli("registry", "alias", "income", "challenger", "1")[0] == 0
    code, _, err = cli("registry", "rollback", "income", "--alias", "challenger", "--reason", "x")
    assert code == 2 and "has pointed only at version 1" in err
    assert cli("registry", "alias", "income", "challenger", "2")[0] == 0
    code, out, err = cli(
        "registry", "rollback", "income", "--alias", "challenger", "--reason", "AUC fell"
    )
    assert code == 0, err
    assert "challenger rolled back to income@1: AUC fell" in out
    with open_trail(project) as trail:
        model = registry.get_model("income", trail=trail)
    assert model.aliases == {"challenger": 1}
    last = model.history.iloc[-1]
    assert (last.action, last.version, last.comment) == ("alias", 1, "AUC fell")
    assert model.rows[-1]["data"]["rollback_from"] == 2


def test_resolve_prints_the_file_and_refuses_one_overwritten_since(project, cli):
    path = _train(project, "m1", seed=0, checks={"schema": "pass"})
    registry.register(path, name="income")
    cli("registry", "alias", "income", "challenger", "1")
    for ref in ("income", "income@1", "income@challenger"):
        code, out, err = cli("registry", "resolve", ref)
        assert code == 0 and out.strip() == str(path), err
    joblib.dump(LogisticRegression(C=0.5), path)
    code, _, err = cli("registry", "resolve", "income@challenger")
    assert code == 2 and "no longer holds this version's bytes" in err
    code, _, err = cli("registry", "resolve", "income@nothing")
    assert code == 2 and "has no alias 'nothing'" in err


def test_concurrent_registrations_get_distinct_version_numbers(project):
    paths = [_train(project, f"m{i}", seed=i, checks={}) for i in range(8)]
    script = (
        "import sys\nfrom nbtrail import registry\n"
        "for p in sys.argv[1:]:\n    registry.register(p, name='income')\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, *map(str, paths[i::4])]) for i in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    with open_trail(project) as trail:
        model = registry.get_model("income", trail=trail)
        assert sorted(v.version for v in model.versions) == list(range(1, 9))
        assert len({v.artifact_id for v in model.versions}) == 8
        assert trail.verify().ok


def test_a_rollback_without_reason_and_an_unknown_name_are_refused(project):
    with pytest.raises(UsageError, match="needs a reason"):
        registry.rollback("income", reason=" ")
    with pytest.raises(UsageError, match="no registered model"):
        registry.get_model("income")
