"""The monitoring spec: one YAML file saying what to watch, how hard, whom to tell, what to run.

::

    name: adult-income
    model: models/model.joblib        # its prediction log is what is monitored
    reference: data/profile.json      # a monitor.profile() file, or a table (CSV / Parquet)
    reference_rows: data/sample.parquet   # rows, for the two checks a profile cannot serve
    current: s3://bucket/batches/2026-05/  # optional: judge this Parquet dataset (a folder,
                                      # a file or an fsspec URL), streamed, not the log
    since: 7D                         # only predictions logged in the last 7 days
    timeout: 120                      # seconds for the whole monitoring run, alerts included
    checks:
      drift: {alpha: 0.05}
      domain_classifier: {max_auc: 0.55}   # multivariate: needs reference rows
      prediction_drift: {}                # answers vs the model's on the reference rows
      performance: {positive: ">50K", max_drop: 0.05, reference: {accuracy: 0.85}}
      estimated_performance: {positive: ">50K", min_roc_auc: 0.80}
      schema: {schema: data/schema.yaml}  # with current: every batch validated, streamed
    alerts:
      - file: alerts.jsonl
      - webhook: https://hooks.example.org/ml
        timeout: 5
        retries: 3
    triggers:
      - name: drift in three columns
        when: {check: drift, metric: columns_drifted, at_least: 3}
        pipeline: templates/pipeline.yaml
      - when: {days_since_training: 35}
        pipeline: templates/pipeline.yaml

Every key is checked before anything runs: an unknown one is refused naming it (``nbtrail
monitor`` exits 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

__all__ = ["MonitorSpec", "load_monitor_spec"]

_TOP = {
    "name",
    "model",
    "reference",
    "reference_rows",
    "current",
    "since",
    "timeout",
    "checks",
    "alerts",
    "triggers",
    "window",
}
_CHECKS = {
    "drift",
    "domain_classifier",
    "prediction_drift",
    "performance",
    "estimated_performance",
    "schema",
}
_ALERT_KEYS = {"file": set(), "webhook": {"timeout", "retries", "backoff"}}
_TRIGGER = {"name", "when", "pipeline"}
_WHEN = {"check", "metric", "at_least", "above", "below", "days_since_training"}


@dataclass
class MonitorSpec:
    """A parsed, validated monitoring spec (paths resolved against the spec's folder)."""

    name: str
    model: str
    reference: str | None = None
    reference_rows: str | None = None
    current: str | None = None
    since: str | None = None
    window: str | None = None
    timeout: float = 300.0
    checks: dict = field(default_factory=dict)
    alerts: list = field(default_factory=list)
    triggers: list = field(default_factory=list)
    path: Path | None = None


def _refuse_unknown(given: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _alerts(entries, where: str) -> list:
    if not isinstance(entries, list):
        raise UsageError(f"{where} must be a list of channels")
    for i, entry in enumerate(entries):
        entry = _mapping(entry, f"{where}[{i}]")
        kinds = [k for k in _ALERT_KEYS if k in entry]
        if len(kinds) != 1:
            raise UsageError(f"{where}[{i}]: give exactly one of 'file' or 'webhook'")
        _refuse_unknown(entry, {kinds[0], *_ALERT_KEYS[kinds[0]]}, f"{where}[{i}]")
        if kinds[0] == "webhook" and not str(entry["webhook"]).startswith(("http://", "https://")):
            raise UsageError(f"{where}[{i}].webhook must be an http(s) URL")
    return entries


def _triggers(entries, where: str) -> list:
    if not isinstance(entries, list):
        raise UsageError(f"{where} must be a list of rules")
    for i, entry in enumerate(entries):
        entry = _mapping(entry, f"{where}[{i}]")
        _refuse_unknown(entry, _TRIGGER, f"{where}[{i}]")
        when = _mapping(entry.get("when"), f"{where}[{i}].when")
        _refuse_unknown(when, _WHEN, f"{where}[{i}].when")
        if "days_since_training" not in when:
            if "check" not in when or "metric" not in when:
                raise UsageError(f"{where}[{i}].when needs 'check' and 'metric'")
            if not {"at_least", "above", "below"} & set(when):
                raise UsageError(f"{where}[{i}].when needs one of at_least, above, below")
        if "pipeline" not in entry:
            raise UsageError(f"{where}[{i}] needs 'pipeline' (the pipeline YAML to run)")
    return entries


def load_monitor_spec(source) -> MonitorSpec:
    """Read and validate a monitoring spec file (or a dict), refusing unknown keys by name."""
    from ..safe_yaml import load_yaml_file

    base = None
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{path}: no such monitoring spec")
        data, base = load_yaml_file(path), path.resolve().parent
    else:
        data, path = source, None
    data = _mapping(data, "the monitoring spec")
    _refuse_unknown(data, _TOP, "monitoring spec")
    if "model" not in data:
        raise UsageError("monitoring spec: 'model' (the model whose log is watched) is required")
    checks = _mapping(data.get("checks"), "checks")
    _refuse_unknown(checks, _CHECKS, "checks")
    for name, options in checks.items():
        checks[name] = _mapping(options, f"checks.{name}")
    if "schema" in checks and "current" not in data:
        raise UsageError("checks.schema validates a dataset: give 'current' (the dataset) too")
    timeout = data.get("timeout", 300)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise UsageError(f"timeout must be a number of seconds above 0, got {timeout!r}")

    def resolve(value):
        if value is None or base is None or os.path.isabs(str(value)):
            return value
        candidate = base / str(value)
        return str(candidate) if candidate.exists() else str(value)

    if "schema" in checks:
        checks["schema"] = {**checks["schema"], "schema": resolve(checks["schema"].get("schema"))}
    return MonitorSpec(
        name=str(data.get("name") or (path.stem if path else "monitor")),
        model=resolve(str(data["model"])),
        reference=resolve(data.get("reference")),
        reference_rows=resolve(data.get("reference_rows")),
        current=resolve(data.get("current")),
        since=data.get("since"),
        window=data.get("window"),
        timeout=float(timeout),
        checks=checks,
        alerts=_alerts(data.get("alerts", []), "alerts"),
        triggers=[
            {**t, "pipeline": resolve(t["pipeline"])}
            for t in _triggers(data.get("triggers", []), "triggers")
        ],
        path=path,
    )
