"""The command line says what went wrong instead of a misleading answer: unknown ids, filters that cannot
match, a library that is not there, a reader that has gone, a busy library."""

import json
import os
import subprocess
import sys
from pathlib import Path

import filelock

from engine.library import Library
from engine.paths import LibraryPaths
from tests.app.test_cli import REPO, run
from tests.conftest import write_jpeg


def indexed(capsys, tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        write_jpeg(tmp_path / "p" / f"{name}.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    return tmp_path / "p"


def test_ids_that_are_not_in_the_library_say_so(capsys, tiny_model, tmp_path):
    indexed(capsys, tmp_path)
    for args in (("similar", "id:77"), ("search", "id:999"), ("search", "dog", "+", "id:999")):
        code, _, err = run(capsys, *args)
        assert code == 1 and "no photo id:" in err and "in this library" in err and "vector" not in err, err


def test_filters_that_cannot_match_are_refused(capsys, tiny_model, tmp_path):
    photos = indexed(capsys, tmp_path)
    code, _, err = run(capsys, "search", "a", "--folder", str(tmp_path / "nonexistent"))
    assert code == 1 and "is not in the library" in err and str(photos) in err
    code, _, err = run(capsys, "search", "a", "--from", "2025-06-01", "--to", "2024-01-01")
    assert code == 1 and "--from 2025-06-01 is after --to 2024-01-01" in err
    code, out, _ = run(capsys, "search", "a", "--folder", str(photos), "--all", "--json")  # the root itself
    assert code == 0 and len(json.loads(out)) == 3
    code, out, _ = run(capsys, "search", "a", "--folder", str(tmp_path), "--all", "--json")  # above the root
    assert code == 0 and len(json.loads(out)) == 3


def test_tag_filters_ignore_case(capsys, tiny_model, tmp_path):
    photos = indexed(capsys, tmp_path)
    assert run(capsys, "tag", str(photos / "a.jpg"), "--add", "giraffe")[0] == 0
    code, out, _ = run(capsys, "search", "a", "--tag", "Giraffe", "--all", "--json")
    assert code == 0 and [Path(r["path"]).name for r in json.loads(out)] == ["a.jpg"]
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        assert len(lib.catalog.tags.photo_ids_with("GIRAFFE")) == 1


def test_a_mistyped_library_is_not_created_by_commands_that_only_read(capsys, tmp_path):
    typo = tmp_path / "libary"
    for args in (("status",), ("search", "a dog"), ("similar", "id:1"), ("tag", "--list")):
        code, _, err = run(capsys, "--library", str(typo), *args)
        assert code == 1 and f"no Photosift library at {typo}" in err, err
    assert not typo.exists()
    write_jpeg(tmp_path / "p" / "a.jpg")  # (not tmp_path itself: it holds the library, which `add` refuses)
    assert run(capsys, "--library", str(typo), "add", str(tmp_path / "p"))[0] == 0  # adding starts one there
    assert LibraryPaths(typo).catalog.is_file()


def test_add_waits_for_a_busy_library_when_asked(capsys, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        lock = filelock.FileLock(str(lib.paths.write_lock))
    with lock:
        code, _, err = run(capsys, "add", "--wait", "0.3", str(tmp_path / "p"))
    assert code == 1 and "being updated" in err
    assert run(capsys, "add", "--wait", "0.3", str(tmp_path / "p"))[0] == 0


def test_a_reader_that_stops_early_ends_the_output_quietly(capsys, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "status"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err, err


def test_date_sort_is_newest_first_and_text_output_shows_dates(capsys, tiny_model, tmp_path):
    from PIL import Image

    for name, when in (("old", "2015:05:01 10:00:00"), ("new", "2024:08:02 10:00:00"), ("mid", "2019:01:03 10:00:00")):
        exif = Image.Exif()
        exif[0x0132] = when  # DateTime
        (tmp_path / "p").mkdir(exist_ok=True)
        Image.new("RGB", (64, 48), (10, 120, 200)).save(tmp_path / "p" / f"{name}.jpg", exif=exif)
    write_jpeg(tmp_path / "p" / "undated.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    code, out, _ = run(capsys, "search", "a photo", "--all", "--sort", "date")
    lines = out.splitlines()
    assert code == 0 and [Path(line.split()[-1]).stem for line in lines] == ["new", "mid", "old", "undated"]
    assert lines[0].split()[1] == "2024-08-02" and lines[3].split()[1] == "-" * 10
