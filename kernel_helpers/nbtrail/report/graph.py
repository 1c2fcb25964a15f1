"""The lineage graph of a report as inline SVG: steps, the files they read and write, models.

Layout is layered, left to right in the direction data flows: networkx condenses cycles (a
step that reads and rewrites a file) and assigns each node the generation of its strongly
connected component in topological order; nodes in a layer are ordered by the mean position
of their predecessors, which keeps most edges short and uncrossed. The SVG is plain markup with
no script and no external reference, so the report stays a single file that opens offline.
"""

from __future__ import annotations

import html
from pathlib import Path

import networkx as nx

__all__ = ["lineage_svg"]

_W, _H, _DX, _DY, _PAD = 190, 42, 250, 62, 20
_STATUS_FILL = {
    "succeeded": "#e6f4ea",
    "failed": "#fce8e6",
    "reused": "#e8f0fe",
    "not run": "#f1f3f4",
    "running": "#fef7e0",
    "aborted": "#fce8e6",
}
_STATUS_STROKE = {
    "succeeded": "#1e8e3e",
    "failed": "#d93025",
    "reused": "#1a73e8",
    "not run": "#9aa0a6",
    "running": "#f9ab00",
    "aborted": "#d93025",
}


def build_graph(summary) -> nx.DiGraph:
    """Return the steps, files and models of a run summary as a graph, in data-flow direction."""
    graph = nx.DiGraph()
    for step in summary.steps:
        key = f"step:{step.name}"
        graph.add_node(
            key,
            kind="step",
            label=step.name,
            status=step.status,
            title=f"step {step.name}: {step.status}",
        )
        for path, digest in step.used_files:
            node = f"file:{path}"
            graph.add_node(
                node, kind="file", label=Path(path).name, title=f"{path}\nxxh3-128 {digest}"
            )
            graph.add_edge(node, key)
        for label, digest, kind in step.produced:
            if kind == "model":
                node = f"model:{digest}"
                graph.add_node(node, kind="model", label=label, title=f"model {label}\n{digest}")
            else:
                node = f"file:{label}"
                graph.add_node(
                    node, kind="file", label=Path(label).name, title=f"{label}\nxxh3-128 {digest}"
                )
            if node != key:
                graph.add_edge(key, node)
    return graph


def _layers(graph: nx.DiGraph) -> list[list[str]]:
    condensed = nx.condensation(graph)
    members = condensed.graph["mapping"]
    layer_of = {}
    for depth, generation in enumerate(nx.topological_generations(condensed)):
        for component in generation:
            layer_of[component] = depth
    layers: dict[int, list[str]] = {}
    for node in graph.nodes:
        layers.setdefault(layer_of[members[node]], []).append(node)
    ordered: list[list[str]] = []
    position: dict[str, float] = {}
    for depth in sorted(layers):
        nodes = layers[depth]

        def weight(node: str) -> tuple[float, str]:
            parents = [position[p] for p in graph.predecessors(node) if p in position]
            return (sum(parents) / len(parents) if parents else len(position), node)

        nodes.sort(key=weight)
        for index, node in enumerate(nodes):
            position[node] = index
        ordered.append(nodes)
    return ordered


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lineage_svg(summary) -> str:
    """Return the run's lineage graph as a standalone ``<svg>`` element."""
    graph = build_graph(summary)
    if not graph.nodes:
        return "<p class='muted'>No files or models were recorded.</p>"
    layers = _layers(graph)
    tallest = max(len(layer) for layer in layers)
    width = _PAD * 2 + (len(layers) - 1) * _DX + _W
    height = _PAD * 2 + (tallest - 1) * _DY + _H
    xy = {}
    for depth, layer in enumerate(layers):
        offset = (tallest - len(layer)) * _DY / 2
        for index, node in enumerate(layer):
            xy[node] = (_PAD + depth * _DX, _PAD + offset + index * _DY)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="lineage graph">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' "
        "fill='#5f6368'/></marker></defs>",
    ]
    for source, target in graph.edges:
        (x1, y1), (x2, y2) = xy[source], xy[target]
        sx, sy, tx, ty = x1 + _W, y1 + _H / 2, x2, y2 + _H / 2
        if tx <= sx:  # an edge within a cycle: loop around
            tx, ty = x2 + _W / 2, y2
        mid = (sx + tx) / 2
        parts.append(
            f"<path class='edge' d='M {sx:.1f} {sy:.1f} C {mid:.1f} {sy:.1f}, {mid:.1f} {ty:.1f}, "
            f"{tx:.1f} {ty:.1f}' fill='none' stroke='#5f6368' stroke-width='1.3' "
            "marker-end='url(#arrow)'/>"
        )
    for node, (x, y) in xy.items():
        data = graph.nodes[node]
        kind = data["kind"]
        if kind == "step":
            fill = _STATUS_FILL.get(data["status"], "#fff")
            stroke = _STATUS_STROKE.get(data["status"], "#5f6368")
            shape = (
                f"<rect x='{x}' y='{y}' width='{_W}' height='{_H}' rx='8' fill='{fill}' "
                f"stroke='{stroke}' stroke-width='2'/>"
            )
            caption = f"{_short(data['label'])} · {data['status']}"
        elif kind == "model":
            shape = (
                f"<rect x='{x}' y='{y}' width='{_W}' height='{_H}' rx='2' fill='#f3e8fd' "
                "stroke='#8430ce' stroke-width='1.5'/>"
            )
            caption = f"model {_short(data['label'], 20)}"
        else:
            shape = (
                f"<rect x='{x}' y='{y}' width='{_W}' height='{_H}' rx='2' fill='#ffffff' "
                "stroke='#5f6368' stroke-width='1.2' stroke-dasharray='4 2'/>"
            )
            caption = _short(data["label"])
        parts.append(
            f"<g class='node {kind}' data-node='{html.escape(node, quote=True)}'>"
            f"<title>{html.escape(data['title'])}</title>{shape}"
            f"<text x='{x + _W / 2}' y='{y + _H / 2 + 4}' text-anchor='middle' "
            f"font-size='12' font-family='sans-serif'>{html.escape(caption)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
