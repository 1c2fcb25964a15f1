"""Alerts: what drifted or decayed, by how much, where the evidence is, and what to do.

An alert is made from a failed check of a monitoring run and sent to every channel: a file of
JSON lines, or a webhook (POST JSON). A webhook that hangs or answers 5xx is retried with
exponential backoff, each attempt bounded by its timeout and all of them by the monitoring
run's deadline; a delivery that still fails is recorded as failed, never raised, so it can
neither stop nor stall the monitoring run.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "Alert",
    "Delivery",
    "FileChannel",
    "WebhookChannel",
    "alert_for",
    "deliver",
    "next_action",
]

# What a person should do next, by the kind of check that fired.
_ACTIONS = {
    "drift": "compare the drifted columns' sources with the reference; retrain if it is real",
    "performance_decay": "look at the windows that dropped; retrain on recent labelled data",
    "estimated_performance": "label a sample of recent traffic to confirm, then retrain",
}


@dataclass
class Alert:
    """One failed check of a monitoring run, said for people and machines."""

    check: str
    status: str
    summary: str
    findings: list = field(default_factory=list)
    run_id: str | None = None
    check_id: str | None = None
    action: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f" (run {self.run_id}, check {self.check_id})" if self.run_id else ""
        return f"{self.check} {self.status}: {self.summary}{where}. Next: {self.action}"


def next_action(kind: str | None) -> str:
    """What a person should do next when a check of this kind fails in a monitoring run."""
    return _ACTIONS.get(kind or "", "open the check's card and its evidence run")


def alert_for(result, *, run_id: str | None = None, max_findings: int = 10) -> Alert:
    """The alert for a failed check result: its summary and its worst findings."""
    details = getattr(result, "details", None)
    findings: list = []
    if details is not None and len(details):
        rows = details
        for flag in ("drifted", "alert"):
            if flag in rows.columns:
                rows = rows[rows[flag].fillna(False).astype(bool)]
                break
        findings = json.loads(rows.head(max_findings).to_json(orient="records", date_format="iso"))
    kind = getattr(result, "kind", None) or result.name
    return Alert(
        check=result.name,
        status=result.status,
        summary=result.summary,
        findings=findings,
        run_id=run_id,
        check_id=getattr(result, "record_id", None),
        action=next_action(kind),
    )


@dataclass
class Delivery:
    """How sending one alert to one channel went."""

    channel: str
    check: str
    ok: bool
    attempts: int
    error: str = ""


class FileChannel:
    """Append each alert as one JSON line to a file."""

    def __init__(self, path):
        self.path = Path(path)

    def __str__(self) -> str:
        return f"file:{self.path}"

    def send(self, alert: Alert, deadline: float) -> Delivery:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(alert.to_dict(), sort_keys=True) + "\n")
        except OSError as exc:
            return Delivery(str(self), alert.check, False, 1, f"{type(exc).__name__}: {exc}")
        return Delivery(str(self), alert.check, True, 1)


class WebhookChannel:
    """POST each alert as JSON, retrying a failure with exponential backoff."""

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5):
        self.url, self.timeout, self.retries, self.backoff = url, timeout, retries, backoff

    def __str__(self) -> str:
        return f"webhook:{self.url}"

    def send(self, alert: Alert, deadline: float) -> Delivery:
        body = json.dumps(alert.to_dict()).encode()
        error = ""
        attempts = 0
        for attempt in range(self.retries + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                error = error or "no time left before the monitoring run's deadline"
                break
            attempts += 1
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=min(self.timeout, left)) as answer:
                    if 200 <= answer.status < 300:
                        return Delivery(str(self), alert.check, True, attempts)
                    error = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # the receiver refuses this alert: retrying will not help
            except (OSError, ValueError) as exc:  # refused, timed out, bad URL
                error = f"{type(exc).__name__}: {exc}"
            pause = self.backoff * (2**attempt)
            if attempt < self.retries and time.monotonic() + pause < deadline:
                time.sleep(pause)
        return Delivery(str(self), alert.check, False, attempts, error)


def channel(spec) -> FileChannel | WebhookChannel:
    """A channel from its spec entry: ``{"file": path}`` or ``{"webhook": url, ...}``."""
    if "file" in spec:
        return FileChannel(spec["file"])
    options = {k: spec[k] for k in ("timeout", "retries", "backoff") if k in spec}
    return WebhookChannel(spec["webhook"], **options)


def deliver(alerts: list[Alert], channels: list, *, deadline: float) -> list[Delivery]:
    """Send every alert to every channel before ``deadline`` (a ``time.monotonic`` value)."""
    return [c.send(alert, deadline) for alert in alerts for c in channels]
