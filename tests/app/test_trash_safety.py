"""The trash step itself refuses to lose a photo: a keeper that is the same file under another path (a folder
listed twice, once through a symlink), a keeper or copy changed since they were compared; and a run killed
around a move leaves an intent in the log that `--restore` puts back (issue 24, items 1 and 5)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

from desktop_app.cli import main
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.indexer import IndexSettings
from engine.library import Library
from engine.trash import LOG_NAME, move_to_trash, plan, why_not_movable
from engine.update import update_library
from tests.app.test_duplicates_cli import indexed, trash_home  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]


def _index(library: Path, tiny_model, *roots: Path) -> None:
    with Library.open(library) as lib:
        lib.set_active_model("tiny")
        for root in roots:
            lib.catalog.add_root(str(root))
        update_library(
            lib,
            ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32")),
            settings=IndexSettings(batch_size=4, workers=1),
        )


def test_a_folder_listed_twice_through_a_symlink_keeps_its_only_copy(
    tmp_path, tiny_model, sample_arrays, trash_home, capsys  # noqa: F811
):
    # Two folders indexed as separate copies; then one becomes a symlink to the other, as a library that
    # lists one folder by its real path and through a link: every photo is in the catalog twice, one file.
    real, twin = tmp_path / "Nature", tmp_path / "Nature-link"
    real.mkdir()
    twin.mkdir()
    Image.fromarray(sample_arrays["coffee"]).save(real / "ladybird.jpg", quality=90)
    Image.fromarray(sample_arrays["rocket"]).save(real / "rocket.jpg", quality=90)
    for name in ("ladybird.jpg", "rocket.jpg"):
        shutil.copy(real / name, twin / name)
    library = Path(os.environ["PHOTOSIFT_LIBRARY"])
    _index(library, tiny_model, real, twin)
    shutil.rmtree(twin)
    twin.symlink_to(real, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in real.iterdir()}

    assert main(["duplicates", "--trash", "--yes"]) == 0
    captured = capsys.readouterr()
    assert "moved 0 photos" in captured.out
    assert captured.err.count("same file as the photo kept") == 2
    assert {p.name: p.read_bytes() for p in real.iterdir()} == before  # nothing moved: the only copies stay
    assert not (trash_home / "files").exists() or list((trash_home / "files").iterdir()) == []
    with Library.open(library) as lib:
        assert lib.catalog.counts()["total"] == 4


def test_a_keeper_or_copy_changed_since_compared_is_not_trashed(indexed, tmp_path):  # noqa: F811
    root, library = indexed
    moved: list = []
    with Library.open(library) as lib:
        items = {Path(i.photo.path).name: i for i in plan(lib.catalog, lib.catalog.duplicates.groups())}
        assert set(items) == {"b-chelsea-copy.jpg", "c-chelsea-small.jpg"}
        assert why_not_movable(items["b-chelsea-copy.jpg"]) is None
        # The copy is overwritten by another picture after the groups were found: it is no copy any more.
        Image.open(root / "coffee.jpg").save(root / "b-chelsea-copy.jpg", quality=92)
        assert "changed since it was compared" in why_not_movable(items["b-chelsea-copy.jpg"])
        # The keeper is edited: nothing of its group may go on its word.
        Image.open(root / "rocket.jpg").save(root / "a-chelsea.jpg", quality=92)
        assert "has changed since they were compared" in why_not_movable(items["c-chelsea-small.jpg"])
        result = move_to_trash(lib.catalog, lib.paths.root, list(items.values()), trash=moved.append)
    assert moved == [] and len(result.skipped) == 2


KILLER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from send2trash import plat_other
    from engine.library import Library
    from engine.trash import move_to_trash, plan

    when = sys.argv[1]

    def trash(path):
        if when == "before":
            print("about to move", flush=True)
            time.sleep(120)
        plat_other.send2trash(path)
        print("moved", flush=True)
        time.sleep(120)  # killed here: between the move and its "trashed" line

    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib, lib.write_lock(0):
        move_to_trash(lib.catalog, lib.paths.root, plan(lib.catalog, lib.catalog.duplicates.groups()), trash=trash)
    """
)


def _run_and_kill(tmp_path: Path, home: Path, when: str) -> None:
    script = tmp_path / "killed_trash.py"
    script.write_text(KILLER)
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
    proc = subprocess.Popen([sys.executable, str(script), when], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() in ("moved", "about to move"), line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def test_a_kill_between_move_and_log_is_put_back(indexed, trash_home, tmp_path, capsys):  # noqa: F811
    root, library = indexed
    with Library.open(library) as lib:
        ids = {Path(p.path).name: p.id for p in lib.catalog.photos_by_ids(range(1, 100)).values()}
    _run_and_kill(tmp_path, tmp_path / "home", "after")
    in_trash = [p.name for p in (trash_home / "files").iterdir()]
    assert len(in_trash) == 1  # one photo moved, then the process died before logging it as done
    gone = in_trash[0]
    assert not (root / gone).exists()
    log = [json.loads(line) for line in (library / LOG_NAME).read_text().splitlines()]
    assert [e["event"] for e in log] == ["intent"]
    assert log[0]["path"] == str(root / gone) and log[0]["id"] == ids[gone]

    assert main(["duplicates", "--restore"]) == 0
    assert "put back 1 photos" in capsys.readouterr().out
    assert (root / gone).exists() and list((trash_home / "files").iterdir()) == []
    with Library.open(library) as lib:  # the catalog never forgot it: same row, same id
        assert lib.catalog.photo_by_path(str(root / gone)).id == ids[gone]
    assert main(["duplicates", "--restore"]) == 0
    assert "nothing to put back" in capsys.readouterr().out


def test_a_kill_before_the_move_leaves_the_photo_in_place(indexed, trash_home, tmp_path, capsys):  # noqa: F811
    root, library = indexed
    names = sorted(p.name for p in root.iterdir())
    _run_and_kill(tmp_path, tmp_path / "home", "before")
    assert sorted(p.name for p in root.iterdir()) == names
    assert [json.loads(line)["event"] for line in (library / LOG_NAME).read_text().splitlines()] == ["intent"]
    assert main(["duplicates", "--restore"]) == 0
    out = capsys.readouterr().out
    assert "put back 0 photos" in out and "1 never moved" in out
    assert main(["duplicates", "--restore"]) == 0  # the intent is settled: nothing left to put back
    assert "nothing to put back" in capsys.readouterr().out
    assert sorted(p.name for p in root.iterdir()) == names
