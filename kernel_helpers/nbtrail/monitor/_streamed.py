"""Monitoring a Parquet dataset too big for memory: the spec's ``current:`` key.

A monitoring spec whose ``current`` names a dataset (a folder of Parquet files, or an fsspec
URL such as ``s3://bucket/batches/2026-05/``) judges that dataset in one streaming pass
instead of the prediction log: drift against ``reference`` (a profile, a table, or another
dataset) and, with ``checks.schema: {schema: schema.yaml}``, schema validation.
"""

from __future__ import annotations

from ..checks import CheckResult
from ..errors import UsageError

__all__ = ["judge_dataset"]


def judge_dataset(spec, current: str, reference) -> list[CheckResult]:
    """Run the spec's drift (and schema) checks on the dataset ``current``, streamed.

    Parameters
    ----------
    spec : MonitorSpec
        The parsed spec (its ``checks`` options are passed through).
    current : str
        The dataset: a folder, a file, or an fsspec URL.
    reference : Profile, DataFrame, str or None
        What ``run_monitor`` resolved from the spec's ``reference``.

    Returns
    -------
    list of CheckResult
        One per configured check; a check that cannot run is an ``error`` result.
    """
    from ..checks import drift_dataset, validate_dataset  # re-exported by checks/__init__

    results = []
    if "drift" in spec.checks:
        if reference is None:
            results.append(CheckResult("drift", "error", "no reference given in the spec"))
        else:
            options = dict(spec.checks["drift"])
            results.append(_guarded("drift", lambda: drift_dataset(reference, current, **options)))
    if "schema" in spec.checks:
        options = dict(spec.checks["schema"])
        schema = options.pop("schema", None)
        if schema is None:
            raise UsageError("checks.schema needs 'schema' (the schema YAML to validate against)")
        results.append(_guarded("schema", lambda: validate_dataset(current, schema, **options)))
    return results


def _guarded(name: str, work) -> CheckResult:
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - one bad check never stops the others
        return CheckResult(name, "error", f"could not run: {type(exc).__name__}: {exc}")
