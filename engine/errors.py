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


class TransientReadError(ImageReadError):
    """An image could not be read for a reason that may pass (file vanished, I/O error, disk full, no
    permission): the next index tries it again, where a plain ImageReadError waits for the file to change."""


class QueryError(PhotosiftError):
    """A search query could not be understood."""


class Cancelled(PhotosiftError):
    """A job stopped because its CancelToken was set."""
