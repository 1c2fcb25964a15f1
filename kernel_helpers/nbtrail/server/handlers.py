"""The JSON API under ``/nbtrail/api/``: every handler authenticated and authorised.

Routes are built in one place (:data:`ROUTES`, from :data:`.shapes.ENDPOINTS`); the frontend
receives the namespace and the endpoint names through the page config. Handlers are stateless:
they read the extension's settings, the shared read-only trail and the job table from the
Tornado application settings, and do their database work on a worker thread, never on the
event loop, as jupyter-resource-usage does. Paths are notebook paths relative to the server's
root, as JupyterLab's contents API uses them, checked by :mod:`.guards` in every route that
takes one (only notebooks; nothing hidden, nothing of the trail's own folder, nothing outside
the root once links are resolved). Starting a job runs code, so it needs the ``execute``
permission, not just ``write``. Errors are JSON with real status codes: 400 bad input, 403 a
path refused or a permission missing, 404 an unknown run or notebook, 409 too many jobs; their
messages hold no absolute path and no traceback.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import tornado
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .._json import jsonable
from ..errors import NbtrailError, RunNotFound
from . import views
from .guards import (
    Refused,
    check_notebook,
    check_run_ref,
    parse_approve_body,
    parse_job_body,
    scrub,
)
from .jobs import JobRefused, TooManyJobs
from .shapes import ENDPOINTS, NAMESPACE

__all__ = ["NAMESPACE", "ROUTES", "setup_handlers"]


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
        """Resolve a root-relative notebook path; refuse whatever :mod:`.guards` refuses.

        Call it on a worker thread: resolving symbolic links touches the file system.
        """
        if relative is None or relative == "":
            if required:
                raise Refused(400, "the 'notebook' parameter is required")
            return None
        return check_notebook(relative, self.nbtrail.root, self.nbtrail.trail_home())

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

    async def off_loop(self, function, *args, **kwargs):
        """Run file and database work on a worker thread; the event loop keeps serving.

        The server's engine pools no connection (see :meth:`.State.trail`): whatever the work
        opens on the trail is closed when it returns.
        """
        return await asyncio.to_thread(function, *args, **kwargs)

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, Refused):
            status_code, message = error.status_code, error.message
        elif isinstance(error, RunNotFound):
            status_code, message = 404, str(error)
        elif isinstance(error, TooManyJobs | JobRefused):
            status_code, message = 409, str(error)
        elif isinstance(error, NbtrailError):
            status_code, message = 400, str(error)
        elif isinstance(error, tornado.web.HTTPError):
            message = error.log_message or error.reason or "error"
            if error.args and error.log_message:
                try:
                    message = error.log_message % error.args
                except (TypeError, ValueError):
                    pass
        elif error is None:
            message = self._reason
        else:
            # The traceback is in the server's log; the browser gets no internals.
            status_code, message = 500, "internal error (see the Jupyter server's log)"
        state = self.settings.get("nbtrail")
        if state is not None:
            message = scrub(message, state.root, state.trail_home(cached=True))
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
            return trail, trail.get_run(check_run_ref(run_id)).id
        runs = views.notebook_runs(trail, str(notebook) if notebook else None, limit=1)
        return trail, (runs[0].id if runs else None)


class StatusHandler(BaseHandler):
    """Where the trail is, and whether there is one."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        trail = await self.off_loop(self.trail_or_none)
        running = await self.off_loop(self.nbtrail.jobs.running)
        self.reply(
            {
                "trail": trail.url if trail else None,
                "home": str(trail.home) if trail and trail.home else None,
                "root": str(self.nbtrail.root),
                "jobs_running": running,
            }
        )


class RunsHandler(BaseHandler):
    """Runs recorded for a notebook (``?notebook=PATH``), or all sessions and template runs."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        relative = self.get_argument("notebook", None)
        limit = self.limit_argument(50)
        self.reply(await self.off_loop(self._runs, relative, limit))

    def _runs(self, relative, limit: int) -> dict:
        notebook = self.notebook_path(relative, required=False)
        trail = self.trail_or_none()
        if trail is None:
            return {"runs": []}
        runs = views.notebook_runs(trail, str(notebook) if notebook else None, limit=limit)
        failing = views.failing_checks(trail, [r.id for r in runs[:10]])
        return {"runs": [r.to_dict() | {"failing_checks": failing.get(r.id)} for r in runs]}


class RunHandler(BaseHandler):
    """One run: parameters, inputs, outputs, metrics, checks, children."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.reply(await self.off_loop(self._run, run_id))

    def _run(self, run_id: str) -> dict:
        trail = self.trail_or_none()
        if trail is None:
            raise tornado.web.HTTPError(404, "no trail")
        return views.run_view(trail, trail.get_run(run_id).id)


class LineageHandler(BaseHandler):
    """The lineage graph of a notebook's newest run (``?notebook=``) or of a run (``?run=``)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        kinds = self.get_argument("kinds", "")
        wanted = {k for k in kinds.split(",") if k} or None
        self.reply(await self.off_loop(self._lineage, wanted))

    def _lineage(self, wanted) -> dict:
        trail, run_id = self.target_run()
        if run_id is None:
            return {"run": None, "nodes": [], "edges": []}
        return views.lineage_view(trail, run_id, kinds=wanted)


class ChecksHandler(BaseHandler):
    """Checks of a notebook's newest run (``?notebook=``) or of a run (``?run=``)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.off_loop(self._checks))

    def _checks(self) -> dict:
        trail, run_id = self.target_run()
        if run_id is None:
            return {"run": None, "checks": []}
        checks = views.checks_view(trail, run_id, max_rows=self.nbtrail.config.max_rows)
        return {"run": run_id, "checks": checks}


class ArtifactsHandler(BaseHandler):
    """Artifacts, newest first (``?kind=``, ``?limit=``)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        limit = self.limit_argument(100)
        kind = self.get_argument("kind", None)
        self.reply(await self.off_loop(self._artifacts, kind, limit))

    def _artifacts(self, kind, limit: int) -> dict:
        trail = self.trail_or_none()
        if trail is None:
            return {"artifacts": []}
        return {"artifacts": [a.to_dict() for a in trail.artifacts(kind=kind, limit=limit)]}


class MonitoringHandler(BaseHandler):
    """The trail's monitoring runs with their alerts and triggers (``?limit=``, default 10)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        limit = self.limit_argument(10)
        self.reply(await self.off_loop(self._monitoring, limit))

    def _monitoring(self, limit: int) -> dict:
        trail = self.trail_or_none()
        if trail is None:
            return {"runs": []}
        return {"runs": views.monitoring_view(trail, limit=limit)}


class RegistryHandler(BaseHandler):
    """Registered models, their newest versions (``?limit=``, default 5) and policy states."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        limit = self.limit_argument(5)
        self.reply(await self.off_loop(self._registry, limit))

    def _registry(self, limit: int) -> dict:
        trail = self.trail_or_none()
        if trail is None:
            return {
                "models": [],
                "user": {"name": "", "roles": [], "can_approve": False, "why": "no trail yet"},
            }
        return views.registry_view(trail, self.nbtrail.settings(), limit=limit)


class ApproveHandler(BaseHandler):
    """POST ``{"name": MODEL, "version": N, "comment": TEXT}``: approve as the server's user.

    The server itself never writes the trail: the approval runs as ``nbtrail registry approve``
    in a child process with the server's environment (its user, their key), which checks the
    roles and the policy again; refused, it answers 403 with the reason.
    """

    @tornado.web.authenticated
    @authorized(action="write")
    async def post(self) -> None:
        name, version, comment = parse_approve_body(self.request.body)
        self.reply(await self.off_loop(self._approve, name, version, comment))

    def _approve(self, name: str, version: int, comment: str) -> dict:
        from ..registry import approver_roles, load_policies

        settings = self.nbtrail.settings()
        _, why = approver_roles(settings, load_policies(settings), settings.actor)
        if why:
            raise Refused(403, why)
        done = self.nbtrail.run_cli(
            ["registry", "approve", name, str(version), "--comment", comment]
        )
        if done.returncode == 2:
            raise Refused(403, done.stderr.strip().removeprefix("nbtrail: error: "))
        if done.returncode != 0:
            raise Refused(500, "the approval failed (see the Jupyter server's log)")
        return {
            "model": name,
            "version": version,
            "approver": settings.actor,
            "message": done.stdout.strip(),
        }


class SchemaHandler(BaseHandler):
    """A template's parameter schema (``?notebook=``), for the run dialog."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        relative = self.get_argument("notebook", None)
        schema = await self.off_loop(self._schema, relative)
        self.reply(
            {
                "notebook": relative,
                "parameters": [
                    spec.to_dict() | {"choices": list(spec.choices)} for spec in schema.values()
                ],
            }
        )

    def _schema(self, relative) -> dict:
        from ..pipeline.parameters import read_schema

        notebook = self.notebook_path(relative)
        if not notebook.is_file():
            raise Refused(404, "no such notebook")
        return read_schema(notebook)


class JobsHandler(BaseHandler):
    """POST ``{"notebook": PATH, "parameters": {...}}``: start an audited run of a notebook.

    Running a notebook runs code: the ``execute`` permission is required, as for kernels.
    """

    @tornado.web.authenticated
    @authorized(action="execute")
    async def post(self) -> None:
        relative, parameters = parse_job_body(self.request.body)
        job = await self.off_loop(self._start, relative, parameters)
        self.set_status(202)
        self.reply(job.to_dict())

    def _start(self, relative: str, parameters: dict):
        from ..pipeline.parameters import read_schema, validate

        notebook = self.notebook_path(relative)
        if not notebook.is_file():
            raise Refused(404, "no such notebook")
        schema = read_schema(notebook)
        validate(schema, parameters, template=notebook.name)
        return self.nbtrail.jobs.start(notebook, parameters)  # refuses (409) beyond max_jobs


class JobHandler(BaseHandler):
    """A job's status: running, succeeded or failed, with its run and outputs."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job = await self.off_loop(self.nbtrail.jobs.get, job_id)
        if job is None:
            raise Refused(404, f"no job {job_id}")
        self.reply(job.to_dict())


_IDS = {"run": r"([0-9a-fA-F-]{4,36})", "job": r"([0-9a-f]{12})"}
_HANDLERS = {
    "status": StatusHandler,
    "runs": RunsHandler,
    "run": RunHandler,
    "lineage": LineageHandler,
    "checks": ChecksHandler,
    "artifacts": ArtifactsHandler,
    "schema": SchemaHandler,
    "jobs": JobsHandler,
    "job": JobHandler,
    "monitoring": MonitoringHandler,
    "registry": RegistryHandler,
    "approve": ApproveHandler,
}
ROUTES = [
    (ENDPOINTS[name].replace("{id}", _IDS.get(name, "")), handler)
    for name, handler in _HANDLERS.items()
]


def setup_handlers(web_app) -> None:
    """Mount every route under ``<base_url>/nbtrail/api/``."""
    base = url_path_join(web_app.settings["base_url"], NAMESPACE)
    web_app.add_handlers(".*$", [(url_path_join(base, path), handler) for path, handler in ROUTES])
