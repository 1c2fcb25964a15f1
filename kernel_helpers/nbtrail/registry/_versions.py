"""Registered models: numbered versions of model artifacts, and aliases that point at them.

A registered model is a name (``income``) whose versions are model artifacts on the trail,
numbered 1, 2, 3 in the order they were registered; an alias (``champion``, ``challenger``, any
lowercase name) points at one version. Both are registry facts on the audit chain
(:mod:`nbtrail.store`): the registry's state is the replay of its history, so who pointed
``champion`` where, and when, is provable, and nothing is ever overwritten.

Only a model's exact bytes can be registered: a model object recorded on the trail, or a file
derived from one (a ``joblib.dump`` in a captured notebook, an exported ``.onnx``), so that its
lineage, and the checks that judged it and its training data, are known.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import ArtifactNotFound, UsageError

__all__ = [
    "ModelVersion",
    "RegisteredModel",
    "check_alias",
    "get_model",
    "list_models",
    "register",
    "resolve",
    "using_trail",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@contextlib.contextmanager
def using_trail(trail):
    """The given trail, or the project's, opened for the block and closed after it.

    In a kernel that records, what capture recorded so far (a check run two cells ago) is
    written first: the registry decides on evidence, and must see all of it.
    """
    from ..capture import flush

    flush(timeout=60)
    if trail is not None:
        yield trail
        return
    from ..store import open_trail

    opened = open_trail()
    try:
        yield opened
    finally:
        opened.close()


def check_name(name) -> str:
    """A registered model's name, or UsageError naming what is wrong with it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"model name {name!r}: use letters, digits, '.', '_' and '-' (at most 128), "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias) -> str:
    """An alias, or UsageError: lowercase letters, digits, '_' and '-', no spaces or slashes."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias.isdigit():
        raise UsageError(
            f"alias {alias!r}: use lowercase letters, digits, '_' and '-' (at most 64), "
            "starting with a letter; no spaces or slashes"
        )
    return alias


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model: which artifact, registered by whom and when."""

    model: str
    version: int
    artifact_id: str
    registered_by: str
    registered_at: dt.datetime
    comment: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "artifact_id": self.artifact_id,
            "registered_by": self.registered_by,
            "registered_at": self.registered_at.isoformat(),
            "comment": self.comment,
            "aliases": list(self.aliases),
        }


@dataclass
class RegisteredModel:
    """A registered model as its history makes it: versions, aliases, and every fact.

    Attributes
    ----------
    name : str
    versions : list of ModelVersion
        Oldest first.
    aliases : dict
        Alias -> the version it points at now.
    history : pandas.DataFrame
        Every registry fact, oldest first: when, who, what (register, alias, approve), the
        version, the alias, the comment.
    """

    name: str
    versions: list = field(default_factory=list)
    aliases: dict = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows: list = field(default_factory=list, repr=False)

    @classmethod
    def from_history(cls, name: str, rows: list[dict]) -> RegisteredModel:
        versions: dict[int, dict] = {}
        aliases: dict[str, int] = {}
        for row in rows:
            if row["action"] == "register":
                versions[row["version"]] = row
            elif row["action"] == "alias":
                if row["version"] is None:
                    aliases.pop(row["alias"], None)
                else:
                    aliases[row["alias"]] = row["version"]
        pointing: dict[int, list[str]] = {}
        for alias, version in sorted(aliases.items()):
            pointing.setdefault(version, []).append(alias)
        made = [
            ModelVersion(
                name,
                number,
                row["artifact_id"],
                row["actor"],
                row["created_at"],
                row["comment"],
                tuple(pointing.get(number, ())),
            )
            for number, row in sorted(versions.items())
        ]
        history = pd.DataFrame(
            [
                {
                    "at": row["created_at"],
                    "actor": row["actor"],
                    "action": row["action"],
                    "version": row["version"],
                    "alias": row["alias"],
                    "comment": row["comment"],
                    "id": row["id"],
                }
                for row in rows
            ],
            columns=["at", "actor", "action", "version", "alias", "comment", "id"],
        )
        return cls(name, made, aliases, history, rows)

    def version(self, ref) -> ModelVersion:
        """A version by number (``3``, ``"3"``) or alias (``"champion"``)."""
        text = str(ref)
        if text.isdigit():
            for found in self.versions:
                if found.version == int(text):
                    return found
            numbers = ", ".join(str(v.version) for v in self.versions) or "none"
            raise UsageError(f"{self.name} has no version {text} (versions: {numbers})")
        if text in self.aliases:
            return self.version(self.aliases[text])
        known = ", ".join(sorted(self.aliases)) or "none"
        raise UsageError(f"{self.name} has no alias {text!r} (aliases: {known})")

    @property
    def latest(self) -> ModelVersion | None:
        return self.versions[-1] if self.versions else None

    @property
    def table(self) -> pd.DataFrame:
        """One row per version: number, artifact, who registered it, when, its aliases."""
        return pd.DataFrame(
            [v.to_dict() | {"aliases": ", ".join(v.aliases)} for v in self.versions],
            columns=["version", "artifact_id", "registered_by", "registered_at", "aliases"],
        )

    def __repr__(self) -> str:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(self.aliases.items())) or "no alias"
        return f"<RegisteredModel {self.name}: {len(self.versions)} version(s), {aliases}>"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "versions": [v.to_dict() for v in self.versions],
            "aliases": dict(self.aliases),
            "history": [
                {**r, "at": r["at"].isoformat()} for r in self.history.to_dict(orient="records")
            ],
        }


def _recorded(trail, digest: str):
    """The artifact of ``digest``, once this kernel's capture has written what it recorded.

    A file saved earlier in the same cell may still be in capture's writer queue.
    """
    try:
        return trail.get_artifact(digest)
    except ArtifactNotFound:
        from ..capture import flush

        if not flush(timeout=30):
            raise
        return trail.get_artifact(digest)


def model_artifact(trail, model):
    """The model artifact ``model`` names (a path, an artifact id), or UsageError saying why not.

    A path must hold exactly bytes the trail recorded; the artifact must be a model object or a
    file derived from one.
    """
    from ..fingerprints import fingerprint_file

    if isinstance(model, os.PathLike) or (isinstance(model, str) and os.path.exists(model)):
        path = Path(model)
        if not path.is_file():
            raise UsageError(f"{path}: not a file")
        digest = fingerprint_file(path).digest
        try:
            art = _recorded(trail, digest)
        except ArtifactNotFound:
            from .. import recording

            if recording.active() is not None:
                raise UsageError(
                    f"{path}: these bytes are not on the trail yet: capture records a cell's "
                    "files when the cell ends, so register the model in the cell after the one "
                    "that saved it"
                ) from None
            raise UsageError(
                f"{path}: these bytes are not on the trail (written outside a recorded run, or "
                "changed since): write the model from a notebook with %load_ext nbtrail, or a "
                "template run, so that its lineage is known"
            ) from None
    else:
        try:
            art = trail.get_artifact(str(model))
        except ArtifactNotFound:
            raise UsageError(f"{model}: no such file, and no artifact on the trail") from None
    if art.kind == "model":
        return art
    upstream = trail.lineage(art.id, direction="upstream", depth=4).artifacts
    if art.kind == "file" and (upstream["kind"] == "model").any():
        return art
    raise UsageError(
        f"{model}: artifact {art.short} is a {art.kind}, not a model: register a fitted model, "
        "or a file written from one (joblib.dump, an exported .onnx)"
    )


def register(model, *, name: str, comment: str | None = None, trail=None) -> ModelVersion:
    """Register ``model`` (a path or artifact id) as the next version of ``name``.

    Registering the same artifact again returns its existing version: a version is content.
    """
    from ..store import NewRegistryFact, write_registry

    check_name(name)
    with using_trail(trail) as found:
        art = model_artifact(found, model)
        existing: list[int] = []

        def decide(rows):
            for row in rows:
                if row["action"] == "register" and row["artifact_id"] == art.id:
                    existing.append(row["version"])
                    return []
            number = 1 + max((r["version"] for r in rows if r["action"] == "register"), default=0)
            return [
                NewRegistryFact(
                    name,
                    "register",
                    version=number,
                    artifact_id=art.id,
                    comment=comment,
                    data={"kind": art.kind, "artifact_name": art.name},
                )
            ]

        write_registry(found, name, decide)
        registered = get_model(name, trail=found)
        return registered.version(existing[0] if existing else registered.latest.version)


def get_model(name: str, *, trail=None) -> RegisteredModel:
    """A registered model, replayed from its history; UsageError if nothing has that name."""
    from ..store import registry_history

    check_name(name)
    with using_trail(trail) as found:
        rows = registry_history(found, name)
    if not rows:
        raise UsageError(f"no registered model named {name!r} (nbtrail registry list)")
    return RegisteredModel.from_history(name, rows)


def list_models(*, trail=None) -> pd.DataFrame:
    """Every registered model: versions, the latest, its aliases."""
    from ..store import registry_history

    with using_trail(trail) as found:
        rows = registry_history(found)
    by_model: dict[str, list] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    out = []
    for name, history in sorted(by_model.items()):
        model = RegisteredModel.from_history(name, history)
        out.append(
            {
                "name": name,
                "versions": len(model.versions),
                "latest": model.latest.version if model.latest else None,
                "aliases": ", ".join(f"{a}=v{v}" for a, v in sorted(model.aliases.items())),
            }
        )
    return pd.DataFrame(out, columns=["name", "versions", "latest", "aliases"])


def resolve(ref: str, *, trail=None) -> Path:
    """The file serving code loads for ``NAME@ALIAS``, ``NAME@3`` or ``NAME`` (the latest).

    Refuses when the file no longer holds the version's bytes: serving code must never load a
    model other than the one the registry names.
    """
    from ..fingerprints import fingerprint_file

    name, _, which = str(ref).partition("@")
    with using_trail(trail) as found:
        model = get_model(name, trail=found)
        version = model.version(which) if which else model.latest
        art = found.get_artifact(version.artifact_id)
        paths = found.artifact_paths(art.id) if art.kind == "file" else []
        root = found.project_root
    if not paths:
        raise UsageError(
            f"{version.ref} is a model object ({art.name}) with no file: register the file it "
            "was saved to"
        )
    for path in paths:
        candidate = Path(path) if Path(path).is_absolute() else root / path
        if candidate.is_file() and fingerprint_file(candidate).digest == art.id:
            return candidate
    raise UsageError(
        f"{version.ref}: {', '.join(paths)} no longer holds this version's bytes (overwritten or "
        f"removed; nbtrail checkout {art.short} PATH restores a snapshot)"
    )
