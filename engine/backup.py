"""Catalog backups and repair: the safety net under the one file that cannot be recomputed.

Backups are SQLite backup-API copies (consistent while other connections write) in the library's
`backups/` folder, made before a schema migration and at most daily while indexing; each copy passes an
integrity check before older ones are pruned, so a damaged catalog never pushes out the last good copy.
Repair never deletes anything: a damaged (or empty) catalog is renamed aside, then the newest good backup
takes its place, or, without one, a fresh catalog is started with the folders that can still be read; what
it is about to do is written to repair.log in the library folder (and synced) before it does it.

A backup is written to a hidden `.catalog-....db.tmp` file, then renamed; its writer holds a lock on that
file until then, which the kernel drops when the writer dies. A tmp file that can be locked was therefore
left by a killed writer: it (a full-size copy of the catalog) and its journal are removed at the next backup
and whenever the library is opened for writing; one a live process is writing is left alone.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import filelock

from engine.errors import CatalogDamagedError, LibraryBusyError, PhotosiftError
from engine.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, LibraryPaths

if TYPE_CHECKING:
    from engine.catalog import PhotoCatalog

log = logging.getLogger(__name__)

BACKUP_KEEP = 3
BACKUP_EVERY_S = 24 * 3600
_PREFIX = "catalog-"
REPAIR_LOG = "repair.log"
_COMPANIONS = ("-journal", "-wal", "-shm")  # what SQLite may keep beside a backup's tmp file while writing it


def backup_dir(catalog_path: Path) -> Path:
    return Path(catalog_path).parent / "backups"


def list_backups(catalog_path: Path) -> list[Path]:
    """The catalog's backups, newest first (names carry their time, so they sort by it)."""
    folder = backup_dir(catalog_path)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{_PREFIX}*.db"), key=lambda p: p.name, reverse=True)


def newest_good_backup(catalog_path: Path) -> Path | None:
    """The newest backup of the catalog that passes the integrity check, or None."""
    return next((b for b in list_backups(catalog_path) if integrity_problem(b) is None), None)


def _leftovers(folder: Path) -> list[Path]:
    """Unfinished backup files (`.catalog-....db.tmp` and the journal SQLite writes beside it), whoever wrote them."""
    return sorted(folder.glob(f".{_PREFIX}*.db.tmp*")) if folder.is_dir() else []


def _lock_nowait(fd: int) -> bool:
    """Take the exclusive lock a backup's writer holds on its tmp file while it writes it; False when another
    process holds it (the kernel drops it when its holder dies, killed or not)."""
    try:
        import fcntl
    except ImportError:  # Windows: a file another process has open cannot be removed, so the unlink refuses
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def clean_backup_leftovers(catalog_path: Path) -> int:
    """Remove the unfinished backups a killed writer left in backups/ (full-size copies of the catalog, and
    their journals); returns how many files went. One being written now is left alone: its writer holds a
    lock on it (see _write_backup), which a killed writer no longer does."""
    removed = 0
    for leftover in _leftovers(backup_dir(catalog_path)):
        if not leftover.name.endswith(".tmp"):
            continue  # a journal goes with its tmp file
        try:
            fd = os.open(leftover, os.O_RDONLY)
        except FileNotFoundError:
            continue  # finished (renamed) or removed meanwhile
        try:
            if not _lock_nowait(fd):
                continue  # being written by a live process
            for f in (leftover, *(Path(f"{leftover}{suffix}") for suffix in _COMPANIONS)):
                try:
                    f.unlink()
                    removed += 1
                    log.info("removed %s, an unfinished backup left by a process that was stopped", f)
                except FileNotFoundError:
                    pass
        except OSError as e:  # a read-only folder, a file in use on Windows: left for another time
            log.warning("could not remove the unfinished backup %s: %s", leftover, e)
        finally:
            os.close(fd)
    for companion in _leftovers(backup_dir(catalog_path)):  # a journal (or WAL file) whose tmp file has gone
        suffix = companion.name[companion.name.rindex(".tmp") + 4:]
        if suffix in _COMPANIONS and not companion.with_name(companion.name[:-len(suffix)]).exists():
            companion.unlink(missing_ok=True)
            removed += 1
    return removed


def backup_catalog(catalog: PhotoCatalog, reason: str = "daily", keep: int = BACKUP_KEEP) -> Path:
    """Copy the catalog into backups/ and keep the newest `keep` good copies; returns the new copy.
    Unfinished backups that killed writers left there are removed first."""
    folder = backup_dir(catalog.path)
    folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    clean_backup_leftovers(catalog.path)
    now = time.time_ns()  # one reading: two (seconds, then nanoseconds) sorted out of order at a second's turn
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 1_000_000_000)) + f"-{now % 1_000_000_000:09d}"
    final = folder / f"{_PREFIX}{stamp}-{reason}.db"
    tmp = folder / f".{final.name}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        # Locked until renamed (the lock goes with this process, killed or not), so that no other process takes
        # it for a killed writer's leftover; one that did in the instant before the lock removed it: give up.
        if not _lock_nowait(fd) or os.fstat(fd).st_ino != os.stat(tmp).st_ino:
            raise OSError(f"the unfinished backup {tmp} was taken for a leftover by another process; try again")
        catalog.copy_to(tmp)
        problem = integrity_problem(tmp)
        if problem:
            raise CatalogDamagedError(f"the catalog {catalog.path} is damaged ({problem}); no backup was made; "
                                      "run `photosift doctor --repair`")
        os.fsync(fd)
        os.replace(tmp, final)
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)
    for old in list_backups(catalog.path)[keep:]:
        old.unlink(missing_ok=True)
    return final


def backup_if_due(catalog: PhotoCatalog, every_s: float = BACKUP_EVERY_S) -> Path | None:
    """A backup when the newest is older than `every_s`; a failure is logged, never raised (it is a safety net)."""
    if catalog.read_only:
        return None
    newest = list_backups(catalog.path)[:1]
    try:
        if newest and time.time() - newest[0].stat().st_mtime < every_s:
            return None
        return backup_catalog(catalog, "daily")
    except (OSError, sqlite3.Error, PhotosiftError) as e:
        log.warning("could not back up the catalog %s: %s", catalog.path, e)
        return None


def integrity_problem(path: Path) -> str | None:
    """None when `path` is a sound Photosift catalog (PRAGMA quick_check), else what is wrong with it."""
    from engine.catalog import catalog_file_problem

    path = Path(path)
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    return catalog_file_problem(path)


@dataclass
class RepairReport:
    catalog: Path
    problem: str | None = None  # None: the catalog was sound and nothing was changed
    kept_as: Path | None = None  # where the damaged catalog now lies
    restored: Path | None = None  # the backup that replaced it
    folders: list[str] = field(default_factory=list)  # the library's folders after the repair
    photos: int = 0


def repair_catalog(paths: LibraryPaths) -> RepairReport:
    """Check the catalog; when damaged, empty, or missing from a library in use, keep it aside and restore the
    newest good backup or start afresh. The plan goes to repair.log (synced) before anything is moved."""
    from engine.catalog import PhotoCatalog

    report = RepairReport(paths.catalog)
    if not paths.catalog.exists() and not library_in_use(paths):
        return report  # no library here yet: nothing to repair
    report.problem = integrity_problem(paths.catalog)
    if report.problem is None:
        return report
    lock = filelock.FileLock(str(paths.write_lock))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise LibraryBusyError(f"library {paths.root} is being updated by another Photosift process; "
                               "let it finish (or stop it), then repair") from None
    try:
        good = newest_good_backup(paths.catalog)
        aside = _aside_name(paths.catalog) if paths.catalog.exists() else None
        _log_intent(paths, f"catalog {paths.catalog} is {report.problem}: "
                    + (f"moving it (and its -wal, -shm) to {aside.name}, then " if aside else "")
                    + (f"restoring the backup {good}" if good else "starting a fresh catalog with the folders it "
                       "still names (no good backup)"))
        report.kept_as = _set_aside(paths.catalog, aside)
        if good is not None:
            _restore(good, paths.catalog)
            report.restored = good
        _drop_vector_indexes(paths.indexes)
        with PhotoCatalog(paths.catalog, before_migration=backup_catalog) as catalog:
            if good is None and report.kept_as is not None:
                for folder in _salvage_folders(report.kept_as):
                    catalog.add_root(folder)
            report.folders = [r.path for r in catalog.roots()]
            report.photos = catalog.counts()["total"]
        _log_intent(paths, f"done: {report.photos} photos in {len(report.folders)} folders")
    finally:
        lock.release()
    return report


def _log_intent(paths: LibraryPaths, text: str) -> None:
    """One line in the library's repair.log, on disk before the step it announces is taken."""
    fd = os.open(paths.root / REPAIR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        os.write(fd, f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n".encode("utf-8", "backslashreplace"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _aside_name(catalog: Path) -> Path:
    """catalog-damaged-<time>.db, with a number added when a repair of the same second took that name."""
    stem = f"catalog-damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    kept, n = catalog.with_name(f"{stem}.db"), 1
    while any(Path(f"{kept}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
        n += 1
        kept = catalog.with_name(f"{stem}-{n}.db")
    return kept


def _set_aside(catalog: Path, kept: Path | None) -> Path | None:
    """Rename the catalog and its WAL files to `kept` (catalog-damaged-<time>.db*); never deletes them."""
    if kept is None or not catalog.exists():
        return None
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{catalog}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{kept}{suffix}"))
    return kept


def _restore(backup: Path, catalog: Path) -> None:
    tmp = catalog.with_name(f".{catalog.name}.restore.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE))
    try:
        src = sqlite3.connect(f"file:{quote(str(backup.absolute()))}?mode=ro", uri=True)
        dest = sqlite3.connect(str(tmp))
        try:
            src.backup(dest)
        finally:
            dest.close()
            src.close()
        os.replace(tmp, catalog)
    finally:
        tmp.unlink(missing_ok=True)


def _drop_vector_indexes(indexes: Path) -> None:
    """The search indexes mirror the old catalog's photo ids; they are rebuilt from the restored one."""
    if indexes.is_dir():
        for f in [*indexes.glob("*.usearch"), *indexes.glob("*.json")]:
            f.unlink(missing_ok=True)


def _salvage_folders(damaged: Path) -> list[str]:
    """The folders a damaged catalog still names (often readable: the roots table is small and early)."""
    from engine.catalog import folders_of_damaged_catalog

    return folders_of_damaged_catalog(damaged)


def library_in_use(paths: LibraryPaths) -> bool:
    """Whether the folder holds what only a library that was used leaves: backups, a write lock, thumbnails or
    search indexes, a catalog set aside by a repair, or a catalog's WAL file. (The empty thumbnails/ and
    indexes/ folders that opening makes are not enough: a first open killed before its catalog had a schema
    leaves them, and nothing was lost.)"""
    if list_backups(paths.catalog) or paths.write_lock.exists() or Path(f"{paths.catalog}-wal").exists():
        return True
    if any(paths.root.glob("catalog-damaged-*.db")):
        return True
    return any(_not_empty(folder) for folder in (paths.thumbnails, paths.indexes))


def _not_empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except (FileNotFoundError, NotADirectoryError):
        return False
