"""What the API answers, defined once: the TypedDicts here and, generated from them, TypeScript.

The handlers build their replies as these shapes; ``extension/src/api.ts`` is generated from
this module by :mod:`.typescript` (``python -m nbtrail.server.typescript --write``) and
committed, and a test regenerates it and fails on any difference, so the frontend's types
cannot drift from what the server sends. The statuses come from :mod:`nbtrail.vocabulary`, the
endpoint names from :data:`ENDPOINTS` (handed to the page beside the API's root, so the
frontend writes no path).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from ..vocabulary import CheckStatus, EdgeKind, RunStatus, StepStatus

__all__ = ["ALIASES", "ENDPOINTS", "NAMESPACE", "SHAPES"]

NAMESPACE = "nbtrail/api"

# Endpoint name -> route under the namespace ({id} is filled in by the caller).
ENDPOINTS = {
    "status": "status",
    "runs": "runs",
    "run": "runs/{id}",
    "lineage": "lineage",
    "checks": "checks",
    "artifacts": "artifacts",
    "schema": "schema",
    "jobs": "jobs",
    "job": "jobs/{id}",
    "monitoring": "monitoring",
    "registry": "registry",
    "approve": "registry/approve",
}

JobStatus = Literal["running", "succeeded", "failed"]
LineageEdgeKind = Literal["derived", "cell", "via"]


class Run(TypedDict):
    """A run as the panel lists it."""

    id: str
    parent_id: str | None
    name: str
    kind: str
    status: RunStatus
    actor: str
    started_at: str
    ended_at: str | None
    duration: float | None
    notebook: str | None
    error: str | None
    params: dict
    attrs: dict
    failing_checks: NotRequired[int | None]


class RunsReply(TypedDict):
    """``GET runs``: a notebook's runs, newest first."""

    runs: list[Run]


class Usage(TypedDict):
    """An artifact as a run used or produced it."""

    id: str
    kind: str
    name: str
    size: int
    as_name: str | None
    path: str | None
    run_id: str | None


class RunReply(Run):
    """``GET runs/{id}``: one run, what it used and produced, its checks and children."""

    used: list[Usage]
    produced: list[Usage]
    metrics: list[dict]
    checks: list[dict]
    children: list[Run]


class LineageNode(TypedDict):
    """An artifact in a notebook's lineage graph."""

    id: str
    label: str
    kind: str
    path: str | None
    snapshot: bool
    run: str


class LineageEdge(TypedDict):
    """Data flows from ``source`` to ``target``."""

    source: str
    target: str
    kind: LineageEdgeKind


class LineageReply(TypedDict):
    """``GET lineage``: what a run and its cells read, derived and wrote."""

    run: str | None
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class Subject(TypedDict):
    """An artifact a check judged, in its role."""

    role: str
    digest: str
    name: str | None
    path: str | None


class Check(TypedDict):
    """A check's verdict, with its first findings and its card drawn by its kind's renderer."""

    id: str
    run_id: str
    name: str
    kind: str | None
    version: str | None
    status: CheckStatus
    summary: str
    metrics: dict
    thresholds: dict
    subjects: list[Subject]
    details: list[dict]
    details_rows: int
    html: str
    created_at: str


class ChecksReply(TypedDict):
    """``GET checks``: the checks of a run and everything below it."""

    run: str | None
    checks: list[Check]


class StatusReply(TypedDict):
    """``GET status``: where the trail is."""

    trail: str | None
    home: str | None
    root: str
    jobs_running: int


class Parameter(TypedDict):
    """A template parameter, for the run dialog."""

    name: str
    type: str
    default: object
    help: str
    allowed: str | None
    choices: list[str]


class SchemaReply(TypedDict):
    """``GET schema``: a template's parameters."""

    notebook: str
    parameters: list[Parameter]


class Job(TypedDict):
    """An audited run started from JupyterLab (``POST jobs``, ``GET jobs/{id}``)."""

    id: str
    notebook: str
    parameters: dict
    status: JobStatus
    run_id: str | None
    error: str | None
    executed_notebook: str
    report: str


class ArtifactsReply(TypedDict):
    """``GET artifacts``: artifacts, newest first."""

    artifacts: list[dict]


class Alert(TypedDict):
    """A check that failed in a monitoring run: what fired, and what to do next."""

    check_id: str
    name: str
    status: CheckStatus
    summary: str
    action: str


class Trigger(TypedDict):
    """A retraining trigger a monitoring run fired, and the pipeline run it started."""

    check_id: str
    status: CheckStatus
    summary: str
    rule: str | None
    pipeline_run: str | None


class MonitoringRun(Run):
    """A monitoring run (``nbtrail monitor SPEC``) with its alerts and triggers."""

    checks: int
    alerts: list[Alert]
    triggers: list[Trigger]
    deliveries: str | None


class MonitoringReply(TypedDict):
    """``GET monitoring``: the trail's monitoring runs, newest first."""

    runs: list[MonitoringRun]


class PolicyState(TypedDict):
    """An alias's policy evaluated for one version now."""

    alias: str
    satisfied: bool
    missing: list[str]


class RegistryVersion(TypedDict):
    """A registered version, its aliases, its valid approvals and its policy states."""

    version: int
    artifact_id: str
    registered_by: str
    registered_at: str
    aliases: list[str]
    approvals: list[str]
    policy: list[PolicyState]


class RegistryModel(TypedDict):
    """A registered model with its newest versions."""

    name: str
    aliases: dict
    versions: list[RegistryVersion]


class RegistryUser(TypedDict):
    """Who the server acts as, and whether they may approve (the server checks again)."""

    name: str
    roles: list[str]
    can_approve: bool
    why: str | None


class RegistryReply(TypedDict):
    """``GET registry``: registered models, policy status per version, the user's rights."""

    models: list[RegistryModel]
    user: RegistryUser


class ApproveReply(TypedDict):
    """``POST registry/approve``: the approval recorded (signed with the server user's key)."""

    model: str
    version: int
    approver: str
    message: str


class ErrorReply(TypedDict):
    """Any failure: a sentence and the HTTP status."""

    error: str
    status: int


SHAPES = (
    Run,
    RunsReply,
    Usage,
    RunReply,
    LineageNode,
    LineageEdge,
    LineageReply,
    Subject,
    Check,
    ChecksReply,
    StatusReply,
    Parameter,
    SchemaReply,
    Job,
    ArtifactsReply,
    Alert,
    Trigger,
    MonitoringRun,
    MonitoringReply,
    PolicyState,
    RegistryVersion,
    RegistryModel,
    RegistryUser,
    RegistryReply,
    ApproveReply,
    ErrorReply,
)
# TypeScript type name -> (the Literal, the name of the constant listing its values)
ALIASES = {
    "RunStatus": (RunStatus, "RUN_STATUSES"),
    "CheckStatus": (CheckStatus, "CHECK_STATUSES"),
    "StepStatus": (StepStatus, "STEP_STATUSES"),
    "EdgeKind": (EdgeKind, "EDGE_KINDS"),
    "JobStatus": (JobStatus, "JOB_STATUSES"),
    "LineageEdgeKind": (LineageEdgeKind, "LINEAGE_EDGE_KINDS"),
}
