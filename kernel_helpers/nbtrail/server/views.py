"""What the API returns: the trail, read for one notebook (or run), as JSON-ready data.

A notebook's view is its newest session run (``%load_ext nbtrail`` in JupyterLab) or template
run: the runs recorded for it, the lineage graph of the artifacts its cells read, derived and
wrote, and its checks with their findings.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..store._audit import jsonable

__all__ = ["checks_view", "lineage_view", "notebook_runs", "run_view"]

_HIDDEN_KINDS = {"code", "environment", "notebook"}


def _matches(record, notebook: str) -> bool:
    attrs = record.attrs or {}
    for key in ("notebook",):
        value = attrs.get(key)
        if value and Path(value).expanduser().resolve(strict=False) == Path(notebook):
            return True
    return False


def notebook_runs(trail, notebook: str | None, *, limit: int = 50) -> list:
    """Runs recorded for a notebook (kernel sessions and template runs), newest first."""
    found = []
    for kind in ("session", "template"):
        for record in trail.runs(kind=kind, limit=max(limit * 4, 200)):
            if notebook is None or _matches(record, notebook):
                found.append(record)
    found.sort(key=lambda r: (r.started_at, r.id), reverse=True)
    return found[:limit]


def _subtree(trail, run_id: str) -> list:
    return [trail.get_run(run_id), *trail.descendants(run_id)]


def run_view(trail, run_id: str) -> dict:
    """One run with its children, metrics and checks."""
    details = trail.run_details(run_id)
    data = details.to_dict()
    data["children"] = [c.to_dict() for c in trail.descendants(run_id) if c.parent_id == run_id]
    return data


def lineage_view(trail, run_id: str, *, kinds: set | None = None) -> dict:
    """The artifacts a run (and everything below it) read, derived and wrote, as a graph.

    Nodes are artifacts (files, data frames, arrays, models, queries); an edge goes from an
    artifact to one derived from it, or, where nothing finer was recorded, from what a cell
    read to what it produced. With ``kinds``, artifacts of other kinds are left out and the
    graph is contracted through them: a file that reached a model through hidden data frames
    keeps an edge (kind ``via``) to the model.
    """
    runs = _subtree(trail, run_id)
    nodes: dict[str, dict] = {}
    edges: set[tuple[str, str, str]] = set()
    for record in runs:
        details = trail.run_details(record.id)
        used = [u for u in details.used if u.artifact.kind not in _HIDDEN_KINDS]
        produced = [u for u in details.produced if u.artifact.kind not in _HIDDEN_KINDS]
        for usage in used + produced:
            art = usage.artifact
            label = usage.name or (Path(usage.path).name if usage.path else art.name)
            node = nodes.setdefault(
                art.id,
                {
                    "id": art.id,
                    "label": label,
                    "kind": art.kind,
                    "path": usage.path,
                    "snapshot": bool(art.snapshot),
                    "run": record.id,
                },
            )
            if usage.name and node["label"] != usage.name and usage in produced:
                node["label"] = usage.name
        derived = _derived_edges(trail, record.id)
        with_sources = {target for _, target in derived}
        for source, target in derived:
            edges.add((source, target, "derived"))
        for out in produced:
            if out.artifact.id in with_sources:
                continue
            for inp in used:
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


def _derived_edges(trail, run_id: str) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    from ..store import _db, _schema

    e = _schema.edges
    with _db.read(trail.engine) as conn:
        rows = conn.execute(
            sa.select(e.c.source_id, e.c.artifact_id).where(
                e.c.run_id == run_id, e.c.kind == "derived"
            )
        ).all()
    return [(s, t) for s, t in rows]


def checks_view(trail, run_id: str, *, max_rows: int = 200) -> list[dict]:
    """The checks recorded in a run and below it, with (bounded) findings."""
    ids = [r.id for r in _subtree(trail, run_id)]
    out = []
    for check in trail.checks(ids):
        data = check.to_dict()
        data["details"] = []
        data["details_rows"] = 0
        if check.details:
            try:
                frame = pd.read_parquet(io.BytesIO(trail.blobs.get_bytes(check.details)))
                data["details_rows"] = len(frame)
                data["details"] = jsonable(frame.head(max_rows).to_dict(orient="records"))
            except Exception:  # noqa: BLE001 - a missing findings blob: `nbtrail verify` reports it
                data["details"] = []
        out.append(data)
    return out
