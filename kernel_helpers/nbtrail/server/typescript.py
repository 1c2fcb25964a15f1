"""The frontend's TypeScript types, generated from the API's shapes (:mod:`.shapes`).

Run ``python -m nbtrail.server.typescript --write`` after changing a shape or a status; it
rewrites ``extension/src/api.ts``. A test regenerates it and fails when the committed file
differs.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Literal, NotRequired

from ..vocabulary import FAILING_CHECK_STATUSES
from .shapes import ALIASES, ENDPOINTS, SHAPES

__all__ = ["GENERATED", "typescript"]


def _ts(annotation, aliases: dict) -> str:
    for name, (alias, _constant) in aliases.items():
        if annotation == alias:
            return name
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is NotRequired:
        return _ts(args[0], aliases)
    if origin is Literal:
        return " | ".join(f"'{a}'" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_ts(a, aliases) for a in args)
    if origin is list:
        inner = _ts(args[0], aliases)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if annotation is dict or origin is dict:
        return "Record<string, unknown>"
    if annotation is type(None):
        return "null"
    if annotation is str:
        return "string"
    if annotation in (int, float):
        return "number"
    if annotation is bool:
        return "boolean"
    if annotation is object:
        return "unknown"
    if isinstance(annotation, type) and annotation in SHAPES:
        return f"I{annotation.__name__}"
    raise TypeError(f"no TypeScript for {annotation!r}")


def typescript() -> str:
    """The TypeScript of the API: statuses, endpoint names and every reply shape."""
    lines = [
        "/**",
        " * The server API's types, GENERATED from nbtrail/server/shapes.py and",
        " * nbtrail/vocabulary.py by `python -m nbtrail.server.typescript --write`. Do not edit:",
        " * change the Python and regenerate (a test fails while the two differ).",
        " */",
        "",
    ]
    for name, (alias, _constant) in ALIASES.items():
        lines.append(f"export type {name} = {_ts(alias, {})};")
    for name, (alias, constant) in ALIASES.items():
        values = ", ".join(f"'{v}'" for v in typing.get_args(alias))
        lines.append(f"export const {constant}: readonly {name}[] = [{values}];")
    failing = ", ".join(f"'{s}'" for s in FAILING_CHECK_STATUSES)
    lines.append("/** Check statuses that stop a gate. */")
    lines.append(f"export const FAILING_CHECK_STATUSES: readonly CheckStatus[] = [{failing}];")
    lines.append("")
    lines.append("/** Endpoint names, as the server hands them to the page (nbtrailEndpoints). */")
    lines.append(f"export type Endpoint = {' | '.join(repr(k) for k in ENDPOINTS)};")
    lines.append("")
    for shape in SHAPES:
        hints = typing.get_type_hints(shape, include_extras=True)
        doc = (shape.__doc__ or "").strip().splitlines()[0].replace("``", "`")
        lines.append(f"/** {doc} */")
        lines.append(f"export interface I{shape.__name__} {{")
        for field, annotation in hints.items():
            optional = "?" if typing.get_origin(annotation) is NotRequired else ""
            lines.append(f"  {field}{optional}: {_ts(annotation, ALIASES)};")
        lines.append("}")
        lines.append("")
    return "\n".join(lines).replace('"', "'")


GENERATED = Path(__file__).resolve().parents[3] / "extension" / "src" / "api.ts"

if __name__ == "__main__":  # pragma: no cover - the developer's command
    text = typescript()
    if sys.argv[1:] == ["--write"]:
        GENERATED.write_text(text, encoding="utf-8")
        print(f"wrote {GENERATED}")
    else:
        sys.stdout.write(text)
