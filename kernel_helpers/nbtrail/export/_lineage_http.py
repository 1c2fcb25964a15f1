"""Send OpenLineage RunEvents over HTTP, each validated against the OpenLineage schema first.

Events go to ``POST {url}/api/v1/lineage`` (the OpenLineage HTTP API; Marquez accepts it) with
the openlineage-python client's own :class:`HttpTransport`, which reports each failure as it
happens; its own retries are turned off, since the queue (:mod:`._lineage_queue`) retries.
Before anything is sent or queued each event is validated: the client package does not ship the
specification's JSON schema, so an event is rebuilt with the client's model classes (whose
validators check the run id, the event time and the event type) and its remaining required
parts (names, namespaces, facets' ``_producer`` and ``_schemaURL``, JSON without NaN) are
checked here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import UsageError

__all__ = [
    "Delivery",
    "InvalidEvent",
    "check_url",
    "post_events",
    "public_url",
    "validate_event",
]

ENDPOINT = "api/v1/lineage"
# Answers that say "try again later", not "this event is wrong".
_RETRY_LATER = {408, 425, 429}


class InvalidEvent(UsageError):
    """An event does not follow the OpenLineage RunEvent schema; nothing was sent or queued."""


# -- URLs ----------------------------------------------------------------------------------


def public_url(url: str) -> str:
    """The URL without user name or password, fit to print."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def check_url(url, setting: str = "url") -> str:
    """Return ``url`` as the receiver's base URL, or raise naming ``setting``.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` base URL of the receiver; a trailing ``/api/v1/lineage``
        is accepted and dropped.
    setting : str
        Where the URL came from (``--url``, ``NBTRAIL_OPENLINEAGE_URL``...), for the message.

    Returns
    -------
    str
        The base URL, ending with ``/``.
    """
    if not isinstance(url, str) or not url.strip():
        raise UsageError(f"{setting}: the OpenLineage URL must be a non-empty string")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        raise UsageError(f"{setting}: {public_url(url)!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{setting}: {public_url(url)!r} is not an http:// or https:// URL of an OpenLineage "
            "receiver (e.g. http://localhost:5000 for Marquez)"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/" + ENDPOINT):
        path = path[: -len(ENDPOINT) - 1]
    return urlunsplit((parts.scheme, parts.netloc, path + "/", parts.query, ""))


# -- validation ----------------------------------------------------------------------------


def _uri(value, where: str) -> None:
    if not isinstance(value, str) or not urlsplit(value).scheme:
        raise ValueError(f"{where} must be a URI, got {value!r}")


def _facets(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    for name, facet in value.items():
        if not isinstance(facet, dict):
            raise ValueError(f"{where}.{name} must be an object")
        _uri(facet.get("_producer"), f"{where}.{name}._producer")
        _uri(facet.get("_schemaURL"), f"{where}.{name}._schemaURL")
    return value


def _name(value, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _datasets(items, where: str, cls, extra: str) -> list:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"{where} must be a list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{i}] must be an object")
        out.append(
            cls(
                namespace=_name(item.get("namespace"), f"{where}[{i}].namespace"),
                name=_name(item.get("name"), f"{where}[{i}].name"),
                facets=_facets(item.get("facets"), f"{where}[{i}].facets"),
                **{extra: _facets(item.get(extra), f"{where}[{i}].{extra}")},
            )
        )
    return out


def validate_event(event) -> dict:
    """Check one RunEvent against the OpenLineage schema; return it as a JSON-able dict.

    Parameters
    ----------
    event : RunEvent or dict
        An event built with the openlineage-python classes, or its JSON form.

    Returns
    -------
    dict
        The event as it is sent: the JSON body of the request.

    Raises
    ------
    InvalidEvent
        Naming the part of the event that does not fit.
    """
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.serde import Serde

    data = event if isinstance(event, dict) else Serde.to_dict(event)
    label = "event"
    try:
        run = data.get("run")
        if isinstance(run, dict) and isinstance(run.get("runId"), str):
            label = f"event {data.get('eventType', '?')} of run {run['runId']}"
        for key in ("eventTime", "producer", "schemaURL", "run", "job"):
            if key not in data:
                raise ValueError(f"{key} is missing")
        _uri(data["producer"], "producer")
        _uri(data["schemaURL"], "schemaURL")
        job = data["job"]
        if not isinstance(run, dict) or not isinstance(job, dict):
            raise ValueError("run and job must be objects")
        if not isinstance(data["eventTime"], str):
            raise ValueError("eventTime must be a date-time string")
        # The client's own classes check what they can: the run id is a UUID, the event time
        # an ISO 8601 date-time with a time, the event type one of the spec's states.
        RunEvent(
            eventType=RunState(data["eventType"]) if "eventType" in data else None,
            eventTime=data["eventTime"],
            producer=data["producer"],
            run=Run(runId=str(run.get("runId")), facets=_facets(run.get("facets"), "run.facets")),
            job=Job(
                namespace=_name(job.get("namespace"), "job.namespace"),
                name=_name(job.get("name"), "job.name"),
                facets=_facets(job.get("facets"), "job.facets"),
            ),
            inputs=_datasets(data.get("inputs"), "inputs", InputDataset, "inputFacets"),
            outputs=_datasets(data.get("outputs"), "outputs", OutputDataset, "outputFacets"),
        )
        try:
            json.dumps(data, allow_nan=False)
        except ValueError:
            raise ValueError("it holds NaN or infinity, which JSON cannot carry") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidEvent(f"{label} is not a valid OpenLineage RunEvent: {exc}") from None
    return data


# -- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt did.

    Attributes
    ----------
    url : str
        The receiver, without credentials.
    delivered : int
        Events the receiver accepted (2xx), now gone from the queue.
    rejected : int
        Events the receiver refused (4xx), moved to the queue's ``rejected/`` folder.
    queued : int
        Events still waiting, in order, for the next attempt.
    error : str or None
        Why delivery stopped early (unreachable, timeout, 5xx); None when it did not.
    """

    url: str
    delivered: int = 0
    rejected: int = 0
    queued: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is left queued and nothing was rejected."""
        return self.error is None and self.rejected == 0 and self.queued == 0

    def __repr__(self) -> str:
        text = (
            f"<Delivery to {self.url}: {self.delivered} delivered, {self.rejected} rejected, "
            f"{self.queued} queued"
        )
        return text + (f"; stopped: {self.error}>" if self.error else ">")


class _Sender:
    """The client's HTTP transport, one request per event, no hidden retries (the queue retries)."""

    def __init__(self, url: str, timeout: float, api_key: str | None):
        from openlineage.client.transport.http import (
            ApiKeyTokenProvider,
            HttpConfig,
            HttpTransport,
            TokenProvider,
        )

        auth = ApiKeyTokenProvider({"api_key": api_key}) if api_key else TokenProvider({})
        retry = {"total": 0, "connect": 0, "read": 0, "status_forcelist": []}
        retry |= {"allowed_methods": ["POST"], "raise_on_status": False}
        config = HttpConfig(url=url, endpoint=ENDPOINT, timeout=timeout, auth=auth, retry=retry)
        self.transport = HttpTransport(config)
        self.url = public_url(url)

    def send(self, body: dict) -> tuple[str, str]:
        """Post one event: ("ok" | "rejected" | "stop", why)."""
        import requests

        try:
            self.transport.emit(body)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            text = exc.response.text[:300].strip() if exc.response is not None else ""
            why = f"HTTP {status} from {self.url}" + (f": {text}" if text else "")
            if 400 <= status < 500 and status not in _RETRY_LATER:
                return "rejected", why
            return "stop", why
        except requests.Timeout:
            return "stop", f"{self.url} did not answer within {self.transport.timeout:g} s"
        except requests.RequestException as exc:
            return "stop", f"{self.url} is unreachable ({_root_cause(exc)})"
        return "ok", ""

    def close(self) -> None:
        self.transport.close()


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or (exc.args and isinstance(exc.args[0], BaseException)):
        exc = exc.__cause__ if exc.__cause__ is not None else exc.args[0]
    reason = getattr(exc, "reason", None)
    text = str(reason if isinstance(reason, BaseException) else exc)
    # urllib3 prefixes its own object repr: keep the part a person reads.
    return text.split(": ", 1)[-1] if text.startswith("<") else text


def post_events(events, url: str, *, timeout: float = 10, api_key: str | None = None) -> Delivery:
    """POST events to an OpenLineage receiver in order, without a queue; stop at a failure.

    Every event is validated before the first is sent. Use :meth:`LineageQueue.drain` for
    delivery that survives the receiver being down.

    Parameters
    ----------
    events : iterable of RunEvent or dict
        The events, in the order to send them.
    url : str
        The receiver's base URL (events go to ``{url}/api/v1/lineage``).
    timeout : float
        Seconds to wait for each answer.
    api_key : str, optional
        Sent as ``Authorization: Bearer <api_key>``.

    Returns
    -------
    Delivery
        ``queued`` counts the events not sent because delivery stopped.
    """
    bodies = [validate_event(e) for e in events]
    sender = _Sender(check_url(url), timeout, api_key)
    delivered = rejected = 0
    try:
        for i, body in enumerate(bodies):
            outcome, why = sender.send(body)
            if outcome == "stop":
                return Delivery(sender.url, delivered, rejected, len(bodies) - i, why)
            delivered += outcome == "ok"
            rejected += outcome == "rejected"
    finally:
        sender.close()
    return Delivery(sender.url, delivered, rejected, 0)
