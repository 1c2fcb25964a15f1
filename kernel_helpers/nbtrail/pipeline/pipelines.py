"""``nbtrail pipeline run``: steps in dependency order, reused when nothing they depend on changed.

A pipeline is a run of kind ``pipeline``; each step is a child ``template`` run. Before a step
runs, its parameters are resolved (references to earlier steps' outputs), checked against the
template's schema, and turned into a content key: the template's fingerprint, the effective
parameters and the fingerprints of the files it declares as ``inputs``. An earlier successful
run with the same key is reused, not re-executed, only when everything it depended on still
holds (:mod:`._evidence`): its capture was healthy and it read nothing capture cannot verify
(a query, a URL, a subprocess), the environment is the same, and every file it read or wrote
still has its recorded bytes. Otherwise the step runs, and the report says why it was not
reused. ploomber and DVC decide by timestamps, which miss a file restored with an old mtime
and re-run on a touch; content does not.

Independent steps run in parallel with ``workers`` > 1. The first failure (a cell, a gate, a
dead kernel) stops the pipeline: running steps finish, no new step starts, and the partial
pipeline is recorded with the steps that never ran marked as such.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
from dataclasses import asdict, dataclass, field

from .._json import jsonable
from ..capture.environment import environment_fingerprint
from ..errors import FingerprintError, UsageError
from ..fingerprints import digest_bytes, fingerprint_file
from ..store import NewRun, RunEnd, open_or_create_trail
from ..vocabulary import STEP_STATUSES
from ._evidence import why_not_reusable
from .executors import get_executor
from .parameters import validate
from .runner import TemplateResult, git_state, run_template
from .spec import PipelineSpec, StepSpec, load_spec, resolve_parameters

__all__ = ["STEP_STATUSES", "PipelineResult", "StepOutcome", "run_pipeline", "step_key"]


@dataclass
class StepOutcome:
    """What became of one step."""

    name: str
    status: str  # vocabulary.STEP_STATUSES
    run_id: str | None = None
    duration: float = 0.0
    notebook: str | None = None
    outputs: dict = field(default_factory=dict)
    error: str | None = None
    details: str | None = None
    reused_from: str | None = None
    not_reused: str | None = None  # why an earlier run could not stand in for this one


@dataclass
class PipelineResult:
    """A pipeline run: its id, status and each step's outcome, in execution order."""

    run_id: str
    name: str
    status: str
    steps: list[StepOutcome]

    @property
    def ok(self) -> bool:
        """Whether every step succeeded or was reused."""
        return self.status == "succeeded"

    def step(self, name: str) -> StepOutcome:
        """Return the outcome of step ``name``."""
        return next(s for s in self.steps if s.name == name)

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return jsonable(asdict(self))

    def __repr__(self) -> str:
        lines = [f"<PipelineResult {self.name} {self.status} ({self.run_id})"]
        lines += [f"  {s.status:<9} {s.name}" for s in self.steps]
        return "\n".join(lines) + ">"


def step_key(step: StepSpec, parameters: dict) -> tuple[str, dict]:
    """Return (content key, effective parameters) of a step with resolved parameters.

    The key covers the template's bytes, the effective parameters and the bytes of every file
    the step declares as ``inputs``. What the step read besides is checked separately, against
    what its earlier run actually read (:func:`~._evidence.why_not_reusable`): a path parameter
    may name an input or an output, and only the run knows which it was.
    """
    given = validate(step.schema, parameters, template=f"step {step.name!r}")
    effective = {k: spec.default for k, spec in step.schema.items()} | given
    identity = {
        "template": fingerprint_file(step.template).digest,
        "parameters": jsonable(effective),
        "inputs": {str(p): fingerprint_file(p).digest for p in step.input_files()},
    }
    return digest_bytes(json.dumps(identity, sort_keys=True).encode()), effective


def _reusable(trail, step: StepSpec, key: str, environment: str):
    """The newest earlier run that can stand in for this step, or None and why not."""
    reason = None
    for record in trail.runs(kind="template", name=step.name, status="succeeded"):
        if record.attrs.get("cache_key") != key or record.attrs.get("reused_from"):
            continue
        blocker = why_not_reusable(trail, record, environment=environment)
        if blocker is None:
            return record, None
        reason = reason or blocker  # the newest candidate's reason is the one to tell
    return None, reason or "no earlier successful run with these parameters and inputs"


def _latest_success(trail, name: str):
    for record in trail.runs(kind="template", name=name, status="succeeded", limit=1):
        return record
    return None


def _record_reuse(trail, pipeline_id: str, step: StepSpec, earlier, key: str, params: dict):
    fact = NewRun(
        step.name,
        kind="template",
        parent_id=pipeline_id,
        status="succeeded",
        params=params,
        attrs={
            "cache_key": key,
            "reused_from": earlier.id,
            "outputs": earlier.attrs.get("outputs", {}),
            "executed_notebook": earlier.attrs.get("executed_notebook"),
            "template": earlier.attrs.get("template"),
        },
        notebook=earlier.notebook,
        action="run.reuse",
    )
    batch = trail.batch()
    batch.add(fact)
    batch.commit()
    return fact.id


def _run_step(payload: dict) -> TemplateResult:
    """Run one step (in this process or a worker process)."""
    from ..store import open_trail

    with open_trail() as trail:
        return run_template(
            payload["template"],
            payload["parameters"],
            trail=trail,
            name=payload["name"],
            parent=payload["parent"],
            cache_key=payload["cache_key"],
            timeout=payload["timeout"],
            attrs={key: payload.get(key) for key in ("not_reused", "worker") if payload.get(key)}
            or None,
            inputs=payload["inputs"],
        )


def run_pipeline(
    spec: str | os.PathLike | PipelineSpec,
    *,
    trail=None,
    workers: int = 1,
    force: bool = False,
    only: str | None = None,
    start_from: str | None = None,
    executor: str = "local",
    executor_options: dict | None = None,
) -> PipelineResult:
    """Run a pipeline spec; see the module docstring.

    Parameters
    ----------
    spec : path-like or PipelineSpec
        The pipeline YAML.
    trail : Trail, optional
        Where to record; default: the trail that applies here (created if none).
    workers : int
        Steps that may run at once.
    force : bool
        Re-execute every selected step, even when an earlier run could be reused.
    only : str, optional
        Run just this step; earlier steps' outputs come from their latest successful runs.
    start_from : str, optional
        Run this step and everything downstream of it; earlier steps as with ``only``.
    executor : str
        A registered executor name.
    executor_options : dict, optional
        More keyword arguments for the executor (``scheduler`` for ``dask``).

    Returns
    -------
    PipelineResult

    Raises
    ------
    UsageError
        For a bad spec, an unknown step, or ``only``/``start_from`` needing outputs of a step
        that never succeeded, all before anything runs.
    """
    spec = spec if isinstance(spec, PipelineSpec) else load_spec(spec)
    if only and start_from:
        raise UsageError("give --only or --from, not both")
    selected = set(spec.names)
    if only:
        spec.step(only)
        selected = {only}
    elif start_from:
        spec.step(start_from)
        selected = spec.downstream(start_from)
    owns = trail is None
    if trail is None:
        trail = open_or_create_trail()
    if trail.home:
        os.environ.setdefault("NBTRAIL_HOME", str(trail.home))
    try:
        outputs: dict[str, dict] = {}
        for step in spec.steps:
            if step.name not in selected:
                earlier = _latest_success(trail, step.name)
                if earlier is None and any(
                    step.name in s.needs for s in spec.steps if s.name in selected
                ):
                    raise UsageError(
                        f"step {step.name!r} has never succeeded, so its outputs are not known; "
                        "run the pipeline without --only/--from first"
                    )
                outputs[step.name] = earlier.attrs.get("outputs", {}) if earlier else {}
        pool = get_executor(executor, workers=workers, **(executor_options or {}))
        try:
            pool.preflight(spec, trail=trail, selected=selected)
            return _execute(trail, spec, selected, outputs, pool, workers, force)
        finally:
            pool.shutdown()
    finally:
        if owns:
            trail.close()


def _execute(trail, spec, selected, outputs, pool, workers, force) -> PipelineResult:
    attrs = {
        "spec": trail.display_path(str(spec.path)),
        "spec_digest": fingerprint_file(spec.path).digest,
        "git": git_state(spec.path.parent),
        "selected": sorted(selected),
        "force": force,
    }
    run = trail.start_run(spec.name, kind="pipeline", params=spec.to_dict(), attrs=attrs)
    environment = environment_fingerprint()[0].digest
    outcomes: dict[str, StepOutcome] = {}
    reasons: dict[str, str | None] = {}
    pending = [s for s in spec.steps if s.name in selected]
    running: dict[cf.Future, StepSpec] = {}
    stop = False
    while pending or running:
        for step in list(pending):
            if stop or len(running) >= workers:
                break
            waiting = [n for n in step.needs if n in selected and n not in outcomes]
            if waiting:
                continue
            pending.remove(step)
            if any(
                outcomes[n].status not in ("succeeded", "reused")
                for n in step.needs
                if n in outcomes
            ):
                outcomes[step.name] = StepOutcome(
                    step.name, "not run", error="an earlier step failed"
                )
                continue
            outcome, future, reasons[step.name] = _start(
                trail, run.id, step, outputs, pool, force, environment
            )
            if future is None:
                outcomes[step.name] = outcome
                outputs[step.name] = outcome.outputs
                stop = stop or outcome.status == "failed"
            else:
                running[future] = step
        if not running:
            if pending and not stop:
                continue  # steps became ready through reuse; launch them
            break
        done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for future in done:
            step = running.pop(future)
            outcome = _finished(step, future)
            outcome.not_reused = reasons.get(step.name)
            outcomes[step.name] = outcome
            outputs[step.name] = outcome.outputs
            stop = stop or outcome.status == "failed"
    for step in pending:
        outcomes[step.name] = StepOutcome(step.name, "not run", error="the pipeline stopped first")
    ordered = [outcomes[s.name] for s in spec.steps if s.name in outcomes]
    failed = [o for o in ordered if o.status in ("failed", "not run")]
    status = "failed" if failed else "succeeded"
    error = None
    if failed:
        first = next((o for o in ordered if o.status == "failed"), failed[0])
        error = f"step {first.name!r}: {first.error}"
    batch = trail.batch()
    batch.add(
        RunEnd(run.id, status, error=error, attrs={"steps": {o.name: o.status for o in ordered}})
    )
    batch.commit()
    return PipelineResult(run.id, spec.name, status, ordered)


def _start(trail, pipeline_id, step, outputs, pool, force, environment):
    """Reuse the step, or submit it: (outcome, None, None) or (None, future, why not reused)."""
    try:
        parameters = resolve_parameters(step, outputs)
        key, effective = step_key(step, parameters)
        inputs = [str(p) for p in step.input_files()]
    except (UsageError, FingerprintError) as exc:
        return StepOutcome(step.name, "failed", error=str(exc)), None, None
    reason = "--force was given"
    if not force:
        earlier, reason = _reusable(trail, step, key, environment)
        if earlier is not None:
            run_id = _record_reuse(trail, pipeline_id, step, earlier, key, effective)
            return (
                StepOutcome(
                    step.name,
                    "reused",
                    run_id=run_id,
                    notebook=earlier.attrs.get("executed_notebook"),
                    outputs=earlier.attrs.get("outputs", {}),
                    reused_from=earlier.id,
                ),
                None,
                None,
            )
    payload = {
        "template": str(step.template),
        "parameters": parameters,
        "name": step.name,
        "parent": pipeline_id,
        "cache_key": key,
        "timeout": step.timeout,
        "not_reused": reason,
        "inputs": inputs,
        "retries": step.retries,
    }
    return None, pool.submit(_run_step, payload), reason


def _finished(step: StepSpec, future: cf.Future) -> StepOutcome:
    try:
        result: TemplateResult = future.result()
    except Exception as exc:  # noqa: BLE001 - a worker that crashed is a failed step
        return StepOutcome(step.name, "failed", error=f"{type(exc).__name__}: {exc}")
    return StepOutcome(
        step.name,
        "succeeded" if result.ok else "failed",
        run_id=result.run_id,
        duration=result.duration,
        notebook=result.notebook,
        outputs=result.outputs,
        error=result.error,
        details=result.details,
    )
