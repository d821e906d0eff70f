"""A backup's writer killed mid-copy leaves its unfinished file (and journal) in backups/; the next backup, or
the next time the library is opened for writing, removes it, while one a live process is writing stays.

The writers are real processes killed with SIGKILL. Each runs the real backup_catalog; only its copy is
slowed down (the SQLite backup goes a few pages at a time and says so), so that the kill lands mid-copy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backup import backup_catalog, backup_if_due, integrity_problem, list_backups
from engine.library import Library

REPO = Path(__file__).resolve().parents[2]

SLOW_WRITER = r"""
import sqlite3, sys, time
from engine.backup import backup_catalog
from engine.catalog import PhotoCatalog
from engine.library import Library

def slow_copy(self, path):
    dest = sqlite3.connect(str(path))
    def step(status, remaining, total):
        print(f"copying {remaining} of {total} pages left" if remaining else "copied", flush=True)
        time.sleep(0.1 if remaining else hold)  # copied: as if the check of a large copy took a while
    try:
        self.conn.backup(dest, pages=2, progress=step)
        dest.execute("PRAGMA journal_mode=DELETE")  # as the real copy does
    finally:
        dest.close()

hold = float(sys.argv[2])

PhotoCatalog.copy_to = slow_copy
with Library.open(sys.argv[1]) as lib:
    backup_catalog(lib.catalog, "daily")
print("done", flush=True)
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library whose catalog takes a few dozen pages (so that a slowed copy takes seconds)."""
    folder = tmp_path / "lib"
    with Library.open(folder) as lib:
        root = lib.catalog.add_root("/photos")
        with lib.catalog.transaction():
            for i in range(3000):
                lib.catalog.insert_photo(root_id=root.id, path=f"/photos/{i:05d}-{'x' * 120}.jpg", raw_path=None,
                                         size=i, mtime=1.0, fingerprint=f"{i:064d}")
    return folder


def _start_writer(folder: Path, until: str = "copying", hold_s: float = 60) -> subprocess.Popen:
    """A process writing a backup of the library, returned once it is copying (its tmp file and the journal
    are there), or with until="copied" once the whole catalog is in its tmp file."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(folder), str(hold_s)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(3 if until == "copying" else 10_000):  # copying: a few steps in
        line = proc.stdout.readline()
        assert line.startswith("cop"), (line, proc.stderr.read() if proc.poll() is not None else "")
        if line.strip() == until == "copied":
            break
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


def _unfinished(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "backups").iterdir() if p.name.startswith("."))


def _kinds(names: list[str]) -> list[str]:
    return [name[name.index(".db"):] for name in names]


@pytest.mark.slow  # 8 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_killed_backups_leftovers_go_at_the_next_open_and_a_live_one_stays(library):
    _kill(_start_writer(library, until="copied"))
    left = _unfinished(library)  # a full-size copy of the catalog, as the report found
    assert len(left) == 1 and left[0].endswith(".db.tmp")
    assert (library / "backups" / left[0]).stat().st_size >= (library / "catalog.db").stat().st_size > 100_000
    assert list_backups(library / "catalog.db") == []

    live = _start_writer(library)  # its own opening removed the killed one's leftovers: that writer is gone
    try:
        assert not set(left) & set(_unfinished(library))
        live_files = _unfinished(library)
        assert _kinds(live_files) == [".db.tmp", ".db.tmp-journal"]
        Library.open(library).close()  # opened while the other process writes its backup: that file stays
        assert set(live_files) <= set(_unfinished(library))
    finally:
        _kill(live)
    assert _unfinished(library)  # the kill left it for good, as before the fix

    Library.open(library).close()
    assert _unfinished(library) == []
    assert sorted(p.name for p in (library / "backups").iterdir()) == []


def test_the_next_backup_removes_a_killed_backups_leftovers(library):
    _kill(_start_writer(library))  # mid-copy: the tmp file and its journal
    assert _kinds(_unfinished(library)) == [".db.tmp", ".db.tmp-journal"]
    with Library.open(library, read_only=True) as lib:  # a reader changes nothing, leftovers included
        assert _unfinished(library)
        catalog = lib.catalog
    from engine.catalog import PhotoCatalog

    with PhotoCatalog(catalog.path) as cat:  # not through Library.open: the backup itself cleans up
        made = backup_catalog(cat)
        assert backup_if_due(cat) is None
    assert _unfinished(library) == [] and list_backups(library / "catalog.db") == [made]
    assert integrity_problem(made) is None


@pytest.mark.slow  # 7 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_backup_that_is_not_killed_finishes_and_leaves_nothing_else(library):
    writer = _start_writer(library, hold_s=0)
    assert writer.stdout.read().strip().endswith("done") and writer.wait(timeout=120) == 0
    writer.stderr.close()
    writer.stdout.close()
    assert _unfinished(library) == [] and len(list_backups(library / "catalog.db")) == 1
