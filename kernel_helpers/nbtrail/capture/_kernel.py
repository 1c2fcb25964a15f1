"""A kernel's capture, from ``%load_ext nbtrail`` to the kernel's last breath.

Loading must cost the user almost nothing, so :class:`KernelCapture` starts the session on a
thread of its own: importing the store (SQLAlchemy), opening the trail, starting the session's
run and describing the environment all happen there. The kernel's thread only waits for it
when it first needs the session: at the start of the next cell (whose capture needs the hooks
installed), or for a ``%trail`` magic. A start that fails is reported in one line at that
moment, and in ``NBTRAIL_CAPTURE_STATUS`` at once (``nbtrail run`` reads it).

The session ends on the kernel's own way out, not only at interpreter exit, because Jupyter
does not wait for that: it asks the kernel to shut down, sends SIGTERM a few seconds later if
the process is still there (any ``n_jobs=2`` fit leaves loky workers that slow the exit down),
then SIGKILL. So the session ends, and the writer drains its queue within a bounded time, on

* the shutdown request: the kernel's ``do_shutdown`` (also called on a restart);
* SIGTERM: a handler that ends the session, then does what the previous handler did (by
  default: the process terminates, with the same signal);
* interpreter exit (``atexit``), for a plain IPython and as a last resort.

What a SIGKILL leaves behind is told by the session run's idle state (see :mod:`.session`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .. import recording
from ..errors import NbtrailError, UsageError

__all__ = ["KernelCapture", "end_all", "install_shutdown_paths"]

log = logging.getLogger("nbtrail.capture")

START_WAIT = 60.0  # how long a cell waits for capture to start before running uncaptured
SHUTDOWN_BUDGET = 2.0  # Jupyter sends SIGTERM 2.5 s after the shutdown request, SIGKILL 2.5 s later
SIGTERM_BUDGET = 2.0

_LIVE: list[KernelCapture] = []
_LIVE_LOCK = threading.RLock()  # re-entrant: the SIGTERM handler may interrupt its holder
_INSTALLED: dict[str, object] = {}


class KernelCapture:
    """The capture session of one kernel, started off the kernel's thread.

    Parameters
    ----------
    name, attrs, parent, notebook :
        The session run's name, attributes, parent run id and notebook path.
    shell : InteractiveShell or None
        The shell whose cells are recorded.
    """

    def __init__(self, *, shell, name: str, attrs: dict, parent: str | None, notebook):
        self.shell = shell
        self.name = name
        self.attrs = attrs
        self.parent = parent
        self.notebook = notebook
        self.cwd = attrs.get("cwd")
        self.session = None
        self.error: str | None = None
        self.reported = False
        self.started = False  # the hooks are installed (on the kernel's thread)
        self.ended = False
        self.ready = threading.Event()
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._start, name="nbtrail-start", daemon=True)

    # -- starting ---------------------------------------------------------------------------

    def begin(self, *, wait: bool = False) -> None:
        """Start the session in the background (or here, with ``wait``)."""
        with _LIVE_LOCK:
            _LIVE.append(self)
        if wait:
            self._start()
        else:
            self._thread.start()

    def _start(self) -> None:
        recording.local.quiet = True  # what this thread opens is nbtrail's, not the user's
        try:
            from ..store import open_or_create_trail
            from .session import CaptureSession

            trail = open_or_create_trail(self.cwd)
            try:
                session = CaptureSession(
                    trail,
                    name=self.name,
                    kind="session",
                    attrs=self.attrs,
                    shell=self.shell,
                    parent=self.parent,
                    notebook=self.notebook,
                )
            except BaseException:
                trail.close()
                raise
            with self._lock:
                self.session = session
                if self.ended:  # the kernel went away while the session was starting
                    session.shutdown("kernel shut down while capture started", timeout=2.0)
        except NbtrailError as exc:
            self._failed(str(exc))
        except Exception as exc:  # reported in one line, never raised into a cell
            log.exception("capture could not start")
            self._failed(f"{type(exc).__name__}: {exc}")
        finally:
            self.ready.set()

    def _failed(self, message: str) -> None:
        self.error = message
        report_failed_start(message)
        with _LIVE_LOCK:
            if self in _LIVE:
                _LIVE.remove(self)

    def report(self) -> None:
        """Tell the user, once and in one line, that capture did not start."""
        if self.error is not None and not self.reported:
            self.reported = True
            print(f"nbtrail: not recording: {self.error}", file=sys.stderr)

    def get(self, *, wait: float = START_WAIT):
        """The running session, installed on this thread; None if capture is not recording.

        Waits (up to ``wait`` seconds) for the background start to finish, reports a failed
        start, and installs the hooks the first time.
        """
        if self.ended:
            return None
        if not self.ready.wait(wait):
            log.warning("capture had not started after %s s: a cell ran uncaptured", wait)
            return None
        self.report()
        session = self.session
        if session is None or session.closed:
            return None
        if not self.started:
            self.started = True
            try:
                session.start()
            except Exception as exc:  # noqa: BLE001 - another recorder is active, say
                self.error = (
                    f"{type(exc).__name__}: {exc}"
                    if not isinstance(exc, NbtrailError)
                    else str(exc)
                )
                report_failed_start(self.error)
                self.report()
                session.close("failed", error=self.error, timeout=5.0)
                return None
        return session

    def started_session(self):
        """The session if it already records on this thread, without waiting."""
        session = self.session
        if not self.started or session is None or session.closed:
            return None
        return session

    def require(self):
        """The session, for a magic; a UsageError saying why when there is none."""
        session = self.get()
        if session is not None:
            return session
        if self.error is not None:
            raise UsageError(f"not recording: {self.error}")
        if not self.ready.is_set():
            raise UsageError("capture has not started yet (the trail is slow to open)")
        raise UsageError("this capture session has ended")

    def __getattr__(self, name: str):
        """Anything else is the session's (``health``, ``writer``...), once it has started."""
        if name.startswith("_") or name in ("session", "ready", "error", "ended", "started"):
            raise AttributeError(name)
        return getattr(self.require(), name)

    # -- ending -----------------------------------------------------------------------------

    def end(self, reason: str, *, timeout: float, graceful: bool = False) -> None:
        """End the session (bounded by ``timeout``); safe from any thread, more than once.

        ``graceful``: the user ended it (``%unload_ext``), from a cell: it succeeded.
        """
        with self._lock:
            self.ended = True
        # Still starting: wait for the start (bounded) so its run does not stay "running".
        self.ready.wait(timeout if threading.current_thread() is not self._thread else 0)
        with self._lock:
            session = self.session
        try:
            if session is None:
                return  # still starting: _start ends it when it gets there
            if graceful:
                session.close("succeeded", timeout=timeout)
            else:
                session.shutdown(reason, timeout=timeout)
        except Exception:  # ending must never raise into the kernel's shutdown
            log.exception("could not end the capture session")
        finally:
            # Only now: a SIGTERM meanwhile must find the session and wait for its end.
            with _LIVE_LOCK:
                if self in _LIVE:
                    _LIVE.remove(self)


def report_failed_start(message: str) -> None:
    """Leave the reason capture did not start where ``nbtrail run`` looks for it."""
    target = os.environ.get("NBTRAIL_CAPTURE_STATUS")
    if target:
        with contextlib.suppress(OSError):
            Path(target).write_text(message, encoding="utf-8")


def end_all(reason: str, *, timeout: float) -> None:
    """End every live kernel session of this process."""
    if _INSTALLED.get("pid") not in (None, os.getpid()):
        return  # a forked child inherited the handlers: the session is its parent's
    with _LIVE_LOCK:
        live = list(_LIVE)
    for capture in live:
        capture.end(reason, timeout=timeout)


# -- the shutdown paths ---------------------------------------------------------------------


def install_shutdown_paths(shell) -> None:
    """Hook the kernel's shutdown request, SIGTERM and exit (each once per process)."""
    _INSTALLED.setdefault("pid", os.getpid())
    if "atexit" not in _INSTALLED:
        _INSTALLED["atexit"] = True
        atexit.register(end_all, "interpreter exit", timeout=10.0)
    _hook_do_shutdown(getattr(shell, "kernel", None))
    if "sigterm" not in _INSTALLED:
        _install_sigterm()


def _hook_do_shutdown(kernel) -> None:
    """Wrap the kernel's ``do_shutdown`` (ipykernel calls it for shutdown and restart requests)."""
    original = getattr(kernel, "do_shutdown", None)
    if not callable(original) or getattr(original, "_nbtrail", False):
        return

    def do_shutdown(restart, *args, **kwargs):
        end_all("restart request" if restart else "shutdown request", timeout=SHUTDOWN_BUDGET)
        return original(restart, *args, **kwargs)

    do_shutdown._nbtrail = True  # type: ignore[attr-defined]
    try:
        kernel.do_shutdown = do_shutdown
    except Exception:  # a kernel that refuses: atexit and SIGTERM remain
        log.warning("nbtrail: could not hook the kernel's shutdown request", exc_info=True)


def _install_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; try again next load
    try:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        return
    _INSTALLED["sigterm"] = previous


def _on_sigterm(signum, frame) -> None:
    """End the session, then do what would have happened without nbtrail."""
    try:
        end_all("SIGTERM", timeout=SIGTERM_BUDGET)
    except BaseException:  # noqa: BLE001 - whatever happens, the signal's effect must follow
        pass
    previous = _INSTALLED.get("sigterm")
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # the default: terminate, with the status a SIGTERM gives
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
