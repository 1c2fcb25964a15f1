"""``nbtrail run``: execute a template notebook with papermill as an audited run.

The template is a plain papermill template. Before anything runs its parameters are checked
against the schema its ``parameters`` cell declares (:mod:`.parameters`). Then a run of kind
``template`` records the effective parameters, the template's exact bytes (snapshotted, so the
run can be reproduced even after the template changes), the environment, and the project's git
commit and a fingerprint of uncommitted changes. The kernel starts with capture loaded
(``--ext=nbtrail``), so everything the notebook reads, fits and writes is recorded under the
run. The executed notebook is stored as the run's output,
also when a cell fails.

Failures are structured, as papermill's are: :class:`CellFailed` carries the failing cell's
index, source and traceback; :class:`GateFailed` a failed gate; :class:`KernelDied` a kernel
that exited mid-cell (``os._exit``, the out-of-memory killer). All have exit code 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import errors
from ..capture.environment import environment_fingerprint
from ..errors import FingerprintError, NbtrailError, UsageError
from ..fingerprints import digest_bytes, fingerprint_file
from ..store import NewArtifact, NewEdge, RunEnd, open_or_create_trail
from .parameters import read_schema, validate

__all__ = [
    "CellFailed",
    "KernelDied",
    "RunFailed",
    "TemplateResult",
    "git_state",
    "run_template",
]

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# nbtrail's refusals of a value: the message names the culprit, no traceback is needed.
_USAGE_ERRORS = {
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.UsageError)
} | {"ParameterError"}


class RunFailed(NbtrailError):
    """A template run did not succeed."""


class CellFailed(RunFailed):
    """A cell raised. Carries the cell's index, source and traceback, as papermill's error does."""

    def __init__(
        self,
        message: str,
        cell_index: int = -1,
        source: str = "",
        ename: str = "",
        evalue: str = "",
        traceback: str = "",
    ):
        super().__init__(message)
        self.cell_index = cell_index
        self.source = source
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback

    def __reduce__(self):
        return (
            type(self),
            (self.message, self.cell_index, self.source, self.ename, self.evalue, self.traceback),
        )

    def details(self) -> str:
        """Return the failing cell's source and traceback, for a terminal."""
        source = "\n".join(f"    {line}" for line in self.source.splitlines())
        return f"cell {self.cell_index}:\n{source}\n\n{self.traceback}".rstrip()


class KernelDied(RunFailed):
    """The kernel exited while a cell was running."""


@dataclass
class TemplateResult:
    """What a template run did.

    Attributes
    ----------
    run_id : str
        The ``template`` run in the trail.
    name : str
        The run's name (the template's name, or the pipeline step's).
    status : str
        ``succeeded`` or ``failed``.
    notebook : str
        The executed notebook's path.
    parameters : dict
        The effective parameters (defaults with the given values applied).
    outputs : dict
        What the template declared with ``nbtrail.output``.
    duration : float
        Seconds.
    error : str or None
        One line: what went wrong.
    details : str or None
        The failing cell's source and traceback.
    kind_of_failure : str or None
        ``cell``, ``gate``, ``kernel``, ``timeout`` or ``capture`` (capture did not start in
        the kernel, so the run recorded nothing it could be trusted for).
    reused_from : str or None
        For a pipeline step that was not re-executed: the run whose results it reuses.
    """

    run_id: str
    name: str
    status: str
    notebook: str
    parameters: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None
    details: str | None = None
    kind_of_failure: str | None = None
    reused_from: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "succeeded"

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return asdict(self)


def git_state(folder: str | os.PathLike) -> dict | None:
    """Return the git commit of the project and a fingerprint of its uncommitted changes.

    Returns None outside a git checkout. ``changes`` is the XXH3-128 digest of the diff
    against HEAD plus every untracked file's name and bytes; None when the tree is clean.
    """

    def git(*args) -> bytes | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain") or b""
    state = {"commit": commit.decode().strip(), "dirty": bool(status.strip()), "changes": None}
    if state["dirty"]:
        parts = [git("diff", "HEAD", "--binary") or b""]
        root = (git("rev-parse", "--show-toplevel") or b"").decode().strip()
        untracked = (git("ls-files", "--others", "--exclude-standard", "-z") or b"").split(b"\0")
        for name in sorted(n for n in untracked if n):
            parts.append(name)
            try:
                parts.append(fingerprint_file(Path(root) / os.fsdecode(name)).digest.encode())
            except FingerprintError:
                parts.append(b"?")
        state["changes"] = digest_bytes(b"\0".join(parts))
    return state


@contextlib.contextmanager
def scoped_environ(values: dict) -> Iterator[None]:
    """Set environment variables (None: left as they are) for a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _failed_cell_index(notebook: Path) -> int:
    """Index of the cell that was running when the kernel died (the last one started)."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # noqa: BLE001 - a half-written notebook: no index to report
        return -1
    last = -1
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            last = index  # papermill stamps a cell's start before it runs
    return last


def run_template(
    template: str | os.PathLike,
    parameters: dict | None = None,
    *,
    trail=None,
    output: str | os.PathLike | None = None,
    timeout: float | None = None,
    name: str | None = None,
    parent: str | None = None,
    cache_key: str | None = None,
    kernel_name: str | None = None,
    attrs: dict | None = None,
    inputs=(),
) -> TemplateResult:
    """Execute a template notebook with papermill as a run of kind ``template``.

    Parameters
    ----------
    template : path-like
        The template notebook.
    parameters : dict, optional
        Values for the template's declared parameters; checked before anything runs.
    trail : Trail, optional
        Where to record; default: the trail that applies here (created if none).
    output : path-like, optional
        Where to write the executed notebook; default ``.nbtrail/runs/<run id>/<name>.ipynb``.
    timeout : float, optional
        Seconds a single cell may run before the run fails.
    name : str, optional
        The run's name; default the template's file name without ``.ipynb``.
    parent : str, optional
        The pipeline run this is a step of.
    cache_key : str, optional
        Content key of the step (pipelines use it to reuse runs).
    kernel_name : str, optional
        Jupyter kernel to use; default the template's.
    attrs : dict, optional
        More facts to record on the run (a pipeline says why a step was not reused).
    inputs : iterable of path, optional
        Files the run depends on, declared (a pipeline step's ``inputs``): recorded as used.

    Returns
    -------
    TemplateResult

    Raises
    ------
    UsageError
        Before anything runs: an unreadable template, an unknown parameter, a wrong type, a
        value out of range. Failures during the run are reported in the result, not raised.
    """
    import papermill

    template_path = Path(template).expanduser().resolve()
    schema = read_schema(template_path)
    given = validate(schema, dict(parameters or {}), template=template_path.name)
    effective = {key: spec.default for key, spec in schema.items()} | given
    with contextlib.ExitStack() as stack:
        if trail is None:
            trail = stack.enter_context(open_or_create_trail())
        return _execute(
            papermill,
            trail,
            template_path,
            effective,
            given,
            output=output,
            timeout=timeout,
            name=name,
            parent=parent,
            cache_key=cache_key,
            kernel_name=kernel_name,
            attrs=attrs or {},
            inputs=[Path(p).resolve() for p in inputs],
        )


def _execute(
    papermill,
    trail,
    template_path,
    effective,
    given,
    *,
    output,
    timeout,
    name,
    parent,
    cache_key,
    kernel_name,
    attrs,
    inputs,
) -> TemplateResult:
    started = time.perf_counter()
    run_name = name or template_path.stem
    template_fp = fingerprint_file(template_path, cache=trail.stat_cache)
    env_fp, env_bytes = environment_fingerprint()
    attrs = {
        **attrs,
        "template": trail.display_path(str(template_path)),
        "notebook": str(template_path),
        "template_digest": template_fp.digest,
        "given": sorted(given),
        "git": git_state(template_path.parent),
        "cache_key": cache_key,
    }
    run = trail.start_run(
        run_name,
        kind="template",
        params=effective,
        attrs=attrs,
        parent=parent,
        notebook=template_path,
    )
    notebook = Path(output) if output else _default_output(trail, run.id, run_name)
    notebook.parent.mkdir(parents=True, exist_ok=True)

    template_blob = trail.blobs.put_file(template_path, expected=template_fp.digest)
    batch = trail.batch()
    env_blob = batch.add_blob(env_bytes)
    batch.add(
        NewArtifact.of(env_fp, "environment", (env_blob, "json")),
        NewEdge("used", run.id, env_fp.digest, name="environment"),
        NewArtifact.of(template_fp, trail.display_path(str(template_path)), (template_blob, "raw")),
        NewEdge("used", run.id, template_fp.digest, name="template", path=str(template_path)),
    )
    for path in inputs:
        fp = fingerprint_file(path, cache=trail.stat_cache)
        batch.add(
            NewArtifact.of(fp, trail.display_path(str(path))),
            NewEdge("used", run.id, fp.digest, name="declared input", path=str(path)),
        )
    batch.commit()

    outputs_file = Path(tempfile.mkstemp(prefix="nbtrail-outputs-", suffix=".json")[1])
    capture_file = Path(tempfile.mkstemp(prefix="nbtrail-capture-", suffix=".txt")[1])
    kernel_env = {
        "NBTRAIL_PARENT_RUN": run.id,
        "NBTRAIL_NOTEBOOK": str(template_path),
        "NBTRAIL_OUTPUTS": str(outputs_file),
        "NBTRAIL_CAPTURE_STATUS": str(capture_file),
        "NBTRAIL_HOME": str(trail.home) if trail.home else None,
    }
    failure: RunFailed | None = None
    kind = None
    try:
        with scoped_environ(kernel_env):
            papermill.execute_notebook(
                str(template_path),
                str(notebook),
                parameters=given,
                kernel_name=kernel_name,
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout,
                # Capture loaded at kernel start; the kernel's log kept to errors so its
                # transport warning does not land in the user's terminal.
                extra_arguments=["--ext=nbtrail", "--IPKernelApp.log_level=ERROR"],
            )
    except Exception as exc:  # noqa: BLE001 - every failure becomes a structured result
        failure, kind = _describe_failure(exc, notebook, timeout)
    try:
        outputs = json.loads(outputs_file.read_text() or "{}")
    except (OSError, ValueError):
        outputs = {}
    finally:
        outputs_file.unlink(missing_ok=True)
    missing = _capture_missing(trail, run.id, capture_file)
    if missing is not None and failure is None:
        failure, kind = missing, "capture"
    _finish(trail, run, notebook, outputs, failure)
    return TemplateResult(
        run_id=run.id,
        name=run_name,
        status="failed" if failure else "succeeded",
        notebook=str(notebook),
        parameters=effective,
        outputs=outputs,
        duration=time.perf_counter() - started,
        error=str(failure) if failure else None,
        details=failure.details() if isinstance(failure, CellFailed) and kind != "usage" else None,
        kind_of_failure=kind,
    )


def _capture_missing(trail, run_id: str, status_file: Path) -> RunFailed | None:
    """A failure when capture never started in the template's kernel, else None.

    A run whose kernel recorded nothing is not an audited run: it fails, loudly, in one line,
    with the reason the kernel gave if it gave one.
    """
    try:
        reason = status_file.read_text(encoding="utf-8").strip()
    except OSError:
        reason = ""
    finally:
        status_file.unlink(missing_ok=True)
    if trail.runs(parent=run_id, kind="session", limit=1):
        return None
    why = f": {reason}" if reason else " (the nbtrail kernel extension did not load)"
    return RunFailed(
        f"capture did not start in the kernel{why}; nothing the notebook did is recorded"
    )


def _default_output(trail, run_id: str, name: str) -> Path:
    base = Path(trail.home) if trail.home else Path.cwd() / ".nbtrail"
    return base / "runs" / run_id / f"{name}.ipynb"


def _describe_failure(exc: Exception, notebook: Path, timeout) -> tuple[RunFailed, str]:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        traceback = ANSI.sub("", "\n".join(exc.traceback))
        if exc.ename in _USAGE_ERRORS:
            # nbtrail refused a value (a parameter, a file): the sentence says it all.
            message = f"cell {exc.cell_index}: {exc.evalue}"
            return CellFailed(
                message, exc.cell_index, exc.source, exc.ename, exc.evalue, traceback
            ), "usage"
        if exc.ename == "GateFailed":
            message = f"{exc.evalue} (cell {exc.cell_index})"
            return CellFailed(
                message, exc.cell_index, exc.source, exc.ename, exc.evalue, traceback
            ), "gate"
        message = f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {exc.evalue}"
        return CellFailed(
            message, exc.cell_index, exc.source, exc.ename, exc.evalue, traceback
        ), "cell"
    if isinstance(exc, DeadKernelError):
        index = _failed_cell_index(notebook)
        return KernelDied(f"the kernel died while running cell {index} ({exc})"), "kernel"
    if isinstance(exc, CellTimeoutError):
        index = _failed_cell_index(notebook)
        return RunFailed(f"cell {index} ran longer than the {timeout:g} s cell timeout"), "timeout"
    return RunFailed(f"{type(exc).__name__}: {exc}"), "cell"


def _finish(trail, run, notebook: Path, outputs: dict, failure: RunFailed | None) -> None:
    batch = trail.batch()
    if notebook.is_file():
        fp = fingerprint_file(notebook, cache=None)
        blob = trail.blobs.put_file(notebook, expected=fp.digest)
        batch.add(
            NewArtifact.of(fp, trail.display_path(str(notebook)), (blob, "raw"), kind="notebook"),
            NewEdge(
                "produced",
                run.id,
                fp.digest,
                name="executed notebook",
                path=str(notebook.resolve()),
            ),
        )
    # A declared output the run only read (a file handed on unchanged) was not made here.
    seen = trail.run_details(run.id, tree=True)
    passed_on = {u.artifact.id for u in seen.used} - {u.artifact.id for u in seen.produced}
    for key, value in outputs.items():
        if isinstance(value, str) and Path(value).is_file():
            path = str(Path(value).resolve())
            fp = fingerprint_file(path, cache=trail.stat_cache)
            if fp.digest in passed_on:
                continue
            batch.add(
                NewArtifact.of(fp, trail.display_path(path)),
                NewEdge("produced", run.id, fp.digest, name=key, path=path),
            )
    batch.add(
        RunEnd(
            run.id,
            "failed" if failure else "succeeded",
            error=str(failure) if failure else None,
            attrs={"outputs": outputs, "executed_notebook": str(notebook)},
        )
    )
    batch.commit()


def check_template(template: str | os.PathLike) -> Path:
    """Return the template's path if it is an existing ``.ipynb`` file."""
    path = Path(template).expanduser()
    if path.suffix != ".ipynb":
        raise UsageError(f"{path}: a template is a .ipynb notebook")
    if not path.is_file():
        raise UsageError(f"{path}: no such template notebook")
    return path
