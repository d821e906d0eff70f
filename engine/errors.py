"""Typed errors the engine raises; the CLI and the GUI turn them into messages for people."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path


class PhotosiftError(Exception):
    """Base of every error meant to be shown to a user as one clear line."""


class CatalogVersionError(PhotosiftError):
    """The catalog was written by a newer Photosift and must not be touched by this one."""


class LibraryBusyError(PhotosiftError):
    """Another process holds the library's write lock."""


class ModelNotInstalledError(PhotosiftError):
    """A model id was asked for whose folder is not present; the application may prepare it."""

    def __init__(self, model_id: str, message: str | None = None) -> None:
        super().__init__(message or f"model '{model_id}' is not installed")
        self.model_id = model_id


class ModelFolderError(PhotosiftError):
    """A model folder exists but is incomplete or inconsistent."""


class DamagedModelError(ModelFolderError):
    """A file of an installed model does not load or run (truncated, overwritten, inconsistent)."""

    def __init__(self, model_id: str, path: Path, reason: str, advice: str) -> None:
        super().__init__(f"the model '{model_id}' is damaged: {path} cannot be used ({reason}); {advice}")
        self.model_id, self.path, self.reason = model_id, path, reason


class ImageReadError(PhotosiftError):
    """One image could not be read; the reason is recorded for that file and the job goes on."""


class TransientReadError(ImageReadError):
    """An image could not be read for a reason that may pass (file vanished, I/O error, disk full, no
    permission): the next index tries it again, where a plain ImageReadError waits for the file to change."""


class QueryError(PhotosiftError):
    """A search query could not be understood."""


class Cancelled(PhotosiftError):
    """A job stopped because its CancelToken was set."""


class CatalogDamagedError(PhotosiftError):
    """The catalog file is not a readable SQLite database (damaged, truncated or overwritten)."""


class CatalogMissingError(PhotosiftError):
    """A library folder that was in use (backups, thumbnails, a write lock) has lost its catalog, or has an empty
    one: it is refused, never taken for a new library, until `photosift doctor --repair` restores a backup."""


class NoLibraryError(PhotosiftError):
    """No library at the folder given, and the command is not one that starts a library (only `add` is)."""


class CatalogReadOnlyError(PhotosiftError):
    """The catalog can be read but not written (file or folder permissions, a read-only disk)."""


class DiskFullError(PhotosiftError):
    """A write failed because the disk (or the user's quota) is full."""


class FolderOverlapError(PhotosiftError):
    """A folder to add lies inside, or contains, a folder that is already in the library."""


class InvalidTagError(PhotosiftError, ValueError):
    """A tag name is empty or too long."""


def catalog_error(exc: sqlite3.Error, path: Path) -> Exception:
    """The typed error (with the cause and what to do) for an SQLite failure, or `exc` when it is none of them."""
    text = str(exc)
    if "disk is full" in text or ("disk I/O error" in text and _disk_full(path)):
        return DiskFullError(f"the disk holding the catalog {path.parent} is full ({text}); free some space "
                             "and run the command again (work done so far is kept)")
    if "malformed" in text or "not a database" in text or "disk image" in text:
        return CatalogDamagedError(f"the catalog {path} is damaged ({text}); run `photosift doctor --repair` "
                                   "to restore its latest backup or rebuild it")
    if "readonly" in text:
        return CatalogReadOnlyError(f"the catalog {path} is read-only ({text}); `status` and `search` work, "
                                    "but to change the library make the catalog and its folder writable")
    return exc


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 1 << 20
    except OSError:
        return False
