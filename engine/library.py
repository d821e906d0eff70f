"""One photo library: its folder, catalog, thumbnail cache, vector indexes and write lock; and which
libraries use a model.

Only `photosift add` and the window start a library (Library.open(create=True)); every other command opens
one that exists, and a command that only reads opens it read-only, creating and writing nothing. A library
folder that was in use (backups, thumbnails, a write lock...) whose catalog is missing or empty is never
taken for a new library: it is refused until `photosift doctor --repair` restores its newest good backup.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from engine.backup import backup_catalog, clean_backup_leftovers, library_in_use, newest_good_backup
from engine.catalog import PhotoCatalog, catalog_is_blank, read_setting
from engine.errors import CatalogMissingError, CatalogReadOnlyError, LibraryBusyError, NoLibraryError, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback
from engine.known_libraries import known_libraries, register_library
from engine.modelfolder import DEFAULT_MODEL_ID
from engine.paths import LibraryPaths, default_library_dir

ACTIVE_MODEL_KEY = "active_model"


class Library:
    """Open with `Library.open(folder)`; close (or use as a context manager) when done."""

    def __init__(self, paths: LibraryPaths, catalog: PhotoCatalog) -> None:
        self.paths = paths
        self.catalog = catalog

    @classmethod
    def open(cls, folder: Path, *, create: bool = True, read_only: bool = False) -> Library:
        """The library in `folder`. create=False: NoLibraryError when there is none (every command but `add`);
        read_only: its catalog opened for reading only, nothing created or written (status, doctor).
        CatalogMissingError, whatever is asked, when a library in use there has lost its catalog."""
        paths = check_library(folder, create=create and not read_only)
        if read_only:
            return cls(paths, PhotoCatalog(paths.catalog, read_only=True))
        paths.ensure()
        clean_backup_leftovers(paths.catalog)
        library = cls(paths, PhotoCatalog(paths.catalog, before_migration=backup_catalog))
        register_library(paths.root)
        return library

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active_model_id(self) -> str:
        return self.catalog.get_setting(ACTIVE_MODEL_KEY) or os.environ.get("PHOTOSIFT_MODEL") or DEFAULT_MODEL_ID

    def set_active_model(self, model_id: str) -> None:
        """Only the setting: switching a library's model is engine.switching.switch_active_model, which
        brings the zero-shot tags along in the same transaction."""
        self.catalog.set_setting(ACTIVE_MODEL_KEY, model_id)

    @contextmanager
    def write_lock(self, wait_s: float = 0.0) -> Iterator[None]:
        """Held by whoever scans or indexes; a second writer waits up to wait_s, then is refused.

        A read-only catalog refuses every writer up front, before anything is changed.
        """
        if self.catalog.read_only:
            raise CatalogReadOnlyError(
                f"the catalog {self.catalog.path} is read-only; `status` and `search` work, but to change the "
                "library make the catalog and its folder writable")
        lock = filelock.FileLock(str(self.paths.write_lock))
        try:
            lock.acquire(timeout=wait_s)
        except filelock.Timeout:
            raise LibraryBusyError(
                f"library {self.paths.root} is being updated by another Photosift process; "
                "wait for it to finish (or use --wait SECONDS)") from None
        try:
            yield
        finally:
            lock.release()


def check_library(folder: Path, *, create: bool = False) -> LibraryPaths:
    """The paths of the library in `folder` when it has a catalog (or may be started there: `create`).

    NoLibraryError when there is none and `create` is False; CatalogMissingError when a library in use there
    lost its catalog or has an empty one (never mistaken for a new library, which would look like one that
    lost every photo), naming the newest good backup and the command that restores it."""
    paths = LibraryPaths(Path(folder).expanduser().absolute())
    present = paths.catalog.exists()
    if present and not catalog_is_blank(paths.catalog):
        return paths
    if library_in_use(paths):
        raise CatalogMissingError(_missing_catalog_message(paths, "is empty" if present else "is missing"))
    if not create:
        raise NoLibraryError(f"there is no Photosift library at {paths.root}; `photosift add FOLDER` creates one "
                             "there (check --library or PHOTOSIFT_LIBRARY)")
    return paths


def _missing_catalog_message(paths: LibraryPaths, what: str) -> str:
    default = default_library_dir().expanduser().absolute()
    where = "" if paths.root == default else f" --library {paths.root}"
    repair = f"photosift{where} doctor --repair"
    good = newest_good_backup(paths.catalog)
    if good is None:
        return (f"the catalog {paths.catalog} {what}, but {paths.root} held a library, and it has no good backup; "
                f"`{repair}` starts an empty catalog there (folders must then be added again)")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(good.stat().st_mtime))
    return (f"the catalog {paths.catalog} {what}, but {paths.root} held a library; `{repair}` restores its newest "
            f"good backup, {good.name} ({when})")


def _default_model() -> str:
    return os.environ.get("PHOTOSIFT_MODEL") or DEFAULT_MODEL_ID


def active_model_of(folder: Path) -> str:
    """The active model of the library in `folder`, read without creating or changing anything there.

    Read-only on purpose: asking which model a library uses (`models remove` asks it of every known library)
    must not upgrade that library's catalog, which would lock out an older Photosift still using it, nor
    write backups into libraries the user is not working on."""
    catalog = LibraryPaths(Path(folder).expanduser().absolute()).catalog
    if not catalog.is_file():
        return _default_model()
    return read_setting(catalog, ACTIVE_MODEL_KEY) or _default_model()


def libraries_using(model_id: str, also: tuple[Path, ...] = ()) -> list[tuple[Path, str | None]]:
    """Every known library (and those in `also`) whose active model is `model_id`, as (folder, None); a
    library whose catalog cannot be read is listed too, as (folder, why): it may use the model."""
    folders = dict.fromkeys(Path(f).expanduser().absolute() for f in (*known_libraries(), *also))
    out: list[tuple[Path, str | None]] = []
    for folder in folders:
        if not LibraryPaths(folder).catalog.is_file():
            continue  # no library there (yet): it uses nothing
        try:
            if active_model_of(folder) == model_id:
                out.append((folder, None))
        except (PhotosiftError, OSError, sqlite3.Error) as e:
            out.append((folder, f"could not be read: {e}"))
    return out


def name_library_places(library_dir: Path, progress: ProgressCallback, token: CancelToken) -> int:
    """The window's job (in a child process): name the places a library's catalog lacks. It takes no write
    lock: it writes only place rows, each batch in its own short transaction, so an index may run beside it."""
    from engine.places import fill_places  # the gazetteer's arrays only in that child process

    with Library.open(library_dir) as lib:
        if lib.catalog.read_only:
            return 0
        return fill_places(lib.catalog, progress=progress, cancel=token)
