"""Which process is running a run, so a run whose process died can be marked aborted.

A run records its host, process id, and (on Linux) the boot id and the process's start time, so
that a recycled process id is not mistaken for the original process. When a trail is opened,
a run still ``running`` whose process is gone from this host is marked ``aborted``: a kernel
that died, a writer that was killed. Runs from other hosts are left alone: from here nobody can
tell whether they are still going.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["current_process", "is_gone"]


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22, starttime, in clock ticks since boot


def current_process() -> dict:
    """Return this process's identity: host, pid, boot id and start time where known."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "boot": _boot_id(),
        "start": _start_ticks(pid),
    }


def is_gone(identity: dict) -> bool | None:
    """Return True if the process is certainly gone, False if it runs, None if unknowable here."""
    if not isinstance(identity, dict) or identity.get("host") != socket.gethostname():
        return None
    pid = identity.get("pid")
    if not isinstance(pid, int):
        return None
    boot = _boot_id()
    if identity.get("boot") and boot and identity["boot"] != boot:
        return True  # the machine rebooted since
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, owned by someone else
    start = identity.get("start")
    if start is not None:
        now = _start_ticks(pid)
        if now is not None and now != start:
            return True  # the pid was reused by another process
    return False
