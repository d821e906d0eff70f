"""`index --confirm-deletions`, `status` counts of what index still has to heal, `forget` and thumbnails."""

import json
import os

from desktop_app.cli import main
from engine.library import Library
from tests.conftest import write_jpeg


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _status(capsys):
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    return json.loads(out)


def test_status_counts_tags_missing_and_index_finishes_them(capsys, tiny_model, photo_dir):
    assert run(capsys, "add", str(photo_dir))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    status = _status(capsys)
    n = status["photos"]["ok"]
    assert status["model"]["tags_missing"] == n and status["thumbnails_missing"] == 0
    code, out, _ = run(capsys, "status")
    assert code == 0 and f"{n} tags missing" in out
    code, out, _ = run(capsys, "index", "--json")
    assert code == 0 and json.loads(out)["photos_tagged"] == n
    assert _status(capsys)["model"]["tags_missing"] == 0


def test_vanished_folder_is_kept_until_confirmed(capsys, tiny_model, tmp_path):
    root = tmp_path / "disk"
    files = [write_jpeg(root / f"{i}.jpg", color=(i * 20, 5, 5)) for i in range(8)]
    assert run(capsys, "add", str(root))[0] == 0
    assert run(capsys, "index", "--model", "tiny")[0] == 0
    for f in files:
        f.unlink()
    (root / "README.txt").write_text("the disk is not mounted")
    code, out, _ = run(capsys, "index")
    assert code == 0 and "kept 8 photos" in out and "--confirm-deletions" in out
    status = _status(capsys)
    assert status["photos"]["total"] == 8 and status["photos"]["missing"] == 8 and len(status["missing"]) == 8
    code, out, _ = run(capsys, "index", "--json", "--confirm-deletions")
    assert json.loads(out)["scan"]["deleted"] == 8
    assert _status(capsys)["photos"]["total"] == 0


def test_status_splits_failures_by_kind_and_lists_skipped(capsys, tiny_model, tmp_path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    (root / "text.jpg").write_text("not a photo")
    os.mkfifo(root / "pipe.jpg")
    assert run(capsys, "add", str(root))[0] == 0
    assert run(capsys, "index", "--model", "tiny")[0] == 0
    status = _status(capsys)
    assert (status["photos"]["failed_permanent"], status["photos"]["failed_transient"]) == (1, 0)
    assert status["failed"][0]["kind"] == "permanent"
    assert status["skipped"] == [{"path": str(root / "pipe.jpg"), "reason": "a FIFO (named pipe), not a photo"}]


def test_forget_deletes_the_forgotten_photos_thumbnails(capsys, tiny_model, photo_dir, tmp_path):
    other = tmp_path / "other"
    write_jpeg(other / "x.jpg", color=(1, 99, 1))
    assert run(capsys, "add", str(photo_dir), str(other))[0] == 0
    assert run(capsys, "index", "--model", "tiny")[0] == 0
    with Library.open(os.environ["PHOTOSIFT_LIBRARY"]) as lib:
        thumbs = lib.paths.thumbnails
    before = len(list(thumbs.rglob("*.jpg")))
    assert before >= 11
    assert run(capsys, "forget", str(photo_dir))[0] == 0
    assert len(list(thumbs.rglob("*.jpg"))) == 1
