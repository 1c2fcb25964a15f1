"""Reading runs, checks and what runs used and produced: a fixed number of queries per question.

Every method here reads a consistent snapshot and costs a handful of statements whatever the
answer's size (one per table, in chunks of ids), never one per run or per check: the server
and the reports call them on trails of tens of thousands of runs.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..errors import RunNotFound, UsageError
from . import _db, _schema
from ._facts import notebook_key
from ._records import ArtifactRecord, CheckRecord, MetricRecord, RunDetails, RunRecord, Usage

__all__ = ["Queries"]

_CHUNK = 5000  # ids per IN (...) list: under SQLite's bound-parameter limit


def _chunks(ids) -> list[list]:
    ids = list(ids)
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


class Queries:
    """The read side of :class:`~nbtrail.store.Trail` (a mixin: it needs ``self.engine``)."""

    def get_run(self, ref: str) -> RunRecord:
        """Return the run whose id is ``ref`` or starts with it.

        Raises
        ------
        RunNotFound
            If no run matches; UsageError if the prefix matches several.
        """
        if not isinstance(ref, str) or not ref.strip():
            raise RunNotFound(f"no run matches {ref!r}")
        runs = _schema.runs
        ref = ref.strip().lower()
        with _db.read(self.engine) as conn:
            rows = (
                conn.execute(
                    sa.select(runs).where(runs.c.id.startswith(ref, autoescape=True)).limit(2)
                )
                .mappings()
                .all()
            )
        if not rows:
            raise RunNotFound(f"no run matches {ref!r} in {self.url}")
        if len(rows) > 1:
            raise UsageError(f"{ref!r} matches more than one run; give more of the id")
        return RunRecord.from_row(rows[0])

    def runs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        name: str | None = None,
        parent: str | None = None,
        notebook: str | None = None,
        top_level: bool = False,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Return runs, newest first, optionally filtered.

        Parameters
        ----------
        kind, status, name : str, optional
            Keep runs with exactly this kind, status or name.
        parent : str, optional
            Keep the children of this run id.
        notebook : path-like, optional
            Keep the runs of this notebook (sessions and template runs), by an indexed column.
        top_level : bool
            Keep only runs without a parent (sessions, pipelines, scripts; not their cells
            and steps).
        limit : int, optional
            At most this many runs.
        """
        runs = _schema.runs
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc())
        if top_level:
            query = query.where(runs.c.parent_id.is_(None))
        if notebook is not None:
            query = query.where(runs.c.notebook == notebook_key(notebook))
        for column, value in (
            (runs.c.kind, kind),
            (runs.c.status, status),
            (runs.c.name, name),
            (runs.c.parent_id, parent),
        ):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise UsageError(f"limit must be a positive integer, got {limit!r}")
            query = query.limit(limit)
        with _db.read(self.engine) as conn:
            return [RunRecord.from_row(r) for r in conn.execute(query).mappings()]

    def descendants(self, run_id: str) -> list[RunRecord]:
        """Return every run below ``run_id`` (steps, sessions, cells), parents before children."""
        runs = _schema.runs
        found: list[RunRecord] = []
        frontier = [run_id]
        with _db.read(self.engine) as conn:
            while frontier:
                children = []
                for chunk in _chunks(frontier):
                    rows = conn.execute(
                        sa.select(runs)
                        .where(runs.c.parent_id.in_(chunk))
                        .order_by(runs.c.started_at, runs.c.id)
                    ).mappings()
                    children.extend(RunRecord.from_row(r) for r in rows)
                found.extend(children)
                frontier = [c.id for c in children]
        return found

    def roots(self, run_ids) -> dict[str, str]:
        """Every run below the given ones, mapped to the given run it lies under (itself too)."""
        runs = _schema.runs
        root_of = {run_id: run_id for run_id in run_ids}
        frontier = list(root_of)
        with _db.read(self.engine) as conn:
            while frontier:
                found = []
                for chunk in _chunks(frontier):
                    found.extend(
                        conn.execute(
                            sa.select(runs.c.id, runs.c.parent_id).where(
                                runs.c.parent_id.in_(chunk)
                            )
                        ).all()
                    )
                frontier = []
                for child, parent in found:
                    if child not in root_of:
                        root_of[child] = root_of[parent]
                        frontier.append(child)
        return root_of

    def derived_edges(self, run_ids) -> list[tuple[str, str, str]]:
        """(run, source, target) of every ``derived`` edge recorded in these runs."""
        e = _schema.edges
        out = []
        with _db.read(self.engine) as conn:
            for chunk in _chunks(run_ids):
                out.extend(
                    conn.execute(
                        sa.select(e.c.run_id, e.c.source_id, e.c.artifact_id).where(
                            e.c.run_id.in_(chunk), e.c.kind == "derived"
                        )
                    ).all()
                )
        return [tuple(row) for row in out]

    def checks(
        self,
        run_ids=None,
        *,
        artifact=None,
        status: str | None = None,
        judged=None,
        name: str | None = None,
    ) -> list[CheckRecord]:
        """Return checks, oldest first: those recorded in ``run_ids``, or about an artifact.

        Parameters
        ----------
        run_ids : iterable of str, optional
            Keep the checks recorded in these runs.
        artifact : str, path or record, optional
            Keep every verdict about this artifact, across all runs: as the primary subject
            or in any role (``model``, ``reference``...).
        status : str, optional
            Keep checks with this status.
        name : str, optional
            Keep checks with this name.
        judged : iterable of str, optional
            Keep the verdicts about any of these artifact ids (in any role): the evidence about
            a model and everything upstream of it, in one query per 5,000 ids.
        """
        c, e = _schema.checks, _schema.edges
        query = sa.select(c).order_by(c.c.created_at, c.c.id)
        if status is not None:
            query = query.where(c.c.status == status)
        if name is not None:
            query = query.where(c.c.name == name)
        if artifact is not None:
            digest = self.get_artifact(artifact).id
            about = sa.select(e.c.check_id).where(e.c.kind == "judged", e.c.artifact_id == digest)
            query = query.where(sa.or_(c.c.artifact_id == digest, c.c.id.in_(about)))
        if judged is not None:
            ids = list(dict.fromkeys(judged))
            if not ids:
                return []
            if run_ids is not None:
                raise UsageError("give run_ids or judged, not both")
            run_ids, by_subject = (
                None,
                [
                    sa.or_(
                        c.c.artifact_id.in_(chunk),
                        c.c.id.in_(
                            sa.select(e.c.check_id).where(
                                e.c.kind == "judged", e.c.artifact_id.in_(chunk)
                            )
                        ),
                    )
                    for chunk in _chunks(ids)
                ],
            )
        else:
            by_subject = None
        with _db.read(self.engine) as conn:
            if by_subject is not None:
                seen: dict[str, dict] = {}
                for where in by_subject:
                    for row in conn.execute(query.where(where)).mappings():
                        seen[row["id"]] = row
                rows = list(seen.values())
            elif run_ids is None:
                rows = list(conn.execute(query).mappings())
            else:
                rows = []
                for chunk in _chunks(run_ids):
                    rows.extend(conn.execute(query.where(c.c.run_id.in_(chunk))).mappings())
            subjects = _subjects(conn, [r["id"] for r in rows])
        records = [CheckRecord.from_row(r, subjects.get(r["id"], ())) for r in rows]
        return sorted(records, key=lambda r: (r.created_at, r.id))

    def events(self, subject_ids=None) -> list[dict]:
        """Audit events in chain order: all, or those about the given ids.

        Ids of runs, artifacts, checks or registry facts: the Article 12 log of one model.
        """
        ev = _schema.events
        columns = [c for c in ev.c if c.name not in ("change", "signature")]
        query = sa.select(*columns).order_by(ev.c.seq)
        with _db.read(self.engine) as conn:
            if subject_ids is None:
                return [dict(r) for r in conn.execute(query).mappings()]
            rows = []
            for chunk in _chunks(list(dict.fromkeys(subject_ids))):
                rows.extend(conn.execute(query.where(ev.c.subject_id.in_(chunk))).mappings())
        return sorted((dict(r) for r in rows), key=lambda r: r["seq"])

    def check_names(self) -> set[str]:
        """Every check name and kind recorded on the trail."""
        c = _schema.checks
        with _db.read(self.engine) as conn:
            names = set(conn.execute(sa.select(c.c.name).distinct()).scalars())
            kinds = set(conn.execute(sa.select(c.c.kind).distinct()).scalars())
        return (names | kinds) - {None}

    def artifact_paths(self, ref) -> list[str]:
        """Every file path an artifact was read or written at, newest first."""
        e = _schema.edges
        digest = self.get_artifact(ref).id
        query = (
            sa.select(e.c.path)
            .where(e.c.artifact_id == digest, e.c.path.is_not(None))
            .order_by(e.c.created_at.desc())
        )
        with _db.read(self.engine) as conn:
            return list(dict.fromkeys(conn.execute(query).scalars()))

    def describe_artifacts(self, digests) -> dict[str, tuple[str, str | None]]:
        """Name and file path of each artifact, for people: ``{digest: (name, path)}``.

        The path is the artifact's own (a file), else that of a file it was derived from
        directly (a frame read from ``data/train.parquet``); shown relative to the project.
        """
        a, e = _schema.artifacts, _schema.edges
        digests = list(dict.fromkeys(digests))
        names: dict[str, str] = {}
        paths: dict[str, str] = {}
        sources: dict[str, list[str]] = {}
        with _db.read(self.engine) as conn:
            for chunk in _chunks(digests):
                rows = conn.execute(sa.select(a.c.id, a.c.name).where(a.c.id.in_(chunk)))
                names.update((ident, name) for ident, name in rows)
                for target, source in conn.execute(
                    sa.select(e.c.artifact_id, e.c.source_id).where(
                        e.c.kind == "derived", e.c.artifact_id.in_(chunk)
                    )
                ):
                    sources.setdefault(target, []).append(source)
            wanted = set(digests) | {s for group in sources.values() for s in group}
            for chunk in _chunks(wanted):
                for ident, path in conn.execute(
                    sa.select(e.c.artifact_id, e.c.path)
                    .where(e.c.artifact_id.in_(chunk), e.c.path.is_not(None))
                    .order_by(e.c.created_at)
                ):
                    paths.setdefault(ident, path)
        out = {}
        for digest in digests:
            path = paths.get(digest) or next(
                (paths[s] for s in sources.get(digest, ()) if s in paths), None
            )
            shown = self.display_path(path) if path else None
            out[digest] = (names.get(digest), shown)
        return out

    def run_details(self, ref: str, *, tree: bool = False) -> RunDetails:
        """Return a run with what it used and produced, its metrics, checks and children.

        With ``tree``, also everything recorded in the runs below it (its cells, steps and
        their sessions); each usage, metric and check names the run it was recorded in.
        """
        run = self.get_run(ref)
        below = self.descendants(run.id) if tree else []
        ids = [run.id] + [r.id for r in below]
        e, a, m = _schema.edges, _schema.artifacts, _schema.metrics
        used: list[Usage] = []
        produced: list[Usage] = []
        metrics: list[MetricRecord] = []
        with _db.read(self.engine) as conn:
            for chunk in _chunks(ids):
                rows = conn.execute(
                    sa.select(
                        e.c.kind.label("edge_kind"),
                        e.c.name.label("as_name"),
                        e.c.path,
                        e.c.run_id.label("edge_run"),
                        e.c.created_at.label("edge_at"),
                        e.c.id.label("edge_id"),
                        a,
                    )
                    .join(a, a.c.id == e.c.artifact_id)
                    .where(e.c.run_id.in_(chunk), e.c.kind.in_(("used", "produced")))
                    .order_by(e.c.created_at, e.c.id)
                ).mappings()
                for row in rows:
                    usage = Usage(
                        ArtifactRecord.from_row(row), row["as_name"], row["path"], row["edge_run"]
                    )
                    (used if row["edge_kind"] == "used" else produced).append(usage)
                for row in conn.execute(
                    sa.select(m).where(m.c.run_id.in_(chunk)).order_by(m.c.created_at, m.c.id)
                ).mappings():
                    metrics.append(
                        MetricRecord(
                            row["key"], row["value"], row["step"], row["created_at"], row["run_id"]
                        )
                    )
        children = self.runs(parent=run.id) if not tree else []
        if tree:
            children = [r for r in below if r.parent_id == run.id]
        order = {ident: i for i, ident in enumerate(ids)}
        used.sort(key=lambda u: order[u.run_id])
        produced.sort(key=lambda u: order[u.run_id])
        metrics.sort(key=lambda x: (x.created_at, order[x.run_id]))
        return RunDetails(
            run=run,
            used=used,
            produced=produced,
            metrics=metrics,
            checks=self.checks(ids),
            children=sorted(children, key=lambda r: r.id),
            runs={r.id: r for r in [run, *below]},
        )


def _subjects(conn, check_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Each check's subjects as (role, artifact id), in the order they were recorded."""
    e = _schema.edges
    out: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(check_ids):
        rows = conn.execute(
            sa.select(e.c.check_id, e.c.role, e.c.artifact_id)
            .where(e.c.kind == "judged", e.c.check_id.in_(chunk))
            .order_by(e.c.created_at, e.c.id)
        )
        for check_id, role, artifact_id in rows:
            out.setdefault(check_id, []).append((role, artifact_id))
    return out
