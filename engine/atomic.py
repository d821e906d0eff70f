"""Folders written so that readers see the old complete folder or the new complete one, never a half-built one.

A folder is built beside its destination (a hidden sibling, so it is on the same file system) and renamed
into place when it is complete; a failure or an interruption deletes it and leaves the destination as it was.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(dest: Path, label: str = "build") -> Iterator[Path]:
    """Yield an empty folder beside `dest` to fill; when the block ends without an error it replaces `dest`.

    The folder is `.<dest name>.<label>-XXXX` in dest's parent (created if missing). On any exception,
    KeyboardInterrupt included, it is deleted and the exception goes on.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
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
