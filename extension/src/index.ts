/**
 * nbtrail's JupyterLab frontend: the Trail panel, the status bar item, and the command that
 * runs a notebook as an audited pipeline.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ISanitizer, Sanitizer, ToolbarButton } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { TrailModel } from './model';
import { TrailPanel } from './panel';
import { runAudited } from './runDialog';
import { TrailStatus } from './statusbar';

const PLUGIN_ID = 'nbtrail:plugin';
const COMMAND = 'nbtrail:run-audited';

export const trailIcon = new LabIcon({
  name: 'nbtrail:trail',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161"><circle cx="5" cy="6" r="3"/><circle cx="19" cy="6" r="3"/>' +
    '<circle cx="12" cy="18" r="3"/><path d="M6.5 8.2l4.4 7.4 1.7-1-4.4-7.4zM17.5 8.2l-4.4 7.4-1.7-1 4.4-7.4z"/></g></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Lineage, checks and audited runs of the active notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILabShell, IStatusBar, ICommandPalette, ISettingRegistry, ISanitizer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    labShell: ILabShell | null,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    sanitizer: IRenderMime.ISanitizer | null
  ) => {
    const model = new TrailModel();
    // The application's sanitizer (its settings apply), else JupyterLab's default one.
    const panel = new TrailPanel(model, sanitizer ?? new Sanitizer());
    panel.title.icon = trailIcon;
    panel.title.caption = 'Trail: lineage, checks and runs of this notebook';
    app.shell.add(panel, 'left', { rank: 850 });

    let refreshSeconds = 10;
    let refreshAfterRun = true;
    let timer: number | undefined;
    const schedule = () => {
      window.clearInterval(timer);
      if (refreshSeconds > 0) {
        timer = window.setInterval(() => void model.refresh(), refreshSeconds * 1000);
      }
    };
    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(settings => {
        const apply = () => {
          refreshSeconds = settings.get('refreshSeconds').composite as number;
          refreshAfterRun = settings.get('refreshAfterRun').composite as boolean;
          model.kinds = settings.get('artifactKinds').composite as string[];
          schedule();
          void model.refresh();
        };
        settings.changed.connect(apply);
        apply();
      });
    }
    schedule();

    const follow = () => void model.setNotebook(tracker.currentWidget?.context.path ?? null);
    tracker.currentChanged.connect(follow);
    if (labShell) {
      labShell.currentChanged.connect(follow);
    }
    let pending: number | undefined;
    NotebookActions.executed.connect((_, args) => {
      if (!refreshAfterRun || args.notebook !== tracker.currentWidget?.content) {
        return;
      }
      // Capture hands facts to a background writer that commits when the kernel is idle.
      window.clearTimeout(pending);
      pending = window.setTimeout(() => void model.refresh(), 1200);
    });
    void app.restored.then(follow);

    if (statusBar) {
      statusBar.registerStatusItem('nbtrail:status', {
        item: new TrailStatus(model),
        align: 'left',
        rank: 4,
        isActive: () => !!tracker.currentWidget
      });
    }

    app.commands.addCommand(COMMAND, {
      label: 'Run notebook as audited pipeline…',
      caption: 'Execute this notebook with nbtrail run: checked parameters, recorded, reproducible',
      icon: trailIcon,
      isEnabled: () => !!tracker.currentWidget,
      execute: async () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return;
        }
        await panel.context.save();
        const job = await runAudited(panel.context.path, path =>
          void app.commands.execute('docmanager:open', { path })
        );
        void model.refresh();
        return job;
      }
    });
    if (palette) {
      palette.addItem({ command: COMMAND, category: 'nbtrail' });
    }
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (nbPanel: NotebookPanel) => {
        const button = new ToolbarButton({
          icon: trailIcon,
          tooltip: 'Run notebook as audited pipeline…',
          onClick: () => void app.commands.execute(COMMAND)
        });
        button.addClass('nbtrail-run-button');
        nbPanel.toolbar.insertItem(10, 'nbtrailRun', button);
        return button;
      }
    });
  }
};

export default plugin;
