"""Nothing is forgotten about a drive that is not there, `confirm_deletions` or not (issue 24, item 2).

Real mounts (tmpfs and an ext4 loop image, as root): a drive is unplugged by unmounting it, which leaves its
mount point behind as an empty, readable folder of the parent disk. Re-plugging copies the files back with
their times (a tmpfs loses them) or mounts the same image again.
"""

import contextlib
import os
import shutil
import subprocess

import pytest

from engine.catalog import PhotoCatalog
from engine.scanner import scan
from tests.conftest import write_jpeg

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@contextlib.contextmanager
def tmpfs(mount_point):
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "none", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        unmount(mount_point)


def unmount(mount_point):
    if os.path.ismount(mount_point):
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture
def cat(tmp_path):
    with PhotoCatalog(tmp_path / "lib" / "c.db") as c:
        yield c


def _photos(folder, n, start=0):
    return [write_jpeg(folder / f"{i}.jpg", color=(i * 7 % 256, 40, 90)) for i in range(start, start + n)]


def _snapshot(cat):
    """Every photo's id by path, and the user tags by path: what must survive an unplugged drive."""
    ids = {p.path: p.id for root in cat.roots() for p in cat.photos_of_root(root.id)}
    tags = {path: [t for t in cat.tags.of_photo(pid) if t[1] == "user"] for path, pid in ids.items()}
    return ids, tags


def _unplug(mount_point, stash):
    """Save the drive's files (with their times) and unmount it: its mount point stays, empty."""
    shutil.copytree(mount_point, stash)
    unmount(mount_point)
    assert mount_point.is_dir() and not os.listdir(mount_point)


def _replug(mount_point, stash):
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "none", str(mount_point)], check=True)
    shutil.copytree(stash, mount_point, dirs_exist_ok=True)


def test_unmounted_drive_inside_a_root_is_kept_with_confirm_deletions(cat, tmp_path):
    root = tmp_path / "photos"
    _photos(root, 3, start=100)
    card = root / "card"
    with tmpfs(card):
        _photos(card / "DCIM", 6)
        cat.add_root(str(root))
        assert scan(cat).new == 9
        tagged = [cat.photo_by_path(str(card / "DCIM" / f"{i}.jpg")).id for i in (0, 1)]
        cat.tags.set_user(tagged[0], "grandma")
        cat.tags.set_user(tagged[1], "beach")
        before = _snapshot(cat)
        _unplug(card, tmp_path / "stash")
        for confirm in (False, True):
            r = scan(cat, confirm_deletions=confirm)
            assert (r.deleted, r.new) == (0, 0), confirm
            assert _snapshot(cat) == before
            assert any(p == str(card) for p, _why in r.unreadable)
        _replug(card, tmp_path / "stash")
        r = scan(cat, confirm_deletions=True)
        assert (r.deleted, r.new, r.moved, r.unchanged) == (0, 0, 0, 9)
        assert _snapshot(cat) == before  # the same ids, the tags on them
        assert ("grandma", "user", 1.0) in cat.tags.of_photo(tagged[0])


def test_unmounted_drive_is_kept_even_where_its_mount_point_was_not_recorded(cat, tmp_path):
    """The device rule alone: a catalog that never saw the mount point (written before mount points were
    recorded, or the drive mounted between two scans) still keeps the photos of an unplugged drive."""
    root = tmp_path / "photos"
    _photos(root, 5, start=100)
    card = root / "card"
    with tmpfs(card):
        _photos(card, 2)  # under HOLD_MIN and untagged: without the device rule they are ordinary deletions
        r0 = cat.add_root(str(root))
        scan(cat)
        cat.set_root_mounts(r0.id, [])
        before = _snapshot(cat)
        _unplug(card, tmp_path / "stash")
        r = scan(cat, confirm_deletions=True)
        assert r.deleted == 0 and _snapshot(cat) == before
        assert [p for p, _ in r.unreadable] == [str(card)] and "not there" in r.unreadable[0][1]
        (root / "100.jpg").unlink()  # a photo deleted from the disk that is there is forgotten
        r = scan(cat, confirm_deletions=True)
        assert r.deleted == 1 and len(_snapshot(cat)[0]) == 6


def test_root_that_is_a_mount_point_is_kept_with_confirm_deletions(cat, tmp_path):
    drive = tmp_path / "media" / "usb"
    with tmpfs(drive):
        files = _photos(drive, 8)
        cat.add_root(str(drive))
        scan(cat)
        pid = cat.photo_by_path(str(files[0])).id
        cat.tags.set_user(pid, "wedding")
        before = _snapshot(cat)
        _unplug(drive, tmp_path / "stash")
        r = scan(cat, confirm_deletions=True)
        assert r.deleted == 0 and r.offline_roots == [str(drive)]
        assert cat.roots()[0].state == "offline" and _snapshot(cat) == before
        _replug(drive, tmp_path / "stash")
        r = scan(cat, confirm_deletions=True)
        assert (r.deleted, r.new, r.unchanged) == (0, 0, 8) and r.offline_roots == []
        assert _snapshot(cat) == before and ("wedding", "user", 1.0) in cat.tags.of_photo(pid)


def test_root_on_a_removed_usb_path_is_kept_with_confirm_deletions(cat, tmp_path):
    """Like udisks: unplugging unmounts the drive and removes /media/<user>/<LABEL> itself."""
    label = tmp_path / "media" / "me" / "USB"
    root = label / "Photos"
    with tmpfs(label):
        files = _photos(root, 5)
        cat.add_root(str(root))
        scan(cat)
        cat.tags.set_user(cat.photo_by_path(str(files[2])).id, "dog")
        before = _snapshot(cat)
        _unplug(label, tmp_path / "stash")
        label.rmdir()
        r = scan(cat, confirm_deletions=True)
        assert r.deleted == 0 and r.offline_roots == [str(root)] and _snapshot(cat) == before
        label.mkdir()
        _replug(label, tmp_path / "stash")
        r = scan(cat, confirm_deletions=True)
        assert (r.deleted, r.new, r.unchanged) == (0, 0, 5) and _snapshot(cat) == before


def test_drive_back_as_the_same_ext4_image_keeps_ids(cat, tmp_path):
    """A real disk: an ext4 image on a loop device, unmounted and mounted again (inodes survive)."""
    image, mount_point = tmp_path / "disk.img", tmp_path / "photos" / "disk"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    mount_point.mkdir(parents=True)
    _photos(tmp_path / "photos", 2, start=50)
    subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
    try:
        shutil.rmtree(mount_point / "lost+found")
        _photos(mount_point, 6)
        cat.add_root(str(tmp_path / "photos"))
        scan(cat)
        cat.tags.set_user(cat.photo_by_path(str(mount_point / "3.jpg")).id, "tree")
        before = _snapshot(cat)
        unmount(mount_point)
        r = scan(cat, confirm_deletions=True)
        assert r.deleted == 0 and _snapshot(cat) == before
        subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
        r = scan(cat, confirm_deletions=True)
        assert (r.deleted, r.new, r.unchanged) == (0, 0, 8) and _snapshot(cat) == before
    finally:
        unmount(mount_point)


def test_unreadable_folder_and_dangling_link_are_kept_with_confirm_deletions(cat, tmp_path, monkeypatch):
    root, other = tmp_path / "p", tmp_path / "usb"
    _photos(root / "locked", 2)
    _photos(other, 2, start=10)
    _photos(root, 2, start=20)
    (root / "usb").symlink_to(other, target_is_directory=True)
    cat.add_root(str(root))
    scan(cat)
    before = _snapshot(cat)
    shutil.rmtree(other)
    real_scandir = os.scandir
    locked = os.fsencode(root / "locked")

    def scandir(path):  # root reads every folder: a refused one is simulated
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    r = scan(cat, confirm_deletions=True)
    assert r.deleted == 0 and _snapshot(cat) == before
