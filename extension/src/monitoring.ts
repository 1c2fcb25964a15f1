/**
 * The panel's Monitoring section: the trail's monitoring runs (`nbtrail monitor SPEC`), each
 * with the alerts it raised (what fired, what to do next) and the retraining it triggered.
 * Clicking a run shows its checks in the panel: the drift histograms, the performance and
 * estimate timelines, drawn by the server's card renderers.
 */
import { IMonitoringRun } from './api';
import { h } from './dom';

function renderAlerts(run: IMonitoringRun): HTMLElement {
  const list = h('ul', 'nbtrail-alert-list');
  for (const alert of run.alerts) {
    const item = h('li', 'nbtrail-alert');
    item.dataset.check = alert.name;
    item.dataset.id = alert.check_id;
    item.appendChild(h('span', `nbtrail-badge nbtrail-badge-${alert.status}`, alert.name));
    item.appendChild(h('span', 'nbtrail-alert-summary', alert.summary));
    item.appendChild(h('div', 'nbtrail-alert-action', `Next: ${alert.action}`));
    list.appendChild(item);
  }
  for (const trigger of run.triggers) {
    const item = h('li', 'nbtrail-trigger');
    item.dataset.id = trigger.check_id;
    item.dataset.pipelineRun = trigger.pipeline_run ?? '';
    item.appendChild(h('span', 'nbtrail-badge nbtrail-badge-warn', 'retraining'));
    item.appendChild(h('span', 'nbtrail-alert-summary', trigger.summary));
    list.appendChild(item);
  }
  if (run.deliveries) {
    list.appendChild(h('li', 'nbtrail-muted nbtrail-deliveries', run.deliveries));
  }
  return list;
}

/**
 * Draw the monitoring runs into `list`; `onPick(run)` when one is clicked (`shown`: the run
 * the panel shows now, if it is one of these).
 */
export function renderMonitoring(
  list: HTMLElement,
  runs: IMonitoringRun[],
  shown: string | null,
  onPick: (run: IMonitoringRun) => void
): void {
  list.textContent = '';
  if (!runs.length) {
    list.appendChild(
      h('li', 'nbtrail-empty', 'No monitoring runs (nbtrail monitor SPEC records them).')
    );
    return;
  }
  for (const run of runs) {
    const item = h('li', `nbtrail-monitor nbtrail-run-${run.status}`);
    item.dataset.id = run.id;
    item.dataset.alerts = String(run.alerts.length);
    item.dataset.triggers = String(run.triggers.length);
    item.classList.toggle('nbtrail-selected', run.id === shown);
    const head = h('div', 'nbtrail-monitor-head');
    const verdict = run.alerts.length
      ? `${run.alerts.length} alert${run.alerts.length === 1 ? '' : 's'}`
      : run.status === 'succeeded'
        ? 'no alert'
        : run.status;
    const badge = run.alerts.length ? 'fail' : run.status === 'succeeded' ? 'pass' : 'error';
    head.appendChild(h('span', `nbtrail-badge nbtrail-badge-${badge}`, verdict));
    head.appendChild(h('span', 'nbtrail-run-name', run.name));
    const when = new Date(run.started_at).toLocaleString();
    const checks = `${run.checks} check${run.checks === 1 ? '' : 's'}`;
    head.appendChild(h('span', 'nbtrail-muted', `${checks}, ${when}`));
    head.title = `${run.id}: click to show its checks and cards`;
    head.addEventListener('click', () => onPick(run));
    item.appendChild(head);
    if (run.alerts.length || run.triggers.length || run.deliveries) {
      item.appendChild(renderAlerts(run));
    }
    list.appendChild(item);
  }
}
