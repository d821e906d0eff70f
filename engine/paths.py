"""Where a library and the shared model/download caches live (platformdirs, overridable by env)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "photosift"
# A library holds paths, dates, places and tags: readable by its owner only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


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

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def ensure(self) -> LibraryPaths:
        """Create the library's folders (owner-only) and tighten what an older version left readable to all."""
        for p in (self.root, self.thumbnails, self.indexes):
            p.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        self.tighten()
        return self

    def tighten(self) -> None:
        """Owner-only modes on the folders and on the catalog, its WAL files, caches and backups.

        Thumbnails are written owner-only already and may be many, so they are not walked. What cannot be
        changed (a read-only disk, another owner's library) is left as it is.
        """
        for folder in (self.root, self.thumbnails, self.indexes, self.backups):
            _private(folder)
        for folder in (self.root, self.indexes, self.backups):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    _private(Path(entry.path))


def _private(path: Path) -> None:
    """Drop the group and other permission bits (the owner's bits stay: a read-only file stays read-only)."""
    try:
        st = path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.chmod(path, st.st_mode & 0o7700)
    except (OSError, AttributeError):  # missing, read-only, not ours; os.geteuid is POSIX-only
        pass
