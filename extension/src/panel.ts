/**
 * The Trail panel: the active notebook's lineage graph, its checks, its run history.
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { ICheck, IRun } from './api';
import { h } from './dom';
import { renderLineage } from './graph';
import { ITrailState, TrailModel } from './model';
import { renderMonitoring } from './monitoring';
import { renderRegistry } from './registry';

/**
 * One check in the list: its badge, name and summary; opened (a click on its head), the card
 * the server drew for it (what it judged, metrics against thresholds, findings, and for some
 * kinds their own picture), sanitised before it is shown.
 */
export function renderCheck(
  check: ICheck,
  sanitizer: IRenderMime.ISanitizer,
  open: boolean,
  onToggle: (open: boolean) => void
): HTMLElement {
  const item = h('li', `nbtrail-check nbtrail-check-${check.status}`);
  item.dataset.status = check.status;
  item.dataset.name = check.name;
  item.dataset.id = check.id;
  const head = h('div', 'nbtrail-check-head');
  head.appendChild(h('span', `nbtrail-badge nbtrail-badge-${check.status}`, check.status));
  head.appendChild(h('span', 'nbtrail-check-name', check.name));
  item.appendChild(head);
  item.appendChild(h('div', 'nbtrail-check-summary', check.summary));
  const card = h('div', 'nbtrail-card');
  // Drawn only when opened: a card can hold a few hundred rows of findings.
  const draw = () => {
    if (!card.childElementCount) {
      card.innerHTML = sanitizer.sanitize(check.html);
    }
  };
  const show = (opened: boolean) => {
    if (opened) {
      draw();
    }
    card.hidden = !opened;
    item.classList.toggle('nbtrail-open', opened);
    head.title = opened ? 'Hide the details' : 'Show what was judged, the metrics, the findings';
  };
  show(open);
  item.appendChild(card);
  head.addEventListener('click', () => {
    const opened = card.hidden;
    show(opened);
    onToggle(opened);
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
  // Not `nbtrail-checks`: that is the class of the check cards' container in notebook
  // outputs, whose stylesheet (global once an output shows it) would style this list too.
  private _checks = h('ul', 'nbtrail-check-list');
  private _runs = h('ul', 'nbtrail-run-list');
  private _monitoring = h('ul', 'nbtrail-monitor-list');
  private _registry = h('ul', 'nbtrail-registry-list');

  /** The checks the user opened, kept open when the panel refreshes. */
  private _opened = new Set<string>();

  constructor(
    private readonly model: TrailModel,
    private readonly sanitizer: IRenderMime.ISanitizer
  ) {
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
    this.node.appendChild(h('h3', 'nbtrail-section', 'Monitoring'));
    this.node.appendChild(this._monitoring);
    this.node.appendChild(h('h3', 'nbtrail-section', 'Registry'));
    this.node.appendChild(this._registry);
    model.changed.connect((_, state) => this.render(state));
    this.render(model.state);
  }

  render(state: ITrailState): void {
    this._title.textContent = state.notebook ?? 'No notebook open';
    const shown =
      state.runs.find(r => r.id === state.selected) ??
      state.monitoring.find(r => r.id === state.selected) ??
      state.runs[0];
    const monitoring = state.monitoring.some(r => r.id === state.selected);
    const which = !state.selected
      ? ''
      : monitoring
        ? "showing a monitoring run (click it again for the notebook's newest)"
        : 'showing an older run (click it again for the newest)';
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
      const toggle = (open: boolean) =>
        open ? this._opened.add(check.id) : this._opened.delete(check.id);
      this._checks.appendChild(
        renderCheck(check, this.sanitizer, this._opened.has(check.id), toggle)
      );
    }
    this._runs.textContent = '';
    for (const run of state.runs) {
      const isShown = run.id === (state.selected ?? state.runs[0]?.id);
      // The newest run, or the one already shown, goes back to following the newest run.
      const follow = run.id === state.runs[0].id || run.id === state.selected;
      const pick = () => void this.model.select(follow ? null : run.id);
      this._runs.appendChild(renderRun(run, isShown, pick));
    }
    // A monitoring run clicked shows its checks; clicked again, the notebook's newest run.
    renderMonitoring(this._monitoring, state.monitoring, state.selected, run =>
      void this.model.select(run.id === state.selected ? null : run.id)
    );
    renderRegistry(this._registry, state.registry, () => void this.model.refresh());
  }
}
