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

from .._json import jsonable
from ..errors import ArtifactNotFound, RunNotFound, UsageError
from . import _db, _schema
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
    graph = Lineage(root=f"{kind}:{ident}", direction=direction)
    runs, artifacts = set(), set()
    (runs if kind == "run" else artifacts).add(ident)
    with _db.read(trail.engine) as conn:
        walk = _Walk(conn, graph, runs, artifacts)
        if direction in ("both", "upstream"):
            walk.upstream(kind, ident, depth)
        if direction in ("both", "downstream"):
            walk.downstream(kind, ident, depth)
        walk.load_nodes()
    return graph


# Ids per IN (...) list: below SQLite's 32,766 bound-parameter limit and kind to PostgreSQL.
_BATCH = 5000


class _Walk:
    """Breadth-first traversal, one query per edge kind per hop over the whole frontier."""

    def __init__(self, conn, graph: Lineage, runs: set, artifacts: set):
        self.conn, self.graph, self.runs, self.artifacts = conn, graph, runs, artifacts

    def edges(self, kind: str, column: str, ids) -> list[tuple[str, str, str | None]]:
        """(run_id, artifact_id, source_id) of edges of ``kind`` whose ``column`` is in ids."""
        e = _schema.edges
        ids, rows = list(ids), []
        for start in range(0, len(ids), _BATCH):
            query = sa.select(e.c.run_id, e.c.artifact_id, e.c.source_id).where(
                e.c.kind == kind, e.c[column].in_(ids[start : start + _BATCH])
            )
            rows.extend(self.conn.execute(query).all())
        return rows

    def precise(self, run_ids) -> set[tuple[str, str]]:
        """(run, artifact) pairs where the artifact has derived edges recorded in that run."""
        return {(run, art) for run, art, _ in self.edges("derived", "run_id", run_ids)}

    def upstream(self, kind: str, ident: str, depth: int | None) -> None:
        add = self.graph.edges.add
        frontier = {ident} if kind == "artifact" else set()
        expand = {ident} if kind == "run" else set()
        seen, hop = set(frontier), 0
        while (frontier or expand) and (depth is None or hop < depth):
            hop += 1
            found: set[str] = set()
            for _run, art, source in self.edges("derived", "artifact_id", frontier):
                add((f"artifact:{source}", f"artifact:{art}", "derived"))
                found.add(source)
            produced = self.edges("produced", "artifact_id", frontier)
            precise = self.precise({run for run, _, _ in produced})
            for run, art, _ in produced:
                add((f"run:{run}", f"artifact:{art}", "produced"))
                self.runs.add(run)
                if (run, art) not in precise:
                    expand.add(run)
            for run, art, _ in self.edges("used", "run_id", expand):
                add((f"artifact:{art}", f"run:{run}", "used"))
                found.add(art)
            expand = set()
            frontier = found - seen
            seen |= frontier
            self.artifacts |= frontier

    def downstream(self, kind: str, ident: str, depth: int | None) -> None:
        add = self.graph.edges.add
        frontier = {ident} if kind == "artifact" else set()
        expand = {ident} if kind == "run" else set()
        seen, hop = set(frontier), 0
        while (frontier or expand) and (depth is None or hop < depth):
            hop += 1
            found: set[str] = set()
            for _run, art, source in self.edges("derived", "source_id", frontier):
                add((f"artifact:{source}", f"artifact:{art}", "derived"))
                found.add(art)
            for run, art, _ in self.edges("used", "artifact_id", frontier):
                add((f"artifact:{art}", f"run:{run}", "used"))
                self.runs.add(run)
                expand.add(run)
            # Everything a run produced follows from the run itself; from an artifact, only
            # what was not derived from something else (that is reached through its derivation).
            precise = set() if kind == "run" and hop == 1 else self.precise(expand)
            for run, art, _ in self.edges("produced", "run_id", expand):
                if (run, art) not in precise:
                    add((f"run:{run}", f"artifact:{art}", "produced"))
                    found.add(art)
            expand = set()
            frontier = found - seen
            seen |= frontier
            self.artifacts |= frontier

    def load_nodes(self) -> None:
        a, r = _schema.artifacts, _schema.runs
        nodes = self.graph.nodes
        ids = list(self.artifacts)
        for start in range(0, len(ids), _BATCH):
            query = sa.select(a.c.id, a.c.name, a.c.kind, a.c.size, a.c.snapshot).where(
                a.c.id.in_(ids[start : start + _BATCH])
            )
            for ident, name, kind, size, snapshot in self.conn.execute(query).all():
                nodes[f"artifact:{ident}"] = {
                    "type": "artifact",
                    "id": ident,
                    "name": name,
                    "kind": kind,
                    "size": size,
                    "snapshot": snapshot,
                }
        ids = list(self.runs)
        for start in range(0, len(ids), _BATCH):
            query = sa.select(
                r.c.id, r.c.name, r.c.kind, r.c.status, r.c.started_at, r.c.actor
            ).where(r.c.id.in_(ids[start : start + _BATCH]))
            for ident, name, kind, status, started, actor in self.conn.execute(query).all():
                nodes[f"run:{ident}"] = {
                    "type": "run",
                    "id": ident,
                    "name": name,
                    "kind": kind,
                    "status": status,
                    "started_at": jsonable(started),
                    "actor": actor,
                }
        # An edge may name a fact removed behind nbtrail's back; keep the graph drawable and
        # let `nbtrail verify` report the deletion.
        for source, target, _ in list(self.graph.edges):
            for key in (source, target):
                if key not in nodes:
                    typ, ident = key.split(":", 1)
                    nodes[key] = {
                        "type": typ,
                        "id": ident,
                        "name": "(missing)",
                        "kind": "missing",
                        "status": "missing",
                        "size": 0,
                        "snapshot": None,
                    }
