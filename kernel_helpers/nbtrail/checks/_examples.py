"""Which raw values a check may copy into its findings: one decision, made here.

Findings are stored on the trail and shown in reports, so a value copied into one (a failing
value, a category list, a label) outlives the data it came from. A column's values may be shown
unless ``[tool.nbtrail.privacy]`` declares it an identifier, ``examples = false`` turns
examples off everywhere, or the column looks like one: every check asks
:meth:`ExamplePolicy.may_show`, which runs the ``pii`` check's detection (by name, and by
content when the check passes the column's values) before a value is copied.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

from ..config import load_settings

__all__ = [
    "ExamplePolicy",
    "example_policy",
    "hidden_values",
    "hide_rule_values",
    "value_digest",
]


@dataclass(frozen=True)
class ExamplePolicy:
    """Whether each column's values may appear in findings."""

    identifiers: frozenset[str] = frozenset()
    examples: bool = True

    def may_show(self, column, values=None) -> bool:
        """Whether values of ``column`` may be copied into a finding or a rule.

        ``values`` (the column's data, when the check has it) lets the detection look at the
        content too; without them the column's name decides (``email``, ``ssn``, ``phone``...).
        """
        if not self.examples or str(column) in self.identifiers:
            return False
        import pandas as pd

        from ._pii import identifier_columns

        data = values if values is not None else pd.Series([], dtype=object)
        frame = pd.DataFrame({str(column): pd.Series(data).reset_index(drop=True)})
        return not identifier_columns(frame, sample_rows=200)


def example_policy(examples: bool | None = None) -> ExamplePolicy:
    """The policy in force: the project's privacy settings, ``examples`` overriding theirs.

    ``examples=True`` on a check call cannot show a declared identifier: declarations win.
    Raises UsageError (naming the key) for a bad ``[tool.nbtrail.privacy]``.
    """
    privacy = load_settings().privacy
    shown = privacy.examples if examples is None else bool(examples)
    return ExamplePolicy(frozenset(privacy.identifiers), shown)


def value_digest(value) -> str:
    """A short digest of one value: what a rule keeps of a category it may not show."""
    return hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def hidden_values(values) -> str:
    """``N values, sha256:...``: a list described by its size and the digest of its sorted items.

    The digest changes when any item does, so two rules can still be compared.
    """
    items = sorted(str(v) for v in values)
    digest = hashlib.sha256("\n".join(items).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{len(items)} values, sha256:{digest[:16]}"


_RULE = re.compile(r"(?P<head>\w+\()(?P<args>.*)(?P<tail>\))", re.S)


def hide_rule_values(rule: str) -> str:
    """A rule's text with the values in it hidden.

    ``isin(['ann', 'bob'])`` gives ``isin(<2 values, sha256:...>)``, ``equal_to('ann')`` gives
    ``equal_to(<values hidden>)``. Numbers (a range's bounds) are kept: they are limits, not
    somebody's value.
    """

    def summarise(match: re.Match) -> str:
        args = match.group("args")
        if not any(c in args for c in "'\"["):
            return match.group(0)
        try:
            items = ast.literal_eval(args)
        except (ValueError, SyntaxError):
            items = None
        hidden = hidden_values(items) if isinstance(items, list | tuple | set) else "values hidden"
        return f"{match.group('head')}<{hidden}>{match.group('tail')}"

    return _RULE.sub(summarise, str(rule))
