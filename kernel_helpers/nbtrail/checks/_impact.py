"""An impact assessment of a model, answered by a person and signed with their key.

Who is affected, what harm could follow, how likely and how severe, what mitigates it, what
recourse affected people have, who oversees the decisions, and whether to proceed: the answers
are recorded as an ``impact_assessment`` check judging the model, signed (Ed25519) by the
assessor over the model's fingerprint and every answer, so that a promotion policy can require
it (``require_checks = ["impact_assessment"]``) and ``nbtrail verify`` can prove who signed
what. Questions follow the structure of algorithmic impact assessments (the Canadian Directive
on Automated Decision-Making's AIA, the EU AI Act's fundamental-rights impact assessment).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .. import _signing
from ..errors import UsageError
from ._registry import check
from ._result import CheckResult

__all__ = ["IMPACT_QUESTIONS", "impact_assessment", "impact_payload"]

_LEVELS = ("low", "medium", "high")
_DECISIONS = ("proceed", "proceed_with_conditions", "do_not_proceed")
# key -> (the question, the allowed answers or None for free text)
IMPACT_QUESTIONS = {
    "purpose": ("What decision does the model support, and for whom?", None),
    "affected_people": ("Who is affected by its decisions, and how many?", None),
    "harms": ("What harm could a wrong or unfair decision do?", None),
    "severity": ("How severe would that harm be?", _LEVELS),
    "likelihood": ("How likely is it, with the mitigations in place?", _LEVELS),
    "mitigations": ("What reduces the risk (checks, thresholds, review)?", None),
    "recourse": ("How can an affected person contest a decision?", None),
    "human_oversight": ("Who reviews the decisions, and when?", None),
    "residual_risk": ("What risk remains?", _LEVELS),
    "decision": ("Proceed, proceed with conditions, or not?", _DECISIONS),
}


def impact_payload(model_fingerprint: str, answers: dict, signer: str) -> dict:
    """What the assessor's signature covers."""
    return {
        "check": "impact_assessment",
        "model": model_fingerprint,
        "answers": {k: str(v) for k, v in sorted(answers.items())},
        "signer": signer,
    }


def _answers(answers) -> dict:
    if not isinstance(answers, dict):
        raise UsageError("answers must be a mapping of " + ", ".join(IMPACT_QUESTIONS))
    unknown = sorted(set(answers) - set(IMPACT_QUESTIONS))
    if unknown:
        raise UsageError(
            f"answers: unknown question {unknown[0]!r}; the questions are "
            + ", ".join(IMPACT_QUESTIONS)
        )
    for key, (_, allowed) in IMPACT_QUESTIONS.items():
        value = answers.get(key)
        if allowed and value not in (None, "") and str(value) not in allowed:
            raise UsageError(f"answers.{key} must be one of {', '.join(allowed)}, not {value!r}")
    return {k: str(v).strip() for k, v in answers.items() if v is not None and str(v).strip()}


def _fingerprint(model) -> str:
    from ..fingerprints import fingerprint, fingerprint_file

    if isinstance(model, str | os.PathLike):
        if not Path(model).is_file():
            raise UsageError(f"model: {model} is not a file")
        return fingerprint_file(model).digest
    return fingerprint(model).digest


@check("impact_assessment", version=1, roles={"model": "model"})
def impact_assessment(model, *, answers, key=None, name: str = "impact_assessment"):
    """Record a signed impact assessment of ``model``.

    Parameters
    ----------
    model : estimator or path
        What is assessed (a fitted model, or the file it was saved to).
    answers : dict
        The answers, by :data:`IMPACT_QUESTIONS` key (``templates/impact_assessment.ipynb``
        reads them from a YAML file).
    key : path, optional
        The assessor's Ed25519 private key (default ``$NBTRAIL_APPROVER_KEY``); its public key
        must be in ``[tool.nbtrail.approvers]`` for the signature to verify.

    Returns
    -------
    CheckResult
        ``fail`` when a question is unanswered or the decision is not to proceed; ``warn`` to
        proceed with conditions or with a high residual risk; ``pass`` otherwise.
    """
    from ..config import current_actor

    given = _answers(answers)
    private = _signing.load_private_key(key)
    signer = current_actor()
    digest = _fingerprint(model)
    signature, at = _signing.sign(private, impact_payload(digest, given, signer))
    unanswered = [k for k in IMPACT_QUESTIONS if k not in given]
    decision = given.get("decision")
    if unanswered:
        status = "fail"
        summary = f"{len(unanswered)} question(s) unanswered: {', '.join(unanswered)}"
    elif decision == "do_not_proceed":
        status, summary = "fail", "the assessment decided not to proceed"
    elif decision == "proceed_with_conditions" or given.get("residual_risk") == "high":
        status = "warn"
        summary = f"proceed with conditions (residual risk {given.get('residual_risk')})"
    else:
        status, summary = "pass", f"proceed (residual risk {given.get('residual_risk')})"
    details = pd.DataFrame(
        [
            {"question": key, "asked": text, "answer": given.get(key, "")}
            for key, (text, _) in IMPACT_QUESTIONS.items()
        ]
    )
    result = CheckResult(
        name,
        status,
        f"{summary}; signed by {signer}",
        {"answered": len(IMPACT_QUESTIONS) - len(unanswered), "questions": len(IMPACT_QUESTIONS)},
        {},
        details,
    )
    result.params = {
        "answers": dict(sorted(given.items())),
        "signer": signer,
        "signature": signature,
        "signed_at": at,
        "model_fingerprint": digest,
        "public_key": _signing.public_text(private),
    }
    return result
