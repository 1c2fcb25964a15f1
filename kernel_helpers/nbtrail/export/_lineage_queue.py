"""A durable queue of OpenLineage events: they survive a receiver down and arrive in order.

The queue is a folder of files, one event each, named by a sequence number and written
atomically (temporary file, fsync, rename, fsync of the folder). A drain delivers them oldest
first and removes each only after a 2xx answer. A connection error, a timeout, a 5xx (or 408,
425, 429) stops the drain and leaves the rest queued in order for the next attempt; any other
4xx is a rejected event: it moves to ``rejected/`` beside a note of the reason and the drain
goes on. One drain at a time holds the queue's lock (``fcntl.flock``, released by the kernel if
the process dies), so two processes draining at once never send an event twice or out of order.
Across a crash between the receiver's 2xx and the file's removal an event can be sent again:
delivery is at least once, as OpenLineage consumers expect.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UsageError
from ._lineage_http import Delivery, _Sender, check_url, validate_event

__all__ = ["LineageQueue", "queue_for"]

QUEUE_DIRNAME = "openlineage"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(target.parent)


@contextlib.contextmanager
def _locked(path: Path, timeout: float | None):
    """Hold an exclusive lock on ``path``; None if not got within ``timeout`` seconds."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield None
                    return
                time.sleep(0.02)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _seq(path: Path) -> int:
    return int(path.name.split(".", 1)[0])


class LineageQueue:
    """A durable FIFO of OpenLineage events for one receiver, in a folder.

    Parameters
    ----------
    folder : path-like
        Where the events wait, one ``<sequence>.json`` file each; created when needed.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.rejected_folder = self.folder / "rejected"

    def __repr__(self) -> str:
        return f"<LineageQueue {self.folder}: {len(self)} queued>"

    def __len__(self) -> int:
        return len(self.pending())

    def pending(self) -> list[Path]:
        """The queued event files, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.json") if p.name[0].isdigit())

    def rejected(self) -> list[Path]:
        """Event files the receiver refused, oldest first (each beside a ``.reason.json``)."""
        if not self.rejected_folder.is_dir():
            return []
        return sorted(p for p in self.rejected_folder.glob("*.json") if ".reason" not in p.name)

    def put(self, events) -> list[Path]:
        """Validate events and append them, durably and in order; return their files.

        All are validated before any is written: an invalid event queues nothing.
        """
        bodies = [validate_event(e) for e in events]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"{self.folder}: cannot create the OpenLineage queue ({exc.strerror})"
            ) from None
        written = []
        with _locked(self.folder / ".put.lock", None):
            # Writers only write under this lock: a temporary file seen here is a dead writer's.
            for stale in self.folder.glob(".tmp-*"):
                stale.unlink(missing_ok=True)
            counter = self.folder / ".seq"
            try:
                last = int(counter.read_text() or 0)
            except (FileNotFoundError, ValueError):
                last = 0
            known = self.pending() + self.rejected()
            last = max([last, *(_seq(p) for p in known)])
            for body in bodies:
                last += 1
                target = self.folder / f"{last:012d}.json"
                _write_atomic(target, json.dumps(body, sort_keys=True).encode("utf-8"))
                written.append(target)
            _write_atomic(counter, str(last).encode("ascii"))
        return written

    def drain(
        self,
        url: str,
        *,
        timeout: float = 10,
        api_key: str | None = None,
        lock_timeout: float = 30,
    ) -> Delivery:
        """Deliver what is queued, oldest first, until the queue is empty or delivery fails.

        Parameters
        ----------
        url : str
            The receiver's base URL.
        timeout : float
            Seconds to wait for each answer.
        api_key : str, optional
            Sent as ``Authorization: Bearer <api_key>``.
        lock_timeout : float
            Seconds to wait while another process drains this queue; then give up, leaving
            the events queued (``error`` says why).

        Returns
        -------
        Delivery
        """
        sender = _Sender(check_url(url), timeout, api_key)
        if not self.folder.is_dir():
            return Delivery(sender.url)
        delivered = rejected = 0
        try:
            with _locked(self.folder / ".drain.lock", lock_timeout) as held:
                if held is None:
                    why = f"another process is delivering this queue ({self.folder})"
                    return Delivery(sender.url, queued=len(self), error=why)
                while batch := self.pending():
                    for path in batch:
                        outcome, why = self._deliver_one(sender, path)
                        if outcome == "stop":
                            return Delivery(sender.url, delivered, rejected, len(self), why)
                        delivered += outcome == "ok"
                        rejected += outcome == "rejected"
        finally:
            sender.close()
        return Delivery(sender.url, delivered, rejected, len(self))

    def _deliver_one(self, sender: _Sender, path: Path) -> tuple[str, str]:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            validate_event(body)
        except (ValueError, UnicodeDecodeError) as exc:
            outcome, why = "rejected", f"not a valid event file: {exc}"
        else:
            outcome, why = sender.send(body)
        if outcome == "ok":
            path.unlink()
            _fsync_dir(self.folder)
        elif outcome == "rejected":
            self._reject(path, why, sender.url)
        return outcome, why

    def _reject(self, path: Path, why: str, url: str) -> None:
        self.rejected_folder.mkdir(exist_ok=True)
        note = {"reason": why, "url": url, "rejected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        reason = self.rejected_folder / f"{path.stem}.reason.json"
        _write_atomic(reason, json.dumps(note, indent=2).encode("utf-8"))
        os.replace(path, self.rejected_folder / path.name)
        _fsync_dir(self.rejected_folder)
        _fsync_dir(self.folder)


def queue_for(home, url: str) -> LineageQueue:
    """The queue of one trail for one receiver: ``<home>/openlineage/queue/<host>-<hash>/``.

    Events queued for one receiver are delivered only to it, so a one-off export to another
    URL never carries the first receiver's backlog away.

    Parameters
    ----------
    home : path-like or None
        The trail's ``.nbtrail`` folder.
    url : str
        The receiver's base URL (credentials in it take part in the hash, not in the name).
    """
    import hashlib

    if home is None:
        raise UsageError(
            "the OpenLineage queue lives in the trail's .nbtrail folder, and this trail has "
            "none: set NBTRAIL_HOME to a folder for it"
        )
    base = check_url(url)
    parts = urlsplit(base)
    label = "".join(c if c.isalnum() or c in ".-" else "-" for c in (parts.hostname or "host"))
    if parts.port is not None:
        label += f"-{parts.port}"
    digest = hashlib.sha256(base.encode("utf-8")).hexdigest()[:10]
    return LineageQueue(Path(home) / QUEUE_DIRNAME / "queue" / f"{label}-{digest}")
