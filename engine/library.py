"""One photo library: its folder, catalog, thumbnail cache, vector indexes and write lock; and which
libraries use a model."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from engine.catalog import PhotoCatalog, read_setting
from engine.errors import CatalogReadOnlyError, LibraryBusyError, PhotosiftError
from engine.known_libraries import known_libraries, register_library
from engine.paths import LibraryPaths

DEFAULT_MODEL_ID = "starter"
ACTIVE_MODEL_KEY = "active_model"


class Library:
    """Open with `Library.open(folder)`; close (or use as a context manager) when done."""

    def __init__(self, paths: LibraryPaths, catalog: PhotoCatalog) -> None:
        self.paths = paths
        self.catalog = catalog

    @classmethod
    def open(cls, folder: Path) -> Library:
        paths = LibraryPaths(Path(folder).expanduser().absolute()).ensure()
        library = cls(paths, PhotoCatalog(paths.catalog))
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
