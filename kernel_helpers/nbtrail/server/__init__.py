"""The Jupyter server extension: the trail's JSON API for the JupyterLab frontend.

Enabled by ``etc/jupyter/jupyter_server_config.d/nbtrail.json``, which the wheel installs.
Three small parts, as jupyter-resource-usage has them: :mod:`.config` (the settings),
this module (wiring: build the state, mount the handlers), :mod:`.handlers` (the API).
"""

from __future__ import annotations

import threading
from pathlib import Path

from .config import NbtrailServer
from .handlers import setup_handlers
from .jobs import Jobs
from .shapes import ENDPOINTS, NAMESPACE

__all__ = ["NAMESPACE", "NbtrailServer", "State", "load_jupyter_server_extension"]


class State:
    """What the handlers share: the settings, the root, the trail (opened lazily), the jobs."""

    def __init__(self, config: NbtrailServer, root: Path):
        self.config = config
        self.root = root
        self.jobs = Jobs(root, max_jobs=config.max_jobs, trail_home=config.trail_home)
        self._trail = None
        self._home: Path | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _settings(self):
        from ..config import load_settings

        settings = load_settings(self.root)
        if self.config.trail_home:
            import dataclasses

            settings = dataclasses.replace(
                settings, home=Path(self.config.trail_home).expanduser().resolve()
            )
        return settings

    def settings(self):
        """The settings that apply in the root now (read again: policies and roles may change)."""
        return self._settings()

    def run_cli(self, arguments: list[str], *, timeout: float = 120):
        """Run ``nbtrail ARGUMENTS`` in the root as a child process; return it, completed.

        The server never writes the trail itself: what must be written runs here.
        """
        import os
        import subprocess
        import sys

        env = dict(os.environ)
        if self.config.trail_home:
            env["NBTRAIL_HOME"] = str(Path(self.config.trail_home).expanduser().resolve())
        return subprocess.run(
            [sys.executable, "-m", "nbtrail", *arguments],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def trail_home(self, *, cached: bool = False) -> Path | None:
        """The trail's folder, resolved: the API serves nothing inside it.

        Looked up again while there is none (a trail may be created after the server starts);
        ``cached=True`` answers from memory only, for the event loop.
        """
        if self._home is None and not cached:
            home = self._settings().home
            self._home = home.resolve() if home is not None else None
        return self._home

    def trail(self):
        """The trail for this server's root, opened read-only; None when there is none yet.

        The server only reads: it never migrates the trail, never marks a run aborted, never
        writes an event, so it needs no signing key and cannot spoil a signed trail. A read-only
        engine pools no connection: each use opens the database and closes it again, so none
        of the server outlives the request that made it, and none can go on reading through
        ``-wal``/``-shm`` files that a finished job has checkpointed and removed meanwhile.
        """
        from ..errors import TrailNotFound
        from ..store import open_trail

        with self._lock:
            if self._trail is None:
                settings = self._settings()
                if settings.home is None and settings.store_url is None:
                    return None
                try:
                    trail = open_trail(self.root, settings=settings, readonly=True)
                except TrailNotFound:
                    return None
                self._trail = trail
            return self._trail

    def close(self) -> None:
        """Stop jobs, release the trail (the server is shutting down); safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            trail, self._trail = self._trail, None
        self.jobs.stop_all()
        if trail is not None:
            trail.close()


def _stop_with_the_server(serverapp, state: State) -> None:
    """Run :meth:`State.close` when the server shuts down.

    Jupyter calls shutdown hooks of extension *apps* only; this extension is a plain module, so
    its hook rides on the server's own extension cleanup. ``atexit`` covers a server that stops
    without that cleanup (the jobs are in their own sessions: nothing else would end them).
    """
    import asyncio
    import atexit

    cleanup = serverapp.cleanup_extensions

    async def cleanup_extensions() -> None:
        try:
            await cleanup()
        finally:
            await asyncio.to_thread(state.close)

    serverapp.cleanup_extensions = cleanup_extensions
    atexit.register(state.close)


def load_jupyter_server_extension(serverapp) -> None:
    """Wire the extension into a running Jupyter server."""
    config = NbtrailServer(parent=serverapp)
    root = Path(serverapp.root_dir).expanduser().resolve()
    state = State(config, root)
    serverapp.web_app.settings["nbtrail"] = state
    _stop_with_the_server(serverapp, state)
    # The frontend learns the API's namespace and endpoint names from the page, so they are
    # written only here (and in .shapes, where they are defined).
    page = serverapp.web_app.settings.setdefault("page_config_data", {})
    page["nbtrailApi"] = NAMESPACE
    page["nbtrailEndpoints"] = ENDPOINTS
    setup_handlers(serverapp.web_app)
    serverapp.log.info("nbtrail: API at /%s, root %s", NAMESPACE, root)


_load_jupyter_server_extension = load_jupyter_server_extension
