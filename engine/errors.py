"""Typed errors the engine raises; the CLI and the GUI turn them into messages for people."""


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


class ImageReadError(PhotosiftError):
    """One image could not be read; the reason is recorded for that file and the job goes on."""


class QueryError(PhotosiftError):
    """A search query could not be understood."""


class Cancelled(PhotosiftError):
    """A job stopped because its CancelToken was set."""


class CatalogDamagedError(PhotosiftError):
    """The catalog file is not a readable SQLite database (damaged, truncated or overwritten)."""


class CatalogReadOnlyError(PhotosiftError):
    """The catalog can be read but not written (file or folder permissions, a read-only disk)."""


class DiskFullError(PhotosiftError):
    """A write failed because the disk (or the user's quota) is full."""


class FolderOverlapError(PhotosiftError):
    """A folder to add lies inside, or contains, a folder that is already in the library."""


class InvalidTagError(PhotosiftError, ValueError):
    """A tag name is empty or too long."""
