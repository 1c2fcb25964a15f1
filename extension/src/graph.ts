/**
 * The lineage graph, laid out by dagre (layered, top to bottom: the sidebar is tall and narrow)
 * and drawn as SVG.
 */
import dagre from '@dagrejs/dagre';

import { ILineageReply } from './api';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 112;
const HEIGHT = 30;

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

function short(text: string, limit = 16): string {
  return text.length <= limit ? text : text.slice(0, limit - 1) + '…';
}

export function renderLineage(container: HTMLElement, lineage: ILineageReply): void {
  container.textContent = '';
  if (!lineage.nodes.length) {
    const empty = document.createElement('p');
    empty.className = 'nbtrail-empty';
    empty.textContent = lineage.run
      ? 'Nothing read, derived or written yet.'
      : 'No recorded run for this notebook. Run %load_ext nbtrail in it.';
    container.appendChild(empty);
    return;
  }
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'TB', nodesep: 12, ranksep: 26, marginx: 6, marginy: 6 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of lineage.nodes) {
    graph.setNode(node.id, { width: WIDTH, height: HEIGHT });
  }
  for (const edge of lineage.edges) {
    graph.setEdge(edge.source, edge.target);
  }
  dagre.layout(graph);
  const size = graph.graph();
  const svg = el('svg', {
    class: 'nbtrail-lineage',
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    viewBox: `0 0 ${Math.ceil(size.width ?? 0)} ${Math.ceil(size.height ?? 0)}`
  });
  const defs = el('defs', {});
  const marker = el('marker', {
    id: 'nbtrail-arrow',
    viewBox: '0 0 10 10',
    refX: 10,
    refY: 5,
    markerWidth: 6,
    markerHeight: 6,
    orient: 'auto-start-reverse'
  });
  marker.appendChild(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'nbtrail-arrowhead' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const byId = new Map(lineage.nodes.map(n => [n.id, n]));
  for (const edge of lineage.edges) {
    const layout = graph.edge(edge.source, edge.target);
    if (!layout || !layout.points?.length) {
      continue;
    }
    const d = layout.points.map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    const path = el('path', {
      d,
      class: `nbtrail-edge nbtrail-edge-${edge.kind}`,
      'marker-end': 'url(#nbtrail-arrow)',
      'data-source': byId.get(edge.source)?.label ?? '',
      'data-target': byId.get(edge.target)?.label ?? ''
    });
    svg.appendChild(path);
  }
  for (const node of lineage.nodes) {
    const box = graph.node(node.id);
    const group = el('g', {
      class: `nbtrail-node nbtrail-kind-${node.kind}`,
      'data-label': node.label,
      'data-kind': node.kind,
      transform: `translate(${(box.x - WIDTH / 2).toFixed(1)},${(box.y - HEIGHT / 2).toFixed(1)})`
    });
    const title = el('title', {});
    title.textContent = `${node.label} (${node.kind})${node.path ? '\n' + node.path : ''}\n${node.id}`;
    group.appendChild(title);
    group.appendChild(el('rect', { width: WIDTH, height: HEIGHT, rx: node.kind === 'file' ? 2 : 8 }));
    const text = el('text', { x: WIDTH / 2, y: HEIGHT / 2 + 4, 'text-anchor': 'middle' });
    text.textContent = short(node.label); // the kind is the box's style and in the legend
    group.appendChild(text);
    svg.appendChild(group);
  }
  // Fitted to the panel's width; a click on the graph toggles its actual size (then it scrolls).
  svg.addEventListener('click', () => container.classList.toggle('nbtrail-actual-size'));
  container.appendChild(svg);
  const legend = document.createElement('div');
  legend.className = 'nbtrail-legend';
  for (const kind of [...new Set(lineage.nodes.map(n => n.kind))].sort()) {
    const item = document.createElement('span');
    item.className = `nbtrail-legend-item nbtrail-kind-${kind}`;
    item.textContent = kind;
    legend.appendChild(item);
  }
  container.appendChild(legend);
}
