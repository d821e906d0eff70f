"""Where a library and the shared model/download caches live (platformdirs, overridable by env)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "photosift"


def default_library_dir() -> Path:
    env = os.environ.get("PHOTOSIFT_LIBRARY")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME)) / "library"


def models_dir() -> Path:
    """Installed model folders, shared by all libraries of this user."""
    env = os.environ.get("PHOTOSIFT_MODELS")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


def known_libraries_file() -> Path:
    """The list of libraries that use the models in models_dir() (kept beside them, so that it follows
    PHOTOSIFT_MODELS): `photosift models remove` asks each whether the model is its active one."""
    return models_dir() / "libraries.json"


def download_cache_dir() -> Path:
    env = os.environ.get("PHOTOSIFT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir(APP_NAME))


@dataclass(frozen=True)
class LibraryPaths:
    """The files of one library folder."""

    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.db"

    @property
    def thumbnails(self) -> Path:
        return self.root / "thumbnails"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def write_lock(self) -> Path:
        return self.root / "write.lock"

    def ensure(self) -> LibraryPaths:
        for p in (self.root, self.thumbnails, self.indexes):
            p.mkdir(parents=True, exist_ok=True)
        return self
