"""Impact assessments: answered by a person, signed with their key, required by a policy."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nbtrail import checks, recording, registry
from nbtrail.errors import UsageError
from nbtrail.store import init_trail, open_trail

TEMPLATES = Path(__file__).parents[1] / "templates"
ANSWERS = {
    "purpose": "rank loan applications for human review",
    "affected_people": "about 30,000 applicants a year",
    "harms": "a qualified applicant is ranked low and waits longer",
    "severity": "medium",
    "likelihood": "low",
    "mitigations": "fairness check at every retraining; analysts see every case",
    "recourse": "applicants may ask for a manual review within 30 days",
    "human_oversight": "a credit analyst decides every application",
    "residual_risk": "low",
    "decision": "proceed",
}
POLICY = """[tool.nbtrail.policy.champion]
require_checks = ["impact_assessment"]
"""


@pytest.fixture
def project(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    monkeypatch.setenv("NBTRAIL_USER", "dana")
    code, out, _ = cli("registry", "keygen", tmp_path / "dana.key", "--user", "dana")
    assert code == 0
    key = out.strip().splitlines()[-1].split('"')[1]
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.nbtrail]\n{POLICY}\n[tool.nbtrail.approvers]\ndana = "{key}"\n'
    )
    monkeypatch.setenv("NBTRAIL_APPROVER_KEY", str(tmp_path / "dana.key"))
    init_trail(tmp_path).close()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=100), "y": rng.integers(0, 2, 100)})
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    with open_trail() as trail, trail.start_run("train", kind="script") as run:
        fitted = run.produce(model, name="model")
        joblib.dump(model, "model.joblib")
        run.produce(tmp_path / "model.joblib", derived_from=[fitted])
    registry.register("model.joblib", name="income")
    return tmp_path


def _assess(answers, **kwargs):
    with open_trail() as trail, trail.start_run("assess", kind="script") as run:
        recording.activate(run)
        try:
            return checks.impact_assessment(Path("model.joblib"), answers=answers, **kwargs)
        finally:
            recording.deactivate(run)


def test_a_signed_assessment_satisfies_the_policy_that_requires_it(project, cli):
    code, out, _ = cli("registry", "promote", "income", "1", "--to", "champion")
    assert code == 1 and "impact_assessment: missing" in out
    result = _assess(ANSWERS)
    assert result.status == "pass" and "signed by dana" in result.summary
    assert result.params["signer"] == "dana" and result.params["signature"]
    code, out, err = cli("registry", "promote", "income", "1", "--to", "champion")
    assert code == 0, out + err
    assert cli("verify")[0] == 0


def test_conditions_warn_and_gaps_or_a_no_fail(project):
    assert _assess(ANSWERS | {"decision": "proceed_with_conditions"}).status == "warn"
    assert _assess(ANSWERS | {"residual_risk": "high"}).status == "warn"
    stopped = _assess(ANSWERS | {"decision": "do_not_proceed"})
    assert stopped.status == "fail" and "not to proceed" in stopped.summary
    partial = {k: v for k, v in ANSWERS.items() if k not in ("harms", "recourse")}
    gaps = _assess(partial)
    assert gaps.status == "fail" and "2 question(s) unanswered: harms, recourse" in gaps.summary


def test_a_signature_the_configured_key_does_not_verify_fails_verify_and_the_policy(
    project, cli, monkeypatch
):
    _assess(ANSWERS)
    code, out, _ = cli("registry", "keygen", project / "other.key", "--user", "dana")
    other = out.strip().splitlines()[-1].split('"')[1]
    (project / "pyproject.toml").write_text(
        f'[tool.nbtrail]\n{POLICY}\n[tool.nbtrail.approvers]\ndana = "{other}"\n'
    )
    code, out, _ = cli("verify")
    assert code == 1 and "impact assessment" in out and "does not verify" in out
    code, out, _ = cli("registry", "promote", "income", "1", "--to", "champion")
    assert code == 1 and "impact_assessment: failed (signature:" in out


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (ANSWERS | {"colour": "red"}, "unknown question 'colour'"),
        (ANSWERS | {"severity": "extreme"}, "answers.severity must be one of low, medium, high"),
        ("everything is fine", "answers must be a mapping"),
    ],
)
def test_bad_answers_are_refused_naming_the_question(project, answers, message):
    with pytest.raises(UsageError, match=message):
        _assess(answers)


def test_no_key_is_refused_and_nothing_is_recorded(project, monkeypatch):
    monkeypatch.delenv("NBTRAIL_APPROVER_KEY")
    with pytest.raises(UsageError, match="signing needs your private key"):
        _assess(ANSWERS)
    with open_trail() as trail:
        assert trail.checks(name="impact_assessment") == []


def test_the_template_records_the_signed_assessment(project, cli):
    import yaml

    (project / "impact.yaml").write_text(yaml.safe_dump(ANSWERS))
    code, out, err = cli(
        "run", TEMPLATES / "impact_assessment.ipynb", "-p", "model", "model.joblib"
    )
    assert code == 0, out + err
    with open_trail() as trail:
        (run,) = trail.runs(kind="template")
        assert run.attrs["outputs"] == {"impact_assessment": "pass"}
        (check,) = trail.checks(name="impact_assessment")
        assert check.artifact_id == trail.get_artifact("model.joblib").id
    assert cli("registry", "promote", "income", "1", "--to", "champion")[0] == 0
