"""Artifacts: fingerprinting, snapshots, finding an artifact by path, digest or name, restoring it.

An artifact is content identified by its fingerprint. A snapshot stores that content in the
blob store so it can be restored later, byte for byte (files) or object for object (frames as
Parquet, arrays as ``.npy``, models with joblib), each encoding read back and checked before it
is accepted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import sqlalchemy as sa

from ..errors import ArtifactNotFound, SnapshotError, UsageError
from ..fingerprints import Fingerprint, fingerprint, fingerprint_file
from . import _db, _schema, _snapshot
from ._facts import NewArtifact
from ._records import ArtifactRecord

__all__ = ["Artifacts"]

_HEX = re.compile(r"^[0-9a-f]+$")


class Artifacts:
    """The artifact side of :class:`~nbtrail.store.Trail` (a mixin: it needs the engine, blobs)."""

    def fingerprint(self, obj) -> Fingerprint:
        """Fingerprint an object, or a file when given a path (str or os.PathLike)."""
        if isinstance(obj, Fingerprint):
            return obj
        if isinstance(obj, str | os.PathLike):
            return fingerprint_file(obj, cache=self.stat_cache)
        return fingerprint(obj)

    def _default_name(self, obj, fp: Fingerprint) -> str:
        if fp.kind == "file":
            return self.display_path(fp.meta["path"])
        cls = fp.meta.get("class", "")
        label = cls.rsplit(".", 1)[-1] if cls else fp.kind
        return f"{label}:{fp.short}"

    def display_path(self, path: str) -> str:
        """Show a path relative to the project root when it lies inside it."""
        try:
            return str(Path(path).relative_to(self.project_root))
        except ValueError:
            return str(path)

    def _snapshot_bytes(self, obj, fp: Fingerprint) -> tuple[str, str]:
        self._check_writable()
        if fp.kind == "file":
            return self.blobs.put_file(obj, expected=fp.digest), "raw"
        data, fmt = _snapshot.encode(obj, fp)
        return self.blobs.put_bytes(data), fmt

    def snapshot(self, obj, *, name: str | None = None) -> ArtifactRecord:
        """Store an object's (or a file's) full content so it can be restored later.

        Parameters
        ----------
        obj : object or path
            A DataFrame, Series, array, model or other object, or a file path.
        name : str, optional
            Name to record if the artifact is new.

        Returns
        -------
        ArtifactRecord
            With ``snapshot`` set to the digest of the stored bytes.
        """
        fp = self.fingerprint(obj)
        snap = self._snapshot_bytes(obj, fp)
        batch = self.batch()
        batch.add(NewArtifact.of(fp, name or self._default_name(obj, fp), snap))
        batch.commit()
        return self.get_artifact(fp.digest)

    def get_artifact(self, ref) -> ArtifactRecord:
        """Find an artifact by fingerprint (or a prefix of 4+ hex digits), path or name.

        A path that exists on disk is fingerprinted now; if that exact content is not in the
        trail, the newest artifact recorded at that path is returned. Otherwise ``ref`` is
        tried as a recorded path, a fingerprint prefix, then an artifact name (newest first).

        Raises
        ------
        ArtifactNotFound
            If nothing matches; UsageError if a prefix matches several artifacts.
        """
        if isinstance(ref, ArtifactRecord):
            return ref
        if isinstance(ref, Fingerprint):
            ref = ref.digest
        if not isinstance(ref, str | os.PathLike) or not str(ref).strip():
            raise ArtifactNotFound(f"no artifact matches {ref!r}")
        text = os.fspath(ref).strip()
        a, e = _schema.artifacts, _schema.edges
        path = Path(text).expanduser()
        with _db.read(self.engine) as conn:
            if path.is_file():
                digest = fingerprint_file(path, cache=self.stat_cache).digest
                row = conn.execute(sa.select(a).where(a.c.id == digest)).mappings().first()
                if row:
                    return ArtifactRecord.from_row(row)
            resolved = str(path.resolve())
            row = (
                conn.execute(
                    sa.select(a)
                    .join(e, e.c.artifact_id == a.c.id)
                    .where(e.c.path == resolved)
                    .order_by(e.c.created_at.desc(), e.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if row:
                return ArtifactRecord.from_row(row)
            lowered = text.lower()
            if len(lowered) >= 4 and _HEX.match(lowered):
                rows = (
                    conn.execute(
                        sa.select(a).where(a.c.id.startswith(lowered, autoescape=True)).limit(2)
                    )
                    .mappings()
                    .all()
                )
                if len(rows) > 1:
                    raise UsageError(f"{text!r} matches more than one artifact; give more digits")
                if rows:
                    return ArtifactRecord.from_row(rows[0])
            row = (
                conn.execute(
                    sa.select(a).where(a.c.name == text).order_by(a.c.created_at.desc()).limit(1)
                )
                .mappings()
                .first()
            )
            if row:
                return ArtifactRecord.from_row(row)
        raise ArtifactNotFound(
            f"no artifact matches {text!r}: not a recorded path, fingerprint or name"
        )

    def artifacts(self, *, kind: str | None = None, limit: int | None = None):
        """Return artifacts, newest first."""
        a = _schema.artifacts
        query = sa.select(a).order_by(a.c.created_at.desc(), a.c.id)
        if kind is not None:
            query = query.where(a.c.kind == kind)
        if limit is not None:
            query = query.limit(limit)
        with _db.read(self.engine) as conn:
            return [ArtifactRecord.from_row(r) for r in conn.execute(query).mappings()]

    def load(self, ref):
        """Restore an artifact's snapshot into memory (a DataFrame, array, model or bytes)."""
        art = self.get_artifact(ref)
        if art.snapshot is None:
            raise SnapshotError(
                f"artifact {art.short} ({art.name}) has no snapshot; record it with snapshot=True"
            )
        data = self.blobs.get_bytes(art.snapshot)
        return data if art.snapshot_format == "raw" else _snapshot.decode(data, art.snapshot_format)

    def checkout(self, ref, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write an artifact's snapshot to ``path``: a file's exact bytes, a frame as Parquet.

        Parameters
        ----------
        ref : str or ArtifactRecord
            Fingerprint (prefix), recorded path or name.
        path : path-like
            Where to write. An existing folder receives the artifact under its own name.
        overwrite : bool
            Replace an existing file at ``path`` (refused by default).

        Returns
        -------
        Path
            The file written.
        """
        art = self.get_artifact(ref)
        if art.snapshot is None:
            raise SnapshotError(
                f"artifact {art.short} ({art.name}) has no snapshot to check out; "
                "record it with snapshot=True or `%trail snapshot`"
            )
        target = Path(path).expanduser()
        if target.is_dir():
            suffix = _snapshot.SUFFIXES.get(art.snapshot_format or "raw", "")
            base = Path(art.name).name if art.kind == "file" else art.name.replace(":", "-")
            target = target / (base if base.endswith(suffix) else base + suffix)
        if target.exists() and not overwrite:
            raise UsageError(f"{target} exists; use --force (overwrite=True) to replace it")
        if not target.parent.is_dir():
            raise UsageError(f"{target.parent} is not a folder")
        try:
            self.blobs.copy_to(art.snapshot, target)
        except PermissionError:
            raise UsageError(f"{target}: permission denied") from None
        return target
