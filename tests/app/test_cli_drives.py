"""`index --confirm-deletions` with a drive unplugged (a real tmpfs, unmounted): it forgets nothing of that drive,
and after re-plugging the photos are the same rows with their tags (issue 24, item 2)."""

import json
import os
import shutil
import subprocess

import pytest

from desktop_app.cli import main
from engine.library import Library
from tests.conftest import write_jpeg

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _rows():
    with Library.open(os.environ["PHOTOSIFT_LIBRARY"]) as lib:
        cat = lib.catalog
        return {p.path: (p.id, sorted(n for n, s, _ in cat.tags.of_photo(p.id) if s == "user"))
                for r in cat.roots() for p in cat.photos_of_root(r.id)}


def test_index_confirm_deletions_keeps_an_unplugged_drive(capsys, tiny_model, tmp_path):
    root, card, stash = tmp_path / "photos", tmp_path / "photos" / "card", tmp_path / "stash"
    for i in range(3):
        write_jpeg(root / f"home{i}.jpg", color=(10, i * 60, 200))
    card.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "none", str(card)], check=True)
    try:
        for i in range(6):
            write_jpeg(card / f"IMG_{i}.jpg", color=(i * 40, 90, 20))
        assert run(capsys, "add", str(root))[0] == 0
        assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
        for i, tag in ((0, "grandma"), (1, "beach"), (4, "cake")):
            assert run(capsys, "tag", str(card / f"IMG_{i}.jpg"), "--add", tag)[0] == 0
        before = _rows()
        assert len(before) == 9 and sum(bool(t) for _, t in before.values()) == 3
        shutil.copytree(card, stash)
        subprocess.run(["umount", str(card)], check=True)

        code, out, _ = run(capsys, "index")
        assert code == 0 and "card" in out
        code, out, _ = run(capsys, "index", "--confirm-deletions", "--json")
        scanned = json.loads(out)["scan"]
        assert code == 0 and scanned["deleted"] == 0
        assert any(u["path"] == str(card) for u in scanned["unreadable"])
        assert _rows() == before

        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "none", str(card)], check=True)
        shutil.copytree(stash, card, dirs_exist_ok=True)
        code, out, _ = run(capsys, "index", "--confirm-deletions", "--json")
        scanned = json.loads(out)["scan"]
        assert code == 0 and (scanned["deleted"], scanned["new"], scanned["unchanged"]) == (0, 0, 9)
        assert _rows() == before
    finally:
        if os.path.ismount(card):
            subprocess.run(["umount", str(card)], check=True)


@pytest.mark.parametrize("where", ["inside a root", "the root itself"])
def test_a_bind_mount_unmounted_is_kept_by_confirm_deletions(capsys, tiny_model, tmp_path, where):
    """A bind mount of a folder of the same file system (a NAS share or a photo disk mounted once and bound into
    ~/Pictures) has the device of the folder under it: os.path.ismount does not see it; mountinfo does."""
    share = tmp_path / "share"
    for i in range(5):
        write_jpeg(share / f"IMG_{i}.jpg", color=(i * 40, 90, 20))
    root = tmp_path / "photos"
    write_jpeg(root / "home.jpg")
    at = root / "nas" if where == "inside a root" else tmp_path / "nas"
    at.mkdir(parents=True)
    if subprocess.run(["mount", "--bind", str(share), str(at)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts are not allowed here")
    try:
        for folder in (root, at) if where == "the root itself" else (root,):
            assert run(capsys, "add", str(folder))[0] == 0
        assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
        assert run(capsys, "tag", str(at / "IMG_2.jpg"), "--add", "grandma")[0] == 0
        before = _rows()
        assert len(before) == 6
        subprocess.run(["umount", str(at)], check=True)
        code, out, _ = run(capsys, "index", "--confirm-deletions", "--json")
        assert code == 0 and json.loads(out)["scan"]["deleted"] == 0
        assert _rows() == before
        subprocess.run(["mount", "--bind", str(share), str(at)], check=True)
        assert run(capsys, "index", "--no-tags")[0] == 0
        assert _rows() == before
    finally:
        subprocess.run(["umount", str(at)], capture_output=True)
