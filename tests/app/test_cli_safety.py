"""Refusals and failures of the command line: one line with the cause and what to do, and nothing changed."""

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

import desktop_app.cli as cli_module
from desktop_app.cli import main
from engine.catalog import PhotoCatalog
from engine.library import Library
from tests.app.cli_helpers import library_dir, one_line_error, run
from tests.conftest import write_jpeg
from tests.engine.test_catalog_safety import private_dir, read_only_for_this_process


def roots() -> list[str]:
    with Library.open(library_dir()) as lib:
        return [r.path for r in lib.catalog.roots()]


def test_mistyped_command_is_a_usage_error_and_folders_still_open_the_window(capsys, monkeypatch, tmp_path):
    opened = []
    monkeypatch.setattr(cli_module, "_open_window", lambda parser, argv: opened.append(argv) or 0)
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert capsys.readouterr().err == "photosift: error: unknown command 'frobnicate'; see photosift --help\n"
    assert e.value.code == 2 and opened == []
    assert main([]) == 0 and main([str(tmp_path)]) == 0 and main(["--library", str(tmp_path), "./x"]) == 0
    assert opened == [[], [str(tmp_path)], ["--library", str(tmp_path), "./x"]]


@pytest.mark.parametrize(("args", "line"), [
    (["serach", "beach"], "photosift: error: unknown command 'serach'; did you mean 'search'?"),
    (["search", "beach", "--lmit", "3"], "photosift: error: unrecognized arguments: --lmit 3; did you mean --limit?"),
    (["search", "beach", "--sort", "dat"],
     "photosift search: error: argument --sort: invalid choice: 'dat' (choose from 'relevance', 'date'); "
     "did you mean 'date'?"),
    (["models", "lst"], "photosift models: error: unknown action 'lst'; did you mean 'list'?"),
    (["search", "beach", "--from", "2019-13"],
     "photosift search: error: argument --from: not a date: 2019-13 (a month is 1 to 12); "
     "see photosift search --help"),
])
def test_a_mistyped_command_option_or_choice_gets_one_line_with_a_suggestion(capsys, args, line):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and capsys.readouterr().err == line + "\n"


def test_library_is_accepted_anywhere_on_the_line(capsys, tmp_path):
    other = tmp_path / "elsewhere"
    for args in (["status", "--library", str(other)], ["--library", str(other), "status"],
                 ["status", f"--library={other}"]):
        assert main(args) == 1
        assert f"there is no Photosift library at {other}" in capsys.readouterr().err
    assert cli_module._library_first(["search", "a", "--", "--library", "x"]) == ["search", "a", "--", "--library", "x"]


@pytest.mark.parametrize("args", [("index", "--workers", "-1"), ("index", "--batch-size", "0"),
                                  ("index", "--wait", "nan"), ("search", "dog", "--limit", "0"),
                                  ("search", "dog", "--limit", "-1"), ("similar", "x.jpg", "--limit", "0")])
def test_invalid_numbers_are_usage_errors(capsys, args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    assert e.value.code == 2 and "must be from" in capsys.readouterr().err


def test_disk_full_is_one_line_that_says_what_to_do(capsys, monkeypatch, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")

    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(PhotoCatalog, "insert_photo", full)
    code, _, err = run(capsys, "add", str(tmp_path / "p"))
    assert code == 1 and "disk" in one_line_error(err) and "full" in err and "free some space" in err

    def short_write(*a, **k):
        raise OSError("441600 requested and 158688 written")

    monkeypatch.setattr(PhotoCatalog, "insert_photo", short_write)
    code, _, err = run(capsys, "add", str(tmp_path / "p"))
    assert code == 1 and "disk is full" in one_line_error(err) and "free some space" in err


def test_add_during_index_changes_nothing(capsys, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    with Library.open(library_dir()) as lib, lib.write_lock():
        code, _, err = run(capsys, "add", str(tmp_path / "p"))
    assert code == 1 and "being updated" in one_line_error(err)
    assert roots() == []


def test_add_inside_or_above_a_library_folder_is_refused_and_changes_nothing(capsys, tmp_path):
    write_jpeg(tmp_path / "p" / "sub" / "a.jpg")
    write_jpeg(tmp_path / "p" / "b.jpg")
    assert run(capsys, "add", str(tmp_path / "p" / "sub"))[0] == 0
    code, _, err = run(capsys, "add", str(tmp_path / "p"))
    assert code == 1 and f"contains {tmp_path / 'p' / 'sub'}" in one_line_error(err) and "forget" in err
    code, _, err = run(capsys, "add", str(tmp_path / "p" / "sub"))  # the same folder again: an error (README)
    assert code == 1 and "already in the library" in one_line_error(err) and "photosift index" in err
    write_jpeg(tmp_path / "p" / "sub" / "deeper" / "c.jpg")
    code, _, err = run(capsys, "add", str(tmp_path / "p" / "sub" / "deeper"))
    assert code == 1 and f"inside {tmp_path / 'p' / 'sub'}" in one_line_error(err)
    assert roots() == [str(tmp_path / "p" / "sub")]
    with Library.open(library_dir()) as lib:
        assert lib.catalog.counts()["total"] == 1


def test_damaged_catalog_names_the_repair_which_restores_the_backup(capsys, tiny_model, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0  # takes the daily backup
    catalog = library_dir() / "catalog.db"
    with sqlite3.connect(catalog) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    catalog.write_bytes(b"\x00not sqlite\x00" * 2000)
    for args in (("status",), ("search", "dog"), ("add", str(tmp_path / "p"))):
        code, _, err = run(capsys, *args)
        assert code == 1 and "damaged" in one_line_error(err) and "photosift doctor --repair" in err
    code, out, _ = run(capsys, "doctor", "--repair")
    assert code == 0 and "restored the backup" in out and "kept as" in out
    assert list(library_dir().glob("catalog-damaged-*.db"))
    status = json.loads(run(capsys, "status", "--json")[1])
    assert status["photos"]["ok"] == 1 and status["roots"][0]["path"] == str(tmp_path / "p")
    assert "nothing to repair" in run(capsys, "doctor", "--repair")[1]


def test_read_only_catalog_status_and_search_work_writers_are_refused(capsys, tiny_model, tmp_path, monkeypatch):
    base = private_dir(tmp_path)
    try:
        shutil.copytree(tiny_model.path, base / "models" / "tiny")
        for f in (base / "models").rglob("*"):
            f.chmod(0o755 if f.is_dir() else 0o644)  # readable by the other user the test acts as
        (base / "models").chmod(0o755)
        monkeypatch.setenv("PHOTOSIFT_MODELS", str(base / "models"))
        monkeypatch.setenv("PHOTOSIFT_LIBRARY", str(base / "library"))
        photos = base / "photos"
        write_jpeg(photos / "a.jpg")
        write_jpeg(photos / "b.jpg", color=(10, 200, 10))
        assert run(capsys, "add", str(photos))[0] == 0
        assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
        catalog = base / "library" / "catalog.db"
        before = catalog.read_bytes()
        with read_only_for_this_process(catalog, base / "library"):
            code, out, err = run(capsys, "status", "--json")
            assert code == 0, err
            assert json.loads(out)["photos"]["ok"] == 2
            code, out, err = run(capsys, "search", "green", "--all", "--json")
            assert code == 0 and len(json.loads(out)) == 2, err
            for args in (("add", str(photos)), ("index",), ("tag", str(photos / "a.jpg"), "--add", "x")):
                code, _, err = run(capsys, *args)
                assert code == 1 and "read-only" in one_line_error(err), args
        assert catalog.read_bytes() == before
    finally:
        shutil.rmtree(base)


def test_paths_that_are_not_utf8(capsys, tiny_model, tmp_path):
    bad_folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9")
    os.mkdir(bad_folder)
    code, _, err = run(capsys, "add", bad_folder)
    assert code == 1 and "not valid UTF-8" in one_line_error(err) and "caf\\xe9" in err
    assert roots() == []
    photos = tmp_path / "p"
    write_jpeg(photos / "a.jpg")
    bad_photo = os.fsdecode(os.fsencode(str(photos)) + b"/r\xe9d.jpg")
    write_jpeg(Path(bad_photo), color=(250, 0, 0))
    assert run(capsys, "add", str(photos))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    code, out, err = run(capsys, "similar", bad_photo, "--all")
    assert code == 0 and out.strip().endswith("a.jpg"), err
    code, out, err = run(capsys, "tag", bad_photo, "--add", "red")
    assert code == 0 and "red (user" in out, err
    outside = os.fsdecode(os.fsencode(str(tmp_path)) + b"/o\xf9t.jpg")
    write_jpeg(Path(outside))
    code, out, err = run(capsys, "similar", outside, "--all", "--limit", "1")
    assert code == 0 and out.count("\n") == 1, err
    code, out, err = run(capsys, "search", f"{outside} + red", "--all", "--json")
    assert code == 0 and len(json.loads(out)) == 2, err
    code, out, err = run(capsys, "search", "red", "--all")
    assert code == 0 and "r\\xe9d.jpg" in out


def test_tag_names_are_checked(capsys, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    photo = str(tmp_path / "p" / "a.jpg")
    for bad in ("   ", "x" * 5000):
        code, _, err = run(capsys, "tag", photo, "--add", "ok", "--add", bad)
        assert code == 1 and "tag" in one_line_error(err)
    code, out, _ = run(capsys, "tag", photo, "--add", "  Beach  ")
    assert code == 0 and out.strip() == "beach (user, 1.000)"


def test_huge_weight_is_refused_in_one_line(capsys, tiny_model, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    code, _, err = run(capsys, "search", "9" * 400 + ":dog")
    assert code == 1 and "at most 100" in one_line_error(err)


def test_control_characters_in_names_stay_on_one_line_and_offline_results_are_marked(capsys, tiny_model, tmp_path):
    home, usb = tmp_path / "home", tmp_path / "usb"
    write_jpeg(home / "line\nbreak.jpg", color=(200, 0, 0))
    write_jpeg(usb / "a.jpg", color=(0, 0, 200))
    assert run(capsys, "add", str(home), str(usb))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    usb.rename(tmp_path / "unplugged")
    out = run(capsys, "search", "red", "--all", "--json")[1]
    hits = {h["path"]: h["offline"] for h in json.loads(out)}
    assert hits == {str(home / "line\nbreak.jpg"): False, str(usb / "a.jpg"): True}
    out = run(capsys, "search", "red", "--all")[1]
    lines = out.splitlines()
    assert len(lines) == 2 and sorted(line.split("  ", 2)[2] for line in lines) == sorted(
        [f"{home}/line\\nbreak.jpg", f"{usb}/a.jpg  (offline)"])


def test_onnxruntime_telemetry_is_off_before_the_first_session(tiny_model, onnx_session_events):
    from engine.encoder import ClipEncoder

    enc = ClipEncoder(tiny_model)
    enc.encode_texts(["a dog"])
    enc.encode_texts(["a cat"])
    assert onnx_session_events[:2] == ["telemetry off", "session"]
    assert onnx_session_events.count("telemetry off") == 1


def test_page_damage_found_mid_command_and_by_doctor_names_the_repair(capsys, tmp_path):
    from tests.engine.test_catalog_safety import _damage_page_of

    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    _damage_page_of(library_dir() / "catalog.db", "photos")
    code, _, err = run(capsys, "status")
    assert code == 1 and "damaged" in one_line_error(err) and "photosift doctor --repair" in err
    report = json.loads(run(capsys, "doctor", "--json")[1])["library"]
    assert report["integrity"] != "ok" and "photosift doctor --repair" in report["error"]
    code, out, _ = run(capsys, "doctor", "--repair")
    assert code == 0 and "no good backup" in out and str(tmp_path / "p") in out
    assert json.loads(run(capsys, "status", "--json")[1])["roots"][0]["path"] == str(tmp_path / "p")


def test_index_lists_a_failed_file_with_a_newline_in_its_name_on_one_line(capsys, tiny_model, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "bad\nname.jpg").write_text("not a jpeg")
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    code, out, _ = run(capsys, "index", "--model", "tiny", "--no-tags")
    failed = [line for line in out.splitlines() if "could not read:" in line]
    assert code == 0 and len(failed) == 1 and "bad\\nname.jpg" in failed[0]


def test_odd_photo_and_folder_references_are_one_line_errors(capsys, tiny_model, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff")
    for args in (("similar", "id:" + "9" * 30), ("similar", "id:²"), ("tag", "id:" + "9" * 30, "--add", "x"),
                 ("forget", odd)):
        code, _, err = run(capsys, *args)
        assert code == 1 and one_line_error(err), args
    inside = os.fsdecode(os.fsencode(str(tmp_path / "p")) + b"/\xff")  # a sub-folder name that is not UTF-8
    code, out, err = run(capsys, "search", "a", "--folder", inside, "--json")
    assert code == 0 and json.loads(out) == [], err


def test_the_windows_indexing_takes_the_daily_backup_too(capsys, tiny_model, tmp_path):
    from desktop_app.background import index_library
    from engine.backup import backup_dir
    from engine.jobs import CancelToken

    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    with Library.open(library_dir()) as lib:
        folder = backup_dir(lib.catalog.path)
    shutil.rmtree(folder)
    index_library(library_dir(), "cpu", 10**8, lambda p: None, CancelToken())
    assert len(list(folder.glob("*.db"))) == 1


def test_nothing_a_library_or_the_model_lists_write_is_readable_by_other_users(capsys, tmp_path, tiny_model,
                                                                              own_models_dir, photo_dir):
    """Thumbnails, indexes, tags caches, backups and the lists of libraries and models name a person's
    photos and folders: every file and folder Photosift writes is owner-only, whatever the umask."""
    import stat

    from training.registry import editing_user_registry

    old = os.umask(0o022)
    try:
        with editing_user_registry() as models:  # makes the models folder
            models["mine"] = {"name": "mine"}
        shutil.copytree(tiny_model.path, own_models_dir / "tiny")
        assert run(capsys, "add", str(photo_dir))[0] == 0
        assert run(capsys, "index", "--model", "tiny")[0] == 0
        assert run(capsys, "search", "a cup of coffee")[0] == 0
    finally:
        os.umask(old)
    written = [p for top in (library_dir(), own_models_dir) for p in (top, *top.rglob("*"))
               if not p.is_relative_to(own_models_dir / "tiny")]  # the model folder was copied in by this test
    assert any(p.parent.name != "thumbnails" and p.suffix == ".jpg" for p in written)  # thumbnails were made
    assert any(p.name == "libraries.json" for p in written) and any(p.name == "registry.json" for p in written)
    loose = [f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in written if p.stat().st_mode & 0o077]
    assert loose == [], "\n".join(loose)
