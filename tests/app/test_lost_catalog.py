"""A library that lost its catalog (0 bytes, or deleted) beside good backups is never taken for a new, empty
library: every command refuses in one line naming the newest good backup and the repair; the doctor reports
it damaged (non-zero) and `doctor --repair` restores that backup, keeping the empty file and logging first.
A command that only reads creates and writes nothing; only `add` starts a library (item 3 and 14 of #24)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.backup import list_backups
from engine.errors import CatalogMissingError, NoLibraryError
from engine.library import Library, check_library
from engine.paths import LibraryPaths, known_libraries_file
from tests.app.cli_helpers import library_dir, one_line_error, run
from tests.conftest import write_jpeg


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time (folders too, by their names)."""
    return {str(p.relative_to(folder)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def tagged_library(capsys, tiny_model, tmp_path) -> Path:
    """A library of two photos, indexed (which takes the daily backup) and with a tag of the user's."""
    photos = tmp_path / "p"
    write_jpeg(photos / "a.jpg")
    write_jpeg(photos / "b.jpg", color=(10, 200, 10))
    assert run(capsys, "add", str(photos))[0] == 0
    assert run(capsys, "tag", str(photos / "a.jpg"), "--add", "holiday")[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    assert len(list_backups(library_dir() / "catalog.db")) == 1
    with sqlite3.connect(library_dir() / "catalog.db") as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the catalog file itself
    return photos


def test_an_empty_catalog_beside_good_backups_is_refused_by_every_command_then_repaired(capsys, tagged_library):
    catalog = library_dir() / "catalog.db"
    catalog.write_bytes(b"")
    for extra in ("-wal", "-shm"):
        Path(f"{catalog}{extra}").unlink(missing_ok=True)
    backup = list_backups(catalog)[0]
    before = snapshot(library_dir())
    listed = known_libraries_file().read_text()
    for args in (("status",), ("status", "--json"), ("search", "red"), ("similar", "id:1"), ("tag", "--list"),
                 ("index",), ("add", str(tagged_library)), ("duplicates",), ("people",),
                 ("forget", str(tagged_library)), ("models", "use", "tiny"), ("train",)):
        code, out, err = run(capsys, *args)
        line = one_line_error(err)
        assert code == 1 and "is empty" in line and backup.name in line and "photosift doctor --repair" in line, args
        assert "photos: 0" not in out
    code, out, _ = run(capsys, "doctor")
    assert code == 1 and "is empty" in out and backup.name in out
    report = json.loads(run(capsys, "doctor", "--json")[1])["library"]
    assert report["damaged"] is True
    assert snapshot(library_dir()) == before and catalog.read_bytes() == b""  # nothing created or written
    assert known_libraries_file().read_text() == listed

    code, out, _ = run(capsys, "doctor", "--repair")
    assert code == 0 and "was empty" in out and "restored the backup" in out, out
    kept = list(library_dir().glob("catalog-damaged-*.db"))
    assert len(kept) == 1 and kept[0].read_bytes() == b""  # the empty file is kept, not deleted
    log = (library_dir() / "repair.log").read_text()
    assert f"moving it (and its -wal, -shm) to {kept[0].name}, then restoring the backup {backup}" in log
    assert log.index("restoring") < log.index("done: 2 photos")
    status = json.loads(run(capsys, "status", "--json")[1])
    assert status["photos"]["total"] == 2 and status["tags"] == 1
    code, out, _ = run(capsys, "tag", str(tagged_library / "a.jpg"))
    assert code == 0 and "holiday (user" in out


def test_a_deleted_catalog_is_refused_by_index_and_restored_by_the_repair(capsys, tagged_library):
    catalog = library_dir() / "catalog.db"
    catalog.unlink()
    before = snapshot(library_dir())
    for args in (("index",), ("status",), ("search", "red")):
        code, _, err = run(capsys, *args)
        assert code == 1 and "is missing" in one_line_error(err) and "doctor --repair" in err, args
    assert not catalog.exists() and snapshot(library_dir()) == before
    assert run(capsys, "doctor")[0] == 1
    code, out, _ = run(capsys, "doctor", "--repair")
    assert code == 0 and "was missing" in out and "restored the backup" in out, out
    assert json.loads(run(capsys, "status", "--json")[1])["photos"]["total"] == 2


def test_the_refusal_names_the_library_when_it_is_not_the_default_one(capsys, tagged_library, tmp_path):
    other = tmp_path / "other-library"
    library_dir().rename(other)
    (other / "catalog.db").write_bytes(b"")
    code, _, err = run(capsys, "--library", str(other), "status")
    assert code == 1 and f"`photosift --library {other} doctor --repair`" in one_line_error(err)


def test_without_a_good_backup_the_repair_starts_an_empty_catalog_and_keeps_the_old_file(capsys, tagged_library):
    catalog = library_dir() / "catalog.db"
    catalog.write_bytes(b"")
    for b in list_backups(catalog):
        b.write_bytes(b"\x00damaged\x00" * 100)
    code, _, err = run(capsys, "status")
    assert code == 1 and "no good backup" in one_line_error(err) and "starts an empty catalog" in err
    code, out, _ = run(capsys, "doctor", "--repair")
    assert code == 0 and "started an empty catalog" in out and list(library_dir().glob("catalog-damaged-*.db"))
    assert run(capsys, "status")[0] == 0


def test_a_header_without_tables_is_empty_too(tmp_path):
    """A catalog whose schema was never written (a kill just after it was created) in a library in use."""
    folder = tmp_path / "lib"
    with Library.open(folder) as lib:
        lib.catalog.add_root("/photos")
        lib.write_lock().__enter__()  # leaves write.lock, as any writer does
    paths = LibraryPaths(folder)
    for extra in ("", "-wal", "-shm"):
        Path(f"{paths.catalog}{extra}").unlink(missing_ok=True)
    conn = sqlite3.connect(paths.catalog)
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    assert paths.catalog.stat().st_size > 0
    with pytest.raises(CatalogMissingError, match=r"is empty.*no good backup"):
        Library.open(folder)


def test_a_blank_catalog_no_library_ever_used_is_a_new_library(tmp_path):
    """The first open killed before the schema was written: nothing was lost, so `add` simply starts there."""
    folder = tmp_path / "lib"
    (folder / "thumbnails").mkdir(parents=True)
    (folder / "indexes").mkdir()
    (folder / "catalog.db").write_bytes(b"")
    with pytest.raises(NoLibraryError):
        check_library(folder)
    with Library.open(folder) as lib:  # create=True, as `add` and the window open it
        assert lib.catalog.roots() == []


def test_read_only_commands_create_and_write_nothing(capsys, tiny_model, tmp_path):
    folder = tmp_path / "lib"
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "--library", str(folder), "add", str(tmp_path / "p"))[0] == 0
    with sqlite3.connect(folder / "catalog.db") as c:
        c.execute("PRAGMA journal_mode=DELETE")  # one file, so its bytes can be compared
    known_libraries_file().unlink()  # the list of libraries is not written by a reader either
    for sub in ("thumbnails", "indexes"):
        (folder / sub).rmdir()
    before, catalog = snapshot(folder), (folder / "catalog.db").read_bytes()
    assert run(capsys, "--library", str(folder), "status")[0] == 0
    assert run(capsys, "--library", str(folder), "doctor")[0] == 0
    assert run(capsys, "--library", str(folder), "search", "red")[0] == 1  # nothing indexed: refused, reading
    after = snapshot(folder)
    assert (folder / "catalog.db").read_bytes() == catalog and after == before, set(after) ^ set(before)
    assert not known_libraries_file().exists()


def test_a_mistyped_library_is_created_by_no_command_but_add(capsys, tiny_model, tmp_path):
    typo = tmp_path / "libary"
    datasets = tmp_path / "ds"
    write_jpeg(datasets / "a" / "a.jpg")
    for args in (("index",), ("index", "--model", "tiny"), ("train",), ("train", "--dataset", str(datasets), "--use"),
                 ("models", "use", "tiny"), ("models", "remove", "nothing", "--delete-vectors"), ("status",),
                 ("duplicates",), ("people",), ("forget", str(tmp_path)), ("tag", "--list")):
        code, _, err = run(capsys, "--library", str(typo), *args)
        line = one_line_error(err)
        assert code == 1 and f"no Photosift library at {typo}; `photosift add FOLDER` creates one" in line
        assert not typo.exists(), args
    assert str(typo) not in (known_libraries_file().read_text() if known_libraries_file().exists() else "")
    assert run(capsys, "--library", str(typo), "doctor")[0] == 0 and not typo.exists()  # reports, creates nothing
    assert run(capsys, "--library", str(typo), "models", "list")[0] == 0 and not typo.exists()
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "--library", str(typo), "add", str(tmp_path / "p"))[0] == 0  # adding starts one there
    assert LibraryPaths(typo).catalog.is_file() and str(typo) in known_libraries_file().read_text()


def test_switching_the_model_of_a_library_that_is_not_there_creates_none(tiny_model, tmp_path):
    """The switch the window and `models use` share: it refuses a missing library instead of starting one."""
    from desktop_app.models_runtime import use_model

    with pytest.raises(NoLibraryError):
        use_model(tmp_path / "nowhere", "tiny", device="cpu")
    assert not (tmp_path / "nowhere").exists()


def test_the_window_refuses_a_library_that_lost_its_catalog_and_starts_none(capsys, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    from PySide6.QtWidgets import QMessageBox

    from desktop_app.app import run_app

    folder = tmp_path / "lib"
    with Library.open(folder) as lib:
        lib.catalog.add_root("/photos")
        from engine.backup import backup_catalog

        backup = backup_catalog(lib.catalog)
    for extra in ("", "-wal", "-shm"):
        Path(f"{LibraryPaths(folder).catalog}{extra}").unlink(missing_ok=True)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    assert run_app(folder, []) == 1
    assert len(shown) == 1 and "is missing" in shown[0] and backup.name in shown[0]
    assert "is missing" in one_line_error(capsys.readouterr().err)
    assert not LibraryPaths(folder).catalog.exists()
