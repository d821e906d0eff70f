"""What a kill, an unplugged drive or a full disk leaves is healed by the next index, and a drive that
looks gone never costs the catalog its rows: failure kinds, unfinished tagging, missing thumbnails,
held deletions, leftovers, odd directory entries."""

import errno
import os
import shutil
import sqlite3

import pytest
from PIL import Image

import engine.indexer as indexer
from engine.catalog import MIGRATIONS, PERMANENT, TRANSIENT, PhotoCatalog, _split_sql
from engine.imageio import exif_date, open_photo
from engine.indexer import IndexSettings
from engine.scanner import scan
from engine.update import update_library
from tests.conftest import write_jpeg


def _photos(folder, n, start=0):
    return [write_jpeg(folder / f"{i}.jpg", color=(i * 7 % 256, i * 13 % 256, 90)) for i in range(start, start + n)]


# -- 1. failure kinds ------------------------------------------------------------------------------------
def test_vanished_file_fails_transiently_and_is_indexed_when_back(lib, encoder, tmp_path):
    root = tmp_path / "usb"
    files = _photos(root, 6)
    lib.catalog.add_root(str(root))
    scan(lib.catalog)
    away = tmp_path / "away"
    away.mkdir()
    for f in files[:4]:  # the drive drops out while index reads it
        shutil.move(f, away / f.name)
    first = update_library(lib, encoder, do_scan=False, settings=IndexSettings(batch_size=2, workers=2))
    assert (first.index.indexed, first.index.failed, first.index.failed_transient) == (2, 4, 4)
    counts = lib.catalog.counts()
    assert (counts["failed_transient"], counts["failed_permanent"]) == (4, 0)
    for f in files[:4]:
        shutil.move(away / f.name, f)
    again = update_library(lib, encoder)
    assert again.index.indexed == 4 and lib.catalog.counts()["ok"] == 6 and lib.catalog.failed() == []


def test_permanent_failure_waits_for_the_file_to_change(lib, encoder, tmp_path):
    root = tmp_path / "p"
    _photos(root, 2)
    (root / "text.jpg").write_text("not a photo")
    lib.catalog.add_root(str(root))
    assert update_library(lib, encoder).index.failed == 1
    assert lib.catalog.failed()[0].error_kind == PERMANENT
    assert update_library(lib, encoder).index.failed == 0  # not retried while unchanged
    write_jpeg(root / "text.jpg", color=(1, 2, 3))
    os.utime(root / "text.jpg", (1e9, 1e9))
    assert update_library(lib, encoder).index.indexed == 1


def test_full_disk_while_saving_thumbnails_is_transient(lib, encoder, tmp_path, monkeypatch):
    root = tmp_path / "p"
    _photos(root, 3)  # under 4 photos decode in this process, where the patch applies
    lib.catalog.add_root(str(root))

    def disk_full(image, dest, size=256):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(indexer, "save_thumbnail", disk_full)
    report = update_library(lib, encoder)
    assert report.index.failed == report.index.failed_transient == 3
    assert "No space left on device" in lib.catalog.failed()[0].error
    monkeypatch.undo()
    assert update_library(lib, encoder).index.indexed == 3


def test_migration_classifies_existing_failures_by_their_reason(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in _split_sql(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, '/p', 0)")
    reasons = ["file disappeared before it could be read", "permission denied",
               "could not read: OSError: [Errno 28] No space left on device",
               "corrupt or truncated image: [Errno 5] Input/output error",
               "not an image, or a format Photosift cannot read", "image too large: 20000x20000 pixels (limit 150 MP)",
               "corrupt or truncated image: image file is truncated"]
    for i, reason in enumerate(reasons):
        conn.execute("INSERT INTO photos(id, root_id, path, size, mtime, status, error, added_at) "
                     "VALUES (?, 1, ?, 1, 1, 'error', ?, 0)", (i + 1, f"/p/{i}.jpg", reason))
    conn.execute("INSERT INTO photos(id, root_id, path, size, mtime, status, added_at) "
                 "VALUES (99, 1, '/p/ok.jpg', 1, 1, 'ok', 0)")
    conn.execute("INSERT INTO tags VALUES (99, 'dog', 'zeroshot', 0.3, 'tiny')")
    conn.close()
    with PhotoCatalog(path) as cat:
        kinds = {p.error: p.error_kind for p in cat.failed()}
        assert [kinds[r] for r in reasons] == [TRANSIENT] * 4 + [PERMANENT] * 3
        # Migration 3 recorded which model's tags the photo had; the later one that adds tag confidences marks
        # every tagged photo untagged again, so that the next index re-tags it with confidences. Its tags stay.
        assert cat.photo(99).tagged_model is None and cat.tags.row(99, "dog").model_id == "tiny"
        assert [p.id for p in cat.embeddings.photos_missing("tiny")] == [1, 2, 3, 4, 99]


# -- 2. tags and thumbnails are part of the indexed state ----------------------------------------------
def test_index_tags_what_a_killed_run_left_untagged(lib, encoder, photo_dir):
    lib.catalog.add_root(str(photo_dir))
    update_library(lib, encoder, do_tag=False)  # the state after a kill between commit and tagging
    n = lib.catalog.counts()["ok"]
    assert len(lib.catalog.tags.photos_missing("tiny")) == n
    report = update_library(lib, encoder)
    assert report.index.indexed == 0 and report.photos_tagged == n
    assert lib.catalog.tags.photos_missing("tiny") == []
    assert update_library(lib, encoder).photos_tagged == 0


def test_index_makes_missing_thumbnails(lib, encoder, photo_dir):
    lib.catalog.add_root(str(photo_dir))
    update_library(lib, encoder, settings=IndexSettings(workers=2))
    made = sorted(lib.paths.thumbnails.rglob("*.jpg"))
    for t in made[:5]:
        t.unlink()
    report = update_library(lib, encoder, settings=IndexSettings(workers=2), repair_thumbnails=True)
    assert report.thumbnails_made == 5 and sorted(lib.paths.thumbnails.rglob("*.jpg")) == made
    assert indexer.photos_missing_thumbnails(lib.catalog, lib.paths.thumbnails) == []


# -- 4. a drive that looks gone never deletes rows ---------------------------------------------------------
def test_root_left_with_only_trash_and_readme_keeps_its_photos(lib, tmp_path):
    root = tmp_path / "disk"
    files = _photos(root, 30)
    lib.catalog.add_root(str(root))
    scan(lib.catalog)
    tagged = lib.catalog.photo_by_path(str(files[0])).id
    lib.catalog.tags.set_user(tagged, "grandma")
    for f in files:
        f.unlink()
    (root / ".Trash-0").mkdir()
    (root / "README.txt").write_text("mount point of the photo disk")
    r = scan(lib.catalog)
    assert (r.deleted, r.held) == (0, 30) and r.offline_roots == [str(root)]
    assert lib.catalog.counts()["total"] == 30 and lib.catalog.counts()["missing"] == 30
    assert ("grandma", "user", 1.0) in lib.catalog.tags.of_photo(tagged)
    assert lib.catalog.embeddings.photos_missing("tiny") == []  # nothing to read while they are away
    _photos(root, 30)  # plugged back
    r = scan(lib.catalog)
    assert (r.deleted, r.new, r.held) == (0, 0, 0) and lib.catalog.counts()["missing"] == 0
    for f in files:
        f.unlink()
    r = scan(lib.catalog, confirm_deletions=True)  # the user says they are gone
    assert r.deleted == 30 and lib.catalog.counts()["total"] == 0


def test_emptied_sub_folder_is_held_but_a_few_deletions_go_through(lib, tmp_path):
    root = tmp_path / "p"
    card = _photos(root / "card", 15)
    home = _photos(root / "home", 20, start=100)
    lib.catalog.add_root(str(root))
    scan(lib.catalog)
    for f in card:  # a mount point whose disk is gone: an empty folder
        f.unlink()
    home[0].unlink()  # an ordinary deletion
    r = scan(lib.catalog)
    assert (r.deleted, r.held) == (1, 15) and r.held_folders == [str(root / "card")]
    assert lib.catalog.counts()["total"] == 34


def test_dangling_symlinked_sub_folder_deletes_nothing(lib, tmp_path):
    root, other = tmp_path / "p", tmp_path / "usb"
    _photos(other, 10)
    _photos(root, 3, start=50)
    (root / "usb").symlink_to(other, target_is_directory=True)
    lib.catalog.add_root(str(root))
    assert scan(lib.catalog).new == 13
    shutil.rmtree(other)
    r = scan(lib.catalog)
    assert r.deleted == 0 and lib.catalog.counts()["total"] == 13
    assert [(p, why) for p, why in r.skipped] == [(str(root / "usb"), "link target missing: No such file or directory")]


def test_unmounted_sub_folder_keeps_its_photos(lib, tmp_path, monkeypatch):
    root = tmp_path / "p"
    card = _photos(root / "card", 2)  # under HOLD_MIN: only the mount rule protects them
    _photos(root, 3, start=10)
    lib.catalog.add_root(str(root))
    real_ismount = os.path.ismount
    mounted = {str(root / "card")}
    monkeypatch.setattr(os.path, "ismount", lambda p: os.fsdecode(p) in mounted or real_ismount(p))
    scan(lib.catalog)
    mounted.clear()  # unmounted: an empty folder on the parent disk
    for f in card:
        f.unlink()
    r = scan(lib.catalog)
    assert r.deleted == 0 and r.held == 0 and lib.catalog.counts()["total"] == 5
    assert any(p == str(root / "card") and "not mounted" in why for p, why in r.unreadable)
    r = scan(lib.catalog, confirm_deletions=True)  # nothing about a drive that is not there is forgotten
    assert r.deleted == 0 and lib.catalog.counts()["total"] == 5
    assert any(p == str(root / "card") and "not mounted" in why for p, why in r.unreadable)


def test_vanished_user_tagged_photo_waits_for_confirmation(lib, tmp_path):
    root = tmp_path / "p"
    files = _photos(root, 10)
    lib.catalog.add_root(str(root))
    scan(lib.catalog)
    lib.catalog.tags.set_user(lib.catalog.photo_by_path(str(files[0])).id, "wedding")
    files[0].unlink()
    files[1].unlink()
    r = scan(lib.catalog)
    assert (r.deleted, r.held) == (1, 1)
    assert [p.path for p in lib.catalog.missing_photos()] == [str(files[0])]
    assert scan(lib.catalog, confirm_deletions=True).deleted == 1


# -- 8. leftovers ---------------------------------------------------------------------------------------
def test_stale_temp_files_and_pool_folders_are_swept_at_start(lib, encoder, tmp_path):
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    stale_index = lib.paths.indexes / f".tiny.usearch.{dead}.tmp"
    stale_index.write_bytes(b"half an index")
    pool = lib.paths.root / "tmp" / str(dead) / "pymp-abc123"
    pool.mkdir(parents=True)
    (pool / "listener-xyz").write_bytes(b"")
    root = tmp_path / "p"
    _photos(root, 2)
    lib.catalog.add_root(str(root))
    report = update_library(lib, encoder)
    assert not stale_index.exists() and not pool.parent.exists()
    assert report.leftovers_removed == 2


KILLED_INDEXER = """
import os, signal, sys
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.indexer import IndexSettings
from engine.library import Library
from engine.modelfolder import ModelFolder
from engine.update import update_library
lib = Library.open(sys.argv[1])
lib.catalog.add_root(sys.argv[2])
enc = ClipEncoder(ModelFolder.load(sys.argv[3]), RuntimeConfig(device="cpu", variant="fp32"))
update_library(lib, enc, settings=IndexSettings(batch_size=2, workers=2))
print(os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_index_leaves_no_pool_folder_in_the_system_temp_dir(tmp_path, tiny_model, monkeypatch):
    import subprocess
    import sys
    import tempfile

    root, system_tmp, library = tmp_path / "p", tmp_path / "systmp", tmp_path / "l"
    _photos(root, 8)
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-c", KILLED_INDEXER, str(library), str(root), str(tiny_model.path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    assert list(system_tmp.glob("pymp-*")) == []
    # Ours instead, named by the dead pid: under the library, or in a short folder when that path is too long
    # for the fork server's socket.
    left = indexer.pool_temp_root(library / "tmp") / done.stdout.strip()
    assert any(left.glob("pymp-*"))
    assert indexer.sweep_stale_pool_dirs(library / "tmp") >= 1 and not left.exists()


# -- 10. odd entries and dates -------------------------------------------------------------------------
def test_fifos_devices_and_dangling_links_are_listed_as_skipped(lib, tmp_path):
    root = tmp_path / "p"
    _photos(root, 1)
    os.mkfifo(root / "pipe.jpg")
    (root / "null.jpg").symlink_to("/dev/null")
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    lib.catalog.add_root(str(root))
    r = scan(lib.catalog)
    assert r.new == 1
    assert dict(r.skipped) == {
        str(root / "pipe.jpg"): "a FIFO (named pipe), not a photo",
        str(root / "null.jpg"): "link to a device, not a photo",
        str(root / "gone.jpg"): "link target missing: No such file or directory",
    }


@pytest.mark.parametrize(("raw", "expected"), [
    ("2021:07:04 18:30:00", "2021-07-04T18:30:00"),
    ("0000:00:00 00:00:00", None),
    ("    :  :     :  :  ", None),
    ("1700:01:01 00:00:00", None),
    ("9999:12:31 23:59:59", None),
    ("2021:02:30 10:00:00", None),
    ("2021-07-04 18:30:00", "2021-07-04T18:30:00"),
])
def test_exif_dates_are_validated(tmp_path, raw, expected):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = raw
    path = write_jpeg(tmp_path / "a.jpg", exif=exif.tobytes())
    assert open_photo(path).meta["taken_at"] == expected
    assert exif_date(raw) == expected
