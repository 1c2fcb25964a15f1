"""A background writer: capture hands facts over and returns to the user's cell at once.

Capture must add at most a couple of milliseconds to a cell, and a database write costs more
than that. So capture turns what it saw into facts (the store's validated values: a run, an
artifact, an edge, a check) and queues them; this thread commits them in batches, one
transaction per batch. It prefers to write while the kernel is idle (between cells) so that it
does not compete with the user's code for the interpreter lock, but never holds facts back
for long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from .. import recording

__all__ = ["Writer"]

log = logging.getLogger("nbtrail.capture")

_IDLE_QUIET = 0.05  # the kernel counts as idle after this long between cells
_MAX_DELAY = 2.0  # but facts never wait longer than this to be written


class Writer:
    """Commit queued operations to a trail from a daemon thread.

    Parameters
    ----------
    trail : Trail
        Where the facts go.
    on_error : callable
        Called with (exception, number of operations lost) when a batch cannot be written.
    idle : threading.Event, optional
        Set while the kernel is between cells; the writer prefers those moments.
    session : CaptureSession, optional
        Tells since when the kernel has been idle (``idle_since``).

    What is queued: store facts (:mod:`nbtrail.store`), ``bytes`` (a blob a fact refers to),
    and callables for work too slow for the user's thread (each returns more of these).
    """

    def __init__(self, trail, *, on_error, idle: threading.Event | None = None, session=None):
        self.trail = trail
        self.on_error = on_error
        self.idle = idle
        self.session = session
        self._urgent = False
        self.written = 0
        self.batches = 0
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="nbtrail-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Operations queued and not yet committed."""
        return len(self._queue)

    def submit(self, ops: list) -> None:
        """Queue operations; they are committed together, in order, by the writer thread."""
        if not ops:
            return
        with self._cond:
            if self._closed:
                raise RuntimeError("the writer is closed")
            self._queue.append((time.monotonic(), ops))
            self._cond.notify()

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until everything queued so far is committed; return False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 60.0) -> bool:
        """Commit what is queued, then stop the thread; False if ``timeout`` cut that short.

        The shutdown paths (a kernel's shutdown request, SIGTERM) pass a few seconds: Jupyter
        kills a kernel that has not exited some seconds after asking, so waiting longer would
        lose everything instead of what is left.
        """
        started = time.monotonic()
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        left = timeout - (time.monotonic() - started)
        self._thread.join(timeout=min(5.0, max(0.05, left)))
        return done

    def _loop(self) -> None:
        recording.local.quiet = True  # nothing this thread opens is the user's file access
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
            self._wait_for_a_quiet_moment()
            with self._cond:
                groups = list(self._queue)
                self._queue.clear()
                self._busy = True
                self._urgent = False
            ops = [op for _, group in groups for op in group]
            try:
                self._commit(ops)
                self.written += len(ops)
                self.batches += 1
            except Exception as exc:
                log.exception("could not write %d captured facts", len(ops))
                self.on_error(exc, len(ops))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _wait_for_a_quiet_moment(self) -> None:
        """Wait until the kernel has been idle a little, or the oldest fact waited too long."""
        if self.idle is None:
            return
        while True:
            with self._cond:
                if self._closed or self._urgent or not self._queue:
                    return
                oldest = self._queue[0][0]
            now = time.monotonic()
            since = getattr(self.session, "idle_since", now - _IDLE_QUIET)
            if self.idle.is_set() and now - since >= _IDLE_QUIET:
                return
            if now - oldest >= _MAX_DELAY:
                return
            with self._cond:
                self._cond.wait(0.01)

    def _commit(self, items: list) -> None:
        expanded = []
        for item in items:
            expanded.extend(item() if callable(item) else [item])
        batch = self.trail.batch()
        for item in expanded:
            if isinstance(item, bytes):
                batch.add_blob(item)
            else:
                batch.add(item)
        batch.commit()
