"""What a scan decides, as plain data: which rows changed, moved, arrived, came back, are held or forgotten.

`plan_scan` takes what the walk found and what was read about it (fingerprints, the device of each vanished
photo's closest folder, renamed-and-edited matches, rows of other roots that are the same file, user-tagged
ids) and returns a `ScanPlan`; it touches neither SQLite nor the file system, so every safety rule of
engine/scanner.py can be tested as a table of cases. engine/scanner.py gathers the facts and writes the plan.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.catalog import Photo, Root
from engine.imageio import is_legacy_fingerprint

HOLD_MIN = 4  # fewer vanished photos than this in a folder are ordinary deletions (unless user-tagged)


@dataclass
class FoundFile:
    path: str  # display/catalog key (valid UTF-8)
    raw_path: bytes | None  # exact bytes when the name is not valid UTF-8
    size: int
    mtime: float
    dev: int = 0  # st_dev and st_ino of the file (a link followed): one file reached through two roots is
    ino: int = 0  # listed once (0: not known)


@dataclass
class ScanFacts:
    """What the walk found and what was read about it: everything the plan depends on."""

    found: dict[str, tuple[Root, FoundFile]]  # path -> (its root, the file)
    existing: dict[str, Photo]  # the catalog's rows of the scanned roots, by path
    protected: list[str] = field(default_factory=list)  # paths, and prefixes ending in a separator, kept as they are
    fingerprints: dict[str, str | None] = field(default_factory=dict)  # whole-file, of new and changed files
    legacy_fingerprints: dict[str, str | None] = field(default_factory=dict)  # of new files, where old rows need it
    drive_of: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    """vanished photo's path -> (the device of the closest folder of it that still exists, None when it cannot
    be read; that folder)"""
    renamed_edits: dict[str, Photo] = field(default_factory=dict)  # new path -> vanished photo: same inode, looks alike
    known_by_fp: dict[str, list[Photo]] = field(default_factory=dict)  # rows (any root) with a new file's fingerprint
    same_file: dict[str, Photo] = field(default_factory=dict)  # new path -> row of another root that is this file
    user_tagged: set[int] = field(default_factory=set)  # ids of vanished photos with user (or rejected) tags
    roots: dict[int, str] = field(default_factory=dict)  # every root's id -> path
    empty_roots: set[int] = field(default_factory=set)  # roots where nothing was found and the catalog knows photos
    confirm_deletions: bool = False


@dataclass(frozen=True)
class Changed:
    id: int
    file: FoundFile
    fingerprint: str | None


@dataclass(frozen=True)
class Moved:
    id: int
    root_id: int
    file: FoundFile
    edited: bool  # renamed and edited (same inode, new content): same photo, new vectors
    fingerprint: str | None


@dataclass(frozen=True)
class New:
    root_id: int
    file: FoundFile
    fingerprint: str | None
    twin: int | None  # an indexed row with the same content, whose indexed state the new row may copy


@dataclass
class ScanPlan:
    changed: list[Changed] = field(default_factory=list)
    unchanged: int = 0
    file_ids: list[tuple[int, int, int]] = field(default_factory=list)  # (id, dev, ino) of unchanged rows, renumbered
    arrivals: list[Moved | New] = field(default_factory=list)  # in the walk's order
    same_files: list[tuple[str, str]] = field(default_factory=list)  # (new path, the row's path it is the same file as)
    back: list[int] = field(default_factory=list)  # missing photos found again
    held: list[int] = field(default_factory=list)  # vanished, kept as missing until confirmed (rules 4 and 5)
    held_folders: list[str] = field(default_factory=list)
    forget: list[int] = field(default_factory=list)
    absent_roots: set[int] = field(default_factory=set)  # roots with photos kept because their drive is not there
    absent_folders: list[str] = field(default_factory=list)  # the closest folders left of those drives

    @property
    def moved(self) -> list[Moved]:
        return [a for a in self.arrivals if isinstance(a, Moved)]

    @property
    def new(self) -> list[New]:
        return [a for a in self.arrivals if isinstance(a, New)]


def is_changed(old: Photo, f: FoundFile) -> bool:
    return old.size != f.size or abs(old.mtime - f.mtime) > 1e-3


def vanished(found: dict[str, tuple[Root, FoundFile]], existing: dict[str, Photo],
             protected: list[str]) -> dict[str, Photo]:
    """Known photos not found at their paths, less those under a protected path (unreadable, dangling link)."""
    return {path: p for path, p in existing.items() if path not in found
            and not any(path == pre or path.startswith(pre) for pre in protected)}


def renumbered_drives(found: dict[str, tuple[Root, FoundFile]], existing: dict[str, Photo]) -> dict[int, set[int]]:
    """Old device numbers -> the numbers they came back under (unchanged photos found at their paths say which)."""
    out: dict[int, set[int]] = {}
    for path, (_root, f) in found.items():
        old = existing.get(path)
        if old is not None and old.dev is not None and old.dev != f.dev and not is_changed(old, f):
            out.setdefault(old.dev, set()).add(f.dev)
    return out


def on_absent_drives(gone: dict[str, Photo], drive_of: dict[str, tuple[int | None, str]],
                     renumbered: dict[int, set[int]]) -> tuple[set[str], set[int], set[str]]:
    """The vanished photos whose drive is not there (rule 2): their paths, their roots, the folders left.

    A photo's drive is there when the closest folder of its path that still exists is on the device the
    photo was on (or the number that device came back under).
    """
    paths: set[str] = set()
    roots: set[int] = set()
    folders: set[str] = set()
    for path, p in gone.items():
        if p.dev is None or path not in drive_of:
            continue  # not seen since the upgrade: the mount point rule alone protects it
        dev, where = drive_of[path]
        if dev == p.dev or dev in renumbered.get(p.dev, ()):
            continue
        paths.add(path)
        roots.add(p.root_id)
        folders.add(where)
    return paths, roots, folders


def present_vanished(facts: ScanFacts) -> dict[str, Photo]:
    """The vanished photos whose drive is there: moved, held or forgotten."""
    gone = vanished(facts.found, facts.existing, facts.protected)
    absent, _, _ = on_absent_drives(gone, facts.drive_of, renumbered_drives(facts.found, facts.existing))
    return {path: p for path, p in gone.items() if path not in absent}


def vanished_at_once(gone: list[Photo], existing: dict[str, Photo],
                     roots: dict[int, str]) -> tuple[set[int], list[str]]:
    """Photos in folders where more than half of the known photos (and at least HOLD_MIN) vanished.

    Returns their ids and the top-most such folders.
    """
    if len(gone) < HOLD_MIN:
        return set(), []  # the common case, a few deletions: no folder can reach the bar

    def folders(p: Photo) -> Iterator[str]:
        top = roots.get(p.root_id, "").rstrip(os.sep) or os.sep
        d = os.path.dirname(p.path)
        while d:
            yield d
            parent = os.path.dirname(d)
            if d == top or parent == d or len(parent) < len(top):
                return
            d = parent

    vanished_in: dict[str, int] = {}
    for p in gone:
        for d in folders(p):
            vanished_in[d] = vanished_in.get(d, 0) + 1
    known: dict[str, int] = {}
    for p in existing.values():
        for d in folders(p):
            if d in vanished_in:
                known[d] = known.get(d, 0) + 1
    held_dirs = {d for d, n in vanished_in.items() if n >= HOLD_MIN and n * 2 > known.get(d, 0)}
    held = {p.id for p in gone if any(d in held_dirs for d in folders(p))}
    tops = sorted(d for d in held_dirs
                  if not any(d != o and d.startswith(o.rstrip(os.sep) + os.sep) for o in held_dirs))
    return held, tops


def _take(gone: dict[str, Photo], candidates: list[Photo], f: FoundFile) -> Photo | None:
    """The vanished photo a new file with the same content is (the one with its inode, if any), or None."""
    live = [p for p in candidates if gone.get(p.path) is p]
    if not live:
        return None
    src = next((p for p in live if (p.dev, p.ino) == (f.dev, f.ino)), live[-1])
    candidates.remove(src)
    return src


def _plan_found(facts: ScanFacts, plan: ScanPlan) -> None:
    """Files found at known paths: changed, unchanged (with new device numbers), back from missing."""
    for path, (_root, f) in facts.found.items():
        old = facts.existing.get(path)
        if old is None:
            continue
        if old.missing_since is not None:
            plan.back.append(old.id)
        if is_changed(old, f):
            plan.changed.append(Changed(old.id, f, facts.fingerprints.get(path)))
        else:
            plan.unchanged += 1
            if (old.dev, old.ino) != (f.dev, f.ino):
                plan.file_ids.append((old.id, f.dev, f.ino))  # first seen since the upgrade, or a renumbered drive


def _plan_arrivals(facts: ScanFacts, gone: dict[str, Photo], plan: ScanPlan) -> None:
    """Files at new paths: a vanished photo moved (same content, or same inode and looks alike), the same file
    as a row of another root, or new (copying a twin's indexed state). Takes the moved photos out of `gone`."""
    gone_by_fp: dict[str, list[Photo]] = {}
    for p in gone.values():
        if p.fingerprint:
            gone_by_fp.setdefault(p.fingerprint, []).append(p)
    legacy_sizes = {p.size for p in gone.values() if is_legacy_fingerprint(p.fingerprint)}
    for path, (root, f) in facts.found.items():
        if path in facts.existing:
            continue
        fp = facts.fingerprints.get(path)
        src = _take(gone, gone_by_fp.get(fp or "", []), f)
        if src is None and f.size in legacy_sizes:  # a photo of an older catalog, moved: its old fingerprint
            src = _take(gone, gone_by_fp.get(facts.legacy_fingerprints.get(path) or "", []), f)
        edit = facts.renamed_edits.get(path) if src is None else None
        edited = edit is not None and gone.get(edit.path) is edit
        if edited:
            src = edit
        if src is not None:
            del gone[src.path]
            plan.arrivals.append(Moved(src.id, root.id, f, edited, fp))
        elif (same := facts.same_file.get(path)) is not None:
            plan.same_files.append((path, same.path))  # found through a root this scan did not walk
        else:
            twin = next((p for p in facts.known_by_fp.get(fp or "", []) if p.status == "ok"), None)
            plan.arrivals.append(New(root.id, f, fp, twin.id if twin is not None else None))


def _plan_vanished(facts: ScanFacts, forget: list[Photo], plan: ScanPlan) -> None:
    """Vanished photos not found moved: held as missing (rules 4 and 5) unless confirmed, else forgotten."""
    if not facts.confirm_deletions and forget:
        held, folders = vanished_at_once(forget, facts.existing, facts.roots)
        held |= facts.user_tagged & {p.id for p in forget}
        emptied = {p.root_id for p in forget if p.root_id in facts.empty_roots}  # rule 4, whatever the count
        held |= {p.id for p in forget if p.root_id in emptied}
        plan.held_folders = sorted(set(folders) | {facts.roots[r] for r in emptied})
        plan.held = sorted(held)
        forget = [p for p in forget if p.id not in held]
    plan.forget = [p.id for p in forget]


def plan_scan(facts: ScanFacts) -> ScanPlan:
    """Decide what the scan writes; vanished photos are forgotten only as the safety rules allow."""
    plan = ScanPlan()
    gone = vanished(facts.found, facts.existing, facts.protected)
    absent, plan.absent_roots, folders = on_absent_drives(gone, facts.drive_of,
                                                          renumbered_drives(facts.found, facts.existing))
    plan.absent_folders = sorted(folders)
    gone = {path: p for path, p in gone.items() if path not in absent}
    _plan_found(facts, plan)
    _plan_arrivals(facts, gone, plan)
    _plan_vanished(facts, list(gone.values()), plan)
    return plan
