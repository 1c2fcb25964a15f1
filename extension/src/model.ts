/**
 * What the Trail panel and the status bar show for the active notebook, fetched together.
 */
import { ISignal, Signal } from '@lumino/signaling';

import {
  CheckStatus,
  FAILING_CHECK_STATUSES,
  ICheck,
  IChecksReply,
  ILineageReply,
  IMonitoringReply,
  IMonitoringRun,
  IRegistryReply,
  IRun,
  IRunsReply
} from './api';
import { endpoint, query, requestAPI } from './request';

/** Whether a check counts as failing: the status bar and the panel say how many. */
export function isFailing(status: CheckStatus): boolean {
  return FAILING_CHECK_STATUSES.includes(status);
}

export interface ITrailState {
  notebook: string | null;
  /** The run picked in the history or the monitoring runs, or null for the notebook's newest. */
  selected: string | null;
  runs: IRun[];
  /** The trail's monitoring runs, whatever the notebook. */
  monitoring: IMonitoringRun[];
  /** Registered models and the user's right to approve; null until fetched. */
  registry: IRegistryReply | null;
  lineage: ILineageReply;
  checks: ICheck[];
  error: string | null;
  updated: Date | null;
}

const EMPTY: ILineageReply = { run: null, nodes: [], edges: [] };

export class TrailModel {
  private _state: ITrailState = {
    notebook: null,
    selected: null,
    runs: [],
    monitoring: [],
    registry: null,
    lineage: EMPTY,
    checks: [],
    error: null,
    updated: null
  };
  private _changed = new Signal<this, ITrailState>(this);
  private _pending: Promise<void> | null = null;
  kinds: string[] = [];

  get state(): ITrailState {
    return this._state;
  }

  get changed(): ISignal<this, ITrailState> {
    return this._changed;
  }

  /** The newest run of the notebook, and whether it is a session still recording. */
  get current(): IRun | null {
    return this._state.runs[0] ?? null;
  }

  get recording(): boolean {
    const run = this.current;
    return !!run && run.kind === 'session' && run.status === 'running';
  }

  /** Failing checks of the newest run, whichever run the panel shows. */
  get failingChecks(): number {
    const run = this.current;
    if (this._state.selected === null || !run || run.failing_checks == null) {
      return this._state.checks.filter(c => isFailing(c.status)).length;
    }
    return run.failing_checks;
  }

  setNotebook(path: string | null): Promise<void> {
    if (path !== this._state.notebook) {
      this._state = {
        ...this._state,
        notebook: path,
        selected: null,
        runs: [],
        lineage: EMPTY,
        checks: []
      };
      this._changed.emit(this._state);
    }
    return this.refresh();
  }

  /** Show one run of the history (null: follow the newest run again). */
  select(runId: string | null): Promise<void> {
    this._state = { ...this._state, selected: runId };
    this._changed.emit(this._state);
    // A fetch already under way asked for the previous selection: fetch again after it.
    return (this._pending ?? Promise.resolve()).then(() => this.refresh());
  }

  refresh(): Promise<void> {
    if (!this._pending) {
      this._pending = this._fetch().finally(() => {
        this._pending = null;
      });
    }
    return this._pending;
  }

  private async _fetch(): Promise<void> {
    const { notebook, selected } = this._state;
    if (!notebook) {
      return;
    }
    try {
      const kinds = this.kinds.length ? this.kinds.join(',') : undefined;
      const which = selected ? { run: selected } : { notebook };
      const [runs, lineage, checks, monitoring, registry] = await Promise.all([
        requestAPI<IRunsReply>(endpoint('runs') + query({ notebook, limit: '20' })),
        requestAPI<ILineageReply>(endpoint('lineage') + query({ ...which, kinds })),
        requestAPI<IChecksReply>(endpoint('checks') + query(which)),
        requestAPI<IMonitoringReply>(endpoint('monitoring') + query({ limit: '10' })),
        requestAPI<IRegistryReply>(endpoint('registry'))
      ]);
      if (notebook !== this._state.notebook || selected !== this._state.selected) {
        return; // the user moved to another notebook or run meanwhile
      }
      this._state = {
        notebook,
        selected,
        runs: runs.runs,
        monitoring: monitoring.runs,
        registry,
        lineage,
        checks: checks.checks,
        error: null,
        updated: new Date()
      };
    } catch (error) {
      this._state = { ...this._state, error: String((error as Error).message ?? error) };
    }
    this._changed.emit(this._state);
  }
}
