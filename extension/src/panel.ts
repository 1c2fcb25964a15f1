/**
 * The Trail panel: the active notebook's lineage graph, its checks, its run history.
 */
import { Widget } from '@lumino/widgets';

import { renderLineage } from './graph';
import { ICheck, IRun, ITrailState, TrailModel } from './model';

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function value(v: unknown): string {
  if (typeof v === 'number') {
    return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  }
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function renderCheck(check: ICheck): HTMLElement {
  const item = h('li', `nbtrail-check nbtrail-check-${check.status}`);
  item.dataset.status = check.status;
  item.dataset.name = check.name;
  const head = h('div', 'nbtrail-check-head');
  head.appendChild(h('span', `nbtrail-badge nbtrail-badge-${check.status}`, check.status));
  head.appendChild(h('span', 'nbtrail-check-name', check.name));
  item.appendChild(head);
  item.appendChild(h('div', 'nbtrail-check-summary', check.summary));
  const details = h('div', 'nbtrail-check-details');
  details.hidden = true;
  const metrics = h('table', 'nbtrail-table');
  for (const [key, v] of Object.entries(check.metrics)) {
    const row = metrics.insertRow();
    row.insertCell().textContent = key;
    row.insertCell().textContent = value(v);
    const limit = check.thresholds[key];
    row.insertCell().textContent = limit === undefined ? '' : value(limit);
  }
  details.appendChild(metrics);
  if (check.details.length) {
    const findings = h('table', 'nbtrail-table nbtrail-findings');
    const columns = Object.keys(check.details[0]);
    const header = findings.createTHead().insertRow();
    for (const column of columns) {
      header.appendChild(h('th', '', column));
    }
    const body = findings.createTBody();
    for (const record of check.details) {
      const row = body.insertRow();
      for (const column of columns) {
        row.insertCell().textContent = value(record[column]);
      }
    }
    details.appendChild(findings);
    if (check.details_rows > check.details.length) {
      details.appendChild(
        h('div', 'nbtrail-muted', `${check.details_rows - check.details.length} more findings in the trail`)
      );
    }
  }
  item.appendChild(details);
  head.addEventListener('click', () => {
    details.hidden = !details.hidden;
    item.classList.toggle('nbtrail-open', !details.hidden);
  });
  return item;
}

function renderRun(run: IRun, shown: boolean, onClick: () => void): HTMLElement {
  const item = h('li', `nbtrail-run nbtrail-run-${run.status}`);
  item.dataset.status = run.status;
  item.dataset.id = run.id;
  item.classList.toggle('nbtrail-selected', shown);
  item.addEventListener('click', onClick);
  item.appendChild(h('span', `nbtrail-badge nbtrail-badge-${run.status}`, run.status));
  item.appendChild(h('span', 'nbtrail-run-name', `${run.kind} ${run.name}`));
  const when = new Date(run.started_at).toLocaleString();
  item.appendChild(h('span', 'nbtrail-muted', when));
  item.title = `${run.id}${run.error ? '\n' + run.error : ''}`;
  return item;
}

export class TrailPanel extends Widget {
  private _title = h('div', 'nbtrail-panel-title');
  private _status = h('div', 'nbtrail-muted');
  private _graph = h('div', 'nbtrail-graph');
  private _checks = h('ul', 'nbtrail-checks');
  private _runs = h('ul', 'nbtrail-runs');

  constructor(private readonly model: TrailModel) {
    super();
    this.id = 'nbtrail-panel';
    this.addClass('nbtrail-panel');
    const header = h('div', 'nbtrail-panel-header');
    const refresh = h('button', 'jp-mod-styled nbtrail-refresh', 'Refresh');
    refresh.addEventListener('click', () => void this.model.refresh());
    header.appendChild(this._title);
    header.appendChild(refresh);
    this.node.appendChild(header);
    this.node.appendChild(this._status);
    this.node.appendChild(h('h3', 'nbtrail-section', 'Lineage'));
    this.node.appendChild(this._graph);
    this.node.appendChild(h('h3', 'nbtrail-section', 'Checks'));
    this.node.appendChild(this._checks);
    this.node.appendChild(h('h3', 'nbtrail-section', 'Runs'));
    this.node.appendChild(this._runs);
    model.changed.connect((_, state) => this.render(state));
    this.render(model.state);
  }

  render(state: ITrailState): void {
    this._title.textContent = state.notebook ?? 'No notebook open';
    const shown = state.runs.find(r => r.id === state.selected) ?? state.runs[0];
    const which = state.selected ? 'showing an older run (click it again for the newest)' : '';
    this._status.textContent = state.error
      ? `Error: ${state.error}`
      : shown
        ? `${shown.kind} ${shown.id.slice(0, 13)}… ${shown.status} ${which}`.trim()
        : '';
    renderLineage(this._graph, state.lineage);
    this._checks.textContent = '';
    if (!state.checks.length) {
      this._checks.appendChild(h('li', 'nbtrail-empty', 'No checks recorded.'));
    }
    for (const check of state.checks) {
      this._checks.appendChild(renderCheck(check));
    }
    this._runs.textContent = '';
    for (const run of state.runs) {
      const isShown = run.id === (state.selected ?? state.runs[0]?.id);
      // The newest run, or the one already shown, goes back to following the newest run.
      const follow = run.id === state.runs[0].id || run.id === state.selected;
      const pick = () => void this.model.select(follow ? null : run.id);
      this._runs.appendChild(renderRun(run, isShown, pick));
    }
  }
}
