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
        self._lock = threading.Lock()

    def trail(self):
        """The trail for this server's root, opened read-only; None when there is none yet.

        The server only reads: it never migrates the trail, never marks a run aborted, never
        writes an event, so it needs no signing key and cannot spoil a signed trail.
        """
        from ..config import load_settings
        from ..errors import TrailNotFound
        from ..store import open_trail

        with self._lock:
            if self._trail is None:
                settings = load_settings(self.root)
                if self.config.trail_home:
                    import dataclasses

                    settings = dataclasses.replace(
                        settings, home=Path(self.config.trail_home).expanduser().resolve()
                    )
                if settings.home is None and settings.store_url is None:
                    return None
                try:
                    self._trail = open_trail(self.root, settings=settings, readonly=True)
                except TrailNotFound:
                    return None
            return self._trail

    def close(self) -> None:
        """Stop jobs, release the trail."""
        self.jobs.stop_all()
        if self._trail is not None:
            self._trail.close()


def load_jupyter_server_extension(serverapp) -> None:
    """Wire the extension into a running Jupyter server."""
    config = NbtrailServer(parent=serverapp)
    root = Path(serverapp.root_dir).expanduser().resolve()
    state = State(config, root)
    serverapp.web_app.settings["nbtrail"] = state
    # The frontend learns the API's namespace and endpoint names from the page, so they are
    # written only here (and in .shapes, where they are defined).
    page = serverapp.web_app.settings.setdefault("page_config_data", {})
    page["nbtrailApi"] = NAMESPACE
    page["nbtrailEndpoints"] = ENDPOINTS
    setup_handlers(serverapp.web_app)
    serverapp.log.info("nbtrail: API at /%s, root %s", NAMESPACE, root)


_load_jupyter_server_extension = load_jupyter_server_extension
