"""Settings of the server extension, as traitlets (``c.NbtrailServer.<name>`` in Jupyter config)."""

from __future__ import annotations

import os

from traitlets import Int, Unicode, default
from traitlets.config import Configurable

__all__ = ["NbtrailServer"]


class NbtrailServer(Configurable):
    """Where the server reads the trail from, and how it runs audited pipelines."""

    trail_home = Unicode(
        help=(
            "The trail folder (.nbtrail) the extension reads. Default: NBTRAIL_HOME, else the "
            "trail found from the server's root folder upward, as the CLI finds it."
        ),
    ).tag(config=True)

    max_jobs = Int(
        4,
        help="How many `nbtrail run` jobs started from JupyterLab may run at once.",
    ).tag(config=True)

    max_rows = Int(
        200,
        help="Rows of a check's findings sent to the browser (the rest stay in the trail).",
    ).tag(config=True)

    @default("trail_home")
    def _default_trail_home(self) -> str:
        return os.environ.get("NBTRAIL_HOME", "")
