"""Incremental scan of library roots against the catalog: new, changed, moved, deleted, offline.

Safety rules (a photo's row holds its vectors and the user's tags, so nothing is forgotten on a guess):
1. A root that is missing or unreadable is marked offline and nothing of it is touched.
2. A mount point seen inside a root (the root itself included) that is no longer mounted is offline: its
   photos are kept untouched, even though the empty folder left behind can be read. Likewise a vanished
   photo whose device (st_dev, kept on its row) is not the device of the closest folder of its path that is
   still there: its drive is not mounted (or not mounted there), whether or not the mount point was seen.
   Nothing about a drive that is not there is forgotten, `confirm_deletions` or not.
3. Photos under a sub-folder that could not be read, or behind a symlink whose target is missing (an
   unplugged drive behind a link), are kept untouched.
4. When more than half of a folder's known photos (and at least HOLD_MIN of them) vanish in one scan, say a
   root that now holds only `.Trash-0/` or a README, they are not forgotten: they are marked missing
   (kept with their vectors and tags) until the user confirms (`confirm_deletions`, the CLI's
   `index --confirm-deletions`) or they come back. A root where no photo at all is found is marked offline
   and all its vanished photos are kept, however few (unless they turned up elsewhere: a move).
5. A vanished photo with user tags (or rejected tags) is likewise kept as missing until confirmed: user
   tags are never deleted with a row the user did not ask to forget.
6. Only the photos left after these rules, vanished and not found moved, are forgotten.
A vanished photo is found moved when a new path has its content (whole-file fingerprint; an old partial one
for rows of older catalogs, only to find moves), or its device and inode and still the same picture (a
photo edited and renamed between two scans: kept with its id and tags, its vectors computed again).
Symlinked folders are followed once (never in a loop); names that are not valid UTF-8 are kept as their
exact bytes; FIFOs, devices, sockets and dangling links are skipped and listed with a reason.
A scan walks the roots, reads the facts the rules need (`_read_facts`), lets engine/scan_plan.py decide as plain
data (`plan_scan`, tested without SQLite) and writes that plan through the catalog (`_write_plan`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from engine.catalog import Photo, PhotoCatalog, Root
from engine.duplicates import pixel_signature, pixel_similarity
from engine.errors import ImageReadError
from engine.imageio import fingerprint, is_legacy_fingerprint, is_photo_name, legacy_fingerprint, open_photo
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.paths import LibraryPaths
from engine.scan_plan import (  # noqa: F401  (FoundFile and HOLD_MIN: kept importable from here)
    HOLD_MIN,
    FoundFile,
    Moved,
    New,
    ScanFacts,
    ScanPlan,
    is_changed,
    plan_scan,
    present_vanished,
    vanished,
)

log = logging.getLogger(__name__)

SYSTEM_FOLDERS = frozenset({
    b"$RECYCLE.BIN", b"System Volume Information", b"lost+found", b"@eaDir", b"#recycle", b"__MACOSX",
    b"node_modules", b"Thumbs.db", b"$Recycle.Bin", b".Trashes", b".Spotlight-V100", b".fseventsd",
})
COMMIT_EVERY = 500
SKIPPED_KEY = "scan_skipped"  # the last full scan's skipped entries, for `status`
SKIPPED_KEPT = 1000
# An inode found again under a new name with new content is the renamed photo only if its picture still
# correlates this well with the old one's (32x32 grey, engine.duplicates): a freed inode is soon given to an
# unrelated new file, which must not take over a deleted photo's tags. Edits (exposure, a small crop,
# recompression, metadata) stay far above it; unrelated photos mostly fall below 0.3.
RENAMED_EDIT_PIXEL = 0.6
HASH_THREADS = max(1, min(4, os.cpu_count() or 1))  # hashing releases the GIL: new files are hashed in parallel


@dataclass
class ScanReport:
    new: int = 0
    changed: int = 0
    moved: int = 0
    copied: int = 0
    deleted: int = 0
    unchanged: int = 0
    offline_roots: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): contents kept as they were
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): FIFOs, devices, dangling links
    held: int = 0  # vanished photos kept as missing until confirmed (rules 4 and 5)
    held_folders: list[str] = field(default_factory=list)  # folders whose photos vanished many at once
    same_files: int = 0  # files reached through a second root (one folder under two names): listed once

    @property
    def to_index(self) -> int:
        return self.new + self.changed


def last_skipped(catalog: PhotoCatalog) -> list[tuple[str, str]]:
    """What the last full scan skipped (FIFOs, devices, dangling links), with the reasons."""
    try:
        return [(str(p), str(r)) for p, r in json.loads(catalog.get_setting(SKIPPED_KEY) or "[]")]
    except (ValueError, TypeError):
        return []


def path_key(raw: bytes) -> tuple[str, bytes | None]:
    """A catalog key for a file system path; the exact bytes are kept when they are not UTF-8."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw


@dataclass
class _Walk:
    """What a walk of one root found besides its photos."""

    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)  # links whose target is missing: kept as they were
    mounts: list[str] = field(default_factory=list)  # mount points inside the root, the root included


def _odd_entry(entry: os.DirEntry[bytes]) -> tuple[str, bool] | None:
    """Why an entry that is neither a folder nor a regular file is skipped, and whether it is a dangling link."""
    try:
        if entry.is_symlink():
            try:
                mode = os.stat(entry.path).st_mode
            except OSError as e:
                return f"link target missing: {e.strerror or e}", True
            prefix = "link to "
        else:
            mode = entry.stat(follow_symlinks=False).st_mode
            prefix = ""
    except OSError as e:
        return f"cannot read: {e.strerror or e}", False
    if stat.S_ISFIFO(mode):
        return f"{prefix}a FIFO (named pipe), not a photo", False
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"{prefix}a device, not a photo", False
    if stat.S_ISSOCK(mode):
        return f"{prefix}a socket, not a photo", False
    return None


def mount_points() -> frozenset[bytes]:
    """The mount points Linux lists for this process (/proc/self/mountinfo), bind mounts included: a folder of
    one file system bind-mounted onto another folder of it has the same device, so os.path.ismount cannot
    see it, and its photos would look deleted once it is unmounted. Empty where there is no such file."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return frozenset()
    out = set()
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:  # the mount point is the 5th field, with space, tab, newline, backslash as \ooo
            out.add(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), fields[4]))
    return frozenset(out)


def is_mount_point(path: str | bytes, listed: frozenset[bytes] | None = None) -> bool:
    if os.path.ismount(path):
        return True
    listed = mount_points() if listed is None else listed
    return os.path.realpath(os.fsencode(path)) in listed


def _walk(top: bytes, seen: _Walk, cancel: CancelToken | None,
          skip: Iterable[tuple[int, int]] = (), listed: frozenset[bytes] = frozenset()) -> Iterator[FoundFile]:
    seen_dirs: set[tuple[int, int]] = set(skip)  # (st_dev, st_ino) of folders never walked
    if is_mount_point(top, listed):
        seen.mounts.append(path_key(top)[0])
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
            if folder != top and is_mount_point(folder, listed):  # another file system (or a bind mount)
                seen.mounts.append(path_key(folder)[0])
            entries = list(os.scandir(folder))
        except OSError as e:
            seen.unreadable.append((path_key(folder)[0], e.strerror or str(e)))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(b".") or name in SYSTEM_FOLDERS:
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                    continue
                if not entry.is_file(follow_symlinks=True):
                    odd = _odd_entry(entry)
                    if odd is not None:
                        seen.skipped.append((path_key(entry.path)[0], odd[0]))
                        if odd[1]:
                            seen.dangling.append(path_key(entry.path)[0])
                    continue
                if not is_photo_name(name):
                    continue
                fst = entry.stat(follow_symlinks=True)
            except OSError as e:
                seen.unreadable.append((path_key(entry.path)[0], e.strerror or str(e)))
                continue
            if not stat.S_ISREG(fst.st_mode):
                continue
            path, raw = path_key(entry.path)
            yield FoundFile(path, raw, fst.st_size, fst.st_mtime, fst.st_dev, fst.st_ino)


def _library_folders(catalog: PhotoCatalog, root: Root) -> set[tuple[int, int]]:
    """The library's own folder (and its thumbnails, even in a root that is the library folder): never photos.

    `add` refuses such a root; one an older version (or the window) added would grow with its own thumbnails
    at every scan.
    """
    library = LibraryPaths(catalog.path.parent)
    out = set()
    for folder in (library.root, library.thumbnails):
        try:
            st = os.stat(folder)
            if folder != library.root or not os.path.samefile(folder, root.path):
                out.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    return out


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
         cancel: CancelToken | None = None, confirm_deletions: bool = False) -> ScanReport:
    """Bring the catalog in line with the files under the given (default: all) roots.

    `confirm_deletions`: also forget photos that rules 4 and 5 of the module docstring would keep as missing
    (the user says they were deleted). It never forgets photos of a drive that is not there (rules 1 to 3).
    """
    report = ScanReport()
    found: dict[str, tuple[Root, FoundFile]] = {}
    existing: dict[str, Photo] = {}
    protected: list[str] = []
    clock = ProgressClock("scan", 0, progress)
    empty_roots: list[Root] = []
    listed = mount_points()
    for root in roots if roots is not None else catalog.roots():
        problem = root_problem(root.path)
        recorded = catalog.root_mounts(root.id)
        unmounted = [m for m in recorded if not is_mount_point(m, listed)]
        if problem is None and root.path in unmounted:
            problem = "its drive is not mounted (the folder was a mount point); plug it in or mount it"
        if problem is not None:
            catalog.set_root_state(root.id, "offline", problem)
            report.offline_roots.append(root.path)
            log.warning("root %s is offline: %s", root.path, problem)
            continue
        walk = _Walk()
        known = catalog.photos_of_root(root.id)
        # a mount point left with no known photo under it is let go; one with photos waits for its drive
        unmounted = [m for m in unmounted if any(p.path.startswith(m.rstrip(os.sep) + os.sep) for p in known)]
        for m in unmounted:
            walk.unreadable.append((m, "not mounted any more (drive unplugged?); its photos are kept"))
        files = list(_walk(os.fsencode(root.path), walk, cancel, _library_folders(catalog, root), listed))
        report.unreadable.extend(walk.unreadable)
        report.skipped.extend(walk.skipped)
        protected.extend(p.rstrip(os.sep) + os.sep for p, _ in walk.unreadable)
        protected.extend(walk.dangling)
        protected.extend(p + os.sep for p in walk.dangling)
        kept_mounts = walk.mounts + unmounted
        if sorted(set(kept_mounts)) != sorted(recorded):
            catalog.set_root_mounts(root.id, kept_mounts)
        if not files and known:
            empty_roots.append(root)
        catalog.set_root_state(root.id, "online")
        existing.update((p.path, p) for p in known)
        for f in files:
            found[f.path] = (root, f)
        clock.report(len(found), root.path)
    # a file reached through two roots stays with the first given, else with one named by its real path, else
    # with the one added first (a stable choice: nothing moves back and forth between scans)
    order = roots if roots is not None else sorted(catalog.roots(),
                                                   key=lambda r: (os.path.realpath(r.path) != r.path, r.id))
    _one_row_per_file(catalog, order, found, existing, report)
    absent_roots = _apply(catalog, found, existing, protected, report, cancel, confirm_deletions,
                          {r.id for r in empty_roots})
    if roots is None:
        catalog.set_setting(SKIPPED_KEY, json.dumps(report.skipped[:SKIPPED_KEPT]))
    for root in empty_roots:
        if root.id in absent_roots:
            problem = "its drive is not there (unplugged, or not mounted); its photos are kept"
        elif root.path in report.held_folders:
            problem = ("no photos found where the catalog knows some (drive not mounted?); they are kept: "
                       "run `photosift index --confirm-deletions` if they were deleted")
        else:
            continue
        catalog.set_root_state(root.id, "offline", problem)
        report.offline_roots.append(root.path)
        log.warning("root %s is offline: %s", root.path, problem)
    return report


def _one_row_per_file(catalog: PhotoCatalog, order: list[Root], found: dict[str, tuple[Root, FoundFile]],
                      existing: dict[str, Photo], report: ScanReport) -> None:
    """A file found under two roots (one folder added under two names by an older version, a bind mount, a link
    into another root) is listed once, under the root that comes first in `order`.

    Listed twice, every hit would show twice and `duplicates --trash` could trash the only copy. A second row
    the catalog already has for it is merged into the one that stays (user tags and rejections kept), or is
    moved to the kept path when that has no row yet (vectors kept too). Hard links inside one root are left
    as they are. A file is the same one only by device, inode, size and time, all seen in this scan.
    """
    rank = {r.id: i for i, r in enumerate(order)}
    by_file: dict[tuple[int, int, int, float], list[str]] = {}
    for path, (_root, f) in found.items():
        if f.ino:
            by_file.setdefault((f.dev, f.ino, f.size, f.mtime), []).append(path)
    shared: dict[tuple[str, str], int] = {}
    groups = [paths for paths in by_file.values() if len({found[p][0].id for p in paths}) > 1]
    if not groups:
        return
    with catalog.transaction():
        for paths in groups:
            keep = min(paths, key=lambda p: (rank.get(found[p][0].id, len(rank)), p))
            keep_root, kf = found[keep]
            others = [p for p in paths if found[p][0].id != keep_root.id]
            rows = sorted((existing[p] for p in others if p in existing), key=lambda r: (r.status != "ok", r.id))
            if keep not in existing and rows:
                row = rows.pop(0)
                catalog.move_photo(row.id, root_id=keep_root.id, path=keep, raw_path=kf.raw_path, mtime=kf.mtime)
                del existing[row.path]
                existing[keep] = replace(row, root_id=keep_root.id, path=keep, raw_path=kf.raw_path, mtime=kf.mtime,
                                         missing_since=None)
            for row in rows:
                catalog.merge_photo_into(row.id, existing[keep].id)
                del existing[row.path]
            for p in others:
                pair = (found.pop(p)[0].path, keep_root.path)
                shared[pair] = shared.get(pair, 0) + 1
    for (alias, kept), n in sorted(shared.items()):
        report.same_files += n
        report.skipped.append((alias, f"{n} photos here are the same files as under {kept}, which is also in the "
                                      "library: each is listed once, there"))
        log.warning("%d photos under %s are the same files as under %s: listed once", n, alias, kept)


def _known_elsewhere(f: FoundFile, root: Root, twins: list[Photo]) -> Photo | None:
    """The row of another root that is this very file (same device and inode), reached another way."""
    for p in twins if f.ino else ():
        if p.root_id != root.id:
            try:
                st = os.stat(p.fs_path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (f.dev, f.ino):
                return p
    return None


def _apply(catalog: PhotoCatalog, found: dict[str, tuple[Root, FoundFile]], existing: dict[str, Photo],
           protected: list[str], report: ScanReport, cancel: CancelToken | None, confirm_deletions: bool,
           empty_roots: set[int]) -> set[int]:
    """Decide what the scan's findings change (engine.scan_plan), then write it.

    Returns the roots with photos kept because their drive is not there.
    """
    facts = _read_facts(catalog, ScanFacts(found, existing, protected, empty_roots=empty_roots,
                                           confirm_deletions=confirm_deletions))
    plan = plan_scan(facts)
    _write_plan(catalog, plan, report, cancel)
    return plan.absent_roots


def _read_facts(catalog: PhotoCatalog, facts: ScanFacts) -> ScanFacts:
    """Fill in what the plan depends on, read from the file system (fingerprints, devices, pictures) and the
    catalog (rows with the same content, stored signatures, user tags, roots)."""
    facts.drive_of = _drives_of(vanished(facts.found, facts.existing, facts.protected).values())
    gone = present_vanished(facts)
    arrived = [(root, f) for path, (root, f) in facts.found.items() if path not in facts.existing]
    _read_fingerprints(facts, [f for _, f in arrived], gone)
    facts.renamed_edits = _renamed_edits(catalog, [f for _, f in arrived], facts.fingerprints, gone)
    facts.known_by_fp = catalog.photos_by_fingerprint(fp for _, f in arrived if (fp := facts.fingerprints[f.path]))
    for root, f in arrived:
        same = _known_elsewhere(f, root, facts.known_by_fp.get(facts.fingerprints[f.path] or "", []))
        if same is not None:
            facts.same_file[f.path] = same
    if not facts.confirm_deletions and gone:
        facts.user_tagged = catalog.tags.ids_with_user_tags([p.id for p in gone.values()])
    facts.roots = {r.id: r.path for r in catalog.roots()}
    return facts


def _read_fingerprints(facts: ScanFacts, arrived: list[FoundFile], gone: dict[str, Photo]) -> None:
    """The whole-file fingerprints of new and changed files; the old partial ones of new files that may be a
    vanished photo of an older catalog (one of its size has such a fingerprint)."""
    changed = [f for path, (_root, f) in facts.found.items()
               if path in facts.existing and is_changed(facts.existing[path], f)]
    facts.fingerprints = _fingerprints(changed + arrived)
    legacy_sizes = {p.size for p in gone.values() if is_legacy_fingerprint(p.fingerprint)}
    facts.legacy_fingerprints = {f.path: _legacy_fp(f) for f in arrived if f.size in legacy_sizes}


def _write_plan(catalog: PhotoCatalog, plan: ScanPlan, report: ScanReport, cancel: CancelToken | None) -> None:
    """Write a scan's plan through the catalog in one transaction (committed every COMMIT_EVERY new rows)."""
    listed = {f for f, _ in report.unreadable}
    report.unreadable.extend((f, "the drive its photos were on is not there (unplugged, or not mounted); they are kept")
                             for f in plan.absent_folders if f not in listed)
    with catalog.transaction():
        for c in plan.changed:
            catalog.mark_changed(c.id, size=c.file.size, mtime=c.file.mtime, fingerprint=c.fingerprint,
                                 dev=c.file.dev, ino=c.file.ino)
        report.changed += len(plan.changed)
        report.unchanged += plan.unchanged
        catalog.set_file_ids(plan.file_ids)
        pending_writes = len(plan.changed)
        for a in plan.arrivals:
            if cancel and pending_writes % COMMIT_EVERY == 0:
                cancel.check()
            _write_arrival(catalog, a, report)
            pending_writes += 1
            if pending_writes % COMMIT_EVERY == 0:
                catalog.commit_batch()
        for path, known in plan.same_files:
            report.same_files += 1  # found through a root this scan did not walk (`add` scans only its own)
            report.skipped.append((path, f"the same file as {known}, already in the library"))
        catalog.clear_missing(plan.back)
        catalog.mark_missing(plan.held, time.time())
        report.held, report.held_folders = len(plan.held), plan.held_folders
        for folder in report.held_folders:
            log.warning("photos under %s vanished at once; kept as missing until confirmed", folder)
        catalog.delete_photos(plan.forget)
        report.deleted = len(plan.forget)


def _write_arrival(catalog: PhotoCatalog, a: Moved | New, report: ScanReport) -> None:
    f = a.file
    if isinstance(a, Moved):
        catalog.move_photo(a.id, root_id=a.root_id, path=f.path, raw_path=f.raw_path, mtime=f.mtime,
                           dev=f.dev, ino=f.ino)
        report.moved += 1
        if a.edited:  # renamed and edited: same photo (id, the user's tags), new vectors
            catalog.mark_changed(a.id, size=f.size, mtime=f.mtime, fingerprint=a.fingerprint)
            report.changed += 1
        return
    new_id = catalog.insert_photo(root_id=a.root_id, path=f.path, raw_path=f.raw_path, size=f.size,
                                  mtime=f.mtime, fingerprint=a.fingerprint, dev=f.dev, ino=f.ino)
    if a.twin is not None and catalog.copy_indexed_state(a.twin, new_id):
        report.copied += 1
    else:
        report.new += 1


def _fingerprints(files: list[FoundFile]) -> dict[str, str | None]:
    """The files' whole-file fingerprints by path, hashed by a few threads (reads and SHA-256 run without the
    GIL), so that reading every byte costs the scan as little wall time as the disk allows."""
    if len(files) < 2 or HASH_THREADS == 1:
        return {f.path: _fp(f) for f in files}
    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="fingerprint") as pool:
        fps = list(pool.map(_fp, files))
    return {f.path: fp for f, fp in zip(files, fps, strict=True)}


def _legacy_fp(f: FoundFile) -> str | None:
    try:
        return legacy_fingerprint(f.raw_path or f.path, f.size)
    except OSError:
        return None


def _renamed_edits(catalog: PhotoCatalog, arrived: list[FoundFile], fps: dict[str, str | None],
                   gone: dict[str, Photo]) -> dict[str, Photo]:
    """New paths whose file is a vanished photo's (same device and inode) with new content: edited and renamed.

    The inode alone is not enough (a deleted file's inode is soon reused): the picture must still look like
    the photo's stored 32x32 signature. A photo without one (never indexed) is not matched.
    """
    gone_fps = {p.fingerprint for p in gone.values() if p.fingerprint}
    gone_by_inode = {(p.dev, p.ino): p for p in gone.values() if p.dev is not None and p.ino is not None}
    pairs = [(f, gone_by_inode[(f.dev, f.ino)]) for f in arrived
             if (f.dev, f.ino) in gone_by_inode and fps[f.path] not in gone_fps]
    if not pairs:
        return {}
    sigs = catalog.duplicates.pixel_signatures([p.id for _, p in pairs])
    out: dict[str, Photo] = {}
    for f, p in pairs:
        if p.id not in sigs:
            continue
        try:
            new_sig = pixel_signature(open_photo(f.raw_path or f.path, min_side=64).image)
        except (ImageReadError, OSError):
            continue
        if pixel_similarity(sigs[p.id], new_sig, max_shift=2) >= RENAMED_EDIT_PIXEL:
            out[f.path] = p
    return out


def _drives_of(gone: Iterable[Photo]) -> dict[str, tuple[int | None, str]]:
    """For each vanished photo seen since the upgrade: the device of the closest folder of its path that still
    exists (None: it cannot be read), and that folder (rule 2, decided in engine.scan_plan).

    An unmounted drive leaves its mount point as an empty folder of the parent disk, which reads fine and holds
    nothing: by path alone its photos look deleted.
    """
    devices: dict[str | bytes, tuple[int | None, str | bytes]] = {}

    def device_of(folder: str | bytes) -> tuple[int | None, str | bytes]:
        if folder not in devices:
            try:
                devices[folder] = (os.stat(folder).st_dev, folder)
            except (FileNotFoundError, NotADirectoryError):
                parent = os.path.dirname(folder)
                devices[folder] = device_of(parent) if parent != folder else (None, folder)
            except OSError:
                devices[folder] = (None, folder)
        return devices[folder]

    out: dict[str, tuple[int | None, str]] = {}
    for p in gone:
        if p.dev is not None:
            dev, where = device_of(os.path.dirname(p.fs_path))
            out[p.path] = (dev, path_key(os.fsencode(where))[0])
    return out
