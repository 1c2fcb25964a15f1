"""Documents made from trail evidence (model cards, datasheets): Markdown and inert HTML.

A document is sections of items: prose, facts (label, value, and the run or check ids the
value came from), tables, and *missing* items that say plainly what the trail holds no evidence
for, so nothing is ever invented to fill a gap. Markdown may open with YAML metadata (the
Hugging Face model card header); HTML goes through :mod:`._safe` like the report.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._safe import csp_meta, esc

__all__ = ["Document", "Section"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
.evidence { color: #666; font-size: .8rem; font-family: monospace; }
.missing { background: #fff4e5; border-left: 4px solid #f29900; padding: 4px 8px; }
dt { font-weight: 600; } dd { margin: 0 0 .4rem 1rem; }
"""


@dataclass
class Section:
    """A titled part of a document; add items with the methods, in order."""

    title: str
    items: list = field(default_factory=list)

    def text(self, text: str) -> Section:
        self.items.append(("text", str(text)))
        return self

    def fact(self, label: str, value, evidence: str | None = None) -> Section:
        """One value, with where it came from (``run 01ab…, check 01cd…``)."""
        if self.items and self.items[-1][0] == "facts":
            self.items[-1][1].append((label, value, evidence))
        else:
            self.items.append(("facts", [(label, value, evidence)]))
        return self

    def table(self, frame: pd.DataFrame) -> Section:
        self.items.append(("table", frame))
        return self

    def missing(self, what: str) -> Section:
        """Say that the trail holds no evidence for ``what``; never fill the gap."""
        self.items.append(("missing", str(what)))
        return self

    @property
    def missing_items(self) -> list[str]:
        return [value for kind, value in self.items if kind == "missing"]


def _plain(value) -> str:
    """A value as one line of text (None and NaN as nothing)."""
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return text.replace("\n", " ")


def _cell(value) -> str:
    """A value as Markdown text: pipes escaped, and no raw HTML (a summary may hold any text)."""
    text = _plain(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def _markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def _yaml(metadata: dict) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True) + "---\n\n"


@dataclass
class Document:
    """A model card or a datasheet: title, optional YAML metadata, sections."""

    title: str
    sections: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    kind: str = "document"

    def section(self, title: str) -> Section:
        found = Section(title)
        self.sections.append(found)
        return found

    @property
    def missing(self) -> list[str]:
        """Everything the trail held no evidence for, by section."""
        return [f"{s.title}: {m}" for s in self.sections for m in s.missing_items]

    def markdown(self) -> str:
        parts = ([_yaml(self.metadata)] if self.metadata else []) + [f"# {self.title}\n"]
        for section in self.sections:
            parts.append(f"\n## {section.title}\n")
            for kind, value in section.items:
                if kind == "text":
                    parts.append(f"\n{_cell(value)}\n")
                elif kind == "facts":
                    parts.append("")
                    for label, fact, evidence in value:
                        where = f" <sub>({evidence})</sub>" if evidence else ""
                        parts.append(f"- **{_cell(label)}:** {_cell(fact)}{where}")
                    parts.append("")
                elif kind == "table":
                    parts.append("\n" + _markdown_table(value) + "\n")
                else:
                    parts.append(f"\n> **Missing:** {_cell(value)}\n")
        return re.sub(r"\n{3,}", "\n\n", "\n".join(parts)).rstrip() + "\n"

    def html(self) -> str:
        body = [f"<h1>{esc(self.title)}</h1>"]
        for section in self.sections:
            body.append(f"<h2>{esc(section.title)}</h2>")
            for kind, value in section.items:
                if kind == "text":
                    body.append(f"<p>{esc(value)}</p>")
                elif kind == "facts":
                    rows = "".join(
                        f"<dt>{esc(label)}</dt><dd>{esc(_plain(fact))}"
                        + (f' <span class="evidence">{esc(ev)}</span>' if ev else "")
                        + "</dd>"
                        for label, fact, ev in value
                    )
                    body.append(f"<dl>{rows}</dl>")
                elif kind == "table":
                    head = "".join(f"<th>{esc(c)}</th>" for c in value.columns)
                    rows = "".join(
                        "<tr>" + "".join(f"<td>{esc(_plain(v))}</td>" for v in row) + "</tr>"
                        for row in value.itertuples(False)
                    )
                    body.append(f"<table><tr>{head}</tr>{rows}</table>")
                else:
                    body.append(f'<p class="missing"><b>Missing:</b> {esc(value)}</p>')
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"{csp_meta()}<title>{esc(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>"
        )

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        gaps = len(self.missing)
        return f"<{self.kind} {self.title!r}: {len(self.sections)} sections, {gaps} missing>"

    def save(self, path: str | os.PathLike, *, format: str | None = None) -> Path:
        """Write as Markdown (``.md``) or HTML (``.html``), atomically."""
        path = Path(path)
        format = format or ("html" if path.suffix.lower() in (".html", ".htm") else "md")
        if format not in ("md", "html"):
            from ..errors import UsageError

            raise UsageError(f"format must be md or html, not {format!r}")
        text = self.html() if format == "html" else self.markdown()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
        return path

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "title": self.title,
            "metadata": self.metadata,
            "missing": self.missing,
            "sections": [
                {
                    "title": s.title,
                    "items": [
                        {
                            "kind": kind,
                            "value": value.to_dict(orient="records")
                            if kind == "table"
                            else [list(f) for f in value]
                            if kind == "facts"
                            else value,
                        }
                        for kind, value in s.items
                    ],
                }
                for s in self.sections
            ],
        }
