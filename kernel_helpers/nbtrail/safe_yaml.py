"""Reading YAML that a person handed to nbtrail (pipeline specs, parameter files), safely.

``yaml.safe_load`` builds no arbitrary objects, but it still trusts the document's shape:
100,000 nested ``[`` exhaust Python's recursion limit, and a dozen nested aliases (the
"billion laughs") describe a structure whose expansion never ends for whoever walks it
(``json.dumps``, papermill's parameter injection, a reference scan). This loader bounds all
three before anything is built: the file's size, the nesting depth, and the number of nodes
the document stands for once every alias is expanded. Anchors, aliases and merge keys
(``<<: *defaults``) keep working within those bounds. Every refusal is one line naming the
file and, for a YAML error, its line and column.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .errors import UsageError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_EXPANSION",
    "MAX_NODES",
    "load_yaml_file",
    "load_yaml_text",
]

MAX_BYTES = 4 * 1024 * 1024  # a spec or a parameter file is hand-written text
MAX_DEPTH = 100  # nesting levels of sequences and mappings
MAX_NODES = 1_000_000  # nodes of the document with every alias expanded
MAX_EXPANSION = 100_000  # nodes that aliases stand for, all uses together


class _Refused(yaml.MarkedYAMLError):
    """The document is well-formed YAML but beyond what nbtrail reads."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer counts depth and alias-expanded size as it goes."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._weight: dict[int, int] = {}  # id(node) -> nodes it stands for, expanded
        self._expanded = 0  # nodes repeated by aliases so far

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._weight:
                raise _Refused(
                    None,
                    None,
                    f"alias *{event.anchor} refers to a node that contains it",
                    event.start_mark,
                )
            if node is not None:
                self._expanded += self._weight[id(node)]
                if self._expanded > MAX_EXPANSION:
                    raise _Refused(
                        None,
                        None,
                        f"aliases expand to more than {MAX_EXPANSION:,} values",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)  # unknown anchors: yaml's own error
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._weigh(node, event.start_mark)
        return node

    def _weigh(self, node, mark) -> None:
        weight = 1
        if isinstance(node, yaml.SequenceNode):
            weight += sum(self._weight.get(id(child), 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                weight += self._weight.get(id(key), 1) + self._weight.get(id(value), 1)
        if weight > MAX_NODES:
            raise _Refused(
                None,
                None,
                f"holds more than {MAX_NODES:,} values",
                mark,
            )
        self._weight[id(node)] = weight


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _yaml_error(source: str, exc: yaml.YAMLError) -> UsageError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.problem and not isinstance(exc, _Refused):
            problem = f"{exc.context}: {problem}"
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        kind = "refused" if isinstance(exc, _Refused) else "not valid YAML"
        return UsageError(_one_line(f"{where}: {kind}: {problem}"))
    return UsageError(_one_line(f"{source}: not valid YAML: {exc}"))


def load_yaml_text(text: str, source: str = "<text>"):
    """Parse YAML text within the bounds above; ``source`` names it in errors.

    Raises
    ------
    UsageError
        One line: the source, the line and column, and what is wrong.
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    except RecursionError:  # a shape the bounds above did not foresee
        raise UsageError(f"{source}: refused: nested too deeply to read") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | os.PathLike, *, what: str = "YAML file"):
    """Read a UTF-8 YAML file of at most :data:`MAX_BYTES`, within the bounds above.

    Raises
    ------
    UsageError
        A missing or unreadable file, one too large, not UTF-8, or not acceptable YAML.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB; not a {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return load_yaml_text(text, str(path))
