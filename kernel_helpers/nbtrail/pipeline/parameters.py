"""A template's parameter schema, read from its papermill ``parameters`` cell.

A template stays a plain papermill template. Its ``parameters`` cell declares each parameter
as an assignment, optionally annotated with a type, with a comment that says what it is and,
if it must, which values it accepts::

    data: str = "data/adult.csv"    # input CSV file
    test_size: float = 0.25         # share of rows held out, in [0.05, 0.5]
    model: str = "logistic"         # estimator, one of: logistic, forest
    seed: int = 0                   # random seed

The type is the annotation, or else the type of the default. ``in [lo, hi]`` (or with round
brackets for open ends) bounds a number; ``one of: a, b, c`` lists the allowed values. The
rest of the comment is the parameter's help. papermill's own notebook inspection reads the
cell; this module adds the constraints and checks values against them before anything runs.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

__all__ = [
    "ParameterError",
    "ParameterSpec",
    "check_plain",
    "describe",
    "read_schema",
    "validate",
]

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
_RANGE = re.compile(
    r"\bin\s*([\[(])\s*([-+0-9.eE]+|-?inf)\s*,\s*([-+0-9.eE]+|-?inf)\s*([\])])", re.IGNORECASE
)
_CHOICES = re.compile(r"\bone of:?\s*(.+)$", re.IGNORECASE)


class ParameterError(UsageError):
    """A parameter is unknown, of the wrong type, or out of its allowed values."""


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter of a template.

    Attributes
    ----------
    name : str
        The variable name.
    type : str
        ``int``, ``float``, ``str``, ``bool``, ``list``, ``dict`` or ``any``.
    default : object
        The value in the template.
    help : str
        What it is, from the comment.
    low, high : float or None
        Bounds for numbers; ``low_open`` / ``high_open`` when the bound itself is excluded.
    choices : tuple
        Allowed values, when the comment lists them.
    """

    name: str
    type: str
    default: object
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = field(default_factory=tuple)

    def constraint(self) -> str:
        """Return the allowed values, in words (empty when anything of the type goes)."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.low is not None or self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        return ""

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "help": self.help,
            "allowed": self.constraint() or None,
        }


def _num(value) -> str:
    if value is None:
        return "inf"
    return str(int(value)) if float(value).is_integer() else str(value)


def _literal(text: str, name: str, path: Path):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UsageError(
            f"{path}: parameter {name!r} must have a literal default (a number, string, list, "
            f"dict, bool or None); found {text!r}"
        ) from None


def _parse_help(text: str) -> tuple[str, dict]:
    constraints: dict = {}
    match = _RANGE.search(text)
    if match:
        low, high = float(match.group(2)), float(match.group(3))
        constraints.update(
            low=None if math.isinf(low) else low,
            high=None if math.isinf(high) else high,
            low_open=match.group(1) == "(",
            high_open=match.group(4) == ")",
        )
        text = (text[: match.start()] + text[match.end() :]).strip(" ,;")
    match = _CHOICES.search(text)
    if match:
        raw = [c.strip().strip("\"'") for c in match.group(1).split(",") if c.strip()]
        constraints["choices"] = tuple(raw)
        text = text[: match.start()].strip(" ,;")
    return text.strip(), constraints


def read_schema(template: str | Path) -> dict[str, ParameterSpec]:
    """Read a template's parameter schema from its ``parameters`` cell.

    Parameters
    ----------
    template : path-like
        The ``.ipynb`` template.

    Returns
    -------
    dict of str to ParameterSpec
        In declaration order; empty when the template has no ``parameters`` cell.

    Raises
    ------
    UsageError
        If the file is not a notebook, or a default is not a literal.
    """
    from papermill.inspection import inspect_notebook

    path = Path(template)
    if not path.is_file():
        raise UsageError(f"{path}: no such template notebook")
    try:
        inferred = inspect_notebook(str(path))
    except Exception as exc:  # noqa: BLE001 - papermill/nbformat raise many kinds for bad files
        raise UsageError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    schema = {}
    for name, info in inferred.items():
        default = _literal(info["default"], name, path)
        declared = info.get("inferred_type_name") or "None"
        if declared in _TYPES:
            type_name = declared
        elif declared != "None":
            type_name = "any"
        else:
            type_name = next((k for k, t in _TYPES.items() if type(default) is t), "any")
        help_text, constraints = _parse_help(info.get("help") or "")
        if "choices" in constraints and type_name in ("int", "float"):
            caster = _TYPES[type_name]
            constraints["choices"] = tuple(caster(c) for c in constraints["choices"])
        schema[name] = ParameterSpec(name, type_name, default, help_text, **constraints)
    return schema


def coerce(spec: ParameterSpec, value):
    """Convert a value (a CLI string, or YAML data) to the parameter's type.

    Raises
    ------
    ParameterError
        Naming the parameter, the value and the type expected.
    """
    expected = spec.type
    if isinstance(value, str) and expected not in ("str", "any"):
        value = _from_text(spec, value)
    if expected == "any" or value is None:
        return value
    if expected == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    python_type = _TYPES[expected]
    if not isinstance(value, python_type) or (
        expected in ("int", "float") and isinstance(value, bool)
    ):
        raise ParameterError(
            f"parameter {spec.name!r} must be {expected}, got {value!r} ({type(value).__name__})"
        )
    return value


def _from_text(spec: ParameterSpec, text: str):
    expected = spec.type
    try:
        if expected == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if expected == "int":
            return int(text)
        if expected == "float":
            return float(text)
        value = json.loads(text)
        if not isinstance(value, _TYPES[expected]):
            raise ValueError
        return value
    except ValueError:
        raise ParameterError(f"parameter {spec.name!r} must be {expected}, got {text!r}") from None


def _check_allowed(spec: ParameterSpec, value) -> None:
    if spec.choices and value not in spec.choices:
        raise ParameterError(f"parameter {spec.name!r} must be {spec.constraint()}; got {value!r}")
    if spec.type in ("int", "float") and value is not None:
        if isinstance(value, float) and math.isnan(value):
            raise ParameterError(f"parameter {spec.name!r} is NaN")
        low_bad = spec.low is not None and (
            value < spec.low or (spec.low_open and value == spec.low)
        )
        high_bad = spec.high is not None and (
            value > spec.high or (spec.high_open and value == spec.high)
        )
        if low_bad or high_bad:
            raise ParameterError(
                f"parameter {spec.name!r} must be {spec.constraint()}; got {value!r}"
            )


_PLAIN_MAX_DEPTH = 100


def _plain_problem(value) -> str | None:
    """Why a value is not plain data papermill can inject and JSON can record, or None.

    Plain: None, bool, int, float, text, and lists and string-keyed mappings of those, at
    most 100 levels deep. Walked with an explicit stack, so no shape exhausts recursion.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _PLAIN_MAX_DEPTH:
            return f"nested deeper than {_PLAIN_MAX_DEPTH} levels"
        if item is None or isinstance(item, bool | int | float):
            continue
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = item[exc.start]
                shown = f"0x{ord(bad) - 0xDC00:02x}" if "\udc80" <= bad <= "\udcff" else repr(bad)
                return f"is not valid UTF-8 text (byte {shown} at character {exc.start})"
            continue
        if isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
            continue
        if isinstance(item, dict):
            for key, v in item.items():
                if not isinstance(key, str):
                    return f"has a mapping key {key!r} that is not text"
                stack.append((key, depth + 1))
                stack.append((v, depth + 1))
            continue
        return (
            f"holds a {type(item).__name__}; parameters are numbers, text, booleans, null, "
            "and lists or mappings of those"
        )
    return None


def check_plain(name: str, value, *, where: str = "") -> None:
    """Refuse a value that is not plain data (see :func:`_plain_problem`), naming ``name``.

    Raises
    ------
    ParameterError
    """
    problem = _plain_problem(value)
    if problem is not None:
        raise ParameterError(f"{where}parameter {name!r} {problem}")


def validate(schema: dict[str, ParameterSpec], values: dict, *, template: str = "") -> dict:
    """Check parameter values against a schema; return them converted to their types.

    Every value is checked before anything runs: an unknown name, a wrong type or a value
    outside the allowed ones is refused with a message naming the parameter.

    Raises
    ------
    ParameterError
    """
    where = f"{template}: " if template else ""
    out = {}
    for name, value in values.items():
        spec = schema.get(name)
        if spec is None:
            known = ", ".join(schema) or "none"
            raise ParameterError(
                f"{where}unknown parameter {name!r}; the template declares: {known}"
            )
        try:
            check_plain(name, value)
            converted = coerce(spec, value)
            _check_allowed(spec, converted)
        except ParameterError as exc:
            raise ParameterError(f"{where}{exc}") from None
        out[name] = converted
    return out


def describe(schema: dict[str, ParameterSpec], template: str = "") -> str:
    """Return the schema as a table for people (``nbtrail run NOTEBOOK --describe``)."""
    if not schema:
        return f"{template}: no parameters (no cell tagged 'parameters')"
    rows = [("NAME", "TYPE", "DEFAULT", "ALLOWED", "HELP")]
    for spec in schema.values():
        rows.append(
            (spec.name, spec.type, json.dumps(spec.default), spec.constraint() or "-", spec.help)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{template} parameters:" if template else "parameters:"]
    for row in rows:
        lines.append(
            "  "
            + "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
            + "  "
            + row[4]
        )
    return "\n".join(line.rstrip() for line in lines)
