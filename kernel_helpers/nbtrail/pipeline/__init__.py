"""Pipelines: template notebooks executed with papermill as audited, reproducible runs."""

from .gates import GateFailed, gate
from .parameters import ParameterError, ParameterSpec, read_schema, validate
from .runner import CellFailed, KernelDied, RunFailed, TemplateResult, run_template

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
    "run_template",
    "validate",
]
