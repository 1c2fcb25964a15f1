"""The processes of one federated run: Flower's SuperLink and SuperNodes on 127.0.0.1.

Started by :func:`~nbtrail.privacy.federated_fit`, each in its own session with a parent-death
signal (a killed kernel takes them along), watched for exits and a deadline, and stopped with
every process Flower started under them, detached ones included. ``flwr run`` submits the app
and ``flwr ls`` reports its status: ``flwr run`` itself exits 0 even when the run fails.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..errors import FederationFailed

__all__ = ["Federation"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAISED = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started it dies (a killed kernel)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


class Federation:
    """The server and client processes of one run, started and always stopped."""

    def __init__(self, root: Path, clients: int, timeout: float):
        self.root, self.clients, self.timeout = root, clients, timeout
        self.procs: list[subprocess.Popen] = []
        self.bin = Path(sys.executable).parent
        self.port = _free_port()
        self.deadline = time.monotonic() + timeout

    def _env(self, home: str) -> dict:
        env = dict(os.environ)
        (self.root / home).mkdir(exist_ok=True)
        env.update(
            FLWR_HOME=str(self.root / home),
            FLWR_TELEMETRY_ENABLED="0",
            FLWR_DISABLE_UPDATE_CHECK="1",
            FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
            PYTHONUNBUFFERED="1",
            # the SuperLink and SuperNodes start flower-superexec and the app runners by name
            PATH=os.pathsep.join([str(self.bin), env.get("PATH", "")]),
            NO_COLOR="1",  # a kernel forces colour on, and flwr's JSON then holds escape codes
            TERM="dumb",
        )
        for forced in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE"):
            env.pop(forced, None)
        return env

    def _start(self, name: str, args: list[str], home: str) -> None:
        log = open(self.root / f"{name}.log", "wb")
        self.procs.append(
            subprocess.Popen(
                [str(self.bin / args[0]), *args[1:]],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(home),
                cwd=self.root,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        )
        log.close()

    def start(self) -> None:
        self._start(
            "superlink",
            [
                "flower-superlink",
                "--insecure",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--disable-runtime-dependency-installation",
            ],
            "home-link",
        )
        url = f"http://127.0.0.1:{self.port}/health"
        while True:
            if self.procs[0].poll() is not None:
                raise FederationFailed(
                    f"flower-superlink exited at start:\n{self.tail('superlink')}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            self._check_time("the server to start")
            time.sleep(0.2)
        for i in range(self.clients):
            self._start(
                f"client-{i}",
                [
                    "flower-supernode",
                    "--insecure",
                    "--superlink",
                    f"127.0.0.1:{self.port}",
                    "--port",
                    str(_free_port()),
                    "--node-config",
                    f"partition-id={i}",
                ],
                f"home-client-{i}",
            )
        cli = self.root / "home-cli"
        cli.mkdir(exist_ok=True)
        (cli / "config.toml").write_text(
            '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )

    def _check_time(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise FederationFailed(f"timed out after {self.timeout:g} s waiting for {what}")

    def errors(self) -> str:
        """The distinct error lines of every process's log, for the message of a failure."""
        found: list[str] = []
        for log in sorted(self.root.glob("*.log")):
            for line in log.read_text(errors="replace").splitlines():
                text = _ANSI.sub("", line).strip()
                if _RAISED.match(text) and text not in found:
                    found.append(text)
        return "\n".join(found[-8:])

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            text = (self.root / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _flwr(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / "flwr"), *args],
            capture_output=True,
            text=True,
            env=self._env("home-cli"),
            cwd=self.root,
            timeout=max(timeout, 1.0),
            check=False,
        )

    def run(self, app: Path, out: Path) -> None:
        submitted = self._flwr("run", str(app), "local", timeout=60)
        if submitted.returncode != 0:
            raise FederationFailed(
                f"flwr run failed:\n{submitted.stdout[-2000:]}{submitted.stderr[-2000:]}"
            )
        while not out.exists():
            for proc in self.procs:
                if proc.poll() is not None:
                    raise FederationFailed(
                        f"a Flower process exited during the run:\n{self.tail('superlink')}"
                    )
            status = self._status()
            if status and status.get("status", "").startswith("finished") and not out.exists():
                raise FederationFailed(
                    f"the federated run ended {status.get('status')}: "
                    f"{status.get('status-details') or ''}\n{self.errors()}"
                )
            self._check_time("the federated rounds")
            time.sleep(1.0)
        status = self._wait_finished()
        if status.get("status") != "finished:completed":
            raise FederationFailed(f"the federated run ended {status.get('status')}")

    def _status(self) -> dict:
        listed = self._flwr("ls", "local", "--format", "json", timeout=30)
        try:
            runs = json.loads(listed.stdout).get("runs", [])
        except (json.JSONDecodeError, AttributeError):
            return {}
        return runs[-1] if runs else {}

    def _wait_finished(self) -> dict:
        while True:
            status = self._status()
            if status.get("status", "").startswith("finished"):
                return status
            self._check_time("the run to finish")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop every process of the federation, the detached ones Flower starts included."""
        import psutil

        doomed = []
        for proc in self.procs:
            try:
                parent = psutil.Process(proc.pid)
                doomed += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        for proc in doomed:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(doomed, timeout=10)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=10)
        for proc in self.procs:
            proc.wait()
        self.procs.clear()
