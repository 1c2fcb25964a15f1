/**
 * "Run notebook as audited pipeline…": a dialog built from the template's parameter schema,
 * then the run's progress, then links to the executed notebook and the report.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

import { IJob, IParameter, ISchemaReply } from './api';
import { ApiError, endpoint, query, requestAPI } from './request';

class ParameterForm extends Widget {
  private _inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();

  constructor(private readonly parameters: IParameter[]) {
    super();
    this.addClass('nbtrail-run-form');
    if (!parameters.length) {
      this.node.textContent = 'This notebook declares no parameters (no cell tagged "parameters").';
    }
    for (const spec of parameters) {
      const row = document.createElement('label');
      row.className = 'nbtrail-run-field';
      const name = document.createElement('span');
      name.className = 'nbtrail-run-label';
      name.textContent = `${spec.name} (${spec.type})`;
      row.appendChild(name);
      let input: HTMLInputElement | HTMLSelectElement;
      if (spec.choices.length) {
        input = document.createElement('select');
        for (const choice of spec.choices) {
          const option = document.createElement('option');
          option.value = option.textContent = String(choice);
          input.appendChild(option);
        }
        input.value = String(spec.default);
      } else {
        input = document.createElement('input');
        if (spec.type === 'bool') {
          input.type = 'checkbox';
          input.checked = Boolean(spec.default);
        } else {
          input.type = spec.type === 'int' || spec.type === 'float' ? 'number' : 'text';
          if (spec.type === 'float') {
            input.step = 'any';
          }
          input.value =
            typeof spec.default === 'object' ? JSON.stringify(spec.default) : String(spec.default);
        }
      }
      input.name = spec.name;
      input.classList.add('jp-mod-styled');
      row.appendChild(input);
      const help = document.createElement('span');
      help.className = 'nbtrail-muted';
      help.textContent = [spec.help, spec.allowed].filter(Boolean).join(' · ');
      row.appendChild(help);
      this.node.appendChild(row);
      this._inputs.set(spec.name, input);
    }
  }

  /** The values the user changed, typed as the schema says (the rest keep their defaults). */
  getValue(): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const spec of this.parameters) {
      const input = this._inputs.get(spec.name)!;
      let value: unknown;
      if (input instanceof HTMLInputElement && input.type === 'checkbox') {
        value = input.checked;
      } else if (spec.type === 'int' || spec.type === 'float') {
        value = Number(input.value);
      } else if (spec.type === 'list' || spec.type === 'dict') {
        try {
          value = JSON.parse(input.value);
        } catch {
          value = input.value;
        }
      } else {
        value = input.value;
      }
      if (JSON.stringify(value) !== JSON.stringify(spec.default)) {
        values[spec.name] = value;
      }
    }
    return values;
  }
}

class Progress extends Widget {
  readonly status = document.createElement('div');
  readonly links = document.createElement('div');

  constructor() {
    super();
    this.addClass('nbtrail-run-progress');
    this.status.className = 'nbtrail-run-status';
    this.links.className = 'nbtrail-run-links';
    this.node.appendChild(this.status);
    this.node.appendChild(this.links);
  }
}

function fileUrl(path: string): string {
  return URLExt.join(PageConfig.getBaseUrl(), 'files', path);
}

export async function runAudited(
  notebookPath: string,
  openNotebook: (path: string) => void
): Promise<IJob | null> {
  const schema = await requestAPI<ISchemaReply>(
    endpoint('schema') + query({ notebook: notebookPath })
  );
  const form = new ParameterForm(schema.parameters);
  const choice = await showDialog({
    title: `Run ${notebookPath} as an audited pipeline`,
    body: form,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run' })]
  });
  if (!choice.button.accept) {
    return null;
  }
  const progress = new Progress();
  const dialog = new Dialog({
    title: `Running ${notebookPath}`,
    body: progress,
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
  void dialog.launch();
  let job: IJob;
  try {
    job = await requestAPI<IJob>(endpoint('jobs'), {
      method: 'POST',
      body: JSON.stringify({ notebook: notebookPath, parameters: choice.value ?? {} })
    });
  } catch (error) {
    const message = error instanceof ApiError ? error.message : String(error);
    progress.status.textContent = `Refused: ${message}`;
    progress.status.dataset.status = 'refused';
    return null;
  }
  const started = Date.now();
  while (job.status === 'running') {
    progress.status.textContent = `Running… ${Math.round((Date.now() - started) / 1000)} s`;
    progress.status.dataset.status = 'running';
    await new Promise(resolve => setTimeout(resolve, 1000));
    job = await requestAPI<IJob>(endpoint('job', job.id));
  }
  progress.status.dataset.status = job.status;
  progress.status.textContent =
    job.status === 'succeeded'
      ? `Succeeded: run ${job.run_id}`
      : `Failed: ${job.error ?? 'see the executed notebook'}`;
  const open = document.createElement('a');
  open.className = 'nbtrail-run-link nbtrail-open-notebook';
  open.textContent = 'Open the executed notebook';
  open.href = '#';
  open.addEventListener('click', event => {
    event.preventDefault();
    openNotebook(job.executed_notebook);
  });
  const report = document.createElement('a');
  report.className = 'nbtrail-run-link nbtrail-open-report';
  report.textContent = 'Open the report';
  report.href = fileUrl(job.report);
  report.target = '_blank';
  progress.links.appendChild(open);
  progress.links.appendChild(report);
  return job;
}
