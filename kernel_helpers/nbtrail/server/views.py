"""What the API returns: the trail, read for one notebook (or run), as the shapes of :mod:`.shapes`.

A notebook's view is its newest session run (``%load_ext nbtrail`` in JupyterLab) or template
run: the runs recorded for it (found by the indexed ``notebook`` column), the lineage graph of
the artifacts its cells read, derived and wrote, and its checks with their findings and their
cards. Every view costs a fixed number of queries, whatever the number of runs and checks.
"""

from __future__ import annotations

from .._json import jsonable
from ..checks import CheckResult, check_card
from ..vocabulary import failing

__all__ = [
    "checks_view",
    "failing_checks",
    "lineage_view",
    "monitoring_view",
    "notebook_runs",
    "registry_view",
    "run_view",
]

_HIDDEN_KINDS = {"code", "environment", "notebook"}


def notebook_runs(trail, notebook: str | None, *, limit: int = 50) -> list:
    """Runs recorded for a notebook (kernel sessions and template runs), newest first."""
    if notebook is None:
        found = trail.runs(kind="session", limit=limit) + trail.runs(kind="template", limit=limit)
    else:
        found = [
            r
            for r in trail.runs(notebook=notebook, limit=limit)
            if r.kind in ("session", "template")
        ]
    found.sort(key=lambda r: (r.started_at, r.id), reverse=True)
    return found[:limit]


def failing_checks(trail, run_ids: list[str]) -> dict[str, int]:
    """How many checks failed or errored in each run's subtree (one query per tree level)."""
    root_of = trail.roots(run_ids)
    counts = dict.fromkeys(run_ids, 0)
    for check in trail.checks(list(root_of)):
        if failing(check.status):
            counts[root_of[check.run_id]] += 1
    return counts


def monitoring_view(trail, *, limit: int = 10) -> list[dict]:
    """The trail's monitoring runs, newest first, each with its alerts and triggers.

    An alert is a check that failed in the run (as ``nbtrail monitor`` sent it), with what to
    do next; a trigger names its rule and the pipeline run it started. Two queries in all.
    """
    from ..monitor import next_action

    runs = trail.runs(kind="monitor", limit=limit)
    found: dict[str, list] = {r.id: [] for r in runs}
    for check in trail.checks(list(found)) if found else []:
        found[check.run_id].append(check)
    out = []
    for run in runs:
        checks = found[run.id]
        alerts, triggers, deliveries = [], [], None
        for check in checks:
            if check.name == "retraining_trigger":
                triggers.append(
                    {
                        "check_id": check.id,
                        "status": check.status,
                        "summary": check.summary,
                        "rule": check.params.get("rule"),
                        "pipeline_run": check.params.get("pipeline_run"),
                    }
                )
            elif check.name == "alert_delivery":
                deliveries = check.summary
            elif check.status == "fail":
                alerts.append(
                    {
                        "check_id": check.id,
                        "name": check.name,
                        "status": check.status,
                        "summary": check.summary,
                        "action": next_action(check.kind or check.name),
                    }
                )
        judged = len(checks) - len(triggers) - (deliveries is not None)
        out.append(
            run.to_dict()
            | {"checks": judged, "alerts": alerts, "triggers": triggers, "deliveries": deliveries}
        )
    return out


def registry_view(trail, settings, *, limit: int = 5) -> dict:
    """Registered models, their newest versions and each alias's policy state per version.

    Also whether the server's user may approve (the approve handler checks again).
    """
    from ..registry import (
        approvals_of,
        approver_roles,
        evaluate,
        get_model,
        known_checks,
        list_models,
        load_policies,
    )

    policies = load_policies(settings, known_checks=known_checks(trail))
    models = []
    for name in list_models(trail=trail)["name"]:
        model = get_model(name, trail=trail)
        versions = []
        for version in reversed(model.versions[-limit:]):
            approvals = approvals_of(model.rows, version.version, settings.approvers)
            states = []
            for alias, policy in sorted(policies.items()):
                report = evaluate(trail, model, version, policy, settings)
                states.append(
                    {"alias": alias, "satisfied": report.satisfied, "missing": report.missing}
                )
            versions.append(
                version.to_dict()
                | {
                    "approvals": sorted({a.approver for a in approvals if a.valid}),
                    "policy": states,
                }
            )
        models.append({"name": name, "aliases": dict(model.aliases), "versions": versions})
    roles, why = approver_roles(settings, policies, settings.actor)
    user = {"name": settings.actor, "roles": roles, "can_approve": why is None, "why": why}
    return {"models": models, "user": user}


def run_view(trail, run_id: str) -> dict:
    """One run with its children, metrics and checks."""
    data = trail.run_details(run_id).to_dict()
    return data


def lineage_view(trail, run_id: str, *, kinds: set | None = None) -> dict:
    """The artifacts a run (and everything below it) read, derived and wrote, as a graph.

    Nodes are artifacts (files, data frames, arrays, models, queries); an edge goes from an
    artifact to one derived from it, or, where nothing finer was recorded, from what a cell
    read to what it produced. With ``kinds``, artifacts of other kinds are left out and the
    graph is contracted through them: a file that reached a model through hidden data frames
    keeps an edge (kind ``via``) to the model.
    """
    details = trail.run_details(run_id, tree=True)
    nodes: dict[str, dict] = {}
    edges: set[tuple[str, str, str]] = set()
    used_by: dict[str, list] = {}
    produced_by: dict[str, list] = {}
    for usage in details.used:
        if usage.artifact.kind not in _HIDDEN_KINDS:
            used_by.setdefault(usage.run_id, []).append(usage)
    for usage in details.produced:
        if usage.artifact.kind not in _HIDDEN_KINDS:
            produced_by.setdefault(usage.run_id, []).append(usage)
    for run in details.runs:
        produced = produced_by.get(run, [])
        for usage in used_by.get(run, []) + produced:
            art = usage.artifact
            label = usage.name or (usage.path.rsplit("/", 1)[-1] if usage.path else art.name)
            node = nodes.setdefault(
                art.id,
                {
                    "id": art.id,
                    "label": label,
                    "kind": art.kind,
                    "path": usage.path,
                    "snapshot": bool(art.snapshot),
                    "run": run,
                },
            )
            if usage.name and node["label"] != usage.name and usage in produced:
                node["label"] = usage.name
    derived: dict[str, list[tuple[str, str]]] = {}
    for run, source, target in trail.derived_edges(list(details.runs)):
        derived.setdefault(run, []).append((source, target))
    for run in details.runs:
        pairs = derived.get(run, [])
        with_sources = {target for _, target in pairs}
        edges.update((source, target, "derived") for source, target in pairs)
        for out in produced_by.get(run, []):
            if out.artifact.id in with_sources:
                continue
            for inp in used_by.get(run, []):
                if inp.artifact.id != out.artifact.id:
                    edges.add((inp.artifact.id, out.artifact.id, "cell"))
    edges = {e for e in edges if e[0] in nodes and e[1] in nodes}
    if kinds:
        nodes, edges = _contract(nodes, edges, kinds)
    return {
        "run": run_id,
        "nodes": sorted(nodes.values(), key=lambda n: n["id"]),
        "edges": [{"source": s, "target": t, "kind": k} for s, t, k in sorted(edges)],
    }


def _contract(nodes: dict, edges: set, kinds: set) -> tuple[dict, set]:
    """Keep the nodes of ``kinds``; link each to the kept nodes it reaches through hidden ones."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    edges = {e for e in edges if e[0] in nodes and e[1] in nodes}
    graph.add_edges_from((s, t, {"kind": k}) for s, t, k in edges)
    kept = {n for n, node in nodes.items() if node["kind"] in kinds}
    contracted = {(s, t, k) for s, t, k in edges if s in kept and t in kept}
    hidden = graph.subgraph(set(nodes) - kept)
    for source in kept:
        for middle in graph.successors(source):
            if middle in kept:
                continue
            # Everything reachable from `middle` without leaving the hidden nodes, then one step.
            inside = nx.descendants(hidden, middle) | {middle}
            for node in inside:
                for target in graph.successors(node):
                    if target in kept and target != source:
                        contracted.add((source, target, "via"))
    direct = {(s, t) for s, t, _ in edges}
    contracted = {e for e in contracted if e[2] != "via" or (e[0], e[1]) not in direct}
    return {n: nodes[n] for n in kept}, contracted


def checks_view(trail, run_id: str, *, max_rows: int = 200) -> list[dict]:
    """The checks recorded in a run and below it: findings (bounded) and the rendered card."""
    ids = [run_id] + [r.id for r in trail.descendants(run_id)]
    out = []
    for record in trail.checks(ids):
        result = CheckResult.from_record(trail, record)
        data = record.to_dict()
        data["subjects"] = [s.to_dict() for s in result.subjects]
        data["details_rows"] = len(result.details)
        data["details"] = jsonable(result.details.head(max_rows).to_dict(orient="records"))
        data["html"] = check_card(result)
        out.append(data)
    return out
