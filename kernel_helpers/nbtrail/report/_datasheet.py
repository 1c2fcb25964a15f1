"""Datasheets for datasets (Gebru et al.), filled from the trail's evidence about one artifact.

The paper's sections (motivation, composition, collection process, preprocessing, uses,
distribution, maintenance; privacy added) are filled from what the trail recorded: fingerprint,
paths, lineage, checks, budgets, registered models, each value with the run, check or artifact
it came from. What only people know (why the data exists, how it was collected, its licence)
comes from a small optional YAML of declarations; an undeclared or unrecorded answer stays a
visible *missing* item, never a guess.

A dataset is its exact bytes. Frames read from a file (capture records them as derived from
it) are the same data in memory, so checks on those frames count as findings about the file.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pandas as pd

from ..checks import CheckResult
from ..errors import ArtifactNotFound, FingerprintError, UsageError
from ..fingerprints import fingerprint_file
from ._document import Document

__all__ = ["DECLARED_KEYS", "datasheet"]

_DECLARED = (  # (section, key, label, what it asks), shown after the trail's evidence
    ("Motivation", "motivation", "Why it was created", "why it was created, for which task"),
    ("Motivation", "creators", "Created by", "who created it, on whose behalf"),
    ("Motivation", "funding", "Funded by", "who paid for it"),
    ("Collection process", "collection_process", "How it was collected", "how, when, from whom"),
    (
        "Preprocessing, cleaning, labelling",
        "preprocessing",
        "Done before the recorded bytes",
        "cleaning or labelling done before these bytes",
    ),
    ("Uses", "intended_use", "Intended uses", "what it is meant for"),
    ("Uses", "out_of_scope", "Out-of-scope uses", "what it must not be used for"),
    ("Distribution", "distribution", "How it is shared", "how and to whom it is shared"),
    ("Distribution", "license", "Licence", "its licence or terms of use"),
    ("Maintenance", "maintainer", "Maintainer", "who maintains it and how to reach them"),
    ("Maintenance", "maintenance", "Updates and retirement", "how it is updated or retired"),
)
DECLARED_KEYS = {
    "name": "the dataset's name, for the title",
    "description": "what the dataset is, in a sentence or two",
    **{key: what for _, key, _, what in _DECLARED},
}
_ALIASES = {"licence": "license"}
QUALITY = ("data_quality", "schema", "label_issues", "leakage", "pii")
_FRAMES = ("dataframe",)
_MAX_DESCRIBE = 256 * 1024 * 1024  # bytes of data read to describe its columns
_ROWS = 50  # rows per listing
_DETAIL_ROWS = 10  # findings shown per failing check
_RUN_COLUMNS = ["run", "kind", "by", "started", "status", "evidence"]


def _ev(*, run=None, check=None, artifact=None) -> str:
    """Where a value came from. Run and check ids whole (their first digits are a timestamp)."""
    parts = [f"run {run}" if run else "", f"check {check}" if check else ""]
    return ", ".join(p for p in [*parts, f"artifact {artifact[:12]}" if artifact else ""] if p)


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def _table(section, text: str, rows, columns) -> None:
    section.text(text)
    section.table(pd.DataFrame(rows, columns=columns))


def _declared(declared) -> dict:
    """Known keys with text (or lists of text) only; a path is read as a small YAML file."""
    if declared is None:
        return {}
    if isinstance(declared, str | os.PathLike):
        from ..safe_yaml import load_yaml_file

        declared = load_yaml_file(declared, what="declarations file") or {}
    if not isinstance(declared, dict):
        kind = type(declared).__name__
        raise UsageError(f"declared must be a mapping of keys to text, got {kind}")
    out = {}
    for key, value in declared.items():
        known = _ALIASES.get(key, key)
        if known not in DECLARED_KEYS:
            raise UsageError(f"declared: unknown key {key!r}; known: {', '.join(DECLARED_KEYS)}")
        if known in out:
            raise UsageError(f"declared: {key!r} given twice (as license and licence)")
        items = value if isinstance(value, list) else [value]
        if not items or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in items
        ):
            raise UsageError(f"declared: {key!r} must be text or a list of text, got {value!r}")
        text = "; ".join(str(v).strip() for v in items if str(v).strip())
        if text:
            out[known] = text
    return out


def _resolve(trail, data):
    """The artifact of a file's exact bytes (never another version at that path), or of an id."""
    if not isinstance(data, str | os.PathLike) or not str(data).strip():
        raise UsageError(f"data must be a file path or an artifact id, got {data!r}")
    path = Path(data).expanduser()
    if path.is_dir():
        raise UsageError(f"data {str(data)!r} is a folder; give a data file or an artifact id")
    if path.is_file():
        try:
            digest = fingerprint_file(path, cache=trail.stat_cache).digest
            return trail.get_artifact(digest)
        except FingerprintError as exc:
            raise UsageError(str(exc)) from None
        except ArtifactNotFound:
            raise UsageError(
                f"{path}: these bytes (fingerprint {digest[:12]}) are not on the trail; record "
                "the file in a run that reads it, or give a recorded artifact id"
            ) from None
    try:
        return trail.get_artifact(str(data))
    except ArtifactNotFound:
        raise UsageError(f"data {str(data)!r}: no such file, and no recorded artifact") from None


def _parse(source, name: str) -> pd.DataFrame | None:
    """A CSV, TSV or Parquet table (None for other formats or unreadable content)."""
    suffix = Path(name).suffix.lower()
    try:
        with warnings.catch_warnings():  # mixed-type columns are described, not warned about
            warnings.simplefilter("ignore")
            if suffix in (".csv", ".tsv", ".txt"):
                return pd.read_csv(source, sep="\t" if suffix == ".tsv" else ",", low_memory=False)
            if suffix in (".parquet", ".pq"):
                return pd.read_parquet(source)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    return None


def _content(trail, art, paths: list[str]):
    """(table, where it came from): the snapshot, else a file whose bytes still match."""
    if art.size > _MAX_DESCRIBE:
        return None, None
    if art.snapshot is not None:
        try:
            loaded = trail.load(art)
        except Exception:  # noqa: BLE001 - a lost blob describes nothing; verify says why
            loaded = None
        for name in [art.name, *paths] if isinstance(loaded, bytes) else []:
            if (frame := _parse(io.BytesIO(loaded), name)) is not None:
                return frame, "the snapshot stored on the trail"
        if isinstance(loaded, pd.DataFrame):
            return loaded, "the snapshot stored on the trail"
    for path in paths if art.kind == "file" else []:
        try:
            same = fingerprint_file(path, cache=trail.stat_cache).digest == art.id
        except FingerprintError:
            continue
        if same and (frame := _parse(path, path)) is not None:
            shown = trail.display_path(path)
            return frame, f"the file {shown}, whose bytes still match the fingerprint"
    return None, None


def _describe(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    return pd.DataFrame(
        {
            "column": [str(c) for c in frame.columns],
            "dtype": [str(c.dtype) for c in columns],
            "missing_share": [round(float(c.isna().mean()), 4) if len(c) else 0.0 for c in columns],
            "distinct": [int(c.nunique()) for c in columns],
        }
    )


def datasheet(data, *, declared=None, trail=None) -> Document:
    """A datasheet for a dataset (Gebru et al.), filled from the trail's evidence about it.

    Parameters
    ----------
    data : str or path-like
        The dataset's file (found on the trail by its exact bytes) or an artifact id, prefix
        or recorded name.
    declared : dict or path-like, optional
        What only people know, as a mapping or a YAML file with keys of
        :data:`DECLARED_KEYS` (``licence`` is read as ``license``). Undeclared ones are
        listed as missing.
    trail : Trail, optional
        Default: the project's trail, opened read-only and closed afterwards.

    Returns
    -------
    Document
        ``kind="datasheet"``: ``.markdown()``, ``.html()``, ``.save()``, ``.missing``.

    Raises
    ------
    UsageError
        A file whose bytes are not on the trail, an unknown artifact, a bad declaration.
    """
    facts = _declared(declared)
    if trail is None:
        from ..store import open_trail

        with open_trail(readonly=True) as opened:
            return datasheet(data, declared=facts, trail=opened)
    return _Sheet(trail, _resolve(trail, data), facts).build()


class _Sheet:
    """The evidence about one artifact, gathered once, then written section by section."""

    def __init__(self, trail, art, declared: dict):
        self.trail, self.art, self.declared = trail, art, declared
        self.root = f"artifact:{art.id}"
        self.paths = trail.artifact_paths(art.id)
        self.up = trail.lineage(art.id, direction="upstream")
        self.down = trail.lineage(art.id, direction="downstream")
        self.readings = [  # frames read from it: the same data in memory
            i for i in self._ends(self.down, "derived", source=self.root) if self._frame(i)
        ]
        self.checks = trail.checks(judged=[art.id, *self.readings])
        self.frame, self.source = _content(trail, art, self.paths)
        self.makers: dict[str, list[str]] = {}  # artifact -> runs that made it, downstream
        runs = [n["id"] for n in self.down.nodes.values() if n["type"] == "run"]
        made = [(r, t) for r, _, t in trail.derived_edges(runs)] + [
            (a.split(":", 1)[1], b.split(":", 1)[1])
            for a, b, k in sorted(self.down.edges)
            if k == "produced"
        ]
        for run, target in made:
            if run not in self.makers.setdefault(target, []):
                self.makers[target].append(run)

    def _frame(self, ident: str) -> bool:
        return self.down.nodes.get(f"artifact:{ident}", {}).get("kind") in _FRAMES

    def _node(self, key: str) -> dict:
        return self.down.nodes.get(key) or self.up.nodes.get(key) or {}

    @staticmethod
    def _ends(graph, kind: str, *, source=None, target=None) -> list[str]:
        """Ids at the far end of ``kind`` edges leaving ``source`` or entering ``target``."""
        keys = [
            b if source else a
            for a, b, k in sorted(graph.edges)
            if k == kind and (a == source if source else b == target)
        ]
        return list(dict.fromkeys(key.split(":", 1)[1] for key in keys))

    def _runs(self, ids) -> pd.DataFrame:
        rows = [
            [self._node(f"run:{i}").get(k) for k in ("name", "kind", "actor", "started_at")]
            + [self._node(f"run:{i}").get("status"), _ev(run=i)]
            for i in list(dict.fromkeys(ids))[:_ROWS]
        ]
        return pd.DataFrame(rows, columns=_RUN_COLUMNS).sort_values("started", na_position="last")

    def _made_by(self, ident: str) -> tuple[str, str, str]:
        """(run name, actor, evidence) of the first run that made an artifact downstream."""
        runs = self.makers.get(ident) or [None]
        node = self._node(f"run:{runs[0]}")
        return node.get("name", ""), node.get("actor", ""), _ev(run=runs[0], artifact=ident)

    def columns(self):
        """(table, where it came from, evidence): the content, else recorded names and types."""
        if self.frame is not None:
            return _describe(self.frame), self.source, _ev(artifact=self.art.id)
        for ident in [self.art.id, *self.readings]:
            meta = self.trail.get_artifact(ident).meta or {}
            if meta.get("columns"):
                table = pd.DataFrame(
                    [(str(n), str(t)) for n, t in meta["columns"]], columns=["column", "dtype"]
                )
                what = "its fingerprint" if ident == self.art.id else "a frame read from it"
                return table, f"names and types recorded with {what}", _ev(artifact=ident)
        return None, None, None

    def build(self) -> Document:
        name = self.declared.get("name", self.art.name)
        license = self.declared.get("license")
        metadata = {"pretty_name": name, "license": license} if license else {}
        doc = Document(f"Datasheet: {name}", metadata=metadata, kind="datasheet")
        columns = self.columns()
        self.summary(doc.section("Summary"), columns)
        for title, write in (
            ("Motivation", None),
            ("Composition", lambda s: self.composition(s, columns)),
            ("Collection process", self.collection),
            ("Preprocessing, cleaning, labelling", self.preprocessing),
            ("Uses", self.uses),
            ("Privacy", self.privacy),
            ("Distribution", None),
            ("Maintenance", None),
        ):
            section = doc.section(title)
            for key, label in [(k, lab) for t, k, lab, _ in _DECLARED if t == title]:
                if key in self.declared:
                    section.fact(label, self.declared[key], "declared")
                else:
                    section.missing(f"{label}: not declared ({DECLARED_KEYS[key]})")
            if write is not None:
                write(section)
        return doc

    def summary(self, s, columns) -> None:
        art, here = self.art, _ev(artifact=self.art.id)
        if "description" in self.declared:
            s.text(self.declared["description"])
        s.fact("Name", art.name, here).fact("Fingerprint", art.id, here)
        s.fact("Kind", art.kind, here).fact("Size", f"{int(art.size or 0):,} bytes", here)
        if self.frame is not None:
            s.fact("Rows", f"{len(self.frame):,}", f"{here}, read from {self.source}")
        else:
            known = [(i, self.trail.get_artifact(i).meta) for i in [art.id, *self.readings]]
            known = [(i, meta["rows"]) for i, meta in known if "rows" in (meta or {})]
            if known:
                s.fact("Rows", f"{int(known[0][1]):,}", _ev(artifact=known[0][0]))
            else:
                s.missing("the number of rows: no snapshot, readable file or frame read from it")
        if columns[0] is not None:
            s.fact("Columns", len(columns[0]), columns[2])
        s.fact("First recorded", _when(art.created_at), here)
        s.fact("Snapshot on the trail", "yes" if art.snapshot else "no", here)
        if self.paths:
            s.fact("Recorded at", ", ".join(map(self.trail.display_path, self.paths)), here)

    def composition(self, s, columns) -> None:
        table, source, where = columns
        identifiers = self.identifiers(table)
        if table is None:
            s.missing(
                "the columns: no snapshot, no frame read from it on the trail, and no file at a "
                "recorded path whose bytes match the fingerprint"
            )
        else:
            s.text(f"Columns described from {source} ({where}).")
            kinds = [identifiers.get(c, ("", ""))[0] for c in table["column"]]
            s.table(table.assign(identifier=kinds).head(500))
        if identifiers:
            rows = [(c, kind, ev) for c, (kind, ev) in identifiers.items()]
            text = "Identifier columns (people can be singled out by these):"
            _table(s, text, rows, ["column", "identifier", "evidence"])
        elif any((c.kind or c.name) == "pii" for c in self.checks):
            s.text("No identifier columns: the pii checks found none and none are declared.")
        else:
            s.missing("identifier columns: no pii check judged it and none are declared")
        self.findings(s)

    def identifiers(self, table) -> dict[str, tuple[str, str]]:
        """Column -> (kind, evidence): the newest pii findings, then the project's declared."""
        found: dict[str, tuple[str, str]] = {}
        for record in reversed(self.checks):
            if (record.kind or record.name) == "pii" and record.details:
                details = CheckResult.from_record(self.trail, record).details
                if {"column", "kind"} <= set(details.columns):
                    ev = _ev(run=record.run_id, check=record.id)
                    for column, kind in zip(details["column"], details["kind"], strict=True):
                        found.setdefault(str(column), (str(kind), ev))
        settings = self.trail.settings
        where = f"[tool.nbtrail.privacy] in {settings.config_file or 'the project settings'}"
        for column in settings.privacy.identifiers:
            if table is None or column in set(table["column"]):
                found.setdefault(column, ("declared", where))
        return found

    def findings(self, s) -> None:
        if not self.checks:
            s.missing("quality findings: no check has judged these bytes or a frame read from them")
            return
        names = self.trail.describe_artifacts({c.artifact_id for c in self.checks} - {None})
        rows = []
        for c in reversed(self.checks):
            judged = (names.get(c.artifact_id) or [""])[0]
            rows.append(
                (c.name, c.kind, c.status, c.summary, judged, _ev(run=c.run_id, check=c.id))
            )
        text = f"Verdicts about it, newest first ({len(rows)} in all):"
        _table(s, text, rows[:_ROWS], ["check", "kind", "status", "summary", "judged", "evidence"])
        absent = [k for k in QUALITY if k not in {c.kind or c.name for c in self.checks}]
        if absent:
            s.missing(f"quality checks never run on it: {', '.join(absent)}")
        newest: dict = {}
        for c in reversed(self.checks):
            if (c.kind or c.name) in QUALITY:
                newest.setdefault((c.name, c.artifact_id), c)
        for c in newest.values():
            if c.status in ("fail", "warn", "error"):
                ev = _ev(run=c.run_id, check=c.id)
                s.fact(f"Finding ({c.name}, {c.status})", c.summary or "(no summary)", ev)
                details = CheckResult.from_record(self.trail, c).details
                if c.status == "fail" and len(details):
                    s.table(details.head(_DETAIL_ROWS))

    def collection(self, s) -> None:
        made = self._ends(self.up, "produced", target=self.root)
        if made:
            s.text("Runs that produced these bytes:")
            s.table(self._runs(made))
        else:
            s.missing("which run produced or collected these bytes: the trail only saw them read")
        sources = set(self._ends(self.up, "derived", target=self.root))
        up = self.up.artifacts
        up = up[up["id"] != self.art.id]
        rows = [
            (name, kind, "derived into it" if i in sources else "upstream", _ev(artifact=i))
            for i, name, kind in zip(up["id"][:_ROWS], up["name"], up["kind"], strict=False)
        ]
        if rows:
            text = f"Where the bytes came from ({len(up)} artifacts upstream):"
            _table(s, text, rows, ["name", "kind", "relation", "evidence"])

    def preprocessing(self, s) -> None:
        frames = self.down.artifacts
        frames = frames[frames["kind"].isin(_FRAMES) & (frames["id"] != self.art.id)]
        if not len(frames):
            s.text("No frame on the trail derives from it.")
            return
        rows = []
        for ident, name in zip(frames["id"][:_ROWS], frames["name"][:_ROWS], strict=True):
            meta = self.trail.get_artifact(ident).meta or {}
            read = "read from it" if ident in self.readings else "derived"
            rows.append(
                (name, meta.get("rows"), meta.get("n_columns"), read, *self._made_by(ident))
            )
        text = f"Frames derived from it ({len(frames)}), and the runs that made them:"
        _table(s, text, rows, ["frame", "rows", "columns", "relation", "run", "by", "evidence"])

    def uses(self, s) -> None:
        models = self.down.artifacts
        models = models[models["kind"] == "model"]
        if len(models):
            rows = [
                (name, *self._made_by(ident))
                for ident, name in zip(models["id"][:_ROWS], models["name"][:_ROWS], strict=True)
            ]
            text = f"Models trained from it ({len(models)}):"
            _table(s, text, rows, ["model", "trained in", "by", "evidence"])
        else:
            s.text("No model on the trail derives from it.")
        from ..store import registry_history

        descendants = set(self.down.artifacts["id"])
        versions = [
            (r["model"], r["version"], r["actor"], _when(r["created_at"]), f"registry {r['id']}")
            for r in registry_history(self.trail)
            if r["action"] == "register" and r["artifact_id"] in descendants
        ]
        if versions:
            columns = ["registered model", "version", "by", "registered", "evidence"]
            _table(s, "Registered model versions derived from it:", versions[:_ROWS], columns)
        readers = [
            run
            for ident in [self.art.id, *self.readings]
            for run in self._ends(self.down, "used", source=f"artifact:{ident}")
        ]
        if readers:
            s.text(f"Runs that used it or a frame read from it ({len(set(readers))}):")
            s.table(self._runs(readers))

    def privacy(self, s) -> None:
        from ..store import budget_status

        upstream = [i for i in self.up.artifacts["id"] if i != self.art.id]
        budgets = budget_status(self.trail, [self.art.id, *upstream])
        if not budgets:
            s.text("No privacy budget is set on it or on anything upstream of it.")
        for b in sorted(budgets, key=lambda b: b.artifact_id != self.art.id):
            ev = f"budget {b.id}"
            label = "Budget" if b.artifact_id == self.art.id else f"Budget of upstream {b.name}"
            delta = f", delta {b.delta:g}" if b.delta else ""
            s.fact(label, f"epsilon {b.epsilon:g}{delta} (owner {b.actor})", ev)
            spent = f", delta {b.spent_delta:g}" if b.spent_delta else ""
            s.fact("Spent", f"epsilon {b.spent_epsilon:g}{spent}", ev)
            s.fact("Remaining", f"epsilon {b.remaining_epsilon:g}", ev)
            rows = [
                (x["epsilon"], x["delta"], x["mechanism"], x["actor"], _when(x["created_at"]), run)
                for x in b.spends[-_ROWS:]
                for run in [_ev(run=x["run_id"]) or "no run recorded"]
            ]
            if rows:
                columns = ["epsilon", "delta", "mechanism", "by", "when", "evidence"]
                _table(s, f"Spends from {b.name}:", rows, columns)
