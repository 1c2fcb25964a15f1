"""The JSON API under ``/nbtrail/api/``: every handler authenticated and authorised.

Routes are built in one place (:data:`ROUTES`); the frontend's ``request.ts`` joins the same
namespace. Handlers are stateless: they read the extension's settings, the shared trail and
the job table from the Tornado application settings. Paths are notebook paths relative to the
server's root, as JupyterLab's contents API uses them; a path that resolves outside the root
is refused with 403. Errors are JSON with real status codes: 400 bad input, 403 a path outside
the root, 404 an unknown run or notebook, 409 too many jobs.
"""

from __future__ import annotations

import json
from pathlib import Path

import tornado
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import NbtrailError, RunNotFound
from ..store._audit import jsonable
from . import views

__all__ = ["NAMESPACE", "ROUTES", "setup_handlers"]

NAMESPACE = "nbtrail/api"


class BaseHandler(APIHandler):
    """Shared plumbing: the trail, path checks, JSON replies, error mapping."""

    auth_resource = "nbtrail"

    @property
    def nbtrail(self):
        """The extension's state (settings, trail opener, jobs)."""
        return self.settings["nbtrail"]

    def reply(self, data) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(jsonable(data)))

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.reply({"error": message, "status": status})

    def notebook_path(self, relative: str | None, *, required: bool = True) -> Path | None:
        """Resolve a root-relative notebook path; refuse anything outside the root."""
        if not relative:
            if required:
                raise tornado.web.HTTPError(400, "the 'notebook' parameter is required")
            return None
        root = self.nbtrail.root
        if Path(relative).is_absolute() or "\x00" in relative:
            raise tornado.web.HTTPError(403, "paths are relative to the server root")
        path = (root / relative).resolve(strict=False)
        if not path.is_relative_to(root):
            raise tornado.web.HTTPError(403, "path outside the server root")
        return path

    def limit_argument(self, default: int) -> int:
        """``?limit=``: a whole number from 1 to 10,000, else 400 naming it."""
        raw = self.get_argument("limit", str(default))
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 10_000:
            raise tornado.web.HTTPError(
                400, f"'limit' must be a whole number from 1 to 10000, not {raw!r}"
            )
        return limit

    def trail_or_none(self):
        return self.nbtrail.trail()

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, RunNotFound):
            status_code, message = 404, str(error)
        elif isinstance(error, NbtrailError):
            status_code, message = 400, str(error)
        elif isinstance(error, tornado.web.HTTPError):
            message = error.log_message or error.reason or "error"
        else:
            message = f"{type(error).__name__}: {error}" if error else self._reason
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message, "status": status_code}))

    def target_run(self):
        """The trail and the run a request is about: ``?run=``, else ``?notebook=``'s newest.

        The run is None where there is no trail or no run of the notebook yet.
        """
        notebook = self.notebook_path(self.get_argument("notebook", None), required=False)
        trail = self.trail_or_none()
        if trail is None:
            return None, None
        run_id = self.get_argument("run", None)
        if run_id:
            return trail, trail.get_run(run_id).id
        runs = views.notebook_runs(trail, str(notebook) if notebook else None, limit=1)
        return trail, (runs[0].id if runs else None)


class StatusHandler(BaseHandler):
    """Where the trail is, and whether there is one."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        trail = self.trail_or_none()
        self.reply(
            {
                "trail": trail.url if trail else None,
                "home": str(trail.home) if trail and trail.home else None,
                "root": str(self.nbtrail.root),
                "jobs_running": self.nbtrail.jobs.running(),
            }
        )


class RunsHandler(BaseHandler):
    """Runs recorded for a notebook (``?notebook=PATH``), or all sessions and template runs."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        notebook = self.notebook_path(self.get_argument("notebook", None), required=False)
        trail = self.trail_or_none()
        if trail is None:
            return self.reply({"runs": []})
        limit = self.limit_argument(50)
        runs = views.notebook_runs(trail, str(notebook) if notebook else None, limit=limit)
        failing = {}
        for run in runs[:10]:
            tree = [run.id] + [r.id for r in trail.descendants(run.id)]
            failing[run.id] = sum(c.status in ("fail", "error") for c in trail.checks(tree))
        self.reply({"runs": [r.to_dict() | {"failing_checks": failing.get(r.id)} for r in runs]})


class RunHandler(BaseHandler):
    """One run: parameters, inputs, outputs, metrics, checks, children."""

    @tornado.web.authenticated
    @authorized
    def get(self, run_id: str) -> None:
        trail = self.trail_or_none()
        if trail is None:
            raise tornado.web.HTTPError(404, "no trail")
        self.reply(views.run_view(trail, trail.get_run(run_id).id))


class LineageHandler(BaseHandler):
    """The lineage graph of a notebook's newest run (``?notebook=``) or of a run (``?run=``)."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        trail, run_id = self.target_run()
        if run_id is None:
            return self.reply({"run": None, "nodes": [], "edges": []})
        kinds = self.get_argument("kinds", "")
        wanted = {k for k in kinds.split(",") if k} or None
        self.reply(views.lineage_view(trail, run_id, kinds=wanted))


class ChecksHandler(BaseHandler):
    """Checks of a notebook's newest run (``?notebook=``) or of a run (``?run=``)."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        trail, run_id = self.target_run()
        if run_id is None:
            return self.reply({"run": None, "checks": []})
        checks = views.checks_view(trail, run_id, max_rows=self.nbtrail.config.max_rows)
        self.reply({"run": run_id, "checks": checks})


class ArtifactsHandler(BaseHandler):
    """Artifacts, newest first (``?kind=``, ``?limit=``)."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        trail = self.trail_or_none()
        if trail is None:
            return self.reply({"artifacts": []})
        limit = self.limit_argument(100)
        records = trail.artifacts(kind=self.get_argument("kind", None), limit=limit)
        self.reply({"artifacts": [a.to_dict() for a in records]})


class SchemaHandler(BaseHandler):
    """A template's parameter schema (``?notebook=``), for the run dialog."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        from ..pipeline.parameters import read_schema

        notebook = self.notebook_path(self.get_argument("notebook", None))
        if not notebook.is_file():
            raise tornado.web.HTTPError(404, "no such notebook")
        schema = read_schema(notebook)
        self.reply(
            {
                "notebook": self.get_argument("notebook"),
                "parameters": [
                    spec.to_dict() | {"choices": list(spec.choices)} for spec in schema.values()
                ],
            }
        )


class JobsHandler(BaseHandler):
    """POST ``{"notebook": PATH, "parameters": {...}}``: start an audited run of a notebook."""

    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        from ..pipeline.parameters import read_schema, validate

        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, "the request body must be a JSON object")
        notebook = self.notebook_path(body.get("notebook"))
        if not notebook.is_file() or notebook.suffix != ".ipynb":
            raise tornado.web.HTTPError(404, "no such notebook")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise tornado.web.HTTPError(400, "'parameters' must be an object")
        validate(read_schema(notebook), parameters, template=notebook.name)
        jobs = self.nbtrail.jobs
        if jobs.running() >= jobs.max_jobs:
            raise tornado.web.HTTPError(409, f"{jobs.max_jobs} runs are already going")
        job = jobs.start(notebook, parameters)
        self.set_status(202)
        self.reply(job.to_dict())


class JobHandler(BaseHandler):
    """A job's status: running, succeeded or failed, with its run and outputs."""

    @tornado.web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        job = self.nbtrail.jobs.get(job_id)
        if job is None:
            raise tornado.web.HTTPError(404, f"no job {job_id}")
        self.reply(job.to_dict())


ROUTES = [
    ("status", StatusHandler),
    ("runs", RunsHandler),
    (r"runs/([0-9a-fA-F-]{4,36})", RunHandler),
    ("lineage", LineageHandler),
    ("checks", ChecksHandler),
    ("artifacts", ArtifactsHandler),
    ("schema", SchemaHandler),
    ("jobs", JobsHandler),
    (r"jobs/([0-9a-f]{12})", JobHandler),
]


def setup_handlers(web_app) -> None:
    """Mount every route under ``<base_url>/nbtrail/api/``."""
    base = url_path_join(web_app.settings["base_url"], NAMESPACE)
    web_app.add_handlers(".*$", [(url_path_join(base, path), handler) for path, handler in ROUTES])
