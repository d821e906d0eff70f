"""Whether two folder paths name the same folder, or one lies inside the other, by what they resolve to.

A folder can be spelled many ways: through a symlink, with `..`, by a bind mount or another mount of the same
file system. Compared as text, two spellings of one folder look unrelated and the library would list its
photos twice (and a "duplicate" could then be the only copy). So folders are compared by device and inode
(st_dev, st_ino) of the folder and of each folder above its resolved path, and by resolved path; the text as
given is the fallback for a folder that is not there now (an unplugged drive).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
