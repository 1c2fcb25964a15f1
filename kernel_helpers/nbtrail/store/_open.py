"""Opening a trail: found like git finds ``.git``, created on demand, opened to read or write."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from ..config import HOME_DIRNAME, Settings, load_settings
from ..errors import TrailNotFound, UsageError
from ._blobs import BlobStore, LocalBlobStore, open_blob_store
from ._trail import Trail

__all__ = ["init_trail", "open_or_create_trail", "open_trail"]


def _sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'trail.db'}"


def _prepare_home(home: Path) -> None:
    if home.exists() and not home.is_dir():
        raise TrailNotFound(f"{home} is a file, not a trail folder")
    try:
        home.mkdir(exist_ok=True)
        (home / "objects").mkdir(exist_ok=True)
        ignore = home / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# the trail is data, not source: keep it out of git\n*\n")
    except PermissionError:
        raise UsageError(f"cannot create a trail in {home.parent}: permission denied") from None
    except FileNotFoundError:
        raise UsageError(f"cannot create a trail in {home.parent}: no such folder") from None
    except OSError as exc:
        raise UsageError(f"cannot create a trail in {home.parent}: {exc.strerror}") from None
    if not os.access(home, os.W_OK):
        raise UsageError(f"{home} is not writable")


def _build(
    settings: Settings, home: Path | None, *, readonly: bool = False, create: bool = False
) -> Trail:
    store_url = settings.store_url or (_sqlite_url(home) if home else None)
    if store_url is None:
        raise TrailNotFound(
            "no trail here: no .nbtrail folder in this folder or any parent; "
            "run `nbtrail init` or set NBTRAIL_HOME"
        )
    if settings.blob_url:
        blobs: BlobStore | None = open_blob_store(settings.blob_url)
    elif home is not None:
        blobs = LocalBlobStore(home / "objects")
    else:
        blobs = None
    if readonly and settings.store_url is None and not (home / "trail.db").is_file():
        raise TrailNotFound(f"no trail in {home} yet: nothing was recorded there")
    # nbtrail's own SQLite file in a .nbtrail folder is created on first write; a configured
    # database (NBTRAIL_STORE_URL) only by `nbtrail init`, and only when it is empty.
    create = create or settings.store_url is None
    return Trail(
        store_url, blobs=blobs, home=home, settings=settings, readonly=readonly, create=create
    )


def open_trail(
    start: str | os.PathLike | None = None,
    *,
    settings: Settings | None = None,
    readonly: bool = False,
) -> Trail:
    """Open the trail that applies in ``start`` (default: the working directory).

    The trail is found like git finds ``.git``: ``NBTRAIL_HOME``, then ``home`` in
    ``[tool.nbtrail]``, then the nearest ``.nbtrail`` folder upward. ``NBTRAIL_STORE_URL``
    puts the database elsewhere (PostgreSQL); ``NBTRAIL_BLOB_URL`` the blobs.

    With ``readonly=True`` the trail is opened to read: nothing is created, migrated, recovered
    or written (a viewer, a report, ``nbtrail verify``).

    Raises
    ------
    TrailNotFound
        If there is no trail, or what is there is not a trail.
    SchemaTooNew
        If the trail was written by a newer nbtrail.
    """
    settings = settings or load_settings(start)
    home = settings.home
    if home is not None:
        if home.is_file():
            raise TrailNotFound(f"{home} is a file, not a trail folder")
        if not home.exists() and readonly:
            raise TrailNotFound(f"trail folder {home} does not exist")
        if not home.exists():
            if not home.parent.is_dir():
                raise TrailNotFound(f"trail folder {home} does not exist")
            _prepare_home(home)
        db = home / "trail.db"
        if settings.store_url is None and db.exists() and not db.is_file():
            raise TrailNotFound(f"{db} is not a file")
    return _build(settings, home, readonly=readonly)


def init_trail(folder: str | os.PathLike = ".", *, settings: Settings | None = None) -> Trail:
    """Create a trail in ``folder/.nbtrail`` (or NBTRAIL_HOME) and open it.

    Opening an existing trail is not an error: init is idempotent.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    settings = settings or load_settings(folder)
    # An explicit home (NBTRAIL_HOME, [tool.nbtrail] home) wins; a trail found further up
    # does not: like `git init`, init makes a trail here.
    if settings.home is not None and settings.home_source in ("env", "config"):
        home = settings.home
    else:
        home = folder / HOME_DIRNAME
    _prepare_home(home)
    return _build(dataclasses.replace(settings, home=home, home_source="init"), home, create=True)


def open_or_create_trail(start: str | os.PathLike | None = None) -> Trail:
    """Open the trail that applies here to write; create one in ``start`` if none is configured."""
    settings = load_settings(start)
    if settings.home is None and settings.store_url is None:
        trail = init_trail(start or os.getcwd())
        print(f"nbtrail: created a trail in {trail.home}", file=sys.stderr)
        return trail
    return open_trail(start, settings=settings)
