"""The lineage graph of a report as inline SVG: steps, the files they read and write, models.

A layered (Sugiyama) layout, left to right as data flows, with as few crossings as the graph
allows, so a reader can follow each file to the steps that read it and on to what they wrote.
Cycles (a step that reads and rewrites a file) are broken inside each strongly connected
component by drawing the closing edge backwards; longest-path layering puts every node right
of its inputs, and a file nobody produced just before its first reader. Long edges get a
waypoint per layer crossed, so crossing reduction sees them: barycenter sweeps from a
depth-first start, keeping the best order (crossings counted exactly), polished by swapping
neighbours; if crossings remain, pushing a node further right is tried (two steps reading the
same two files cannot share a layer without one). Each layer is then stacked vertically, every
node as near its neighbours' mean height as order and spacing allow, so chains run straight.
Deterministic (ties broken by node key); the SVG has no script and no external reference, so
the report stays a single file that opens offline.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from ..vocabulary import STEP_STATUSES
from ._safe import esc, known

__all__ = ["Layout", "build_graph", "count_crossings", "layout_graph", "lineage_svg"]

_W, _H, _DX, _PAD = 190, 42, 250, 20  # box size, column pitch, margin
_GAP, _EDGE_GAP = 20, 10  # vertical space between two boxes / beside an edge passing by
_BACK = 8  # how much lower an edge closing a cycle ends, so it never hides the read it answers
_SWEEPS = 12
_TRIALS, _TRIAL_WORK = 24, 3000  # layer shifts tried: at most, and nodes re-arranged in all
_STATUS = {  # fill, stroke
    "succeeded": ("#e6f4ea", "#1e8e3e"),
    "failed": ("#fce8e6", "#d93025"),
    "reused": ("#e8f0fe", "#1a73e8"),
    "not run": ("#f1f3f4", "#9aa0a6"),
    "running": ("#fef7e0", "#f9ab00"),
    "aborted": ("#fce8e6", "#d93025"),
}


def build_graph(summary) -> nx.DiGraph:
    """Return the steps, files and models of a run summary as a graph, in data-flow direction."""
    graph = nx.DiGraph()
    for step in summary.steps:
        key = f"step:{step.name}"
        status = known(step.status, STEP_STATUSES)  # never a recorded value verbatim
        graph.add_node(
            key, kind="step", label=step.name, status=status, title=f"step {step.name}: {status}"
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


@dataclass
class Layout:
    """Where a graph is drawn, in SVG units: plain data, so the geometry can be checked.

    ``boxes`` maps a node to the top-left corner of its box and ``layer`` to its column;
    ``edges`` maps an edge ``(u, v)`` to the points its path runs through from ``u`` to ``v``:
    the right side of ``u``, both sides of a waypoint per column crossed, the left side of
    ``v`` (right to left for an edge closing a cycle). ``rows`` lists each column top to
    bottom, waypoints included, ``segments`` the links between neighbouring columns, and
    ``crossings`` what :func:`count_crossings` counts for them.
    """

    boxes: dict[str, tuple[float, float]]
    layer: dict[str, int]
    edges: dict[tuple[str, str], list[tuple[float, float]]]
    rows: list[list[str]]
    segments: list[tuple[str, str]]
    crossings: int
    width: float
    height: float


def _gap_crossings(rows, segments) -> dict[int, int]:
    """Crossings between each column and the next: pairs of links whose ends swap order."""
    where = {node: (depth, i) for depth, row in enumerate(rows) for i, node in enumerate(row)}
    gaps: dict[int, list[tuple[int, int]]] = {}
    for a, b in segments:
        (da, ia), (db, ib) = sorted((where[a], where[b]))
        if db != da + 1:
            raise ValueError(f"{a!r} and {b!r} are not in neighbouring columns")
        gaps.setdefault(da, []).append((ia, ib))
    counts = {}
    for depth, pairs in gaps.items():
        seen: list[int] = []  # right ends of the links from higher up, sorted
        counts[depth] = 0
        for _, right in sorted(pairs):
            counts[depth] += len(seen) - bisect.bisect_right(seen, right)  # end lower down
            bisect.insort(seen, right)
    return counts


def count_crossings(rows, segments) -> int:
    """Return the exact number of crossings of straight links between neighbouring columns.

    Parameters
    ----------
    rows : list of list of str
        The columns, left to right, each listing its nodes top to bottom.
    segments : iterable of (str, str)
        Links, each between nodes of neighbouring columns; links sharing an end never cross.
    """
    return sum(_gap_crossings(rows, segments).values())


def _break_cycles(graph: nx.DiGraph) -> list[tuple[str, str, str, str]]:
    """Return each edge as (left, right, u, v), with left = v for an edge closing a cycle.

    Inside a strongly connected component a breadth-first walk numbers the members, starting
    from a file (it is read before it is rewritten); edges against that numbering point back.
    """
    rank: dict[str, tuple[int, int]] = {}
    for number, component in enumerate(nx.strongly_connected_components(graph)):
        if len(component) < 2:
            continue

        def root(node, component=component):
            outside = any(p not in component for p in graph.predecessors(node))
            return (graph.nodes[node].get("kind") != "file", not outside, node)

        queue = [min(component, key=root)]
        rank[queue[0]] = (number, len(rank))
        for node in queue:  # breadth first: members numbered by generation from the root
            for successor in sorted((set(graph.successors(node)) & component) - rank.keys()):
                rank[successor] = (number, len(rank))
                queue.append(successor)
    chains = []
    for u, v in graph.edges:
        back = u in rank and v in rank and rank[u][0] == rank[v][0] and rank[u] > rank[v]
        if u != v:
            chains.append((v, u, u, v) if back else (u, v, u, v))
    return chains


def _place_sources(dag: nx.DiGraph, layer: dict[str, int]) -> dict[str, int]:
    """Move each node nobody produced to the layer just before its first reader."""
    for node in dag:
        if dag.in_degree(node) == 0 and dag.out_degree(node):
            layer[node] = min(layer[s] for s in dag.successors(node)) - 1
    return layer


def _shifted(dag: nx.DiGraph, layer: dict[str, int], node: str, delta: int) -> dict[str, int]:
    """Return the layering with ``node`` moved right, and what it feeds as far as needed."""
    moved = dict(layer)
    moved[node] += delta
    stack = [node]
    while stack:
        current = stack.pop()
        for successor in dag.successors(current):
            if moved[successor] <= moved[current]:
                moved[successor] = moved[current] + 1
                stack.append(successor)
    return _place_sources(dag, moved)


def _arrange(layer: dict[str, int], chains):
    """Add a waypoint in each column a long edge crosses, then order the columns.

    Returns the columns, each edge's path through them, their links and crossings per gap.
    """
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for node in sorted(layer):
        rows[layer[node]].append(node)
    paths = []
    for number, (left, right, *_) in enumerate(chains):
        path = [left]
        for depth in range(layer[left] + 1, layer[right]):
            path.append(f"\0{number:06d}:{depth:06d}")  # sorts before any node key
            rows[depth].append(path[-1])
        paths.append([*path, right])
    segments = [pair for path in paths for pair in itertools.pairwise(path)]
    before: dict[str, list[str]] = {n: [] for row in rows for n in row}
    after: dict[str, list[str]] = {n: [] for row in rows for n in row}
    for a, b in segments:
        after[a].append(b)
        before[b].append(a)
    rows, gaps = _sweep(_dfs_rows(rows, before, after), before, after, segments)
    return rows, paths, segments, gaps


def _dfs_rows(rows, before, after) -> list[list[str]]:
    """Columns in depth-first discovery order, so linked nodes start next to each other."""
    depth_of = {n: depth for depth, row in enumerate(rows) for n in row}
    found: list[list[str]] = [[] for _ in rows]
    seen: set[str] = set()
    for start in sorted(depth_of, key=lambda n: (depth_of[n], len(before[n] + after[n]), n)):
        stack = [start]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                found[depth_of[node]].append(node)
                stack.extend(sorted(before[node] + after[node], reverse=True))
    return found


def _sweep(rows, before, after, segments):
    """Barycenter sweeps down and up; the best order found, polished by transposition."""
    best, gaps = [row[:] for row in rows], _gap_crossings(rows, segments)
    found = 0  # the sweep that found the best order: four more without progress and stop
    for sweep in range(_SWEEPS):
        if not any(gaps.values()) or sweep - found > 4:
            break
        down = sweep % 2 == 0
        for depth in range(1, len(rows)) if down else range(len(rows) - 2, -1, -1):
            fixed = {n: i for i, n in enumerate(rows[depth - 1 if down else depth + 1])}
            weight = {}
            for index, node in enumerate(rows[depth]):
                near = [fixed[n] for n in (before if down else after)[node]]
                weight[node] = (sum(near) / len(near) if near else index, node)
            rows[depth] = sorted(rows[depth], key=weight.__getitem__)
        counted = _gap_crossings(rows, segments)
        if sum(counted.values()) < sum(gaps.values()):
            best, gaps, found = [row[:] for row in rows], counted, sweep
    if any(gaps.values()):
        _transpose(best, before, after)
        gaps = _gap_crossings(best, segments)
    return best, gaps


def _transpose(rows, before, after) -> None:
    """Swap neighbours in a column while that removes crossings (as Graphviz dot does)."""
    improved = True
    while improved:
        improved = False
        for depth, row in enumerate(rows):
            sides = [
                ({n: i for i, n in enumerate(rows[d])}, links)
                for d, links in ((depth - 1, before), (depth + 1, after))
                if 0 <= d < len(rows)
            ]
            for i in range(len(row) - 1):
                u, v = row[i], row[i + 1]
                keep = swap = 0
                for pos, links in sides:
                    for a, b in itertools.product(links[u], links[v]):
                        keep += pos[a] > pos[b]
                        swap += pos[b] > pos[a]
                if swap < keep:
                    row[i], row[i + 1] = v, u
                    improved = True


def _project(targets: list[float], gaps: list[float]) -> list[float]:
    """Closest heights to ``targets`` (least squares) keeping order and spacing (PAVA)."""
    offsets = [0.0, *itertools.accumulate(gaps)][: len(targets)]
    blocks: list[list[float]] = []  # [sum, count] of pooled values, means non-decreasing
    for target, offset in zip(targets, offsets, strict=True):
        blocks.append([target - offset, 1])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] > blocks[-1][0] * blocks[-2][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    pooled = [total / count for total, count in blocks for _ in range(int(count))]
    return [value + offset for value, offset in zip(pooled, offsets, strict=True)]


def _heights(rows, segments, real) -> dict[str, float]:
    """Centre height of every node and waypoint: level with its neighbours, never overlapping."""
    half = {n: _H / 2 if n in real else 0.0 for row in rows for n in row}

    def spacing(row):
        return [
            half[a] + half[b] + (_GAP if half[a] and half[b] else _EDGE_GAP)
            for a, b in itertools.pairwise(row)
        ]

    y: dict[str, float] = {}
    for row in rows:  # start stacked, centred on the same line
        y.update(zip(row, _project([-sum(spacing(row)) / 2] * len(row), spacing(row)), strict=True))
    links: dict[str, tuple[list[str], list[str]]] = {n: ([], []) for n in y}
    for a, b in segments:
        links[a][1].append(b)
        links[b][0].append(a)
    for sides in [(0,), (1,)] * 4 + [(0, 1)]:  # down, up, ..., then both ways
        for row in rows if sides == (0,) else rows[::-1]:
            targets = []
            for node in row:
                near = [y[n] for side in sides for n in links[node][side]]
                targets.append(sum(near) / len(near) if near else y[node])
            y.update(zip(row, _project(targets, spacing(row)), strict=True))
    top = min((y[n] - half[n] for n in y), default=0.0)
    return {n: value - top + _PAD for n, value in y.items()}


def layout_graph(graph: nx.DiGraph) -> Layout:
    """Return the layered, left-to-right layout of a lineage graph (steps in the module notes)."""
    chains = _break_cycles(graph)
    dag = nx.DiGraph([(left, right) for left, right, *_ in chains])
    dag.add_nodes_from(graph)
    layer: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        layer[node] = max((layer[p] + 1 for p in dag.predecessors(node)), default=0)
    layer = _place_sources(dag, layer)
    rows, paths, segments, gaps = _arrange(layer, chains)
    appearance = {node: number for number, node in enumerate(graph)}
    trials = min(_TRIALS, _TRIAL_WORK // max(1, sum(map(len, rows))))
    while sum(gaps.values()) and trials > 0:
        crossed = [depth + 1 for depth, count in sorted(gaps.items()) if count]
        candidates = [n for d in crossed for n in rows[d] if n in layer and dag.in_degree(n)]
        candidates.sort(key=lambda n: -appearance[n])  # a later step makes way, not an earlier
        for node, delta in itertools.islice(itertools.product(candidates, (1, 2)), trials):
            trials -= 1
            moved = _shifted(dag, layer, node, delta)
            trial = _arrange(moved, chains)
            if sum(trial[3].values()) < sum(gaps.values()):
                (rows, paths, segments, gaps), layer = trial, moved
                break
        else:
            break
    y = _heights(rows, segments, layer)
    boxes = {n: (_PAD + layer[n] * _DX, y[n] - _H / 2) for n in graph}
    edges = {}
    for (left, right, u, v), path in zip(chains, paths, strict=True):
        lower = 0 if (left, right) == (u, v) else _BACK
        points = [(_PAD + layer[left] * _DX + _W, y[left] + lower)]
        for depth, waypoint in enumerate(path[1:-1], start=layer[left] + 1):
            points += [(_PAD + depth * _DX, y[waypoint]), (_PAD + depth * _DX + _W, y[waypoint])]
        points.append((_PAD + layer[right] * _DX, y[right] + lower))
        edges[u, v] = points[::-1] if lower else points
    bottom = max((y[n] + (_H / 2 if n in layer else 0) for n in y), default=0.0)
    return Layout(
        boxes=boxes,
        layer={n: layer[n] for n in graph},
        edges=edges,
        rows=rows,
        segments=segments,
        crossings=sum(gaps.values()),
        width=2 * _PAD + (len(rows) - 1) * _DX + _W,
        height=bottom + _PAD,
    )


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path_data(points) -> str:
    """A smooth path through the points: level at each one, so the joins have no kinks."""
    data = [f"M {points[0][0]:.1f} {points[0][1]:.1f}"]
    for (xa, ya), (xb, yb) in itertools.pairwise(points):
        mid = (xa + xb) / 2
        data.append(f"C {mid:.1f} {ya:.1f}, {mid:.1f} {yb:.1f}, {xb:.1f} {yb:.1f}")
    return " ".join(data)


def lineage_svg(summary) -> str:
    """Return the run's lineage graph as a standalone ``<svg>`` element."""
    graph = build_graph(summary)
    if not graph.nodes:
        return "<p class='muted'>No files or models were recorded.</p>"
    layout = layout_graph(graph)
    width, height = f"{layout.width:.0f}", f"{layout.height:.0f}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="lineage graph">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' "
        "fill='#5f6368'/></marker></defs>",
    ]
    for (u, v), points in layout.edges.items():
        parts.append(
            f"<path class='edge' data-source='{esc(u)}' "
            f"data-target='{esc(v)}' "
            f"d='{_path_data(points)}' fill='none' stroke='#5f6368' "
            "stroke-width='1.3' marker-end='url(#arrow)'/>"
        )
    for node, (x, y) in layout.boxes.items():
        data = graph.nodes[node]
        kind = data["kind"]
        if kind == "step":
            fill, stroke = _STATUS.get(data["status"], ("#fff", "#5f6368"))
            style = f"rx='8' fill='{fill}' stroke='{stroke}' stroke-width='2'"
            caption = f"{_short(data['label'])} · {data['status']}"
        elif kind == "model":
            style = "rx='2' fill='#f3e8fd' stroke='#8430ce' stroke-width='1.5'"
            caption = f"model {_short(data['label'], 20)}"
        else:
            style = "rx='2' fill='#fff' stroke='#5f6368' stroke-width='1.2' stroke-dasharray='4 2'"
            caption = _short(data["label"])
        parts.append(
            f"<g class='node {kind}' data-node='{esc(node)}'>"
            f"<title>{esc(data['title'])}</title>"
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{_W}' height='{_H}' {style}/>"
            f"<text x='{x + _W / 2:.1f}' y='{y + _H / 2 + 4:.1f}' text-anchor='middle' "
            f"font-size='12' font-family='sans-serif'>{esc(caption)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
