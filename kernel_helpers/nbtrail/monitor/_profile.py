"""Reference profiles: what a drift check needs of the reference data, without its rows.

A production drift check should not need the training frame at hand. :func:`profile` keeps,
per numeric column, 1,001 evenly spaced quantiles (enough to rebuild the distribution for the
Wasserstein distance and binned tests) and the exact number of rows between them; per
categorical column the category counts. A 1M x 50 frame's profile is a JSON document of well
under 1 MB. ``checks.drift`` accepts a profile wherever it accepts the reference frame and
gives the same verdicts (it profiles a frame itself, the same way).

The bins are the quantiles with their repeats removed; a value that fills more than one
quantile step (the zero of a zero-inflated column such as Adult's ``capital_gain``, each age
of an integer column) gets a bin of its own, so binned statistics never collapse on it. Two
more bins hold values below the reference's minimum and above its maximum (empty in the
reference, they catch the range breaks of a new batch).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..checks import column_summary
from ..errors import UsageError

__all__ = ["FORMAT", "Profile", "profile"]

FORMAT = "nbtrail.profile"


@dataclass
class Profile:
    """A compact summary of a reference frame for drift checks (see :func:`profile`).

    Attributes
    ----------
    rows : int
        Rows in the reference.
    columns : dict
        Column name to its summary: ``kind`` (``numeric``, ``categorical``, ``datetime``),
        ``dtype``, ``count`` (values present), ``missing``; numeric: ``min``, ``max``,
        ``mean``, ``std``, ``quantiles`` and ``counts`` (exact rows per bin: below the
        minimum, between the distinct quantiles with each repeated one apart, above the
        maximum); categorical: ``counts`` per category, ``other`` (rows in categories past
        ``max_categories``), ``distinct`` and ``truncated``.
    max_categories : int
        Categories kept per column.
    quantiles : int
        Quantiles kept per numeric column.
    """

    format: ClassVar[str] = FORMAT  # how checks.drift knows a profile without importing this
    rows: int
    columns: dict = field(default_factory=dict)
    max_categories: int = 1000
    quantiles: int = 1001

    def __repr__(self) -> str:
        kinds = pd.Series([c["kind"] for c in self.columns.values()]).value_counts()
        described = ", ".join(f"{n} {k}" for k, n in kinds.items())
        return f"<Profile of {self.rows:,} rows: {described or 'no columns'}>"

    @property
    def dtypes(self) -> dict:
        """Column name to the reference's dtype (as text)."""
        return {name: c["dtype"] for name, c in self.columns.items()}

    def to_dict(self) -> dict:
        """Return JSON-ready data."""
        columns = {}
        for name, summary in self.columns.items():
            columns[name] = {
                key: value.tolist() if isinstance(value, np.ndarray) else value
                for key, value in summary.items()
            }
        return {
            "format": FORMAT,
            "version": 1,
            "rows": self.rows,
            "max_categories": self.max_categories,
            "quantiles": self.quantiles,
            "columns": columns,
        }

    def to_json(self) -> str:
        """The profile as a small JSON document."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        """Rebuild a profile from :meth:`to_dict` data."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(f"not an nbtrail profile (expected format {FORMAT!r})")
        if data.get("version") != 1:
            raise UsageError(f"profile version {data.get('version')!r} is not supported (1)")
        columns = {}
        for name, summary in data["columns"].items():
            summary = dict(summary)
            if summary.get("kind") == "numeric" and "quantiles" in summary:
                summary["quantiles"] = np.asarray(summary["quantiles"], dtype="float64")
                summary["counts"] = np.asarray(summary["counts"], dtype=np.int64)
            columns[name] = summary
        return cls(int(data["rows"]), columns, data["max_categories"], data["quantiles"])

    @classmethod
    def from_json(cls, text: str) -> Profile:
        """Read a profile from :meth:`to_json` text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"profile is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path) -> Path:
        """Write the profile as JSON to ``path``; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path) -> Profile:
        """Read a profile written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"no profile at {path}")
        return cls.from_json(path.read_text(encoding="utf-8"))


def profile(
    reference: pd.DataFrame,
    *,
    max_categories: int = 1000,
    quantiles: int = 1001,
) -> Profile:
    """Summarise a reference frame so drift checks need not keep its rows.

    Parameters
    ----------
    reference : pandas.DataFrame
        The data the model was trained or validated on.
    max_categories : int
        Categories kept per categorical column, the most frequent first; the rest are pooled
        in ``other`` and the column marked ``truncated`` (drift skips it: an identifier, not a
        category).
    quantiles : int
        Evenly spaced quantiles kept per numeric column (1,001: a 0.1% grid).

    Returns
    -------
    Profile

    Examples
    --------
    Keep the profile as an artifact made from the reference, then check batches against it:

    >>> import nbtrail
    >>> from nbtrail import checks
    >>> from nbtrail.monitor import Profile, profile
    >>> ref = profile(train)                                          # doctest: +SKIP
    >>> path = ref.save("artifacts/reference_profile.json")           # doctest: +SKIP
    >>> nbtrail.produce(
    ...     path, name="reference_profile", inputs={"reference": train}
    ... )                                                             # doctest: +SKIP
    >>> checks.drift(Profile.load(path), batch)                       # doctest: +SKIP
    """
    if not isinstance(reference, pd.DataFrame):
        raise UsageError(f"reference must be a pandas DataFrame, got {type(reference).__name__}")
    for option, value in (("max_categories", max_categories), ("quantiles", quantiles)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise UsageError(f"{option} must be an integer of at least 2, got {value!r}")
    if reference.columns.has_duplicates:
        raise UsageError("reference has duplicate column names; profile one of each")
    names = list(reference.columns)
    workers = min(4, os.cpu_count() or 1, max(1, len(names)))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # sorting releases the GIL
        summaries = list(
            pool.map(
                lambda name: column_summary(
                    reference[name], max_categories=max_categories, quantiles=quantiles
                ),
                names,
            )
        )
    columns = {str(name): summary for name, summary in zip(names, summaries, strict=True)}
    return Profile(len(reference), columns, max_categories, quantiles)
