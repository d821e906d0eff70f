"""atomic_folder: a folder built beside its destination and renamed into place, or deleted on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.atomic import atomic_folder, replace_folder


def test_new_folder_appears_complete_and_nothing_is_left_beside(tmp_path: Path) -> None:
    dest = tmp_path / "parent" / "out"
    with atomic_folder(dest, "export") as work:
        assert work.parent == dest.parent and work.name.startswith(".out.export-") and not dest.exists()
        (work / "a.txt").write_text("new")
    assert (dest / "a.txt").read_text() == "new"
    assert [p.name for p in dest.parent.iterdir()] == ["out"]


def test_an_existing_destination_is_replaced_whole(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (dest / "sub").mkdir(parents=True)
    (dest / "old.txt").write_text("old")
    with atomic_folder(dest) as work:
        (work / "new.txt").write_text("new")
        assert (dest / "old.txt").is_file()  # readers see the old folder until the block ends
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_deletes_the_work_and_keeps_the_destination(tmp_path: Path, error: BaseException) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(type(error)), atomic_folder(dest) as work:
        (work / "half.txt").write_text("half")
        raise error
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in dest.iterdir()] == ["old.txt"]


def test_replace_folder_moves_into_a_missing_destination(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "x").write_text("1")
    replace_folder(src, tmp_path / "dst")
    assert (tmp_path / "dst" / "x").read_text() == "1" and not src.exists()


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_file_fsyncs_only_when_durable_and_replaces_whole(tmp_path: Path, monkeypatch, durable: bool) -> None:
    import os

    from engine.atomic import atomic_file

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    with atomic_file(dest, durable=durable) as tmp:
        tmp.write_bytes(b"new content")
        assert dest.read_bytes() == b"old"
    assert dest.read_bytes() == b"new content" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    assert len(synced) == (2 if durable else 0)  # the file and its folder
