"""One photo library: its folder, catalog, thumbnail cache, vector indexes and write lock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from engine.catalog import PhotoCatalog
from engine.errors import CatalogReadOnlyError, LibraryBusyError
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
        return cls(paths, PhotoCatalog(paths.catalog))

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
