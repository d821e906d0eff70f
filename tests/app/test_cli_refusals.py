"""Bad input and unreadable libraries end in one clear line and a non-zero exit, never a traceback, and a
refused command changes nothing (issue #24, items 12 and 13)."""

import contextlib
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from desktop_app.cli import main
from engine.library import Library
from tests.app.cli_helpers import one_line_error, run
from tests.app.test_cli import REPO
from tests.conftest import write_jpeg

NOBODY = 65534


def usage_error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    return err


def indexed(capsys, tmp_path: Path) -> Path:
    for name, color in (("a", (200, 30, 30)), ("b", (30, 200, 30))):
        write_jpeg(tmp_path / "p" / f"{name}.jpg", color=color)
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    assert run(capsys, "index", "--model", "tiny", "--no-tags")[0] == 0
    return tmp_path / "p"


def tag_rows() -> list[tuple[int, str, str]]:
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        return sorted((i, n, "user") for i, n in lib.catalog.tags.user_tags())


def test_a_query_or_filter_that_is_not_utf8_is_refused_in_one_line(capsys, tiny_model, tmp_path):
    indexed(capsys, tmp_path)
    bad = os.fsdecode(b"be\xffach")  # what Python makes of the bytes of $'be\xffach' on the command line
    for args in (("search", bad), ("search", "beach", "--tag", bad), ("search", "beach", "--person", bad),
                 ("similar", "id:1", "--tag", bad)):
        code, out, err = run(capsys, *args)
        assert code == 1 and "not valid UTF-8" in one_line_error(err) and out == "", args


def test_a_query_that_is_not_utf8_from_a_real_shell(tiny_model, tmp_path, capsys):
    """The bytes as a shell passes them, to a real process: one line, exit 1."""
    indexed(capsys, tmp_path)
    proc = subprocess.run([sys.executable.encode(), b"-m", b"desktop_app", b"search", b"be\xffach"], cwd=REPO,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and "not valid UTF-8" in one_line_error(err), err
    assert "be\\xffach" in err  # the argument as given, its odd byte escaped


@pytest.mark.parametrize("args", [("eval", "--level", "-3"), ("eval", "--level", "0"), ("eval", "-k", "0"),
                                  ("eval", "-k", "-5")])
def test_eval_numbers_out_of_range_are_refused_at_parsing(capsys, args):
    assert "must be from" in usage_error(capsys, *args)


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_tag_filter_is_refused(capsys, tiny_model, tmp_path, value):
    indexed(capsys, tmp_path)
    for command in (("search", "beach"), ("similar", "id:1")):
        err = usage_error(capsys, *command, "--tag", value)
        assert "--tag" in err and "empty" in err, err


def test_tag_add_or_reject_without_a_photo_is_refused_and_tags_nothing(capsys, tiny_model, tmp_path):
    photos = indexed(capsys, tmp_path)
    assert run(capsys, "tag", str(photos / "a.jpg"), "--add", "keep")[0] == 0
    before = tag_rows()
    for args in (("tag", "--add", "x"), ("tag", "--reject", "keep"), ("tag", "--list", "--add", "x")):
        code, out, err = run(capsys, *args)
        assert code == 1 and "need a photo" in one_line_error(err) and out == "", args
    assert tag_rows() == before and [n for _, n, _ in before] == ["keep"]


def test_doctor_exits_non_zero_when_it_reports_a_damaged_catalog(capsys, tmp_path):
    from tests.engine.test_catalog_safety import _damage_page_of

    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    code, _, _ = run(capsys, "doctor")
    assert code == 0  # a sound library
    _damage_page_of(Path(os.environ["PHOTOSIFT_LIBRARY"]) / "catalog.db", "photos")
    code, out, _ = run(capsys, "doctor")
    assert code == 1 and "damaged" in out and "photosift doctor --repair" in out
    code, out, _ = run(capsys, "doctor", "--json")
    assert code == 1 and "photosift doctor --repair" in json.loads(out)["library"]["error"]


# -- a library this user may not read ---------------------------------------------------------------------


@contextlib.contextmanager
def as_a_user_without_access(*owned: Path):
    """Run the block as a user that file modes apply to (the owner of `owned`, whose modes the block sets).
    Root ignores modes, so root hands the files to `nobody` and acts as nobody (seteuid) until it ends."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.seteuid(NOBODY)
        os.seteuid(0)
    except OSError as e:
        pytest.skip(f"cannot act as another user here: {e}")
    for p in owned:
        for q in [p, *(p.rglob("*") if p.is_dir() and os.access(p, os.X_OK) else [])]:
            os.lchown(q, NOBODY, NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def reachable_library(monkeypatch, tiny_model):
    """A library (with two indexed photos) in a folder another user can reach: pytest's own is root-only."""
    base = Path(tempfile.mkdtemp(prefix="photosift-perm-"))
    os.chmod(base, 0o755)
    shutil.copytree(tiny_model.path, base / "models" / "tiny")
    for p in [base / "models", *(base / "models").rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)  # the model stays readable to the other user
    monkeypatch.setenv("PHOTOSIFT_MODELS", str(base / "models"))
    monkeypatch.setenv("PHOTOSIFT_LIBRARY", str(base / "library"))
    photos = base / "photos"
    write_jpeg(photos / "a.jpg")
    write_jpeg(photos / "b.jpg", color=(10, 200, 10))
    assert main(["add", str(photos)]) == 0 and main(["index", "--model", "tiny", "--no-tags"]) == 0
    with contextlib.redirect_stdout(io.StringIO()):
        main(["status"])  # every module the commands below need is loaded while they can still be read
    try:
        yield base / "library"
    finally:
        for p in [base, *base.rglob("*")]:
            os.lchown(p, 0, 0) if os.geteuid() == 0 else None
            if not p.is_symlink():
                p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o700)
        shutil.rmtree(base)


@pytest.mark.parametrize("denied, mode", [("", 0o000), ("catalog.db", 0o000)])
def test_a_library_this_user_may_not_read_is_one_line(capsys, reachable_library, denied, mode):
    target = reachable_library / denied if denied else reachable_library
    before = (reachable_library / "catalog.db").read_bytes()
    capsys.readouterr()
    with as_a_user_without_access(reachable_library):
        target.chmod(mode)
        results = [run(capsys, *args) for args in (("status",), ("search", "red"), ("tag", "--list"))]
    target.chmod(0o755)
    for code, out, err in results:
        assert code == 1 and "permission" in one_line_error(err).lower() and out == "", err
        assert str(reachable_library) in err
    assert (reachable_library / "catalog.db").read_bytes() == before


def test_sqlite_and_os_errors_of_a_library_are_one_line_but_a_bug_is_not_hidden(capsys, tmp_path):
    """The handler turns the library's OSError and sqlite3 errors into a line; an error of the code itself
    (a TypeError, say) still ends in a traceback, where tests and users see it."""
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert run(capsys, "add", str(tmp_path / "p"))[0] == 0
    for exc in (sqlite3.OperationalError("database is locked"), PermissionError(13, "Permission denied", "/x/y")):
        def fail(_args, exc=exc):
            raise exc
        code, _, err = run_status(capsys, fail)
        assert code == 1 and one_line_error(err)

    def bug(_args):
        raise TypeError("a bug")
    with pytest.raises(TypeError):
        run_status(capsys, bug)


def run_status(capsys, func):
    """`photosift status` with its command function replaced by `func`."""
    import argparse

    real = argparse.ArgumentParser.parse_args

    def parse_args(self, *a, **k):
        ns = real(self, *a, **k)
        if getattr(ns, "command", None) == "status":
            ns.func = func
        return ns

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_args", parse_args)
        return run(capsys, "status")


def test_search_by_tag_leaves_out_photos_where_the_tag_is_uncertain(capsys, tiny_model, tmp_path):
    """`search --tag` returns the photos `tag --list` counts for the tag: not those where it is uncertain."""
    photos = indexed(capsys, tmp_path)
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        cat = lib.catalog
        a, b = (cat.photo_by_path(str(photos / n)) for n in ("a.jpg", "b.jpg"))
        with cat.transaction():
            cat.tags.put_zeroshot("tiny", a.id, [("red", 0.3, 0.9)])
            cat.tags.put_zeroshot("tiny", b.id, [("red", 0.2, 0.004)])  # "red <1%?" in the details
    code, out, _ = run(capsys, "search", "x", "--tag", "red", "--all", "--json")
    assert code == 0 and [Path(r["path"]).name for r in json.loads(out)] == ["a.jpg"]
    code, out, _ = run(capsys, "tag", "--list", "--json")
    assert code == 0 and json.loads(out) == [{"name": "red", "count": 1, "uncertain": 1}]
