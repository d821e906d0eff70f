"""Whether two folder paths name the same folder, or one lies inside the other, by what they resolve to.

A folder can be spelled many ways: through a symlink, with `..`, by a bind mount or another mount of the same
file system. Compared as text, two spellings of one folder look unrelated and the library would list its
photos twice (and a "duplicate" could then be the only copy). So folders are compared by device and inode
(st_dev, st_ino) of the folder and of each folder above its resolved path, and by resolved path; the text as
given is the fallback for a folder that is not there now (an unplugged drive).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import FolderOverlapError

SAME = "same"
INSIDE = "inside"  # the first folder is inside the second
CONTAINS = "contains"  # the first folder contains the second

FileId = tuple[int, int]


@dataclass(frozen=True)
class _Resolved:
    spellings: tuple[str, ...]  # the absolute path as given, and resolved (symlinks and `..` followed)
    own: FileId | None  # (st_dev, st_ino) of the folder itself; None when it is not there
    above: tuple[FileId, ...]  # the same for each folder above the resolved path, nearest first


def _file_id(path: str) -> FileId | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _resolve(path: str) -> _Resolved:
    given = os.path.abspath(os.path.expanduser(path))
    real = os.path.realpath(given)
    above: list[FileId] = []
    d = real
    while True:
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
        fid = _file_id(d)
        if fid is not None:  # a folder above that cannot be read is skipped, the ones above it still count
            above.append(fid)
    return _Resolved((given, real), _file_id(real), tuple(above))


def _text_inside(child: str, parent: str) -> bool:
    return child != parent and child.startswith(parent.rstrip(os.sep) + os.sep)


def folder_relation(folder: str, other: str) -> str | None:
    """SAME, INSIDE (`folder` is inside `other`), CONTAINS (`folder` contains `other`), or None if unrelated.

    A bind mount is seen through: its folder has the device and inode of the folder it shows. What this
    cannot see without walking is a link or a mount *below* a folder that leads into the other one; the
    scanner lists a file reached twice that way only once (engine.scanner).
    """
    a, b = _resolve(folder), _resolve(other)
    if a.own is not None and a.own == b.own:
        return SAME
    if b.own is not None and b.own in a.above:
        return INSIDE
    if a.own is not None and a.own in b.above:  # `other` need not exist yet (a library about to be made)
        return CONTAINS
    # by text, as given and as resolved: a folder not there now; and a link inside `other` (its walk follows it)
    for x in a.spellings:
        for y in b.spellings:
            if x == y:
                return SAME
            if _text_inside(x, y):
                return INSIDE
            if _text_inside(y, x):
                return CONTAINS
    return None


def names_between(outer: str, inner: str) -> list[str] | None:
    """The folder names that lead from `outer` down to `inner` (as `inner` resolves), or None if it is not below.

    `inner` need not exist yet; a bind mount of `outer` on the way is recognised by its device and inode.
    """
    top = _file_id(os.path.realpath(os.path.abspath(os.path.expanduser(outer))))
    d = os.path.realpath(os.path.abspath(os.path.expanduser(inner)))
    names: list[str] = []
    while True:
        parent = os.path.dirname(d)
        if parent == d:
            return None
        names.append(os.path.basename(d))
        d = parent
        if top is not None and _file_id(d) == top:
            return names[::-1]


def refuse_overlaps(folders: Sequence[Path], known: Sequence[str], library: Path,
                    shown: Callable[[str], str] = str) -> None:
    """Refuse a folder that is, holds or lies inside a folder of the library, or the library's own folder.

    Folders are compared by what they resolve to (device and inode, resolved path; engine.folders), never by
    spelling: the same folder under a second name would list every photo twice, and `duplicates --trash`
    could then trash the only copy. The library's folder holds thumbnails, which are not photos. `shown`
    makes a path fit for the message (the CLI escapes control characters). The CLI's `add` and the window's
    *Add folder* both ask here.
    """
    for i, folder in enumerate(folders):
        path = str(folder)
        lib_relation = folder_relation(path, str(library))
        if lib_relation == SAME:
            raise FolderOverlapError(f"cannot add {shown(path)}: it is the library's own folder (thumbnails and "
                                     "the catalog, not photos); add the folders that hold your photos")
        if lib_relation == INSIDE:
            raise FolderOverlapError(f"cannot add {shown(path)}: it is inside the library's own folder "
                                     f"{shown(str(library))}, which holds thumbnails, not photos")
        if lib_relation == CONTAINS and not any(  # the scan never enters a hidden folder (~/.local/share/...)
                n.startswith(".") for n in names_between(path, str(library)) or []):
            raise FolderOverlapError(
                f"cannot add {shown(path)}: it contains the library's own folder {shown(str(library))}, whose "
                "thumbnails would be taken for photos; add the folders beside it, or keep the library elsewhere")
        for other, given in [(k, False) for k in known] + [(str(f), True) for f in folders[:i]]:
            where = "given twice" if given else "already in the library"
            relation = folder_relation(path, other)
            if relation == SAME:
                also = "" if other == path else f" (as {shown(other)})"
                raise FolderOverlapError(f"cannot add {shown(path)}: it is {where}{also}; "
                                         "`photosift index` picks up changes in it")
            if relation == INSIDE:
                raise FolderOverlapError(
                    f"cannot add {shown(path)}: it is inside {shown(other)}, which is {where} "
                    "(its photos are part of it; `photosift index` picks up changes)")
            if relation == CONTAINS:
                raise FolderOverlapError(
                    f"cannot add {shown(path)}: it contains {shown(other)}, which is {where}; "
                    f"run `photosift forget {shown(other)}` first, then add {shown(path)} again")
