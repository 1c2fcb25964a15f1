"""One unit of captured work (a cell, or a whole script): what it touched, and its pending facts."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sys
import time

from .._secrets import mask_url, redact_code
from ..errors import FingerprintError
from ..fingerprints import Fingerprint, digest_bytes, fingerprint_file
from ..store import NewArtifact, NewEdge, NewRun
from .names import CellNames
from .tracker import Tracked

__all__ = ["Unit"]

_MAX_CODE = 1 << 20  # cells larger than this keep a digest of their code but no snapshot


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
        # Per statement (see names.Statement): where each hooked object and file read came
        # from, so a binding derives from its own statement's data, not the whole cell's.
        self.named_inputs: dict[str, object] = {}  # name -> Tracked, as the cell began
        self.made_at: dict[int, int | None] = {}  # id(Tracked) -> statement that made it
        self.provisional: set[int] = set()  # id(Tracked) registered only because a hook saw it
        self.read_at: dict[str, int | None] = {}  # path -> statement that first read it
        self.written_at: dict[str, int | None] = {}  # path -> statement that first wrote it
        self.read_digests: dict[str, str] = {}  # path -> digest, files read without a hook
        # path -> (stat key, digest) of a file a reader hook recorded: a loop reading the same
        # unchanged file records it once, at the cost of a stat per call.
        self.read_memo: dict[str, tuple[str, str]] = {}
        self.bound: dict[tuple[str, int], object] = {}  # (name, statement) -> Tracked it bound

    def statement_now(self, namespace) -> int | None:
        """The top-level statement of this cell running now, from the interpreter's stack.

        Called only when a hook fires (a file opened, data read or written, a model fitted),
        so it costs a few microseconds per hooked call and nothing per line. The cell's code
        runs in a ``<module>`` frame whose globals are the user's namespace; its line number
        says which statement. None outside cells, or when the stack does not say.
        """
        if self.kind != "cell" or not self.names.statements or namespace is None:
            return None
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
                return self.names.statement_at(frame.f_lineno)
            frame = frame.f_back
        return None

    def statement_sources(self, index: int | None, *, exclude=None, before=None) -> list:
        """What a version made by statement ``index`` derives from (Tracked or digests).

        The versions of the names the statement read (followed back through bindings made in
        the cell that capture does not track: a list, a path, a version rebound later), the
        objects hooks made during it and the files it read. Hooked objects and files whose
        statement is unknown feed every binding; ``index`` None means the whole cell.
        ``exclude`` is the object being derived; ``before`` limits hooked objects to those
        made before that one (a value handed to a hook cannot come from what the hook made).
        """
        out: list = []

        def add(source) -> None:
            if source is None or any(s is source or s == source for s in out):
                return
            if exclude is not None and isinstance(source, Tracked) and source.obj() is exclude:
                return
            out.append(source)

        created = self.created
        if before is not None:
            created = created[: next((i for i, t in enumerate(created) if t is before), 0)]
        if index is None:
            for source in self.inputs:
                add(source)
            for tracked in created:
                add(tracked)
            return out
        statements = self.names.statements
        seen: set[int] = set()
        stack = [index]
        while stack:
            current = stack.pop()
            if current in seen or not 0 <= current < len(statements):
                continue
            seen.add(current)
            for name, where in sorted(statements[current].refs):
                if where < 0:
                    add(self.named_inputs.get(name))
                elif (name, where) in self.bound:
                    add(self.bound[(name, where)])
                else:
                    stack.append(where)  # not tracked, or rebound since: what it came from
            for tracked in created:
                if self.made_at.get(id(tracked)) == current:
                    add(tracked)
            for path, digest in self.read_digests.items():
                if self.read_at.get(path) == current:
                    add(digest)
        for tracked in created:
            if self.made_at.get(id(tracked)) is None:
                add(tracked)
        for path, digest in self.read_digests.items():
            if self.read_at.get(path) is None:
                add(digest)
        return out

    def sources_before(self, path: str, cache) -> list:
        """What a file the unit wrote (with plain ``open``) can derive from: what came before.

        Used where the statement that wrote it is unknown (scripts, hooks off the stack).
        """
        inputs, created, reads = self.write_marks.get(
            path, (len(self.inputs), len(self.created), len(self.read))
        )
        files = []
        for earlier in list(self.read)[:reads]:
            digest = self.read_digests.get(earlier)
            if digest is None and earlier in self.recorded_reads:  # read by a library hook
                with contextlib.suppress(FingerprintError):
                    digest = fingerprint_file(earlier, cache=cache).digest
            if digest is not None and earlier != path:
                files.append(digest)
        hooked = [s for s in self.inputs[:inputs] if not isinstance(s, str) or s not in files]
        return hooked + files + self.created[:created]

    def add_input(self, source) -> None:
        """Remember something the unit read (a digest or a Tracked), once."""
        if not any(s is source or s == source for s in self.inputs):
            self.inputs.append(source)

    def run_facts(self, error) -> list:
        """The unit's run row and its code (as a used artifact), written when it ends."""
        # Credentials in the code are redacted before it is stored; the artifact is what is
        # stored (the same cell, the same artifact), the original provable by its digest.
        stored, redacted = redact_code(self.source)
        code = stored.encode("utf-8", "surrogatepass")
        code_digest = digest_bytes(code)
        meta = {"lines": code.count(b"\n") + 1}
        if redacted:
            meta["redacted"] = redacted
            original = self.source.encode("utf-8", "surrogatepass")
            meta["original_digest"] = "sha256:" + hashlib.sha256(original).hexdigest()
        run = NewRun(
            self.name,
            kind=self.kind,
            id=self.run_id,
            parent_id=self.parent_id,
            started_at=self.started,
            ended_at=dt.datetime.now(dt.UTC),
            status="failed" if error is not None else "succeeded",
            error=mask_url(f"{type(error).__name__}: {error}") if error is not None else None,
            params={"execution_count": self.execution_count},
            attrs={"code": code_digest, "seconds": round(time.perf_counter() - self.t0, 6)},
            action="run.record",
        )
        code_fp = Fingerprint(code_digest, "code", size=len(code), meta=meta)
        facts: list = [run]
        snapshot = None
        if len(code) <= _MAX_CODE:
            facts.append(code)  # a blob: the cell's code, restorable
            snapshot = (code_digest, "raw")
        facts.append(NewArtifact.of(code_fp, f"code of {self.name}", snapshot))
        facts.append(NewEdge("used", self.run_id, code_digest, name="code"))
        return facts
