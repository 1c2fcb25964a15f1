"""The registry of checks: each kind with its version, its subjects' roles and its options.

A check is a plain function that returns a :class:`CheckResult`, registered with the
:func:`check` decorator (the built-in ones are registered this way too, as papermill registers
its engines). The decorator is the check pattern's core: it binds the call, runs the check
as nbtrail's own work (capture looks away from its cross-validation fits), stamps the result
with the check's kind, version and options, fingerprints each subject in its role and records
the result where a run is recording. Third-party checks register through the ``nbtrail.checks``
entry-point group (the entry point names a decorated function or a :class:`CheckSpec`).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from .. import recording
from .._json import jsonable
from ..errors import UsageError
from ._core import finish
from ._result import CheckResult

__all__ = ["CheckSpec", "available_checks", "check", "get_check", "register_check"]

ENTRY_POINT_GROUP = "nbtrail.checks"


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: what it is called, its version, what it judges and its options.

    Attributes
    ----------
    kind : str
        The check's registered name (``leakage``); results may carry another display name.
    version : str
        Bumped when the check's verdicts change for the same input.
    function : callable
        The check itself (decorated: calling it records its result like calling the check).
    roles : dict
        Parameter name to the role its argument plays (``{"train": "train"}``).
    parameters : dict
        Every option with its annotation and default: the check's parameter schema.
    summary : str
        The first line of its docstring.
    """

    kind: str
    version: str
    function: object = field(repr=False, compare=False)
    roles: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    summary: str = ""

    @classmethod
    def of(cls, kind: str, version, function, roles: dict) -> CheckSpec:
        """Describe a check function from its signature."""
        signature = inspect.signature(function)
        unknown = set(roles) - set(signature.parameters)
        if unknown:
            raise UsageError(f"check {kind!r}: roles name unknown parameters {sorted(unknown)}")
        parameters = {}
        for name, param in signature.parameters.items():
            if name in roles or name == "name":
                continue
            annotation = param.annotation
            parameters[name] = {
                "type": annotation
                if isinstance(annotation, str)
                else getattr(annotation, "__name__", str(annotation)),
                "default": None if param.default is param.empty else jsonable(param.default),
                "required": param.default is param.empty,
            }
        doc = inspect.getdoc(function) or ""
        return cls(kind, str(version), function, dict(roles), parameters, doc.split("\n", 1)[0])

    def to_dict(self) -> dict:
        """Return JSON-ready data (without the function)."""
        return {
            "kind": self.kind,
            "version": self.version,
            "roles": self.roles,
            "parameters": self.parameters,
            "summary": self.summary,
        }

    def options(self, arguments: dict) -> dict:
        """The options of one call, as recorded with its result (objects by a short repr)."""
        out = {}
        for name in self.parameters:
            value = arguments.get(name)
            shape = getattr(value, "shape", None)
            if shape or (isinstance(value, list | tuple) and len(value) > _MAX_ITEMS):
                # Data passed as an option (labels, scores) is described, never copied: raw
                # rows stay off the trail.
                size = tuple(shape) if shape else (len(value),)
                out[name] = f"{type(value).__name__} of shape {size}"
                continue
            plain = jsonable(value)
            if isinstance(plain, str) and not isinstance(value, str) and value is not None:
                plain = _short(repr(value))
            out[name] = plain
        return out


_MAX_ITEMS = 20  # a longer list passed as an option is data, described by its length
_CHECKS: dict[str, CheckSpec] = {}
_loaded_entry_points = False


def register_check(spec: CheckSpec) -> CheckSpec:
    """Make a check available by its kind (built-ins are registered this way too)."""
    _CHECKS[spec.kind] = spec
    return spec


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        spec = loaded if isinstance(loaded, CheckSpec) else getattr(loaded, "spec", None)
        if not isinstance(spec, CheckSpec):
            raise UsageError(
                f"entry point {entry.name!r} in {ENTRY_POINT_GROUP}: expected a function "
                "decorated with nbtrail.checks.check or a CheckSpec"
            )
        register_check(spec)


def get_check(kind: str) -> CheckSpec:
    """The registered check called ``kind`` (plugins are loaded on first use)."""
    if kind not in _CHECKS:
        _load_entry_points()
    if kind not in _CHECKS:
        raise UsageError(f"no check named {kind!r}; available: {', '.join(sorted(_CHECKS))}")
    return _CHECKS[kind]


def available_checks() -> dict[str, CheckSpec]:
    """Every registered check by kind, plugins included."""
    _load_entry_points()
    return dict(sorted(_CHECKS.items()))


def check(kind: str, *, version, roles: dict | None = None):
    """Register a function as a check of ``kind``; see the module docstring.

    Parameters
    ----------
    kind : str
        The check's registered name.
    version : str or int
        Its version, recorded with every result.
    roles : dict, optional
        Which parameters hold the artifacts it judges, and their roles:
        ``{"train": "train", "test": "test"}``. The first present one is the primary subject.

    Examples
    --------
    >>> from nbtrail.checks import CheckResult, check
    >>> @check("row_count", version=1, roles={"data": "data"})
    ... def row_count(data, *, minimum: int = 1, name: str = "row_count"):
    ...     status = "pass" if len(data) >= minimum else "fail"
    ...     return CheckResult(name, status, f"{len(data)} rows", {"rows": len(data)})
    >>> row_count([1, 2, 3], minimum=2).status
    'pass'
    """
    roles = dict(roles or {})

    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with recording.quiet():
                result = function(*args, **kwargs)
            if not isinstance(result, CheckResult):
                raise UsageError(f"check {kind!r} returned {type(result).__name__}, not a result")
            result.kind, result.version = spec.kind, spec.version
            # The options it was given; a check may add its own (a signature, say).
            result.params = {**spec.options(bound.arguments), **(result.params or {})}
            subjects = [
                (role, bound.arguments[param], param)
                for param, role in roles.items()
                if bound.arguments.get(param) is not None
            ]
            return finish(result, subjects)

        spec = register_check(CheckSpec.of(kind, version, run, roles))
        run.spec = spec
        return run

    return decorate


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
