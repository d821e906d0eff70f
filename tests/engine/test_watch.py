"""engine.watch: file events become settled batches; folders that vanish or come back are changes too."""

import time

import pytest

from engine.watch import FolderWatch


def _write(path, data=b"\xff\xd8 not really a jpeg"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_photo_events_settle_into_one_batch_and_noise_is_ignored(tmp_path):
    root, library = tmp_path / "photos", tmp_path / "photos" / "library"
    (root / "sub").mkdir(parents=True)
    with FolderWatch([str(root)], quiet_s=0.3, recheck_s=60, ignore=[str(library)]) as watch:
        assert watch.wait(0.8) is None  # nothing happened
        _write(root / "sub" / "a.jpg")
        _write(root / "b.JPG")
        _write(root / "notes.txt")  # not a photo
        _write(root / ".partial.jpg")  # hidden: the scanner skips it too
        _write(library / "thumbs" / "x.jpg")  # the library's own files (a library inside a photo folder)
        started = time.monotonic()
        batch = watch.wait(5)
        assert batch is not None and time.monotonic() - started < 2
        assert batch.paths == {str(root / "sub" / "a.jpg"), str(root / "b.JPG")} and not batch.folders
        (root / "b.JPG").rename(root / "sub" / "c.jpg")
        (root / "sub" / "a.jpg").unlink()
        assert watch.wait(5).paths == {str(root / "b.JPG"), str(root / "sub" / "c.jpg"), str(root / "sub" / "a.jpg")}
        (root / "sub" / "c.jpg").open("rb").read()  # reading (the indexer) is no change
        assert watch.wait(1.0) is None


@pytest.mark.slow  # 4 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_busy_folder_still_gives_a_batch_after_max_wait(tmp_path):
    with FolderWatch([str(tmp_path)], quiet_s=0.5, max_wait_s=1.0, recheck_s=60) as watch:
        started = time.monotonic()
        batch, got_after = None, None
        for i in range(40):  # an event every 0.1 s: never quiet for 0.5 s
            _write(tmp_path / f"{i}.jpg")
            if batch is None:
                batch = watch.poll()
                got_after = time.monotonic() - started
            time.sleep(0.1)
        assert batch is not None and 0.9 < got_after < 2.5
        assert 5 < len(batch.paths) < 40


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_folder_that_vanishes_and_comes_back_is_a_change(tmp_path):
    root, elsewhere = tmp_path / "drive", tmp_path / "unplugged"
    root.mkdir()
    missing = tmp_path / "not-there-yet"
    with FolderWatch([str(root), str(missing)], quiet_s=0.2, recheck_s=0.3) as watch:
        assert watch.watching == [str(root)]
        root.rename(elsewhere)
        batch = watch.wait(5)
        assert batch is not None and str(root) in batch.folders and watch.watching == []
        elsewhere.rename(root)
        missing.mkdir()
        seen: set[str] = set()
        deadline = time.monotonic() + 5
        while seen != {str(root), str(missing)} and time.monotonic() < deadline:
            b = watch.wait(0.5)
            seen |= b.folders if b else set()
        assert seen == {str(root), str(missing)} and watch.watching == sorted([str(root), str(missing)])
        _write(missing / "new.jpg")  # the folder that appeared is watched from then on
        assert watch.wait(5).paths == {str(missing / "new.jpg")}
        watch.set_folders([str(root)])
        assert watch.watching == [str(root)]
        _write(missing / "ignored.jpg")
        assert watch.wait(1.0) is None
