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
