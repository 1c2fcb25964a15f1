"""The IPython extension: ``%load_ext nbtrail`` and the ``%trail`` magics.

Enable it for every kernel with one line in ``~/.ipython/profile_default/ipython_config.py``::

    c.InteractiveShellApp.extensions = ["nbtrail"]

Magics:

``%trail``                       status: run id, what was captured, capture errors
``%trail lineage NAME|PATH``     where a variable's object or a file came from, as a tree
``%trail snapshot NAME``         store a variable's content so it can be restored
``%trail record NAME VALUE``     a metric of this session (VALUE is a Python expression)
``%trail off`` / ``%trail on``   stop capturing (every patched function restored) / resume
``%%trail step NAME``            run this cell as part of the named step of the session

Loading costs the kernel's thread a few milliseconds: the session starts in the background and
ends on the kernel's shutdown paths (see :mod:`._kernel`). This module imports neither the store
nor SQLAlchemy.
"""

from __future__ import annotations

import ast
import html
import os
import shlex
import sys
from pathlib import Path

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from .. import recording
from ..errors import NbtrailError
from ._kernel import KernelCapture, install_shutdown_paths, report_failed_start
from .environment import kernel_id, notebook_path

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_SESSIONS: dict[int, KernelCapture] = {}

_HELP = (
    "usage: %trail [lineage NAME|PATH | snapshot NAME | record NAME VALUE | on | off]\n"
    "       %%trail step NAME   (as the first line of a cell)"
)


class _Text:
    """Output shown as preformatted text in notebooks and as plain text elsewhere."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


class _Status:
    def __init__(self, status: dict):
        self.status = status

    def __repr__(self) -> str:
        width = max(len(k) for k in self.status)
        lines = []
        for key, value in self.status.items():
            if isinstance(value, list):
                value = "; ".join(map(str, value)) if value else "-"
            lines.append(f"{key:<{width}}  {value}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for key, value in self.status.items():
            if isinstance(value, list):
                value = "<br>".join(html.escape(str(v)) for v in value) if value else "-"
            else:
                value = html.escape(str(value))
            style = ' style="color:#b00020"' if key == "capture errors" and value != "0" else ""
            head = f"<th style='text-align:left'>{html.escape(key)}</th>"
            rows.append(f"<tr>{head}<td{style}>{value}</td></tr>")
        return "<table class='nbtrail-status'>" + "".join(rows) + "</table>"


@magics_class
class TrailMagics(Magics):
    """``%trail`` and ``%%trail``."""

    def __init__(self, shell, capture: KernelCapture):
        super().__init__(shell)
        self.capture = capture

    @property
    def session(self):
        """The running session (waiting for it to start); UsageError if there is none."""
        return self.capture.require()

    @line_cell_magic
    def trail(self, line: str, cell: str | None = None):
        """Show capture status, lineage, snapshots, metrics; group a cell into a step."""
        __tracebackhide__ = True
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise IPythonUsageError(f"%trail: {exc}") from None
        if cell is not None:
            return self._step(words, cell)
        command, args = (words[0], words[1:]) if words else ("status", [])
        handler = {
            "status": self._status,
            "lineage": self._lineage,
            "snapshot": self._snapshot,
            "record": self._record,
            "on": self._on,
            "off": self._off,
            "help": lambda _args: _Text(_HELP),
        }.get(command)
        if handler is None:
            raise IPythonUsageError(f"%trail: unknown command {command!r}\n{_HELP}")
        try:
            with recording.quiet():  # what the magic itself reads is not the user's work
                return handler(args)
        except NbtrailError as exc:
            raise IPythonUsageError(f"%trail {command}: {exc}") from None

    def _status(self, args):
        return _Status(self.session.status())

    def _lineage(self, args):
        if len(args) != 1:
            raise IPythonUsageError("usage: %trail lineage NAME|PATH")
        ref = args[0]
        session = self.session
        if ref.isidentifier() and ref in self.shell.user_ns:
            digest = session.digest_of_name(ref)
            if digest is None:
                raise IPythonUsageError(f"%trail lineage: {ref} cannot be fingerprinted")
            ref = digest
        session.writer.flush()
        return _Text(session.trail.lineage(ref).to_text())

    def _snapshot(self, args):
        if len(args) != 1 or not args[0].isidentifier():
            raise IPythonUsageError("usage: %trail snapshot NAME")
        name = args[0]
        if name not in self.shell.user_ns:
            raise IPythonUsageError(f"%trail snapshot: no variable named {name!r}")
        self.session.writer.flush()
        art = self.session.trail.snapshot(self.shell.user_ns[name], name=name)
        return _Text(f"snapshot of {name} stored: {art.short} ({art.snapshot_format})")

    def _record(self, args):
        if len(args) < 2:
            raise IPythonUsageError("usage: %trail record NAME VALUE")
        name, expression = args[0], " ".join(args[1:])
        try:
            value = ast.literal_eval(expression)
        except (ValueError, SyntaxError):
            value = self.shell.ev(expression)
        self.session.record_metric(name, value)
        return _Text(f"recorded {name} = {value}")

    def _on(self, args):
        self.session.start()
        return _Text(f"nbtrail: recording (run {self.session.run.id})")

    def _off(self, args):
        self.session.stop()
        return _Text("nbtrail: not recording; every patched function is restored")

    def _step(self, words: list[str], cell: str):
        __tracebackhide__ = True
        if len(words) != 2 or words[0] != "step":
            raise IPythonUsageError("usage: %%trail step NAME")
        self.session.enter_step(words[1], cell)
        return self._run_body(cell)

    def _run_body(self, body: str):
        """Run the cell's body in the user namespace; show its last expression like a cell."""
        __tracebackhide__ = True
        shell = self.shell
        source = shell.transform_cell(body)
        tree = ast.parse(source)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        filename = shell.compile.cache(source, shell.execution_count)
        exec(compile(tree, filename, "exec"), shell.user_ns)  # the user's own cell
        if last is not None:
            return eval(compile(last, filename, "eval"), shell.user_ns)
        return None


def load_ipython_extension(ip) -> None:
    """Start recording this kernel's session: ``%load_ext nbtrail``.

    Returns in milliseconds: the trail is opened and the session's run started on a background
    thread; the next cell waits for it if it is not done by then. A start that fails is
    reported in one line then (and in ``NBTRAIL_CAPTURE_STATUS`` at once).
    """
    current = _SESSIONS.get(id(ip))
    if current is not None and not current.ended and current.error is None:
        print("nbtrail: already recording; %trail shows what was captured")
        return
    capture = None
    try:
        capture = _new_capture(ip)
        events = getattr(ip, "events", None)
        # Outside IPython (no cells to defer the start to) the session starts here and now.
        capture.begin(wait=events is None)
        if capture.error is not None:
            capture.report()
            return
        if events is None:
            capture.get(wait=0)
        _SESSIONS[id(ip)] = capture
        if events is not None:
            events.register("pre_run_cell", _pre_run_cell)
            events.register("post_run_cell", _post_run_cell)
            ip.register_magics(TrailMagics(ip, capture))
        install_shutdown_paths(ip)
    except Exception as exc:  # noqa: BLE001 - the kernel goes on without capture
        if capture is not None:
            _SESSIONS.pop(id(ip), None)
            capture.end("the extension failed to load", timeout=5.0, graceful=True)
        message = str(exc) if isinstance(exc, NbtrailError) else f"{type(exc).__name__}: {exc}"
        report_failed_start(message)
        print(f"nbtrail: not recording: {message}", file=sys.stderr)
        return
    print("nbtrail: recording this session (%trail shows its run and what was captured)")


def _new_capture(ip) -> KernelCapture:
    path = notebook_path(getattr(ip, "user_ns", None))
    attrs = {"notebook": path, "kernel": kernel_id(), "cwd": os.getcwd()}
    return KernelCapture(
        shell=ip if hasattr(ip, "user_ns") else None,
        name=Path(path).name if path else "ipython session",
        attrs=attrs,
        parent=os.environ.get("NBTRAIL_PARENT_RUN") or None,
        notebook=path,
    )


def unload_ipython_extension(ip) -> None:
    """Stop recording and end the session run: ``%unload_ext nbtrail``."""
    capture = _SESSIONS.pop(id(ip), None)
    for name, callback in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        try:
            ip.events.unregister(name, callback)
        except (ValueError, AttributeError):
            pass
    if capture is not None:
        capture.ready.wait(60.0)
        capture.end("unloaded", timeout=60.0, graceful=True)


def _pre_run_cell(info) -> None:
    from IPython import get_ipython

    ip = get_ipython()
    capture = _SESSIONS.get(id(ip))
    if capture is None or info.silent:
        return
    session = capture.get()  # the first cell after loading waits here for the start
    if session is not None:
        # IPython has already counted the cell it is about to run when it says so.
        count = ip.execution_count - 1 if getattr(info, "store_history", False) else None
        session.begin_cell(info.raw_cell, count)


def _post_run_cell(result) -> None:
    from IPython import get_ipython

    capture = _SESSIONS.get(id(get_ipython()))
    session = capture.started_session() if capture is not None else None
    if session is None or result.info.silent:
        return
    session.end_cell(result.error_in_exec or result.error_before_exec, result.execution_count)
