/**
 * The server API's types, GENERATED from nbtrail/server/shapes.py and
 * nbtrail/vocabulary.py by `python -m nbtrail.server.typescript --write`. Do not edit:
 * change the Python and regenerate (a test fails while the two differ).
 */

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'aborted';
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'error';
export type StepStatus = 'succeeded' | 'failed' | 'reused' | 'not run' | 'running' | 'aborted';
export type EdgeKind = 'used' | 'produced' | 'derived' | 'judged';
export type JobStatus = 'running' | 'succeeded' | 'failed';
export type LineageEdgeKind = 'derived' | 'cell' | 'via';
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'aborted'];
export const CHECK_STATUSES: readonly CheckStatus[] = ['pass', 'warn', 'fail', 'error'];
export const STEP_STATUSES: readonly StepStatus[] = ['succeeded', 'failed', 'reused', 'not run', 'running', 'aborted'];
export const EDGE_KINDS: readonly EdgeKind[] = ['used', 'produced', 'derived', 'judged'];
export const JOB_STATUSES: readonly JobStatus[] = ['running', 'succeeded', 'failed'];
export const LINEAGE_EDGE_KINDS: readonly LineageEdgeKind[] = ['derived', 'cell', 'via'];
/** Check statuses that stop a gate. */
export const FAILING_CHECK_STATUSES: readonly CheckStatus[] = ['fail', 'error'];

/** Endpoint names, as the server hands them to the page (nbtrailEndpoints). */
export type Endpoint = 'status' | 'runs' | 'run' | 'lineage' | 'checks' | 'artifacts' | 'schema' | 'jobs' | 'job' | 'monitoring' | 'registry' | 'approve';

/** A run as the panel lists it. */
export interface IRun {
  id: string;
  parent_id: string | null;
  name: string;
  kind: string;
  status: RunStatus;
  actor: string;
  started_at: string;
  ended_at: string | null;
  duration: number | null;
  notebook: string | null;
  error: string | null;
  params: Record<string, unknown>;
  attrs: Record<string, unknown>;
  failing_checks?: number | null;
}

/** `GET runs`: a notebook's runs, newest first. */
export interface IRunsReply {
  runs: IRun[];
}

/** An artifact as a run used or produced it. */
export interface IUsage {
  id: string;
  kind: string;
  name: string;
  size: number;
  as_name: string | null;
  path: string | null;
  run_id: string | null;
}

/** `GET runs/{id}`: one run, what it used and produced, its checks and children. */
export interface IRunReply {
  id: string;
  parent_id: string | null;
  name: string;
  kind: string;
  status: RunStatus;
  actor: string;
  started_at: string;
  ended_at: string | null;
  duration: number | null;
  notebook: string | null;
  error: string | null;
  params: Record<string, unknown>;
  attrs: Record<string, unknown>;
  failing_checks?: number | null;
  used: IUsage[];
  produced: IUsage[];
  metrics: Record<string, unknown>[];
  checks: Record<string, unknown>[];
  children: IRun[];
}

/** An artifact in a notebook's lineage graph. */
export interface ILineageNode {
  id: string;
  label: string;
  kind: string;
  path: string | null;
  snapshot: boolean;
  run: string;
}

/** Data flows from `source` to `target`. */
export interface ILineageEdge {
  source: string;
  target: string;
  kind: LineageEdgeKind;
}

/** `GET lineage`: what a run and its cells read, derived and wrote. */
export interface ILineageReply {
  run: string | null;
  nodes: ILineageNode[];
  edges: ILineageEdge[];
}

/** An artifact a check judged, in its role. */
export interface ISubject {
  role: string;
  digest: string;
  name: string | null;
  path: string | null;
}

/** A check's verdict, with its first findings and its card drawn by its kind's renderer. */
export interface ICheck {
  id: string;
  run_id: string;
  name: string;
  kind: string | null;
  version: string | null;
  status: CheckStatus;
  summary: string;
  metrics: Record<string, unknown>;
  thresholds: Record<string, unknown>;
  subjects: ISubject[];
  details: Record<string, unknown>[];
  details_rows: number;
  html: string;
  created_at: string;
}

/** `GET checks`: the checks of a run and everything below it. */
export interface IChecksReply {
  run: string | null;
  checks: ICheck[];
}

/** `GET status`: where the trail is. */
export interface IStatusReply {
  trail: string | null;
  home: string | null;
  root: string;
  jobs_running: number;
}

/** A template parameter, for the run dialog. */
export interface IParameter {
  name: string;
  type: string;
  default: unknown;
  help: string;
  allowed: string | null;
  choices: string[];
}

/** `GET schema`: a template's parameters. */
export interface ISchemaReply {
  notebook: string;
  parameters: IParameter[];
}

/** An audited run started from JupyterLab (`POST jobs`, `GET jobs/{id}`). */
export interface IJob {
  id: string;
  notebook: string;
  parameters: Record<string, unknown>;
  status: JobStatus;
  run_id: string | null;
  error: string | null;
  executed_notebook: string;
  report: string;
}

/** `GET artifacts`: artifacts, newest first. */
export interface IArtifactsReply {
  artifacts: Record<string, unknown>[];
}

/** A check that failed in a monitoring run: what fired, and what to do next. */
export interface IAlert {
  check_id: string;
  name: string;
  status: CheckStatus;
  summary: string;
  action: string;
}

/** A retraining trigger a monitoring run fired, and the pipeline run it started. */
export interface ITrigger {
  check_id: string;
  status: CheckStatus;
  summary: string;
  rule: string | null;
  pipeline_run: string | null;
}

/** A monitoring run (`nbtrail monitor SPEC`) with its alerts and triggers. */
export interface IMonitoringRun {
  id: string;
  parent_id: string | null;
  name: string;
  kind: string;
  status: RunStatus;
  actor: string;
  started_at: string;
  ended_at: string | null;
  duration: number | null;
  notebook: string | null;
  error: string | null;
  params: Record<string, unknown>;
  attrs: Record<string, unknown>;
  failing_checks?: number | null;
  checks: number;
  alerts: IAlert[];
  triggers: ITrigger[];
  deliveries: string | null;
}

/** `GET monitoring`: the trail's monitoring runs, newest first. */
export interface IMonitoringReply {
  runs: IMonitoringRun[];
}

/** An alias's policy evaluated for one version now. */
export interface IPolicyState {
  alias: string;
  satisfied: boolean;
  missing: string[];
}

/** A registered version, its aliases, its valid approvals and its policy states. */
export interface IRegistryVersion {
  version: number;
  artifact_id: string;
  registered_by: string;
  registered_at: string;
  aliases: string[];
  approvals: string[];
  policy: IPolicyState[];
}

/** A registered model with its newest versions. */
export interface IRegistryModel {
  name: string;
  aliases: Record<string, unknown>;
  versions: IRegistryVersion[];
}

/** Who the server acts as, and whether they may approve (the server checks again). */
export interface IRegistryUser {
  name: string;
  roles: string[];
  can_approve: boolean;
  why: string | null;
}

/** `GET registry`: registered models, policy status per version, the user's rights. */
export interface IRegistryReply {
  models: IRegistryModel[];
  user: IRegistryUser;
}

/** `POST registry/approve`: the approval recorded (signed with the server user's key). */
export interface IApproveReply {
  model: string;
  version: number;
  approver: string;
  message: string;
}

/** Any failure: a sentence and the HTTP status. */
export interface IErrorReply {
  error: string;
  status: number;
}
