/**
 * The status bar item: recording or not, the run, the failing checks.
 */
import { Widget } from '@lumino/widgets';

import { TrailModel } from './model';

export class TrailStatus extends Widget {
  constructor(private readonly model: TrailModel) {
    super();
    this.addClass('nbtrail-status');
    this.node.title = 'nbtrail: lineage and checks of this notebook (open the Trail panel)';
    model.changed.connect(() => this.render());
    this.render();
  }

  render(): void {
    const model = this.model;
    const run = model.current;
    const failing = model.failingChecks;
    this.node.dataset.recording = String(model.recording);
    this.node.dataset.failing = String(failing);
    if (!model.state.notebook) {
      this.node.textContent = '';
      return;
    }
    const parts = [model.recording ? '● nbtrail recording' : '○ nbtrail not recording'];
    if (run) {
      parts.push(`run ${run.id.slice(0, 8)}`);
    }
    if (failing) {
      parts.push(`${failing} failing check${failing > 1 ? 's' : ''}`);
    }
    this.node.textContent = parts.join(' · ');
    this.node.classList.toggle('nbtrail-status-failing', failing > 0);
  }
}
