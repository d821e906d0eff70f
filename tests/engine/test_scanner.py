import os
import shutil

import numpy as np
import pytest

from engine.catalog import PhotoCatalog
from engine.scanner import scan
from tests.conftest import write_jpeg


@pytest.fixture
def cat(tmp_path):
    with PhotoCatalog(tmp_path / "lib" / "c.db") as c:
        yield c


def _add(cat, folder):
    return cat.add_root(str(folder))


def test_new_changed_deleted(cat, tmp_path):
    root = tmp_path / "p"
    a = write_jpeg(root / "a.jpg")
    write_jpeg(root / "sub" / "b.png".replace(".png", ".jpg"))
    (root / "notes.txt").write_text("not a photo")
    _add(cat, root)
    r = scan(cat)
    assert (r.new, r.changed, r.deleted) == (2, 0, 0)
    assert scan(cat).unchanged == 2
    write_jpeg(a, color=(1, 1, 1), size=(70, 50))
    os.utime(a, (1e9, 1e9))
    (root / "sub" / "b.jpg").unlink()
    r = scan(cat)
    assert (r.new, r.changed, r.deleted, r.unchanged) == (0, 1, 1, 0)
    assert cat.counts()["pending"] == 1


def test_move_and_rename_reuse_vectors(cat, tmp_path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg", color=(9, 9, 9))
    _add(cat, root)
    scan(cat)
    pid = cat.photo_by_path(str(root / "a.jpg")).id
    cat.embeddings.put("m", [pid], np.ones((1, 4), np.float32))
    cat.tags.set_user(pid, "holiday")
    (root / "2024").mkdir()
    shutil.move(root / "a.jpg", root / "2024" / "renamed.jpg")
    r = scan(cat)
    assert (r.moved, r.new, r.deleted) == (1, 0, 0)
    moved = cat.photo_by_path(str(root / "2024" / "renamed.jpg"))
    assert moved.id == pid
    assert cat.embeddings.get(pid, "m") is not None
    assert ("holiday", "user", 1.0) in cat.tags.of_photo(pid)


def test_move_between_roots(cat, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_jpeg(a / "x.jpg", color=(3, 4, 5))
    b.mkdir()
    _add(cat, a), _add(cat, b)
    scan(cat)
    pid = cat.photo_by_path(str(a / "x.jpg")).id
    shutil.move(a / "x.jpg", b / "x.jpg")
    assert scan(cat).moved == 1
    assert cat.photo_by_path(str(b / "x.jpg")).id == pid


def test_copy_reuses_indexed_vectors(cat, tmp_path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg", color=(7, 7, 7))
    _add(cat, root)
    scan(cat)
    pid = cat.photo_by_path(str(root / "a.jpg")).id
    cat.record_decoded(pid, {"width": 64, "height": 48})
    cat.embeddings.put("m", [pid], np.full((1, 4), 0.5, np.float32))
    shutil.copy(root / "a.jpg", root / "copy.jpg")
    r = scan(cat)
    assert r.copied == 1 and r.new == 0
    twin = cat.photo_by_path(str(root / "copy.jpg"))
    assert twin.status == "ok" and np.allclose(cat.embeddings.get(twin.id, "m"), 0.5)


def test_unplugged_root_goes_offline_and_keeps_everything(cat, tmp_path):
    root = tmp_path / "usb"
    for i in range(3):
        write_jpeg(root / f"{i}.jpg", color=(i, i, i))
    r0 = _add(cat, root)
    scan(cat)
    shutil.rmtree(root)
    r = scan(cat)
    assert r.offline_roots == [str(root)] and r.deleted == 0
    assert cat.counts()["total"] == 3
    assert cat.roots()[0].state == "offline" and "not found" in cat.roots()[0].error
    root.mkdir()  # an empty mount point: still offline, still nothing deleted
    assert scan(cat).offline_roots == [str(root)]
    assert len(cat.photos_of_root(r0.id)) == 3


def test_hidden_and_system_folders_skipped(cat, tmp_path):
    root = tmp_path / "p"
    write_jpeg(root / ".hidden" / "a.jpg")
    write_jpeg(root / "@eaDir" / "b.jpg")
    write_jpeg(root / "$RECYCLE.BIN" / "c.jpg")
    write_jpeg(root / ".d.jpg")
    write_jpeg(root / "ok.jpg")
    _add(cat, root)
    assert scan(cat).new == 1


def test_symlink_loop_terminates(cat, tmp_path):
    root = tmp_path / "p"
    write_jpeg(root / "a" / "x.jpg")
    os.symlink(root, root / "a" / "loop")
    os.symlink(root / "a", root / "again")
    _add(cat, root)
    r = scan(cat)
    assert r.new == 1


def test_non_utf8_and_long_names(cat, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9-\xff.jpg"
    src = write_jpeg(tmp_path / "src.jpg")
    with open(raw, "wb") as f:
        f.write(src.read_bytes())
    long_name = "x" * 240 + ".jpg"
    write_jpeg(root / long_name, color=(50, 60, 70))
    write_jpeg(root / "日本語の写真.jpg", color=(80, 90, 100))
    _add(cat, root)
    assert scan(cat).new == 3
    odd = [p for p in cat.photos_of_root(1) if p.raw_path is not None]
    assert len(odd) == 1 and odd[0].raw_path == raw and "\\xe9" in odd[0].path
    assert scan(cat).unchanged == 3  # stable across scans


def test_unreadable_subfolder_keeps_its_photos(cat, tmp_path, monkeypatch):
    root = tmp_path / "p"
    write_jpeg(root / "locked" / "a.jpg")
    write_jpeg(root / "open" / "b.jpg", color=(1, 2, 3))
    _add(cat, root)
    scan(cat)
    real_scandir = os.scandir
    locked = os.fsencode(root / "locked")

    def scandir(path):
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    r = scan(cat)
    assert r.deleted == 0 and cat.counts()["total"] == 2
    assert r.unreadable and "Permission denied" in r.unreadable[0][1]


def test_deleted_root_contents_are_removed_only_when_root_online(cat, tmp_path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    write_jpeg(root / "b.jpg", color=(5, 5, 5))
    _add(cat, root)
    scan(cat)
    (root / "a.jpg").unlink()
    assert scan(cat).deleted == 1
