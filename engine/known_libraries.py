"""The per-user list of the libraries Photosift has opened, so that a model is never removed from under one.

Models are shared by every library of a user (engine.paths.models_dir); each library keeps its own active
model in its catalog. `photosift models remove` therefore needs to know every library, not only the one it
was pointed at. A library is added to the list whenever it is opened; a library whose folder has gone is
dropped the next time the list is written or read. The file is JSON, written atomically under a file lock;
failing to write it never stops a library from opening.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import filelock

from engine.atomic import write_text_atomic
from engine.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, LibraryPaths, known_libraries_file

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 10.0


def _read(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [str(p) for p in data.get("libraries", []) if isinstance(p, str)]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, AttributeError) as e:
        log.warning("list of libraries %s is unreadable (%s); starting it afresh", path, e)
        return []


def _exists(folder: str) -> bool:
    return LibraryPaths(Path(folder)).catalog.is_file()  # a folder holding a catalog is a library


def _write(path: Path, folders: list[str]) -> None:
    write_text_atomic(path, json.dumps({"format_version": 1, "libraries": folders}, indent=2) + "\n")


def register_library(root: Path) -> None:
    """Add a library folder to the list (absolute path); entries whose folder has gone are dropped."""
    path = known_libraries_file()
    folder = str(Path(root).expanduser().absolute())
    if folder in _read(path):
        return  # the common case: no lock, no write
    try:
        path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        with filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S, mode=PRIVATE_FILE_MODE):
            folders = [f for f in _read(path) if f != folder and _exists(f)]
            _write(path, [*folders, folder])
    except (OSError, filelock.Timeout) as e:
        log.warning("could not add %s to the list of libraries %s: %s", folder, path, e)


def known_libraries() -> list[Path]:
    """The libraries on the list whose folder still holds a catalog (the others are dropped from it)."""
    path = known_libraries_file()
    folders = _read(path)
    alive = [f for f in folders if _exists(f)]
    if len(alive) != len(folders):
        try:
            with filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S, mode=PRIVATE_FILE_MODE):
                _write(path, [f for f in _read(path) if _exists(f)])
        except (OSError, filelock.Timeout) as e:
            log.warning("could not drop gone libraries from %s: %s", path, e)
    return [Path(f) for f in alive]
