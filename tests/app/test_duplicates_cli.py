"""`photosift duplicates`: the JSON the issue specifies, trash only after confirmation, a log to put photos back,
and nothing moved when the trash is unavailable."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from desktop_app.cli import main
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.indexer import IndexSettings
from engine.library import Library
from engine.trash import LOG_NAME
from engine.update import update_library


@pytest.fixture
def trash_home(tmp_path, monkeypatch):
    """send2trash's Freedesktop trash inside the test's folder (it reads its location at import time)."""
    from send2trash import plat_other

    home = tmp_path / "home"
    (home / ".local" / "share").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))  # files under tmp_path are then on the home trash's device
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(home / ".local" / "share"))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(home / ".local" / "share" / "Trash"))
    monkeypatch.setattr("send2trash.send2trash", plat_other.send2trash)  # not the gio backend, if installed
    return home / ".local" / "share" / "Trash"


@pytest.fixture
def indexed(tmp_path, tiny_model, sample_arrays):
    root = tmp_path / "photos"
    root.mkdir()
    chelsea = Image.fromarray(sample_arrays["chelsea"])
    chelsea.save(root / "a-chelsea.jpg", quality=92)
    shutil.copy(root / "a-chelsea.jpg", root / "b-chelsea-copy.jpg")
    chelsea.resize((225, 150), Image.Resampling.LANCZOS).save(root / "c-chelsea-small.jpg", quality=70)
    for name in ("coffee", "rocket", "astronaut"):
        Image.fromarray(sample_arrays[name]).save(root / f"{name}.jpg", quality=90)
    library = Path(os.environ["PHOTOSIFT_LIBRARY"])
    with Library.open(library) as lib:
        lib.set_active_model("tiny")
        lib.catalog.add_root(str(root))
        update_library(
            lib,
            ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32")),
            settings=IndexSettings(batch_size=4, workers=1),
        )
    return root, library


def test_json_lists_groups_as_the_issue_specifies(indexed, capsys):
    root, _ = indexed
    assert main(["duplicates", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert len(groups) == 1
    g = groups[0]
    assert g["kind"] == "near" and g["keep"] == str(root / "a-chelsea.jpg") and g["reason"]
    assert sorted(Path(p["path"]).name for p in g["photos"]) == [
        "a-chelsea.jpg",
        "b-chelsea-copy.jpg",
        "c-chelsea-small.jpg",
    ]
    for p in g["photos"]:
        assert set(p) == {"path", "id", "width", "height", "size", "taken_at", "similarity"}
    small = next(p for p in g["photos"] if p["path"].endswith("small.jpg"))
    assert (small["width"], small["height"]) == (225, 150) and 0 < small["similarity"] <= 1
    assert main(["duplicates", "--json", "--kind", "exact"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["duplicates"]) == 0
    assert "keep " + str(root / "a-chelsea.jpg") in capsys.readouterr().out


def test_trash_needs_a_confirmation(indexed, trash_home, monkeypatch, capsys):
    root, _ = indexed
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal: a piped "y" is no confirmation
    assert main(["duplicates", "--trash"]) == 1
    assert "--yes" in capsys.readouterr().err
    assert len(list(root.iterdir())) == 6 and not trash_home.exists()


def test_trash_then_restore(indexed, trash_home, capsys):
    root, library = indexed
    assert main(["duplicates", "--trash", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "2 photos" in out and "moved 2 photos" in out
    assert sorted(p.name for p in root.iterdir()) == ["a-chelsea.jpg", "astronaut.jpg", "coffee.jpg", "rocket.jpg"]
    assert sorted(p.name for p in (trash_home / "files").iterdir()) == ["b-chelsea-copy.jpg", "c-chelsea-small.jpg"]
    with Library.open(library) as lib:
        assert lib.catalog.counts()["total"] == 4 and lib.catalog.duplicates.groups() == []
    log = [json.loads(line) for line in (library / LOG_NAME).read_text().splitlines()]
    assert {e["path"] for e in log} == {str(root / "b-chelsea-copy.jpg"), str(root / "c-chelsea-small.jpg")}
    assert all(e["keep"] == str(root / "a-chelsea.jpg") for e in log)
    assert main(["duplicates", "--restore"]) == 0
    assert "put back 2 photos" in capsys.readouterr().out
    assert len(list(root.iterdir())) == 6 and list((trash_home / "files").iterdir()) == []
    assert main(["duplicates", "--restore"]) == 0
    assert "nothing to put back" in capsys.readouterr().out


def test_unavailable_trash_moves_and_forgets_nothing(indexed, monkeypatch, capsys):
    root, library = indexed

    def broken(path):
        raise OSError("Couldn't find mount point for " + os.fsdecode(path))

    monkeypatch.setattr("send2trash.send2trash", broken)
    assert main(["duplicates", "--trash", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "trash is unavailable" in err and "nothing was moved" in err
    assert len(list(root.iterdir())) == 6
    with Library.open(library) as lib:
        assert lib.catalog.counts()["total"] == 6 and len(lib.catalog.duplicates.groups()) == 1
    # The intent logged before the move is settled as "not moved": nothing is waiting to be put back.
    assert [json.loads(line)["event"] for line in (library / LOG_NAME).read_text().splitlines()] == [
        "intent",
        "not moved",
    ]
    assert main(["duplicates", "--restore"]) == 0
    assert "nothing to put back" in capsys.readouterr().out


def test_a_missing_keeper_keeps_its_copies(indexed, trash_home, capsys):
    root, _ = indexed
    (root / "a-chelsea.jpg").unlink()  # the catalog does not know yet
    assert main(["duplicates", "--trash", "--yes"]) == 0
    assert "not on disk" in capsys.readouterr().err
    assert (root / "b-chelsea-copy.jpg").exists() and (root / "c-chelsea-small.jpg").exists()


def test_unindexed_library_says_what_to_do(tmp_path, capsys):
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])):
        pass
    assert main(["duplicates"]) == 1
    assert "photosift index" in capsys.readouterr().err
