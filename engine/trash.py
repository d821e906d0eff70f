"""Duplicates to the system trash, recoverably, with a log to put them back.

Nothing here deletes a file: send2trash moves it to the desktop's trash (the Freedesktop trash on Linux, the
Finder's on macOS, the Recycle Bin on Windows). A photo moves only while the keeper of its group is on disk,
is another file (device and inode: a folder in the library twice, once through a symlink, lists one file under
two paths) and still has the content it was compared with, so no group ever loses its last copy. The first
failure stops the run: when the trash cannot take the first file, nothing has moved.

Each move is logged in `trash-log.jsonl` in the library folder (one JSON object a line, one batch id per run):
an "intent" line, fsynced, before the file moves, and a "trashed" line after it, before the catalog forgets
the photo. A run killed between the two leaves an intent without its "trashed" line; `restore_batch` treats it
like a move: the file is found in the trash by its .trashinfo, or seen still in place. `restore_batch` puts a
batch back where the trash allows it: the Freedesktop trash keeps each file's original path beside it;
elsewhere the user is told to put files back from the trash by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from engine.catalog import DuplicateGroup, Photo, PhotoCatalog
from engine.duplicates import content_hash
from engine.errors import PhotosiftError

LOG_NAME = "trash-log.jsonl"


class TrashUnavailableError(PhotosiftError):
    """The system trash refused the first file: nothing was moved."""


@dataclass(frozen=True)
class TrashItem:
    photo: Photo
    keep: Photo
    kind: str
    photo_hash: str | None = None  # the content hashes the group was found with (None: never compared)
    keep_hash: str | None = None


@dataclass
class TrashResult:
    batch: str
    moved: list[TrashItem] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    stopped: str | None = None  # why the run stopped early (the trash failed after some moves)


@dataclass
class RestoreResult:
    batch: str | None
    restored: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    earlier_batches: int = 0
    in_place: list[str] = field(default_factory=list)  # intents of a killed run whose file never moved


def plan(catalog: PhotoCatalog, groups: Iterable[DuplicateGroup]) -> list[TrashItem]:
    """Every photo but the keeper of each group (a group without a keeper is left alone)."""
    groups = [g for g in groups if g.keep_id is not None]
    ids = [pid for g in groups for pid, _ in g.members]
    photos = catalog.photos_by_ids(ids)
    hashes = {pid: c.content_hash for pid, c in catalog.duplicates.candidates(ids).items()}
    items = []
    for g in groups:
        keep = photos.get(g.keep_id)  # type: ignore[arg-type]
        if keep is None:
            continue
        items += [
            TrashItem(photos[pid], keep, g.kind, hashes.get(pid), hashes.get(keep.id))
            for pid, _ in g.members
            if pid != g.keep_id and pid in photos
        ]
    return items


def _same_file(a: str | bytes, b: str | bytes, sa: os.stat_result, sb: os.stat_result) -> bool:
    """Whether two paths name one file: the same device and inode (links followed), or the same real path."""
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    try:
        return os.path.samefile(a, b) or os.path.realpath(os.fsencode(a)) == os.path.realpath(os.fsencode(b))
    except OSError:
        return False


def why_not_movable(item: TrashItem) -> str | None:
    """Why `item` must stay where it is, or None when its keeper is safely another copy of it.

    Read at the moment of the move, not when the group was found: the library may list one file twice, and
    either file may have changed or gone since it was compared."""
    try:
        keep_stat = os.stat(item.keep.fs_path)
    except OSError:
        return f"the photo kept in its place is not on disk: {item.keep.path}"
    try:
        photo_stat = os.stat(item.photo.fs_path)
    except OSError:
        return "not on disk (already moved or deleted)"
    if _same_file(item.photo.fs_path, item.keep.fs_path, photo_stat, keep_stat):
        return (
            f"it is the same file as the photo kept ({item.keep.path}), listed twice (a folder in the library "
            "by two paths, e.g. through a symlink); moving it would leave no copy"
        )
    if item.photo_hash is None or item.keep_hash is None:
        return "not compared with the photo kept yet: run `photosift index` and review again"
    try:
        keep_now, photo_now = content_hash(item.keep.fs_path), content_hash(item.photo.fs_path)
    except OSError as e:
        return f"could not be read to compare it with the photo kept: {e.strerror or e}"
    if keep_now != item.keep_hash:
        return f"the photo kept ({item.keep.path}) has changed since they were compared: run `photosift index`"
    if photo_now != item.photo_hash:
        return "it has changed since it was compared with the photo kept: run `photosift index`"
    if item.kind == "exact" and photo_now != keep_now:
        return f"no longer identical to the photo kept ({item.keep.path})"
    return None


def _system_trash() -> Callable[[str | bytes], None]:
    from send2trash import send2trash

    return send2trash


def move_to_trash(
    catalog: PhotoCatalog,
    library_root: Path,
    items: list[TrashItem],
    trash: Callable[[str | bytes], None] | None = None,
) -> TrashResult:
    """Move `items` to the system trash, log each move, and make the catalog forget what moved."""
    send = trash or _system_trash()
    result = TrashResult(batch=time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}")
    log_path = Path(library_root) / LOG_NAME
    for item in items:
        why_not = why_not_movable(item)
        if why_not is not None:
            result.skipped.append((item.photo.path, why_not))
            continue
        entry = {
            "event": "intent",
            "batch": result.batch,
            "at": time.time(),
            "path": item.photo.path,
            "raw_path": item.photo.raw_path.hex() if item.photo.raw_path else None,
            "id": item.photo.id,
            "size": item.photo.size,
            "kind": item.kind,
            "keep": item.keep.path,
            "to": "system trash",
        }
        _append(log_path, entry)  # durable before the move: a kill during it leaves a line to put it back by
        try:
            send(item.photo.fs_path)
        except Exception as e:
            _append(log_path, {"event": "not moved", "batch": result.batch, "at": time.time(), "path": entry["path"]})
            why = f"{type(e).__name__}: {e}"
            if not result.moved:
                raise TrashUnavailableError(
                    f"the system trash is unavailable ({why}); nothing was moved or deleted"
                ) from e
            result.stopped = f"the system trash failed on {item.photo.path} ({why}); the rest were not moved"
            break
        _append(log_path, dict(entry, event="trashed", at=time.time()))
        with catalog.transaction():
            catalog.delete_photos([item.photo.id])
        result.moved.append(item)
    with catalog.transaction():
        catalog.duplicates.prune_groups()  # a group down to its keeper is no group
    return result


def _append(log_path: Path, entry: dict[str, object]) -> None:
    new = not log_path.exists()
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())  # the record of where a photo went must outlive a crash right after the move
    if new:  # a new file's name is durable once its folder is
        fd = os.open(log_path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_log(library_root: Path) -> list[dict[str, object]]:
    try:
        lines = (Path(library_root) / LOG_NAME).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash: the others still count
    return out


def pending_batches(library_root: Path) -> dict[str, list[dict[str, object]]]:
    """Batches (oldest first) with the entries not yet put back: moves, and intents whose outcome was never
    logged (the run was killed around the move: the file may be in the trash or still in place)."""
    batches: dict[str, dict[str, dict[str, object]]] = {}
    settled = set()
    for e in read_log(library_root):
        event, key = e.get("event"), (e.get("batch"), e.get("path"))
        if event in ("intent", "trashed"):
            entries = batches.setdefault(str(e["batch"]), {})
            if event == "trashed" or e["path"] not in entries:  # a move logged as done wins over its intent
                entries[str(e["path"])] = e
        elif event in ("restored", "not moved"):
            settled.add(key)
    return {
        b: rest for b, es in batches.items() if (rest := [e for e in es.values() if (b, e["path"]) not in settled])
    }


def restore_batch(library_root: Path, batch: str | None = None) -> RestoreResult:
    """Put back the photos of `batch` (default: the latest one not yet put back) from the system trash."""
    batches = pending_batches(library_root)
    if not batches:
        return RestoreResult(batch=None)
    batch = batch if batch in batches else list(batches)[-1]
    result = RestoreResult(batch=batch, earlier_batches=len(batches) - 1)
    for entry in batches[batch]:
        path = str(entry["path"])
        target: str | bytes = bytes.fromhex(str(entry["raw_path"])) if entry.get("raw_path") else path
        unfinished = entry.get("event") == "intent"  # killed around the move: it may never have moved
        try:
            # For an intent, only a trashing since it counts: an older one of the same path is another story.
            found = _find_in_freedesktop_trash(target, since=float(entry["at"]) if unfinished else None)
        except OSError as e:
            found, why = None, f"the trash could not be read: {e}"
        else:
            why = (
                "not in the trash any more (emptied?)"
                if sys.platform.startswith("linux")
                else "put it back from the system trash by hand (Finder: Put Back; Recycle Bin: Restore)"
            )
        if unfinished and found is None and os.path.lexists(target):
            # The move never happened: the photo is where it was. Nothing to put back; the line is settled.
            settled = {"event": "not moved", "batch": batch, "at": time.time(), "path": path}
            _append(Path(library_root) / LOG_NAME, settled)
            result.in_place.append(path)
            continue
        if os.path.lexists(target):
            result.failed.append((path, "a file is already there"))
            continue
        if found is None:
            result.failed.append((path, why))
            continue
        file, info = found
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(file, target)
        except OSError as e:
            result.failed.append((path, f"could not be moved back: {e.strerror or e}"))
            continue
        try:
            os.unlink(info)
        except OSError:
            pass
        _append(Path(library_root) / LOG_NAME, {"event": "restored", "batch": batch, "at": time.time(), "path": path})
        result.restored.append(path)
    return result


def _trash_dirs(target: bytes) -> list[tuple[bytes, bytes | None]]:
    """(trash folder, the folder its relative paths start from) where send2trash may have put `target`."""
    from send2trash import plat_other

    dirs: list[tuple[bytes, bytes | None]] = [(plat_other.HOMETRASH_B, None)]
    top = os.path.dirname(target)
    while top and not os.path.ismount(top) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    uid = str(os.getuid()).encode()
    dirs += [(os.path.join(top, b".Trash", uid), top), (os.path.join(top, b".Trash-" + uid), top)]
    return dirs


def _find_in_freedesktop_trash(target: str | bytes, since: float | None = None) -> tuple[bytes, bytes] | None:
    """(file in the trash, its .trashinfo) of the latest trashing of `target` (at `since` or later), or None."""
    if not sys.platform.startswith("linux") and not sys.platform.startswith("freebsd"):
        return None
    want = os.path.abspath(os.fsencode(target))
    best: tuple[str, bytes, bytes] | None = None
    for trash, top in _trash_dirs(want):
        info_dir = os.path.join(trash, b"info")
        if not os.path.isdir(info_dir):
            continue
        for name in os.listdir(info_dir):
            if not name.endswith(b".trashinfo"):
                continue
            fields = _trashinfo(os.path.join(info_dir, name))
            original = unquote(fields.get("Path", ""), encoding="utf-8", errors="surrogateescape")
            original_b = os.fsencode(original)
            if top is not None and not os.path.isabs(original_b):
                original_b = os.path.join(top, original_b)
            file = os.path.join(trash, b"files", name[: -len(b".trashinfo")])
            if original_b == want and os.path.lexists(file):
                when = fields.get("DeletionDate", "")
                if since is not None and _deleted_at(when) < since - 2:  # the date has whole seconds
                    continue
                if best is None or when >= best[0]:
                    best = (when, file, os.path.join(info_dir, name))
    return (best[1], best[2]) if best else None


def _deleted_at(when: str) -> float:
    """A .trashinfo DeletionDate (local time, YYYY-MM-DDThh:mm:ss) as a timestamp; 0 when unreadable."""
    try:
        return time.mktime(time.strptime(when[:19], "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):
        return 0.0


def _trashinfo(path: bytes) -> dict[str, str]:
    try:
        text = Path(os.fsdecode(path)).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
