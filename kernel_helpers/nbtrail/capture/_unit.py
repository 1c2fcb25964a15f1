"""One unit of captured work (a cell, or a whole script): what it touched, and its pending facts."""

from __future__ import annotations

import datetime as dt
import time

from .names import CellNames

__all__ = ["Unit"]


class Unit:
    """One cell (or a whole script) being captured.

    It collects what the unit read and wrote, the objects it made, and the facts to write
    when it ends (its run row, artifacts, edges, checks), so a cell's facts land in one
    transaction.
    """

    def __init__(
        self,
        *,
        run_id: str,
        parent_id: str | None,
        kind: str,
        name: str,
        source: str = "",
        execution_count: int | None = None,
        names: CellNames | None = None,
        own_row: bool = True,
    ):
        self.run_id = run_id
        self.parent_id = parent_id
        self.kind = kind
        self.name = name
        self.source = source
        self.execution_count = execution_count
        self.names = names or CellNames()
        self.own_row = own_row  # cells write their run row at the end; scripts already have one
        self.step: str | None = None
        self.started = dt.datetime.now(dt.UTC)
        self.t0 = time.perf_counter()
        self.read: dict[str, None] = {}
        self.written: dict[str, None] = {}
        self.recorded_reads: set[str] = set()  # recorded by a library hook already
        self.recorded_writes: set[str] = set()
        self.write_sources: dict[str, list] = {}  # written through a file object: when closed
        # How much the unit had read and made when a file was first opened for writing: only
        # that can have gone into it (what the cell reads later cannot be its source).
        self.write_marks: dict[str, tuple[int, int, int]] = {}
        self.file_digests: set[str] = set()
        self.inputs: list = []  # digests or Tracked the unit read
        self.created: list = []  # Tracked versions made by hooks during the unit
        self.fingerprinted: list = []  # (Tracked, Fingerprint)
        self.facts: list = []
        self.open = True

    def add_input(self, source) -> None:
        """Remember something the unit read (a digest or a Tracked), once."""
        if not any(s is source or s == source for s in self.inputs):
            self.inputs.append(source)
