"""``nbtrail doctor``: connect to every configured service and say, in one line each, if it works.

A team's trail spans services: the database, the blob store, an OpenLineage receiver, a Dask
scheduler. A typo in one of them otherwise shows up as a failed run hours later. The doctor
reaches each one as the commands would (same settings, same code paths), writes nothing but a
fixed probe blob (content-addressed, so writing it twice stores it once), never prints a
credential, and exits 2 when a configured service does not answer.
"""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..config import load_settings
from ..errors import NbtrailError

__all__ = ["Probe", "add_doctor_parser", "diagnose"]

PROBE = b"nbtrail doctor: a blob store that can hold this can hold a trail's blobs\n"


@dataclass
class Probe:
    """What one service answered: ``status`` is ``ok``, ``failed`` or ``off`` (not configured)."""

    service: str
    status: str
    detail: str
    seconds: float | None = None

    def line(self) -> str:
        mark = {"ok": "ok", "failed": "FAILED", "off": "-"}[self.status]
        took = f" ({self.seconds * 1000:.0f} ms)" if self.status != "off" and self.seconds else ""
        return f"{mark:<7}{self.service:<12}{self.detail}{took}"


def _timed(service: str, check) -> Probe:
    start = time.perf_counter()
    try:
        status, detail = check()
    except NbtrailError as exc:
        status, detail = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - the doctor reports every failure, in one line
        status, detail = "failed", f"{type(exc).__name__}: {exc}"
    return Probe(service, status, detail, time.perf_counter() - start)


def _trail():
    from ..store import open_trail

    with open_trail(readonly=True) as trail:  # trail.url hides the password
        newest = trail.runs(limit=1)
        last = f"newest run {newest[0].started_at:%Y-%m-%d %H:%M}" if newest else "no runs yet"
        return "ok", f"{trail.url}: opened, schema current, {last}"


def _blobs(settings):
    from ..store import open_blob_store

    if settings.blob_url:
        location, setting = settings.blob_url, "NBTRAIL_BLOB_URL / blob_url"
    elif settings.home is not None:
        location, setting = str(settings.home / "objects"), "the trail's folder"
    else:
        return "off", "no trail here, so no blob store"
    try:
        store = open_blob_store(location)
        digest = store.put_bytes(PROBE)
        with store.open(digest) as fh:
            back = fh.read()
    except Exception as exc:  # noqa: BLE001 - named with the setting it came from
        detail = str(exc) if isinstance(exc, NbtrailError) else f"{type(exc).__name__}: {exc}"
        return "failed", f"{location} ({setting}): {detail}"
    if back != PROBE:
        return "failed", f"{location} ({setting}): the probe blob read back differently"
    return "ok", f"{store.url}: wrote and read back blob {digest[:12]}"


def _openlineage(settings):
    from ..export import public_url

    url = settings.openlineage_url
    if not url:
        return "off", "not configured ([tool.nbtrail.openlineage] url, NBTRAIL_OPENLINEAGE_URL)"
    request = urllib.request.Request(url.rstrip("/") + "/api/v1/namespaces", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            code = reply.status
    except urllib.error.HTTPError as exc:
        code = exc.code  # it answered: reachable, even if this path is not its API
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return "failed", f"{public_url(url)} (openlineage url): unreachable: {reason}"
    queued = ""
    if settings.home is not None:
        from ..export import queue_for

        count = len(queue_for(settings.home, url))
        queued = f"; {count} events queued for it" if count else ""
    return "ok", f"{public_url(url)}: answered HTTP {code}{queued}"


def _dask(settings, scheduler: str | None):
    address = scheduler or settings.scheduler
    if not address:
        return "off", "no scheduler configured (--executor dask starts a local cluster)"
    from .._optional import require

    try:
        require("distributed", purpose="the dask executor")
    except NbtrailError as exc:
        return "failed", f"{address} (scheduler): {exc}"
    from distributed import Client

    try:
        client = Client(address, timeout="5s", set_as_default=False)
    except OSError as exc:
        return "failed", f"{address} (scheduler): unreachable: {exc}"
    try:
        versions = client.run(_nbtrail_version)
    finally:
        client.close()
    if not versions:
        return "failed", f"{address}: the scheduler has no workers"
    lacking = sorted(w for w, v in versions.items() if v is None)
    if lacking:
        return "failed", f"{address}: worker {lacking[0]} cannot import nbtrail"
    return "ok", f"{address}: {len(versions)} workers, nbtrail importable on each"


def _nbtrail_version():
    try:
        import nbtrail

        return nbtrail.__version__
    except ImportError:
        return None


def diagnose(*, scheduler: str | None = None) -> list[Probe]:
    """Probe every configured service; a service not configured is reported as ``off``."""
    try:
        settings = load_settings()
    except NbtrailError as exc:
        return [Probe("settings", "failed", str(exc))]
    where = settings.config_file or "defaults and NBTRAIL_* variables"
    probes = [Probe("settings", "ok", f"from {where}; acting as {settings.actor}")]
    probes.append(_timed("trail", _trail))
    probes.append(_timed("blobs", lambda: _blobs(settings)))
    probes.append(_timed("openlineage", lambda: _openlineage(settings)))
    probes.append(_timed("dask", lambda: _dask(settings, scheduler)))
    return probes


def cmd_doctor(args) -> int:
    """Print one line per service; exit 2 if any configured service failed."""
    probes = diagnose(scheduler=args.scheduler)
    for probe in probes:
        print(probe.line())
    failed = [p.service for p in probes if p.status == "failed"]
    if failed:
        print(f"nbtrail: {len(failed)} service(s) failed: {', '.join(failed)}")
        return 2
    return 0


def add_doctor_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``nbtrail doctor``."""
    p = sub.add_parser("doctor", help="connect to each configured service and report")
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler to check (default: settings)"
    )
    p.set_defaults(func=cmd_doctor)
