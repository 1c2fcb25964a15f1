"""Pipelines: template notebooks executed with papermill as audited, reproducible runs."""

from ..checks import GateFailed, gate
from ._dask import DaskExecutor, WorkerLost  # registers the "dask" executor
from .parameters import ParameterError, ParameterSpec, read_schema, validate
from .runner import CellFailed, KernelDied, RunFailed, TemplateResult, run_template
from .tables import read_table

__all__ = [
    "CellFailed",
    "DaskExecutor",
    "GateFailed",
    "KernelDied",
    "ParameterError",
    "ParameterSpec",
    "RunFailed",
    "TemplateResult",
    "WorkerLost",
    "gate",
    "read_schema",
    "read_table",
    "run_template",
    "validate",
]
