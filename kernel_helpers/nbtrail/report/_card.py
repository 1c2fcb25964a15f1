"""Model cards generated from the trail: every number from a run or a check, with its ids.

The only hand-written part is the declared intent (a small YAML: intended use, users,
out-of-scope uses...); everything else is evidence: where the training data came from, down to
the source files' fingerprints; the metrics the training runs logged; every check that judged
the model or the data upstream of it, grouped by what it says (data, fairness, explanations,
export, privacy, business value, monitoring); the failed and warning checks as known
limitations; the registry's history and approvals. What the trail holds no evidence for is
said to be missing, never filled in. The Markdown opens with Hugging Face model card metadata.
"""

from __future__ import annotations

import os

import pandas as pd

from ..errors import UsageError
from ._document import Document

__all__ = ["INTENT_KEYS", "load_intent", "model_card"]

INTENT_KEYS = {
    "intended_use": "Intended use",
    "users": "Intended users",
    "out_of_scope": "Out-of-scope uses",
    "ethical_considerations": "Ethical considerations",
    "mitigations": "Mitigation steps",
    "recourse": "Recourse available to affected people",
    "license": "Licence",
    "contact": "Contact",
}
_RECENT = 10  # registry facts about other versions shown in a card
_CODE = (".ipynb", ".py", ".r", ".sql", ".yaml", ".yml")
GROUPS = (
    ("Data checks", ("schema", "data_quality", "leakage", "label_issues", "pii")),
    ("Fairness", ("fairness", "fairness_mitigation", "recourse")),
    ("Explanations", ("explanations",)),
    ("Export and latency", ("onnx_parity", "latency")),
    ("Privacy", ("privacy_bounds", "federated_training")),
    ("Business value", ("business_value",)),
    (
        "Monitoring",
        ("drift", "domain_classifier", "performance_decay", "estimated_performance"),
    ),
    ("Impact assessment", ("impact_assessment",)),
)


def short(ident: str | None) -> str:
    """A fingerprint's first 12 hex digits.

    Run and check ids are shown whole: their first digits are a timestamp, shared by ids made
    in the same millisecond.
    """
    return (ident or "")[:12]


def evidence(check=None, run: str | None = None) -> str:
    """The ids a value came from, for people and for ``nbtrail show`` / ``nbtrail checks``."""
    if check is not None:
        return f"run {check.run_id}, check {check.id}"
    return f"run {run}" if run else ""


def load_intent(intent) -> dict:
    """The declared intent: a dict or a YAML file of the :data:`INTENT_KEYS`."""
    if intent is None:
        return {}
    if isinstance(intent, str | os.PathLike):
        from ..safe_yaml import load_yaml_file

        intent = load_yaml_file(intent, what="intent file")
    if not isinstance(intent, dict):
        raise UsageError("the declared intent must be a mapping of " + ", ".join(INTENT_KEYS))
    unknown = sorted(set(intent) - set(INTENT_KEYS))
    if unknown:
        raise UsageError(
            f"intent: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(INTENT_KEYS))}"
        )
    return intent


def _target(trail, model):
    """(artifact, its registered version or None, the registered model or None)."""
    from ..registry import get_model, model_artifact
    from ..store import registry_history

    text = str(model)
    if not os.path.exists(text):
        name, _, which = text.partition("@")
        known = {row["model"] for row in registry_history(trail)}
        if name in known:
            registered = get_model(name, trail=trail)
            version = registered.version(which) if which else registered.latest
            return trail.get_artifact(version.artifact_id), version, registered
        if which:
            raise UsageError(f"no registered model named {name!r} (nbtrail registry list)")
    art = model_artifact(trail, model)
    for row in registry_history(trail):
        if row["action"] == "register" and row["artifact_id"] == art.id:
            registered = get_model(row["model"], trail=trail)
            return art, registered.version(row["version"]), registered
    return art, None, None


def _producers(lineage, ids: set[str]) -> list[str]:
    """Runs that produced any of the artifacts ``ids``, oldest first."""
    runs = []
    for source, target, kind in lineage.edges:
        if kind == "produced" and target.split(":", 1)[1] in ids:
            runs.append(lineage.nodes[source])
    runs.sort(key=lambda r: (r.get("started_at") or "", r["id"]))
    return list(dict.fromkeys(r["id"] for r in runs))


def _top(trail, run_id: str) -> str:
    """The run a cell belongs to: its session, or the template run above that session.

    Not the pipeline above a template run: that holds every other step's metrics too.
    """
    run = trail.get_run(run_id)
    while run.parent_id:
        parent = trail.get_run(run.parent_id)
        if parent.kind == "pipeline":
            break
        run = parent
    return run.id


def _newest_by_name(checks) -> dict:
    newest: dict = {}
    for check in checks:
        key = check.kind or check.name
        if key not in newest or (check.created_at, check.id) > (
            newest[key].created_at,
            newest[key].id,
        ):
            newest[key] = check
    return newest


def _metrics_text(metrics: dict, limit: int = 4) -> str:
    shown = []
    for key, value in list(metrics.items())[:limit]:
        shown.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(shown)


def _check_rows(checks) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "check": c.name,
                "status": c.status,
                "summary": c.summary,
                "metrics": _metrics_text(c.metrics or {}),
                "evidence": evidence(c),
            }
            for c in checks
        ],
        columns=["check", "status", "summary", "metrics", "evidence"],
    )


def model_card(model, *, intent=None, trail=None) -> Document:
    """The model card of ``model``, from the trail's evidence.

    Parameters
    ----------
    model : str or path
        ``NAME``, ``NAME@ALIAS`` or ``NAME@N`` of a registered model, a model file on the trail,
        or a model artifact id.
    intent : dict or path, optional
        The declared intent (:data:`INTENT_KEYS`); what is not declared is shown as missing.
    """
    from ..registry import using_trail

    declared = load_intent(intent)
    with using_trail(trail) as found:
        return _card(found, model, declared)


def _card(trail, model, declared: dict) -> Document:
    from ..config import load_settings
    from ..registry import approvals_of
    from ..store import budget_status

    art, version, registered = _target(trail, model)
    title = f"Model card: {version.ref}" if version else f"Model card: {art.name}"
    upstream = trail.lineage(art.id, direction="upstream")
    artifacts = upstream.artifacts
    ids = [art.id, *[i for i in artifacts["id"] if i != art.id]]
    models = {art.id} | set(artifacts.loc[artifacts["kind"] == "model", "id"])
    sources = artifacts[(artifacts["kind"] == "file") & (artifacts["id"] != art.id)].copy()
    described = trail.describe_artifacts(list(sources["id"]))
    sources["name"] = [described[i][1] or described[i][0] for i in sources["id"]]
    # Code (the template notebook a run executed) is upstream too; it is not training data.
    sources = sources[~sources["name"].str.lower().str.endswith(_CODE)]
    checks = trail.checks(judged=ids)
    newest = _newest_by_name(checks)
    producers = _producers(upstream, models)
    doc = Document(title, kind="model card")

    details = doc.section("Model details")
    details.fact("Fingerprint", art.id)
    details.fact("Kind", f"{art.kind} {art.name}")
    for fitted in sorted(models - {art.id})[:3]:
        record = trail.get_artifact(fitted)
        details.fact("Fitted model", f"{record.meta.get('class', record.name)} {short(fitted)}")
    trained_in = list(dict.fromkeys(_top(trail, r) for r in producers))
    for run_id in trained_in[:3]:
        run = trail.get_run(run_id)
        details.fact("Trained in", f"{run.kind} {run.name} by {run.actor}", evidence(run=run_id))
    if version:
        details.fact(
            "Registered",
            f"{version.ref} by {version.registered_by}, {version.registered_at:%Y-%m-%d}",
        )
        if version.aliases:
            details.fact("Aliases", ", ".join(version.aliases))
    else:
        details.missing("not registered (nbtrail registry register MODEL --name NAME)")

    intended = doc.section("Intended use")
    for key in ("intended_use", "users", "out_of_scope"):
        if declared.get(key):
            intended.fact(INTENT_KEYS[key], _joined(declared[key]), "declared")
        else:
            intended.missing(f"{INTENT_KEYS[key].lower()}: not declared (intent YAML key {key})")

    data = doc.section("Training data")
    if len(sources):
        data.table(
            pd.DataFrame(
                {
                    "file": sources["name"],
                    "fingerprint": sources["id"],
                    "size": sources["size"],
                    "datasheet": [f"nbtrail datasheet {short(i)}" for i in sources["id"]],
                }
            )
        )
    else:
        data.missing("no source file upstream of this model on the trail")
    frames = artifacts[artifacts["kind"].isin(["dataframe", "array"])]
    if len(frames):
        data.fact("Derived tables and arrays upstream", len(frames))

    evaluation = doc.section("Evaluation")
    rows = []
    for run_id in trained_in:
        for metric in trail.run_details(run_id, tree=True).metrics:
            rows.append(
                {
                    "metric": metric.key,
                    "value": metric.value,
                    "evidence": evidence(run=metric.run_id),
                }
            )
    rows = list({(r["metric"], r["value"]): r for r in rows}.values())
    if rows:
        evaluation.table(pd.DataFrame(rows))
    else:
        evaluation.missing("no evaluation metric was logged by the runs that trained this model")

    grouped = {name for _, names in GROUPS for name in names}
    for title_, names in GROUPS:
        section = doc.section(title_)
        found = [newest[n] for n in names if n in newest]
        if found:
            section.table(_check_rows(found))
        else:
            section.missing(f"no {' / '.join(names)} check judged this model or its data")
    others = [c for key, c in newest.items() if key not in grouped]
    if others:
        doc.section("Other checks").table(_check_rows(others))

    budgets = budget_status(trail, ids)
    privacy = next(s for s in doc.sections if s.title == "Privacy")
    for budget in budgets:
        privacy.fact(
            f"Privacy budget of {budget.name}",
            f"epsilon {budget.spent_epsilon:g} of {budget.epsilon:g} spent "
            f"in {len(budget.spends)} spend(s)",
            f"budget {budget.id}",
        )

    limits = doc.section("Known limitations and failure modes")
    failing = [c for c in newest.values() if c.status in ("fail", "warn", "error")]
    if failing:
        limits.table(_check_rows(sorted(failing, key=lambda c: (c.status != "fail", c.name))))
    else:
        limits.text("No check that judged this model or its data failed or warned.")
    if declared.get("ethical_considerations"):
        limits.fact(
            "Ethical considerations", _joined(declared["ethical_considerations"]), "declared"
        )
    else:
        limits.missing("ethical considerations: not declared")

    mitigation = doc.section("Mitigation and recourse")
    mitigated = [c for c in checks if (c.kind or c.name) in ("fairness_mitigation", "recourse")]
    for check in mitigated[-3:]:
        mitigation.fact(check.name, check.summary, evidence(check))
    for key in ("mitigations", "recourse"):
        if declared.get(key):
            mitigation.fact(INTENT_KEYS[key], _joined(declared[key]), "declared")
        elif not mitigated:
            mitigation.missing(f"{INTENT_KEYS[key].lower()}: none recorded or declared")

    history = doc.section("Registry history and approvals")
    if registered is not None:
        table = registered.history.copy()
        # This version's own facts and the model's most recent ones: a registry of hundreds
        # of versions would otherwise fill the card.
        mine = table["version"] == version.version
        shown = table[mine | (table.index >= len(table) - _RECENT)]
        table = shown.assign(at=shown["at"].map(lambda t: f"{t:%Y-%m-%d %H:%M}"))
        history.table(table.fillna(""))
        if len(shown) < len(registered.history):
            history.text(
                f"{len(registered.history) - len(shown)} earlier facts about other versions of "
                f"{registered.name} are left out: nbtrail registry show {registered.name}"
            )
        approvals = approvals_of(registered.rows, version.version, load_settings().approvers)
        for approval in approvals:
            verdict = "signature verifies" if approval.valid else f"INVALID: {approval.problem}"
            history.fact(
                f"Approved by {approval.approver} ({', '.join(approval.roles)})",
                f"{approval.comment or ''} [{verdict}]",
                f"registry fact {approval.id}",
            )
        if not approvals:
            history.missing(f"no approval recorded for {version.ref}")
    else:
        history.missing("not registered: no registry history")

    for key in ("license", "contact"):
        if declared.get(key):
            details.fact(INTENT_KEYS[key], _joined(declared[key]), "declared")
    doc.metadata = _metadata(art, version, declared, sources, rows)
    return doc


def _joined(value) -> str:
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)


def _metadata(art, version, declared: dict, sources: pd.DataFrame, metrics: list) -> dict:
    """Hugging Face model card metadata (the YAML header)."""
    meta = {
        "model_name": version.ref if version else art.name,
        "library_name": "sklearn",
        "tags": ["tabular-classification", "nbtrail"],
        "datasets": [
            f"{n} ({short(i)})" for n, i in zip(sources["name"], sources["id"], strict=True)
        ],
        "nbtrail": {"artifact": art.id, "version": version.version if version else None},
    }
    if declared.get("license"):
        meta["license"] = str(declared["license"])
    if metrics:
        meta["model-index"] = [
            {
                "name": meta["model_name"],
                "results": [
                    {
                        "task": {"type": "tabular-classification"},
                        "metrics": [
                            {"type": m["metric"], "value": float(m["value"])} for m in metrics[:10]
                        ],
                    }
                ],
            }
        ]
    return meta
