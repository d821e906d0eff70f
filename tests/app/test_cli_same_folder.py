"""`add` and `forget` know a folder by what it resolves to, and refuse empty names (issue 24 items 1, 4, 13).

Before: the same folder added through a symlink (or `..`, or a bind mount) was indexed twice, the library's
own folder could be added (and grew with its own thumbnails at each index), `add` of a folder already there
and `add ""` (the current folder) exited 0, and `forget ""` forgot the current folder's root and its tags.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.library import Library
from engine.scanner import scan
from tests.app.test_cli import REPO, run
from tests.app.test_cli_safety import library_dir, one_line_error, roots
from tests.app.test_duplicates_cli import trash_home  # noqa: F401 (a fixture)
from tests.conftest import write_jpeg
from tests.engine.test_same_folder import bind_mount


def photo_folder(folder: Path, n: int = 3) -> Path:
    for i in range(n):
        write_jpeg(folder / f"sub{i % 2}" / f"p{i}.jpg", color=(50 * i, 100, 30))
    return folder


def total() -> int:
    with Library.open(library_dir()) as lib:
        return lib.catalog.counts()["total"]


def refused(capsys, *args) -> str:
    code, out, err = run(capsys, *args)
    assert code == 1 and out == "", (code, out, err)
    return one_line_error(err)


def test_add_refuses_the_same_folder_however_it_is_spelled(capsys, tmp_path):
    real = photo_folder(tmp_path / "disk" / "real")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    (tmp_path / "up").symlink_to(tmp_path / "disk", target_is_directory=True)
    assert run(capsys, "add", str(real))[0] == 0
    err = refused(capsys, "add", str(tmp_path / "link"))
    assert "already in the library" in err and f"(as {real})" in err
    assert "already in the library" in refused(capsys, "add", str(real))
    assert "already in the library" in refused(capsys, "add", str(real / "sub0" / ".."))
    assert f"inside {real}" in refused(capsys, "add", str(tmp_path / "link" / "sub0"))
    assert f"contains {real}" in refused(capsys, "add", str(tmp_path / "up"))
    assert roots() == [str(real)] and total() == 3


def test_add_refuses_a_link_to_a_folder_added_first_through_a_link(capsys, tmp_path):
    real = photo_folder(tmp_path / "real")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert run(capsys, "add", str(tmp_path / "link"))[0] == 0
    assert f"(as {tmp_path / 'link'})" in refused(capsys, "add", str(real))
    assert roots() == [str(tmp_path / "link")] and total() == 3


def test_the_same_folder_given_twice_in_one_add_is_refused(capsys, tmp_path):
    real = photo_folder(tmp_path / "real")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert "given twice" in refused(capsys, "add", str(real), str(tmp_path / "link"))
    assert roots() == []


def test_add_refuses_a_bind_mount_of_a_library_folder(capsys, tmp_path):
    real = photo_folder(tmp_path / "real")
    assert run(capsys, "add", str(real))[0] == 0
    with bind_mount(real, tmp_path / "mnt") as mnt:
        assert "already in the library" in refused(capsys, "add", str(mnt))
        assert f"inside {real}" in refused(capsys, "add", str(mnt / "sub1"))
        assert roots() == [str(real)] and total() == 3


def test_add_refuses_the_library_folder_what_holds_it_and_what_is_inside_it(capsys, tmp_path):
    photo_folder(tmp_path / "photos")
    assert run(capsys, "add", str(tmp_path / "photos"))[0] == 0
    lib = library_dir()
    (tmp_path / "lib-link").symlink_to(lib, target_is_directory=True)
    assert "library's own folder" in refused(capsys, "add", str(lib))
    assert "library's own folder" in refused(capsys, "add", str(tmp_path / "lib-link"))
    assert "inside the library's own folder" in refused(capsys, "add", str(lib / "thumbnails"))
    assert f"contains the library's own folder {lib}" in refused(capsys, "add", str(tmp_path))
    assert roots() == [str(tmp_path / "photos")] and total() == 3


def test_add_of_a_folder_holding_a_new_library_creates_nothing(capsys, tmp_path):
    photo_folder(tmp_path / "photos")
    new = tmp_path / "photos" / "my-library"
    err = refused(capsys, "--library", str(new), "add", str(tmp_path / "photos"))
    assert "contains the library's own folder" in err
    assert not new.exists()


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_add_of_an_empty_name_is_refused_not_taken_for_the_current_folder(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(photo_folder(tmp_path / "here"))
    assert "empty name" in refused(capsys, "add", name)
    assert "empty name" in refused(capsys, "add", str(tmp_path / "here"), name)
    assert roots() == []


def test_forget_of_an_empty_name_is_refused_and_keeps_the_current_folders_tags(capsys, tmp_path):
    """A real process whose current folder is a library folder, as a user's shell would be."""
    here = photo_folder(tmp_path / "here")
    assert run(capsys, "add", str(here))[0] == 0
    assert run(capsys, "tag", str(here / "sub0" / "p0.jpg"), "--add", "grandma")[0] == 0
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for name in ("", " "):
        r = subprocess.run([sys.executable, "-m", "desktop_app", "forget", name], cwd=here, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 1 and "not an empty name" in one_line_error(r.stderr), r.stderr
    assert roots() == [str(here)] and total() == 3
    with Library.open(library_dir()) as lib:
        assert lib.catalog.tags.photo_ids_with("grandma")


def test_forget_says_when_a_folder_is_not_in_the_library(capsys, tmp_path):
    real = photo_folder(tmp_path / "real")
    assert run(capsys, "add", str(real))[0] == 0
    assert "not a folder of this library;" in refused(capsys, "forget", str(tmp_path / "elsewhere"))
    err = refused(capsys, "forget", str(real / "sub0"))
    assert f"part of {real}" in err and f"photosift forget {real}" in err
    assert f"holds some: {real}" in refused(capsys, "forget", str(tmp_path))
    assert roots() == [str(real)] and total() == 3


def test_forget_finds_the_folder_by_what_it_resolves_to(capsys, tmp_path):
    real = photo_folder(tmp_path / "real")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert run(capsys, "add", str(real))[0] == 0
    code, out, _ = run(capsys, "forget", str(tmp_path / "link"))
    assert code == 0 and f"forgot {real} and its 3 photos" in out
    assert roots() == [] and total() == 0


def test_forgetting_one_of_two_names_of_a_folder_keeps_its_photos_and_tags(capsys, tmp_path):
    """A library an older version made: the folder by a link, scanned and tagged, then by its real path."""
    real = photo_folder(tmp_path / "real")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert run(capsys, "add", str(tmp_path / "link"))[0] == 0
    assert run(capsys, "tag", str(tmp_path / "link" / "sub0" / "p0.jpg"), "--add", "grandma")[0] == 0
    with Library.open(library_dir()) as lib:
        lib.catalog.add_root(str(real))  # as the older `add` did, without a scan yet
        before = {p.id for p in lib.catalog.photos_where()}
    code, out, _ = run(capsys, "forget", str(tmp_path / "link"))
    assert code == 0 and "its 0 photos" in out and f"3 photos that are the same files under {real}" in out
    assert roots() == [str(real)]
    with Library.open(library_dir()) as lib:
        kept = lib.catalog.photos_where()
        assert {p.id for p in kept} == before and {p.root_id for p in kept} == {lib.catalog.roots()[0].id}
        assert sorted(p.path for p in kept) == sorted(str(p) for p in real.rglob("*.jpg"))
        assert [lib.catalog.photo(i).path for i in lib.catalog.tags.photo_ids_with("grandma")] == [
            str(real / "sub0" / "p0.jpg")]


def test_an_old_library_with_a_folder_under_two_names_trashes_no_photo(capsys, tmp_path, tiny_model, sample_arrays,
                                                                        trash_home):  # noqa: F811
    """Item 1 end to end: the rows an older version made for `add real` + `add link`, then index, search and
    `duplicates --trash --yes`: each photo is listed once, so none is taken for a copy of itself."""
    real = tmp_path / "real"
    real.mkdir()
    for name in ("coffee", "rocket", "astronaut"):
        Image.fromarray(sample_arrays[name]).save(real / f"{name}.jpg", quality=90)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert run(capsys, "add", str(real))[0] == 0
    with Library.open(library_dir()) as lib:
        link_root = lib.catalog.add_root(str(tmp_path / "link"))
        for f in real.iterdir():
            st = f.stat()
            lib.catalog.insert_photo(root_id=link_root.id, path=str(tmp_path / "link" / f.name), raw_path=None,
                                     size=st.st_size, mtime=st.st_mtime, fingerprint=None)
    assert run(capsys, "tag", str(tmp_path / "link" / "rocket.jpg"), "--add", "launch")[0] == 0
    assert total() == 6
    code, out, _ = run(capsys, "index", "--model", "tiny", "--no-tags")
    assert code == 0 and f"skipped: {tmp_path / 'link'}: 3 photos here are the same files as under {real}" in out
    assert total() == 3
    code, out, _ = run(capsys, "search", "a rocket", "--json", "--limit", "10")
    paths = [h["path"] for h in json.loads(out)]
    assert code == 0 and sorted(paths) == sorted(str(f) for f in real.iterdir())
    assert run(capsys, "duplicates", "--trash", "--yes")[0] == 0
    assert sorted(f.name for f in real.iterdir()) == ["astronaut.jpg", "coffee.jpg", "rocket.jpg"]
    assert not (trash_home / "files").exists() or not list((trash_home / "files").iterdir())
    with Library.open(library_dir()) as lib:
        assert [lib.catalog.photo(i).path for i in lib.catalog.tags.photo_ids_with("launch")] == [
            str(real / "rocket.jpg")]


def test_a_home_folder_can_be_added_when_the_library_is_in_a_hidden_folder_of_it(capsys, tmp_path):
    """The default library is under ~/.local/share: `add ~` stays possible (the scan never enters hidden
    folders, nor the library's own folder)."""
    home = photo_folder(tmp_path / "home")
    library = home / ".local" / "share" / "photosift" / "library"
    code, out, _ = run(capsys, "--library", str(library), "add", str(home))
    assert code == 0 and "3 new photos" in out
    write_jpeg(library / "thumbnails" / "ab" / "abc.jpg")
    with Library.open(library) as lib:
        assert scan(lib.catalog).new == 0 and lib.catalog.counts()["total"] == 3
    assert "contains the library's own folder" in refused(capsys, "--library", str(home / "lib"), "add", str(home))
