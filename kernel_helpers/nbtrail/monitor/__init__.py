"""Monitoring in production: prediction logs, drift, performance decay, alerts and triggers.

The loop a user runs from cron or CI: log predictions (and outcomes when they arrive), monitor
them against a reference profile, alert, trigger retraining, compare, promote.
"""

from ._alerts import Alert, Delivery, FileChannel, WebhookChannel, next_action
from ._estimate import estimate_performance
from ._logs import Logged, PredictionLog, log_outcomes, log_predictions, logged
from ._monitored import Monitored, monitored
from ._performance import performance
from ._profile import Profile, profile
from ._run import MonitorResult, run_monitor
from ._shadow import shadow_compare
from ._spec import MonitorSpec, load_monitor_spec

__all__ = [
    "Alert",
    "Delivery",
    "FileChannel",
    "Logged",
    "MonitorResult",
    "MonitorSpec",
    "Monitored",
    "PredictionLog",
    "Profile",
    "WebhookChannel",
    "estimate_performance",
    "load_monitor_spec",
    "log_outcomes",
    "log_predictions",
    "logged",
    "monitored",
    "next_action",
    "performance",
    "profile",
    "run_monitor",
    "shadow_compare",
]
