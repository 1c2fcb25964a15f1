"""The live OpenLineage transport: each run's events queued as it starts and ends, then sent.

When ``[tool.nbtrail.openlineage] url`` (or ``NBTRAIL_OPENLINEAGE_URL``) is set, a run's START
event is queued when the run starts and its COMPLETE, FAIL or ABORT event when it ends; a
background thread then drains the queue with a short timeout. Nothing here may fail a run or
reach the user's code: a failure is logged (``nbtrail.openlineage``) and the events wait in the
queue for the next run, or for ``nbtrail export openlineage --drain``. The thread is not a
daemon, so a process that ends right after a run still tries to deliver its last events
(bounded by the timeout) before it exits.

The store calls :func:`on_run_change` after it commits a run's start or end; the store cannot
import this layer, so it finds the function through the ``nbtrail.run_listeners`` entry point.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from ..errors import UsageError
from ._lineage_http import check_url
from ._lineage_queue import LineageQueue, queue_for

__all__ = [
    "LineageSettings",
    "deliver_soon",
    "lineage_settings",
    "on_run_change",
    "queue_run_events",
    "wait_for_delivery",
]

log = logging.getLogger("nbtrail.openlineage")


@dataclass(frozen=True)
class LineageSettings:
    """Where and how live OpenLineage events go.

    Attributes
    ----------
    url : str
        The receiver's base URL (events go to ``{url}/api/v1/lineage``).
    setting : str
        Where the URL came from, for messages: the environment variable or the project file.
    namespace : str
        The OpenLineage job namespace.
    timeout : float
        Seconds to wait for each answer while a run's events are delivered.
    api_key : str or None
        ``NBTRAIL_OPENLINEAGE_API_KEY``, sent as a bearer token; read from the environment only.
    """

    url: str
    setting: str
    namespace: str = "nbtrail"
    timeout: float = 5.0
    api_key: str | None = field(default=None, repr=False)


def lineage_settings(settings=None, env: dict | None = None) -> LineageSettings | None:
    """The live transport's settings, or None when no OpenLineage URL is configured.

    Parameters
    ----------
    settings : Settings, optional
        Resolved settings (``openlineage_url``, ``openlineage_namespace``: from
        ``[tool.nbtrail.openlineage]`` and ``NBTRAIL_OPENLINEAGE_URL``); default:
        :func:`nbtrail.config.load_settings`.
    env : dict, optional
        Environment to read ``NBTRAIL_OPENLINEAGE_API_KEY`` (and which URL setting won) from;
        default ``os.environ``.

    Returns
    -------
    LineageSettings or None
    """
    env = os.environ if env is None else env
    if settings is None:
        from ..config import load_settings

        settings = load_settings(env=dict(env))
    url = settings.openlineage_url
    if not url:
        return None
    if env.get("NBTRAIL_OPENLINEAGE_URL") == url:
        setting = "NBTRAIL_OPENLINEAGE_URL"
    elif settings.config_file is not None:
        setting = f"{settings.config_file}: openlineage.url"
    else:
        setting = "openlineage.url"
    return LineageSettings(
        url=check_url(url, setting),
        setting=setting,
        namespace=settings.openlineage_namespace,
        api_key=env.get("NBTRAIL_OPENLINEAGE_API_KEY") or None,
    )


def queue_run_events(trail, run_id: str, change: str, config: LineageSettings) -> LineageQueue:
    """Queue the event a run's start or end makes; return the queue.

    Parameters
    ----------
    trail : Trail
        The trail the run is in (its ``.nbtrail`` folder holds the queue).
    run_id : str
        The run that started or ended.
    change : {"start", "end"}
        What happened: ``start`` queues START; ``end`` queues COMPLETE, FAIL or ABORT.
    config : LineageSettings
        Where the events go.
    """
    from .openlineage import run_events

    if change not in ("start", "end"):
        raise UsageError(f"change must be 'start' or 'end', got {change!r}")
    events = run_events(trail, run_id, namespace=config.namespace)
    chosen = events[:1] if change == "start" else events[1:]
    queue = queue_for(trail.home, config.url)
    queue.put(chosen)
    return queue


# -- delivery in the background ------------------------------------------------------------

_lock = threading.Lock()
_pending: dict[tuple, tuple[LineageQueue, LineageSettings]] = {}
_thread: threading.Thread | None = None


def deliver_soon(queue: LineageQueue, config: LineageSettings) -> None:
    """Drain ``queue`` on the delivery thread; return at once."""
    global _thread
    with _lock:
        _pending[(str(queue.folder), config.url)] = (queue, config)
        if _thread is None:
            _thread = threading.Thread(
                target=_deliver_pending, name="nbtrail-openlineage", daemon=False
            )
            _thread.start()


def _deliver_pending() -> None:
    global _thread
    while True:
        with _lock:
            if not _pending:
                _thread = None
                return
            _, (queue, config) = _pending.popitem()
        try:
            result = queue.drain(
                config.url,
                timeout=config.timeout,
                api_key=config.api_key,
                lock_timeout=config.timeout,
            )
        except Exception:  # a lineage failure must never surface in a run
            log.warning("OpenLineage delivery failed; events stay queued", exc_info=True)
            continue
        if result.error:
            log.warning(
                "OpenLineage (%s): %s; %d events stay queued in %s",
                config.setting,
                result.error,
                result.queued,
                queue.folder,
            )
        if result.rejected:
            log.warning(
                "OpenLineage (%s): %d events rejected, kept in %s",
                config.setting,
                result.rejected,
                queue.rejected_folder,
            )


def wait_for_delivery(timeout: float | None = None) -> bool:
    """Wait until the delivery thread is idle; True if it is (False after ``timeout``)."""
    with _lock:
        thread = _thread
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True


def on_run_change(trail, run_id: str, change: str) -> None:
    """Queue and send a run's OpenLineage event when the live transport is configured.

    The store calls this after committing a run's start (``change="start"``) or end
    (``"end"``). It never raises: a failure is logged and the run goes on.

    Parameters
    ----------
    trail : Trail
        The trail the run is in.
    run_id : str
        The run.
    change : {"start", "end"}
        What happened to it.
    """
    try:
        config = lineage_settings(trail.settings)
        if config is None:
            return
        queue = queue_run_events(trail, run_id, change, config)
        deliver_soon(queue, config)
    except Exception:  # a lineage failure must never surface in a run
        log.warning("OpenLineage: could not queue the %s of run %s", change, run_id, exc_info=True)
