"""Lineage: which runs and artifacts lead to an artifact, and which follow from it.

The graph has two kinds of nodes, runs and artifacts, and three kinds of edges: an artifact
is *used* by a run, a run *produced* an artifact, an artifact is *derived* from another.
Traversal is breadth-first, one database query per edge kind per hop over the whole
frontier, so a query costs in proportion to the answer, not to the size of the trail.

Precision: when a produced artifact has ``derived`` edges in its run (capture records them
from the cell's data flow), lineage follows those instead of assuming the artifact depends on
everything the run used. A notebook session that read ten files and trained one model on two
of them shows the model depending on those two.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..errors import ArtifactNotFound, RunNotFound, UsageError
from . import _db, _schema
from ._audit import jsonable
from ._records import ArtifactRecord, RunRecord

__all__ = ["Lineage", "build_lineage"]

DIRECTIONS = ("both", "upstream", "downstream")

_VERBS = {  # how an edge reads from the node above to the node below
    ("upstream", "produced"): "produced by",
    ("upstream", "used"): "used",
    ("upstream", "derived"): "derived from",
    ("downstream", "produced"): "produced",
    ("downstream", "used"): "used by",
    ("downstream", "derived"): "derived into",
}


@dataclass
class Lineage:
    """A lineage graph around one root node.

    Attributes
    ----------
    root : str
        Key of the node asked about: ``artifact:<digest>`` or ``run:<id>``.
    direction : str
        ``both``, ``upstream`` or ``downstream``.
    nodes : dict
        Key to a JSON-ready description (type, id, name, kind, status...).
    edges : set of tuple
        (source key, target key, kind), pointing the way data flows.
    """

    root: str
    direction: str
    nodes: dict = field(default_factory=dict)
    edges: set = field(default_factory=set)

    def __repr__(self) -> str:
        runs = sum(1 for n in self.nodes.values() if n["type"] == "run")
        return (
            f"<Lineage of {self.nodes[self.root]['name']!r} ({self.direction}): "
            f"{len(self.nodes) - runs} artifacts, {runs} runs, {len(self.edges)} edges>"
        )

    @property
    def artifacts(self):
        """Artifact nodes as a pandas DataFrame."""
        import pandas as pd

        rows = [n for n in self.nodes.values() if n["type"] == "artifact"]
        return pd.DataFrame(rows, columns=["id", "name", "kind", "size", "snapshot"])

    @property
    def runs(self):
        """Run nodes as a pandas DataFrame."""
        import pandas as pd

        rows = [n for n in self.nodes.values() if n["type"] == "run"]
        return pd.DataFrame(rows, columns=["id", "name", "kind", "status", "started_at"])

    def to_dict(self) -> dict:
        """Return JSON-ready data: root, direction, nodes and edges."""
        return {
            "root": self.root,
            "direction": self.direction,
            "nodes": [self.nodes[k] | {"key": k} for k in sorted(self.nodes)],
            "edges": [{"source": s, "target": t, "kind": k} for s, t, k in sorted(self.edges)],
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def _label(self, key: str) -> str:
        node = self.nodes[key]
        if node["type"] == "run":
            return f"run {node['name']} [{node['kind']}, {node['status']}] {node['id']}"
        snap = ", snapshot" if node.get("snapshot") else ""
        return f"{node['name']} [{node['kind']} {node['id'][:12]}{snap}]"

    def to_text(self) -> str:
        """Draw the graph as indented trees from the root, upstream then downstream."""
        parents, children = defaultdict(list), defaultdict(list)
        for source, target, kind in sorted(self.edges):
            parents[target].append((source, kind))
            children[source].append((target, kind))
        lines = [self._label(self.root)]
        sections = []
        if self.direction in ("both", "upstream") and parents[self.root]:
            sections.append(("upstream (where it came from)", "upstream", parents))
        if self.direction in ("both", "downstream") and children[self.root]:
            sections.append(("downstream (what came of it)", "downstream", children))
        if not sections:
            lines.append("  (no recorded lineage in this direction)")
        for title, way, adjacency in sections:
            lines.append(f"{title}:")
            self._tree(self.root, way, adjacency, "", {self.root}, lines)
        return "\n".join(lines)

    def _tree(self, key, way, adjacency, prefix, seen, lines) -> None:
        entries = adjacency[key]
        for i, (other, kind) in enumerate(entries):
            last = i == len(entries) - 1
            repeat = other in seen
            lines.append(
                f"{prefix}{'└─' if last else '├─'} {_VERBS[(way, kind)]} "
                f"{self._label(other)}" + ("  (see above)" if repeat else "")
            )
            if not repeat:
                seen.add(other)
                self._tree(other, way, adjacency, prefix + ("   " if last else "│  "), seen, lines)

    def to_dot(self) -> str:
        """Return the graph in Graphviz DOT: runs as boxes, artifacts by kind."""
        shapes = {"file": "note", "model": "box3d", "dataframe": "tab", "series": "tab"}
        out = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        for key in sorted(self.nodes):
            node = self.nodes[key]
            if node["type"] == "run":
                shape = "box"
                label = f"{node['name']}\\n{node['kind']} · {node['status']}"
                style = ', style="rounded,filled", fillcolor="#eef3fb"'
            else:
                shape = shapes.get(node["kind"], "ellipse")
                label = f"{node['name']}\\n{node['kind']} {node['id'][:12]}"
                style = ""
            if key == self.root:
                style += ", penwidth=2"
            out.append(f"  {_dot_id(key)} [shape={shape}, label={_dot_str(label)}{style}];")
        for source, target, kind in sorted(self.edges):
            out.append(f"  {_dot_id(source)} -> {_dot_id(target)} [label={_dot_str(kind)}];")
        out.append("}")
        return "\n".join(out)


def _dot_id(key: str) -> str:
    return '"' + key.replace('"', "") + '"'


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def _resolve_root(trail, ref) -> tuple[str, str]:
    if isinstance(ref, RunRecord):
        return "run", ref.id
    if isinstance(ref, ArtifactRecord):
        return "artifact", ref.id
    try:
        return "artifact", trail.get_artifact(ref).id
    except ArtifactNotFound:
        try:
            return "run", trail.get_run(str(ref)).id
        except RunNotFound:
            raise ArtifactNotFound(
                f"no artifact or run matches {ref!r}: not a recorded path, fingerprint, "
                "name or run id"
            ) from None


def build_lineage(trail, ref, *, direction: str = "both", depth: int | None = None) -> Lineage:
    """Walk the trail's edges from ``ref``; see :meth:`Trail.lineage`."""
    if direction not in DIRECTIONS:
        raise UsageError(f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise UsageError(f"depth must be a positive integer, got {depth!r}")
    kind, ident = _resolve_root(trail, ref)
    root = f"{kind}:{ident}"
    graph = Lineage(root=root, direction=direction)
    runs, artifacts = set(), set()
    (runs if kind == "run" else artifacts).add(ident)
    with _db.read(trail.engine) as conn:
        if direction in ("both", "upstream"):
            _walk_upstream(trail, conn, kind, ident, depth, graph, runs, artifacts)
        if direction in ("both", "downstream"):
            _walk_downstream(trail, conn, kind, ident, depth, graph, runs, artifacts)
        _load_nodes(trail, conn, graph, runs, artifacts)
    return graph


def _edges_where(column_name: str, kind: str, extra=None):
    e = _schema.edges

    def query(ids):
        q = sa.select(e.c.run_id, e.c.artifact_id, e.c.source_id).where(
            e.c.kind == kind, e.c[column_name].in_(ids)
        )
        return q if extra is None else q.where(extra)

    return query


def _derived_pairs(trail, conn, run_ids) -> set[tuple[str, str]]:
    """(run, artifact) pairs where the artifact has derived edges recorded in that run."""
    return {
        (r["run_id"], r["artifact_id"])
        for r in trail._select_in(conn, _edges_where("run_id", "derived"), run_ids)
    }


def _walk_upstream(trail, conn, kind, ident, depth, graph, runs, artifacts) -> None:
    frontier_artifacts = {ident} if kind == "artifact" else set()
    expand_runs = {ident} if kind == "run" else set()
    seen_artifacts = set(frontier_artifacts)
    hop = 0
    while (frontier_artifacts or expand_runs) and (depth is None or hop < depth):
        hop += 1
        new_artifacts: set[str] = set()
        if frontier_artifacts:
            for r in trail._select_in(
                conn, _edges_where("artifact_id", "derived"), frontier_artifacts
            ):
                graph.edges.add(
                    (f"artifact:{r['source_id']}", f"artifact:{r['artifact_id']}", "derived")
                )
                new_artifacts.add(r["source_id"])
            produced = list(
                trail._select_in(conn, _edges_where("artifact_id", "produced"), frontier_artifacts)
            )
            producer_runs = {r["run_id"] for r in produced}
            precise = _derived_pairs(trail, conn, producer_runs)
            for r in produced:
                graph.edges.add((f"run:{r['run_id']}", f"artifact:{r['artifact_id']}", "produced"))
                runs.add(r["run_id"])
                if (r["run_id"], r["artifact_id"]) not in precise:
                    expand_runs.add(r["run_id"])
        for r in trail._select_in(conn, _edges_where("run_id", "used"), expand_runs):
            graph.edges.add((f"artifact:{r['artifact_id']}", f"run:{r['run_id']}", "used"))
            new_artifacts.add(r["artifact_id"])
        expand_runs = set()
        frontier_artifacts = new_artifacts - seen_artifacts
        seen_artifacts |= frontier_artifacts
        artifacts |= frontier_artifacts


def _walk_downstream(trail, conn, kind, ident, depth, graph, runs, artifacts) -> None:
    frontier_artifacts = {ident} if kind == "artifact" else set()
    expand_runs = {ident} if kind == "run" else set()
    seen_artifacts = set(frontier_artifacts)
    hop = 0
    while (frontier_artifacts or expand_runs) and (depth is None or hop < depth):
        hop += 1
        new_artifacts: set[str] = set()
        if frontier_artifacts:
            for r in trail._select_in(
                conn, _edges_where("source_id", "derived"), frontier_artifacts
            ):
                graph.edges.add(
                    (f"artifact:{r['source_id']}", f"artifact:{r['artifact_id']}", "derived")
                )
                new_artifacts.add(r["artifact_id"])
            for r in trail._select_in(
                conn, _edges_where("artifact_id", "used"), frontier_artifacts
            ):
                graph.edges.add((f"artifact:{r['artifact_id']}", f"run:{r['run_id']}", "used"))
                runs.add(r["run_id"])
                expand_runs.add(r["run_id"])
        if expand_runs:
            # Everything a run produced follows from the run itself; from an artifact, only
            # what was not derived from something else.
            precise = (
                set() if kind == "run" and hop == 1 else _derived_pairs(trail, conn, expand_runs)
            )
            for r in trail._select_in(conn, _edges_where("run_id", "produced"), expand_runs):
                if (r["run_id"], r["artifact_id"]) in precise:
                    continue  # reached through its derived edges, if it depends on the root
                graph.edges.add((f"run:{r['run_id']}", f"artifact:{r['artifact_id']}", "produced"))
                new_artifacts.add(r["artifact_id"])
        expand_runs = set()
        frontier_artifacts = new_artifacts - seen_artifacts
        seen_artifacts |= frontier_artifacts
        artifacts |= frontier_artifacts


def _load_nodes(trail, conn, graph: Lineage, runs: set, artifacts: set) -> None:
    a, r = _schema.artifacts, _schema.runs
    for row in trail._select_in(conn, lambda ids: sa.select(a).where(a.c.id.in_(ids)), artifacts):
        graph.nodes[f"artifact:{row['id']}"] = {
            "type": "artifact",
            "id": row["id"],
            "name": row["name"],
            "kind": row["kind"],
            "size": row["size"],
            "snapshot": row["snapshot"],
        }
    for row in trail._select_in(conn, lambda ids: sa.select(r).where(r.c.id.in_(ids)), runs):
        graph.nodes[f"run:{row['id']}"] = {
            "type": "run",
            "id": row["id"],
            "name": row["name"],
            "kind": row["kind"],
            "status": row["status"],
            "started_at": jsonable(row["started_at"]),
        }
    # An edge may name an artifact whose row was removed behind nbtrail's back; keep the graph
    # drawable and let `nbtrail verify` report the deletion.
    for source, target, _ in list(graph.edges):
        for key in (source, target):
            if key not in graph.nodes:
                typ, ident = key.split(":", 1)
                graph.nodes[key] = {
                    "type": typ,
                    "id": ident,
                    "name": "(missing)",
                    "kind": "missing",
                    "status": "missing",
                    "size": 0,
                    "snapshot": None,
                }
