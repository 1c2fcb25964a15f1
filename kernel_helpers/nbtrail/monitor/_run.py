"""One monitoring run: read the log, judge it, alert, trigger retraining. For cron and CI.

:func:`run_monitor` records a run of kind ``monitor`` whose checks are the evidence: drift of
the logged inputs against the reference, performance where outcomes arrived, the label-free
estimate where scores were logged. Every failed check becomes an alert sent to every channel
(deliveries recorded in an ``alert_delivery`` check); every trigger rule that holds launches
its pipeline, recorded as a ``retraining_trigger`` check naming the rule, the evidence and the
pipeline run it started. A check that cannot run is an ``error`` result, never a crash.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import pandas as pd

from .. import recording
from ..checks import CheckResult
from ..errors import UsageError
from . import _alerts
from ._logs import AT, ID, OUTCOME, PREDICTION, SCORE, VARIANT, PredictionLog
from ._spec import MonitorSpec, load_monitor_spec

__all__ = ["MonitorResult", "run_monitor"]

_LOG_COLUMNS = {ID, AT, PREDICTION, SCORE, OUTCOME, VARIANT}


@dataclass
class MonitorResult:
    """What one monitoring run found and did."""

    run_id: str
    checks: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    triggers: list = field(default_factory=list)

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    def __repr__(self) -> str:
        judged = ", ".join(f"{c.name} {c.status}" for c in self.checks) or "nothing judged"
        return (
            f"<MonitorResult run {self.run_id}: {judged}; {len(self.alerts)} alert(s), "
            f"{len(self.triggers)} trigger(s)>"
        )


def _since(value) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(dt.datetime.now(dt.UTC)) - pd.Timedelta(str(value))
    except ValueError:
        raise UsageError(f"since: {value!r} is not a duration such as 7D or 12h") from None


def _reference(spec: MonitorSpec):
    """The reference (a profile or a table) and the reference rows the multivariate checks need.

    A table serves both; beside a profile, ``reference_rows`` (a sample of a few thousand rows
    is enough) gives the rows. Without rows, those two checks are ``error`` results saying so.
    """
    from ..pipeline import read_table

    reference = rows = None
    if spec.reference is not None:
        text = str(spec.reference)
        if text.endswith(".json"):
            from ._profile import Profile

            reference = Profile.load(text)
        else:
            reference = rows = read_table(text, parameter="reference")
    if spec.reference_rows is not None:
        rows = read_table(str(spec.reference_rows), parameter="reference_rows")
    return reference, rows


def _streamed_reference(spec: MonitorSpec):
    """A profile is loaded; a table or dataset is passed by path, so it is streamed too."""
    if spec.reference is not None and str(spec.reference).endswith(".json"):
        return _reference(spec)[0]
    return spec.reference


def _guarded(name: str, work) -> CheckResult:
    """Run one check; a failure inside it becomes an ``error`` result naming the reason."""
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - one bad check never stops the others
        return CheckResult(name, "error", f"could not run: {type(exc).__name__}: {exc}")


def _judge(spec: MonitorSpec, frame: pd.DataFrame, reference, rows) -> list[CheckResult]:
    results = []
    inputs = frame[[c for c in frame.columns if c not in _LOG_COLUMNS]]
    if "drift" in spec.checks:
        if reference is None:
            results.append(CheckResult("drift", "error", "no reference given in the spec"))
        else:
            from ..checks import drift

            options = spec.checks["drift"]
            results.append(_guarded("drift", lambda: drift(reference, inputs, **options)))
    if "domain_classifier" in spec.checks:
        results.append(_multivariate(spec, rows, inputs))
    if "prediction_drift" in spec.checks:
        results.append(_prediction_drift(spec, rows, frame))
    labelled = frame[frame[OUTCOME].notna()] if OUTCOME in frame else frame.iloc[:0]
    if "performance" in spec.checks:
        from ._performance import performance

        options = dict(spec.checks["performance"])
        if not len(labelled):
            results.append(CheckResult("performance_decay", "warn", "no outcomes arrived yet"))
        else:
            results.append(
                _guarded("performance_decay", lambda: _performance(performance, labelled, options))
            )
    if "estimated_performance" in spec.checks:
        from ._estimate import estimate_performance

        options = dict(spec.checks["estimated_performance"])
        if SCORE not in frame:
            results.append(CheckResult("estimated_performance", "error", "no scores were logged"))
        else:
            results.append(
                _guarded(
                    "estimated_performance",
                    lambda: _estimate(estimate_performance, frame, options),
                )
            )
    return results


_NO_ROWS = "needs reference rows: a table as 'reference', or 'reference_rows' beside a profile"


def _multivariate(spec: MonitorSpec, reference, inputs: pd.DataFrame) -> CheckResult:
    from ..checks import domain_classifier

    if reference is None:
        return CheckResult("domain_classifier", "error", f"domain_classifier {_NO_ROWS}")
    options = spec.checks["domain_classifier"]
    return _guarded("domain_classifier", lambda: domain_classifier(reference, inputs, **options))


def _prediction_drift(spec: MonitorSpec, reference, frame: pd.DataFrame) -> CheckResult:
    """Drift of the logged answers against the model's answers on the reference rows."""
    from ..checks import drift

    def work():
        if reference is None:
            raise UsageError(f"prediction_drift {_NO_ROWS}")
        import joblib

        model = joblib.load(spec.model)
        columns = list(getattr(model, "feature_names_in_", reference.columns))
        expected = pd.DataFrame({PREDICTION: model.predict(reference[columns]).astype(str)})
        current = pd.DataFrame({PREDICTION: frame[PREDICTION].astype(str)})
        if SCORE in frame and hasattr(model, "predict_proba"):
            expected[SCORE] = model.predict_proba(reference[columns])[:, -1]
            current[SCORE] = frame[SCORE].to_numpy()
        options = spec.checks["prediction_drift"]
        return drift(expected, current, name="prediction_drift", **options)

    return _guarded("prediction_drift", work)


def _labels(frame: pd.DataFrame, positive):
    return (frame[OUTCOME] == positive).astype(int) if positive is not None else frame[OUTCOME]


def _performance(performance, labelled: pd.DataFrame, options: dict) -> CheckResult:
    positive = options.pop("positive", None)
    table = pd.DataFrame({"target": _labels(labelled, positive), AT: labelled[AT]})
    table["prediction"] = (
        (labelled[PREDICTION] == positive).astype(int)
        if positive is not None
        else labelled[PREDICTION]
    )
    if SCORE in labelled:
        table["score"] = labelled[SCORE].to_numpy()
    options.setdefault("window", "7D")
    return performance(
        table,
        target="target",
        prediction="prediction",
        score="score" if "score" in table else None,
        timestamp=AT,
        **options,
    )


def _estimate(estimate_performance, frame: pd.DataFrame, options: dict) -> CheckResult:
    positive = options.pop("positive", None)
    table = pd.DataFrame({"score": frame[SCORE].to_numpy(), AT: frame[AT].to_numpy()})
    if OUTCOME in frame:
        known = frame[OUTCOME].notna()
        table["target"] = _labels(frame, positive).where(known)
    options.setdefault("window", "7D")
    target = "target" if "target" in table else None
    return estimate_performance(table, score="score", timestamp=AT, target=target, **options)


def _holds(rule: dict, results: list, model_created) -> tuple[bool, str, list]:
    """Whether a trigger rule holds, why, and the checks that are its evidence.

    Raises
    ------
    UsageError
        When the rule names a metric its check does not report (a typo would never fire).
    """
    when = rule["when"]
    if "days_since_training" in when:
        age = (pd.Timestamp(dt.datetime.now(dt.UTC)) - pd.Timestamp(model_created)).days
        holds = age >= float(when["days_since_training"])
        return holds, f"model trained {age} days ago (limit {when['days_since_training']})", []
    matching = [r for r in results if when["check"] in (r.name, r.kind) and r.status != "error"]
    for result in matching:
        value = result.metrics.get(when["metric"])
        if value is None:
            raise UsageError(
                f"trigger {rule.get('name') or when}: check {when['check']!r} reports no metric "
                f"{when['metric']!r}; it reports {', '.join(sorted(result.metrics))}"
            )
        for op, test in (
            ("at_least", lambda v, t: v >= t),
            ("above", lambda v, t: v > t),
            ("below", lambda v, t: v < t),
        ):
            if op in when and test(float(value), float(when[op])):
                reason = f"{result.name}.{when['metric']} = {value:g} ({op} {when[op]})"
                return True, reason, [result.record_id]
    return False, "", []


def _trigger(rule: dict, reason: str, evidence: list, trail, run) -> CheckResult:
    from ..pipeline.pipelines import run_pipeline

    name = rule.get("name") or reason
    started = run_pipeline(rule["pipeline"], trail=trail)
    details = pd.DataFrame(
        [
            {
                "rule": name,
                "reason": reason,
                "evidence": ",".join(e for e in evidence if e),
                "pipeline": str(rule["pipeline"]),
                "pipeline_run": started.run_id,
                "pipeline_status": "succeeded" if started.ok else "failed",
            }
        ]
    )
    return CheckResult(
        "retraining_trigger",
        "warn",
        f"rule {name!r} held ({reason}): started pipeline run {started.run_id}",
        {"pipeline_ok": float(started.ok)},
        {},
        details,
        params={"rule": name, "pipeline": str(rule["pipeline"]), "pipeline_run": started.run_id},
    )


def run_monitor(spec, *, trail=None) -> MonitorResult:
    """Run one monitoring pass of a spec (path, dict or :class:`MonitorSpec`).

    Returns
    -------
    MonitorResult
        ``alerted`` is true when any check failed (``nbtrail monitor`` then exits 1).
    """
    from ..store import open_trail

    spec = spec if isinstance(spec, MonitorSpec) else load_monitor_spec(spec)
    deadline = time.monotonic() + spec.timeout
    since = _since(spec.since)
    own = trail is None
    trail = open_trail() if own else trail
    try:
        log = PredictionLog(spec.model, trail=trail)
        model_created = trail.get_artifact(log.model_id).created_at
        with trail.start_run(spec.name, kind="monitor", params={"model": log.model_id}) as run:
            logged = log.read(since=since)
            recording.activate(run)
            try:
                if spec.current is not None:
                    from ._streamed import judge_dataset

                    results = judge_dataset(spec, spec.current, _streamed_reference(spec))
                elif not len(logged.frame):
                    results = [CheckResult("prediction_log", "error", "no predictions logged")]
                else:
                    results = _judge(spec, logged.frame, *_reference(spec))
                for result in results:
                    if result.record_id is None:  # made here, not by a registered check
                        _record(run, result, log.model_id)
                alerts = [
                    _alerts.alert_for(r, run_id=run.id) for r in results if r.status == "fail"
                ]
                channels = [_alerts.channel(c) for c in spec.alerts]
                deliveries = _alerts.deliver(alerts, channels, deadline=deadline)
                if deliveries:
                    _record_deliveries(run, deliveries)
                fired = []
                for rule in spec.triggers:
                    try:
                        holds, reason, evidence = _holds(rule, results, model_created)
                    except UsageError as exc:
                        fired.append(CheckResult("retraining_trigger", "error", str(exc)))
                        continue
                    if holds:
                        fired.append(_trigger(rule, reason, evidence, trail, run))
                for result in fired:
                    _record(run, result, log.model_id)
            finally:
                recording.deactivate(run)
            run.log_metrics({"alerts": len(alerts), "triggers": len(fired)})
        return MonitorResult(run.id, results, alerts, deliveries, fired)
    finally:
        if own:
            trail.close()


def _record(run, result: CheckResult, model_id: str) -> None:
    """Record a result made here (not by a registered check) about the model, keeping its id."""
    result.record_id = run.record_check(
        result.name,
        result.status,
        artifact=model_id,
        summary=result.summary,
        metrics=result.metrics,
        details=result.details,
        params=result.params or None,
    ).id


def _record_deliveries(run, deliveries) -> None:
    table = pd.DataFrame([d.__dict__ for d in deliveries])
    failed = int((~table["ok"]).sum())
    run.record_check(
        "alert_delivery",
        "pass" if not failed else "warn",
        summary=f"{len(table) - failed} of {len(table)} alert deliveries succeeded",
        metrics={"failed": failed},
        details=table,
    )
