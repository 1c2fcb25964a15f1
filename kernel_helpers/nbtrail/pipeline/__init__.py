"""Pipelines: template notebooks executed with papermill as audited, reproducible runs."""

from ..checks import GateFailed, gate
from .parameters import ParameterError, ParameterSpec, read_schema, validate
from .runner import CellFailed, KernelDied, RunFailed, TemplateResult, run_template
from .tables import read_table

__all__ = [
    "CellFailed",
    "GateFailed",
    "KernelDied",
    "ParameterError",
    "ParameterSpec",
    "RunFailed",
    "TemplateResult",
    "gate",
    "read_schema",
    "read_table",
    "run_template",
    "validate",
]
