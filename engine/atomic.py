"""Files and folders written so that readers see the old complete one or the new complete one, never half.

A file or folder is built beside its destination (a hidden sibling, so it is on the same file system) and
renamed into place when it is complete; a failure or an interruption deletes it and leaves the destination
as it was. Temp files carry the writer's pid, so ones left by a killed process are swept at the next start.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE


@contextmanager
def atomic_folder(dest: Path, label: str = "build") -> Iterator[Path]:
    """Yield an empty folder beside `dest` to fill; when the block ends without an error it replaces `dest`.

    The folder is `.<dest name>.<label>-XXXX` in dest's parent (created if missing). On any exception,
    KeyboardInterrupt included, it is deleted and the exception goes on.
    """
    dest = Path(dest)
    dest.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.{label}-"))
    try:
        yield work
        replace_folder(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def replace_folder(src: Path, dest: Path) -> None:
    """Rename `src` to `dest`; an existing `dest` is first renamed aside, then deleted."""
    src, dest = Path(src), Path(dest)
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{int(time.time())}")
        dest.rename(old)
        src.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        src.rename(dest)


TMP_SUFFIX = ".tmp"
_SERIAL = itertools.count()  # two writes of one file by two threads of one process never share a temp file


def temp_path_for(dest: Path) -> Path:
    """The temp file a write of `dest` goes through: `.<name>.<pid>-<n>.tmp` beside it (same file system).

    The pid in the name lets `sweep_stale_temps` tell a file left by a killed process from one being
    written right now.
    """
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{os.getpid()}-{next(_SERIAL)}{TMP_SUFFIX}")


@contextmanager
def atomic_file(dest: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path to write `dest`'s new content to; when the block ends it becomes `dest`.

    The ONE way Photosift writes a derived file (thumbnails, vector indexes, caches, JSON): the temp file
    is flushed to disk (fsync) and renamed over `dest`, so a reader, a kill -9 or a power cut sees the old
    complete file or the new complete one, never a truncated one. On any exception the temp file is
    deleted and `dest` is left as it was. `durable=False` skips the two fsyncs (still atomic against a
    kill): for files made by the thousand that are cheap to make again, where they cost 13x the write.
    """
    dest = Path(dest)
    dest.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    # Created owner-only before the caller writes it (open(tmp, "wb") keeps an existing file's mode), so
    # thumbnails, indexes and the lists of libraries and models are never readable by other users.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(dest.parent)


def write_bytes_atomic(dest: Path, data: bytes) -> None:
    with atomic_file(dest) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(dest: Path, text: str) -> None:
    write_bytes_atomic(dest, text.encode("utf-8"))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return False
    return True


def sweep_stale_temps(folder: Path) -> int:
    """Delete `.<name>.<pid>[-<n>].tmp` files in `folder` whose writing process is gone (killed mid-write).

    Returns how many were deleted. Files of a live process are left alone: it may be writing them now.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
            continue
        pid_text = name[: -len(TMP_SUFFIX)].rsplit(".", 1)[-1].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed
