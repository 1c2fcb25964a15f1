"""Where the trail lives and who is writing to it.

Settings come from, in rising order of precedence: defaults, ``[tool.nbtrail]`` in the nearest
``pyproject.toml`` (or a ``nbtrail.toml``) found upward from the working directory, and
``NBTRAIL_*`` environment variables. The signing key is read from the environment only: a key
written into a project file would sit in version control beside the trail it protects.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError

__all__ = ["HOME_DIRNAME", "ExportBudget", "Privacy", "Settings", "current_actor", "load_settings"]

HOME_DIRNAME = ".nbtrail"

_KNOWN_KEYS = {
    "home",
    "store_url",
    "blob_url",
    "scheduler",
    "openlineage",
    "privacy",
    "export",
    "policy",
    "roles",
    "approvers",
}
_OPENLINEAGE_KEYS = {"url", "namespace"}
_PRIVACY_KEYS = {"identifiers", "examples", "require_budget"}
_EXPORT_KEYS = {"p99_ms", "max_mb", "min_label_agreement", "max_proba_diff"}


@dataclass(frozen=True)
class Privacy:
    """Which raw values checks may copy into the trail (``[tool.nbtrail.privacy]``).

    Attributes
    ----------
    identifiers : tuple of str
        Columns that identify people or things: none of their values is ever stored.
    examples : bool
        False keeps example values out of every finding, for every column.
    require_budget : bool
        True refuses a differentially private computation on data with no privacy budget.
    """

    identifiers: tuple[str, ...] = ()
    examples: bool = True
    require_budget: bool = False


@dataclass(frozen=True)
class ExportBudget:
    """Gates for exported models (``[tool.nbtrail.export]``); None leaves a gate off.

    Attributes
    ----------
    p99_ms : float or None
        Largest single-row p99 latency of the exported model, in milliseconds.
    max_mb : float or None
        Largest model file, in megabytes (10**6 bytes).
    min_label_agreement : float
        Smallest share of labels identical to scikit-learn's (vote ties counted apart).
    max_proba_diff : float
        Largest |probability difference| from scikit-learn.
    """

    p99_ms: float | None = None
    max_mb: float | None = None
    min_label_agreement: float = 1.0
    max_proba_diff: float = 1e-5


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process.

    Attributes
    ----------
    home : Path or None
        The ``.nbtrail`` folder: SQLite database, blobs, caches. None when none was found.
    store_url : str or None
        SQLAlchemy URL of the trail database; None means SQLite inside ``home``.
    blob_url : str or None
        Folder or fsspec URL for blobs; None means ``home/objects``.
    signing_key : bytes or None
        HMAC key for signing audit events (``NBTRAIL_SIGNING_KEY``).
    actor : str
        Who is writing: ``NBTRAIL_USER``, then ``JUPYTERHUB_USER``, then the OS login.
    config_file : Path or None
        The project file the settings came from, if any.
    home_source : str or None
        How ``home`` was found: ``env``, ``config`` or ``found`` (upward search).
    policy : dict
        ``[tool.nbtrail.policy.<alias>]``: what a model version needs before an alias may point
        at it (validated by :mod:`nbtrail.registry`).
    roles : dict
        ``[tool.nbtrail.roles]``: role -> the users who hold it.
    approvers : dict
        ``[tool.nbtrail.approvers]``: user -> the Ed25519 public key their approvals verify with.
    scheduler : str or None
        Dask scheduler address for ``--executor dask`` (``NBTRAIL_DASK_SCHEDULER``, then
        ``scheduler``); None starts a local cluster.
    openlineage_url : str or None
        Where RunEvents are posted live (``NBTRAIL_OPENLINEAGE_URL``, then
        ``[tool.nbtrail.openlineage] url``); None posts nothing.
    openlineage_namespace : str
        The OpenLineage job namespace (``[tool.nbtrail.openlineage] namespace``).
    """

    home: Path | None = None
    store_url: str | None = None
    blob_url: str | None = None
    signing_key: bytes | None = field(default=None, repr=False)
    actor: str = "unknown"
    config_file: Path | None = None
    home_source: str | None = None
    privacy: Privacy = field(default_factory=Privacy)
    export: ExportBudget = field(default_factory=ExportBudget)
    policy: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)
    approvers: dict = field(default_factory=dict)
    scheduler: str | None = None
    openlineage_url: str | None = None
    openlineage_namespace: str = "nbtrail"


def current_actor(env: os._Environ | dict | None = None) -> str:
    """Return who is acting: NBTRAIL_USER, then JUPYTERHUB_USER, then the OS login."""
    env = os.environ if env is None else env
    for name in ("NBTRAIL_USER", "JUPYTERHUB_USER"):
        if env.get(name):
            return env[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _find_upward(start: Path, names: tuple[str, ...]) -> Path | None:
    for folder in (start, *start.parents):
        for name in names:
            candidate = folder / name
            if candidate.exists():
                return candidate
    return None


def _project_config(start: Path) -> tuple[dict, Path | None]:
    for folder in (start, *start.parents):
        own = folder / "nbtrail.toml"
        if own.is_file():
            return _read_toml(own, table=None), own
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject, table=("tool", "nbtrail"))
            if data:
                return data, pyproject
    return {}, None


def _read_toml(path: Path, table: tuple[str, ...] | None) -> dict:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    for key in table or ():
        data = data.get(key, {})
        if not isinstance(data, dict):
            raise UsageError(f"{path}: [{'.'.join(table)}] must be a table")
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise UsageError(
            f"{path}: unknown nbtrail setting {sorted(unknown)[0]!r}; "
            f"known settings are {', '.join(sorted(_KNOWN_KEYS))}"
        )
    return data


def _privacy(table, path: Path | None) -> Privacy:
    """Validate ``[tool.nbtrail.privacy]``: a wrong value must not silently store raw values."""
    if table is None:
        return Privacy()
    where = f"{path}: " if path else ""
    if not isinstance(table, dict):
        raise UsageError(f"{where}privacy must be a table ([tool.nbtrail.privacy])")
    unknown = set(table) - _PRIVACY_KEYS
    if unknown:
        raise UsageError(
            f"{where}unknown privacy setting {sorted(unknown)[0]!r}; "
            f"known settings are {', '.join(sorted(_PRIVACY_KEYS))}"
        )
    identifiers = table.get("identifiers", [])
    if not isinstance(identifiers, list) or not all(isinstance(c, str) for c in identifiers):
        raise UsageError(
            f"{where}privacy.identifiers must be a list of column names (strings), "
            f"got {identifiers!r}"
        )
    examples = table.get("examples", True)
    if not isinstance(examples, bool):
        raise UsageError(f"{where}privacy.examples must be true or false, got {examples!r}")
    require = table.get("require_budget", False)
    if not isinstance(require, bool):
        raise UsageError(f"{where}privacy.require_budget must be true or false, got {require!r}")
    return Privacy(identifiers=tuple(identifiers), examples=examples, require_budget=require)


def _export(table, path: Path | None) -> ExportBudget:
    """Validate ``[tool.nbtrail.export]``: a typo must not silently turn a gate off."""
    if table is None:
        return ExportBudget()
    where = f"{path}: " if path else ""
    if not isinstance(table, dict):
        raise UsageError(f"{where}export must be a table ([tool.nbtrail.export])")
    unknown = set(table) - _EXPORT_KEYS
    if unknown:
        raise UsageError(
            f"{where}unknown export setting {sorted(unknown)[0]!r}; "
            f"known settings are {', '.join(sorted(_EXPORT_KEYS))}"
        )
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"{where}export.{key} must be a non-negative number, got {value!r}")
    if table.get("min_label_agreement", 1.0) > 1:
        raise UsageError(f"{where}export.min_label_agreement is a share, at most 1")
    return ExportBudget(**{k: float(v) for k, v in table.items()})


def _string_lists(table, what: str, path: Path | None) -> dict:
    """``[tool.nbtrail.<what>]`` as name -> list of strings (roles: role -> users)."""
    where = f"{path}: " if path else ""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}{what} must be a table ([tool.nbtrail.{what}])")
    for key, value in table.items():
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise UsageError(
                f"{where}{what}.{key} must be a list of user names (strings), got {value!r}"
            )
    return {k: list(v) for k, v in table.items()}


def _approvers(table, path: Path | None) -> dict:
    where = f"{path}: " if path else ""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}approvers must be a table ([tool.nbtrail.approvers])")
    for user, key in table.items():
        if not isinstance(key, str) or not key.strip():
            raise UsageError(f"{where}approvers.{user} must be a public key (a string)")
    return dict(table)


def _policy(table, path: Path | None) -> dict:
    where = f"{path}: " if path else ""
    if table is None:
        return {}
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise UsageError(f"{where}policy must hold one table per alias ([tool.nbtrail.policy.X])")
    return {alias: dict(rules) for alias, rules in table.items()}


def _openlineage(table, env: dict, path: Path | None) -> tuple[str | None, str]:
    """``[tool.nbtrail.openlineage]`` (url, namespace), the URL overridden by the environment."""
    where = f"{path}: " if path else ""
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise UsageError(f"{where}openlineage must be a table ([tool.nbtrail.openlineage])")
    unknown = set(table) - _OPENLINEAGE_KEYS
    if unknown:
        raise UsageError(
            f"{where}unknown openlineage setting {sorted(unknown)[0]!r}; "
            f"known settings are {', '.join(sorted(_OPENLINEAGE_KEYS))}"
        )
    url = env.get("NBTRAIL_OPENLINEAGE_URL") or table.get("url") or None
    setting = "NBTRAIL_OPENLINEAGE_URL" if env.get("NBTRAIL_OPENLINEAGE_URL") else "openlineage.url"
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        scheme, _, rest = str(url).rpartition("://")
        shown = f"{scheme}://{rest.rpartition('@')[2]}" if scheme else rest.rpartition("@")[2]
        raise UsageError(f"{where}{setting} must be an http:// or https:// URL, got {shown!r}")
    namespace = table.get("namespace", "nbtrail")
    if not isinstance(namespace, str) or not namespace:
        raise UsageError(f"{where}openlineage.namespace must be a non-empty string")
    return url, namespace


def load_settings(start: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    """Resolve the settings that apply in ``start`` (default: the working directory).

    Parameters
    ----------
    start : path-like, optional
        Folder to search upward from for ``.nbtrail`` and project settings.
    env : dict, optional
        Environment to read ``NBTRAIL_*`` variables from; defaults to ``os.environ``.

    Returns
    -------
    Settings
    """
    env = dict(os.environ) if env is None else env
    start_path = Path(start if start is not None else os.getcwd()).resolve()
    data, config_file = _project_config(start_path)
    base = config_file.parent if config_file else start_path

    home: Path | None = None
    home_source: str | None = None
    if env.get("NBTRAIL_HOME"):
        home, home_source = Path(env["NBTRAIL_HOME"]).expanduser().resolve(), "env"
    elif data.get("home"):
        home, home_source = (base / str(data["home"])).expanduser().resolve(), "config"
    else:
        found = _find_upward(start_path, (HOME_DIRNAME,))
        if found is not None and found.is_dir():
            home, home_source = found.resolve(), "found"

    blob_url = env.get("NBTRAIL_BLOB_URL") or data.get("blob_url")
    if blob_url and "://" not in str(blob_url):
        blob_url = str((base / str(blob_url)).expanduser().resolve())

    key = env.get("NBTRAIL_SIGNING_KEY")
    lineage_url, lineage_namespace = _openlineage(data.get("openlineage"), env, config_file)
    scheduler = env.get("NBTRAIL_DASK_SCHEDULER") or data.get("scheduler") or None
    if scheduler is not None and not isinstance(scheduler, str):
        raise UsageError(f"{config_file}: scheduler must be an address such as tcp://host:8786")
    return Settings(
        scheduler=scheduler,
        openlineage_url=lineage_url,
        openlineage_namespace=lineage_namespace,
        privacy=_privacy(data.get("privacy"), config_file),
        export=_export(data.get("export"), config_file),
        policy=_policy(data.get("policy"), config_file),
        roles=_string_lists(data.get("roles"), "roles", config_file),
        approvers=_approvers(data.get("approvers"), config_file),
        home=home,
        store_url=env.get("NBTRAIL_STORE_URL") or data.get("store_url") or None,
        blob_url=blob_url or None,
        signing_key=key.encode("utf-8") if key else None,
        actor=current_actor(env),
        config_file=config_file,
        home_source=home_source,
    )
