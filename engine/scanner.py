"""Incremental scan of library roots against the catalog: new, changed, moved, deleted, offline.

Safety rules: a root that is missing, unreadable or suddenly empty is marked offline and nothing of it
is deleted; photos under a sub-folder that could not be read are kept; symlinked folders are followed
once (never in a loop); names that are not valid UTF-8 are kept as their exact bytes.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.catalog import Photo, PhotoCatalog, Root
from engine.imageio import fingerprint, is_photo_name
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress

log = logging.getLogger(__name__)

SYSTEM_FOLDERS = frozenset({
    b"$RECYCLE.BIN", b"System Volume Information", b"lost+found", b"@eaDir", b"#recycle", b"__MACOSX",
    b"node_modules", b"Thumbs.db", b"$Recycle.Bin", b".Trashes", b".Spotlight-V100", b".fseventsd",
})
COMMIT_EVERY = 500


@dataclass
class FoundFile:
    path: str  # display/catalog key (valid UTF-8)
    raw_path: bytes | None  # exact bytes when the name is not valid UTF-8
    size: int
    mtime: float


@dataclass
class ScanReport:
    new: int = 0
    changed: int = 0
    moved: int = 0
    copied: int = 0
    deleted: int = 0
    unchanged: int = 0
    offline_roots: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def to_index(self) -> int:
        return self.new + self.changed


def path_key(raw: bytes) -> tuple[str, bytes | None]:
    """A catalog key for a file system path; the exact bytes are kept when they are not UTF-8."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw


def _walk(top: bytes, unreadable: list[tuple[str, str]], cancel: CancelToken | None) -> Iterator[FoundFile]:
    seen_dirs: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        if cancel:
            cancel.check()
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                continue  # a symlink loop or a folder linked twice
            seen_dirs.add(key)
            entries = list(os.scandir(folder))
        except OSError as e:
            unreadable.append((path_key(folder)[0], e.strerror or str(e)))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(b".") or name in SYSTEM_FOLDERS:
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                    continue
                if not is_photo_name(name) or not entry.is_file(follow_symlinks=True):
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError as e:
                unreadable.append((path_key(entry.path)[0], e.strerror or str(e)))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            path, raw = path_key(entry.path)
            yield FoundFile(path, raw, st.st_size, st.st_mtime)


def root_problem(path: str) -> str | None:
    """Why a root cannot be scanned now (unplugged, unreadable), or None when it can."""
    if not os.path.exists(path):
        return "folder not found (drive unplugged or folder moved?)"
    if not os.path.isdir(path):
        return "not a folder"
    try:
        with os.scandir(path) as it:
            next(it, None)
    except OSError as e:
        return f"cannot read folder: {e.strerror or e}"
    return None


def _fp(f: FoundFile) -> str | None:
    try:
        return fingerprint(f.raw_path or f.path, f.size)
    except OSError:
        return None


def scan(catalog: PhotoCatalog, roots: list[Root] | None = None, *, progress: ProgressCallback = ignore_progress,
         cancel: CancelToken | None = None) -> ScanReport:
    """Bring the catalog in line with the files under the given (default: all) roots."""
    report = ScanReport()
    found: dict[str, tuple[Root, FoundFile]] = {}
    existing: dict[str, Photo] = {}
    protected_prefixes: list[str] = []
    suspicious_empty: list[tuple[Root, list[Photo]]] = []
    clock = ProgressClock("scan", 0, progress)
    for root in roots if roots is not None else catalog.roots():
        problem = root_problem(root.path)
        known = catalog.photos_of_root(root.id)
        files: list[FoundFile] = []
        if problem is None:
            unreadable: list[tuple[str, str]] = []
            files = list(_walk(os.fsencode(root.path), unreadable, cancel))
            report.unreadable.extend(unreadable)
            protected_prefixes.extend(p.rstrip(os.sep) + os.sep for p, _ in unreadable)
            if not files and known and not unreadable and not os.listdir(root.path):
                suspicious_empty.append((root, known))
                continue
        if problem is not None:
            catalog.set_root_state(root.id, "offline", problem)
            report.offline_roots.append(root.path)
            log.warning("root %s is offline: %s", root.path, problem)
            continue
        catalog.set_root_state(root.id, "online")
        existing.update((p.path, p) for p in known)
        for f in files:
            found[f.path] = (root, f)
        clock.report(len(found), root.path)
    for root, known in suspicious_empty:
        if _moved_elsewhere(known, found):
            catalog.set_root_state(root.id, "online")
            existing.update((p.path, p) for p in known)
        else:
            problem = "folder is empty but the catalog knows photos in it (drive not mounted?)"
            catalog.set_root_state(root.id, "offline", problem)
            report.offline_roots.append(root.path)
            log.warning("root %s is offline: %s", root.path, problem)
    _apply(catalog, found, existing, protected_prefixes, report, cancel)
    return report


def _moved_elsewhere(known: list[Photo], found: dict[str, tuple[Root, FoundFile]]) -> bool:
    """An emptied folder whose photos turned up elsewhere was emptied on purpose, not unplugged."""
    by_size = {p.size: p.fingerprint for p in known if p.fingerprint}
    return any(f.size in by_size and _fp(f) == by_size[f.size] for _, f in found.values())


def _apply(catalog: PhotoCatalog, found: dict[str, tuple[Root, FoundFile]], existing: dict[str, Photo],
           protected: list[str], report: ScanReport, cancel: CancelToken | None) -> None:
    gone = {path: p for path, p in existing.items() if path not in found
            and not any(path.startswith(pre) for pre in protected)}
    arrived = [(root, f) for path, (root, f) in found.items() if path not in existing]
    pending_writes = 0
    with_fp = [(root, f, _fp(f)) for root, f in arrived]
    gone_by_fp: dict[str, list[Photo]] = {}
    for p in gone.values():
        if p.fingerprint:
            gone_by_fp.setdefault(p.fingerprint, []).append(p)
    known_by_fp = catalog.photos_by_fingerprint(fp for _, _, fp in with_fp if fp)
    catalog.conn.execute("BEGIN IMMEDIATE")
    try:
        for path, (_root, f) in found.items():
            old = existing.get(path)
            if old is None:
                continue
            if old.size != f.size or abs(old.mtime - f.mtime) > 1e-3:
                catalog.mark_changed(old.id, size=f.size, mtime=f.mtime, fingerprint=_fp(f))
                report.changed += 1
                pending_writes += 1
            else:
                report.unchanged += 1
        for root, f, fp in with_fp:
            if cancel and pending_writes % COMMIT_EVERY == 0:
                cancel.check()
            moved_from = gone_by_fp.get(fp or "", [])
            if moved_from:
                src = moved_from.pop()
                del gone[src.path]
                catalog.move_photo(src.id, root_id=root.id, path=f.path, raw_path=f.raw_path, mtime=f.mtime)
                report.moved += 1
            else:
                new_id = catalog.insert_photo(root_id=root.id, path=f.path, raw_path=f.raw_path, size=f.size,
                                              mtime=f.mtime, fingerprint=fp)
                twin = next((p for p in known_by_fp.get(fp or "", []) if p.status == "ok"), None)
                if twin is not None and catalog.copy_indexed_state(twin.id, new_id):
                    report.copied += 1
                else:
                    report.new += 1
            pending_writes += 1
            if pending_writes % COMMIT_EVERY == 0:
                catalog.conn.execute("COMMIT")
                catalog.conn.execute("BEGIN IMMEDIATE")
        catalog.delete_photos([p.id for p in gone.values()])
        report.deleted = len(gone)
        catalog.conn.execute("COMMIT")
    except BaseException:
        catalog.conn.execute("ROLLBACK")
        raise
