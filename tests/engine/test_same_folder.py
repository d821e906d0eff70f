"""One folder under two names (a symlink, `..`, a bind mount): known by what it resolves to, listed once.

Issue 24 item 1: a folder added once by its real path and once through a link was indexed twice, so every
hit showed twice and `duplicates --trash` trashed the only copy of each photo.
"""

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.catalog import PhotoCatalog
from engine.folders import CONTAINS, INSIDE, SAME, folder_relation
from engine.scanner import scan
from tests.conftest import write_jpeg


@contextmanager
def bind_mount(source: Path, target: Path):
    """`mount --bind source target` for the test's duration (skipped where mounting is not permitted)."""
    target.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {r.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def cat(tmp_path):
    with PhotoCatalog(tmp_path / "lib" / "c.db") as c:
        yield c


def photos(folder: Path, n: int = 3) -> list[Path]:
    return [write_jpeg(folder / f"sub{i % 2}" / f"p{i}.jpg", color=(40 * i, 90, 200 - 30 * i)) for i in range(n)]


def rows(cat) -> list[tuple[str, int]]:
    return sorted((p.path, p.root_id) for p in cat.photos_where())


def test_folder_relation_sees_through_links_dotdot_and_bind_mounts(tmp_path):
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert folder_relation(str(tmp_path / "link"), str(real)) == SAME
    assert folder_relation(str(real / "sub" / ".."), str(tmp_path / "link")) == SAME
    assert folder_relation(str(tmp_path / "link" / "sub"), str(real)) == INSIDE
    assert folder_relation(str(tmp_path), str(tmp_path / "link" / "sub")) == CONTAINS
    assert folder_relation(str(tmp_path / "other"), str(real)) is None  # not there: only the text counts
    assert folder_relation(str(real), str(tmp_path / "real-2")) is None  # a common prefix is not a parent
    assert folder_relation(str(tmp_path), str(tmp_path / "library-to-be" / "x")) == CONTAINS
    with bind_mount(real, tmp_path / "mnt") as mnt:
        assert folder_relation(str(mnt), str(real)) == SAME
        assert folder_relation(str(mnt / "sub"), str(real)) == INSIDE
        assert folder_relation(str(real), str(mnt / "sub")) == CONTAINS


def test_old_library_with_one_folder_as_two_roots_lists_each_photo_once_and_keeps_all_user_tags(cat, tmp_path):
    """What an older version made: the real folder and a link to it, each scanned, every photo twice."""
    real = tmp_path / "real"
    files = photos(real)
    (tmp_path / "a-link").symlink_to(real, target_is_directory=True)
    r_real, r_link = cat.add_root(str(real)), cat.add_root(str(tmp_path / "a-link"))
    for f in files:
        for root in (r_real, r_link):
            st = f.stat()
            path = str(Path(root.path) / f.relative_to(real))
            cat.insert_photo(root_id=root.id, path=path, raw_path=None, size=st.st_size, mtime=st.st_mtime,
                             fingerprint=None)
    by_path = {p.path: p.id for p in cat.photos_where()}
    link_p0 = by_path[str(tmp_path / "a-link" / "sub0" / "p0.jpg")]
    real_p0 = by_path[str(real / "sub0" / "p0.jpg")]
    cat.tags.set_user(link_p0, "grandma")  # tags the user put on either copy of the row
    cat.tags.reject(link_p0, "cat")
    cat.tags.set_user(real_p0, "garden")
    cat.tags.set_user(by_path[str(tmp_path / "a-link" / "sub1" / "p1.jpg")], "beach")
    assert cat.counts()["total"] == 6

    report = scan(cat)

    # one row per file, under the root named by its real path ("a-link" sorts first: order is not what decides)
    assert rows(cat) == sorted((str(f), r_real.id) for f in files)
    assert report.same_files == 3 and report.deleted == 0 and report.held == 0 and report.new == 0
    assert any(path == str(tmp_path / "a-link") and "same files" in why for path, why in report.skipped)
    kept = {p.path: p.id for p in cat.photos_where()}
    p0 = kept[str(real / "sub0" / "p0.jpg")]
    assert sorted(cat.tags.of_photo(p0)) == [("garden", "user", 1.0), ("grandma", "user", 1.0)]
    assert cat.tags.row(p0, "cat").source == "rejected"
    assert cat.tags.of_photo(kept[str(real / "sub1" / "p1.jpg")]) == [("beach", "user", 1.0)]
    assert {r.path: r.state for r in cat.roots()} == {str(real): "online", str(tmp_path / "a-link"): "online"}
    again = scan(cat)  # settled: nothing moves back and forth
    assert (again.same_files, again.unchanged, again.new, again.deleted) == (3, 3, 0, 0)
    assert rows(cat) == sorted((str(f), r_real.id) for f in files)


def test_a_second_root_that_is_a_bind_mount_adds_no_second_row(cat, tmp_path):
    real = tmp_path / "real"
    files = photos(real, 4)
    cat.add_root(str(real))
    assert scan(cat).new == 4
    ids = {p.path: p.id for p in cat.photos_where()}
    with bind_mount(real, tmp_path / "mnt") as mnt:
        mounted = cat.add_root(str(mnt))  # as an older `add` allowed
        r = scan(cat, [mounted])  # `add` scans only the folder it adds
        assert (r.new, r.same_files) == (0, 4)
        r = scan(cat)  # and a full scan walks both
        assert (r.new, r.same_files, r.unchanged, r.deleted) == (0, 4, 4, 0)
        assert {p.path: p.id for p in cat.photos_where()} == ids
        assert cat.counts()["total"] == len(files)


def test_a_link_inside_one_root_into_another_lists_those_photos_once(cat, tmp_path):
    """Neither root is the other, but a link inside one leads into the other: only a walk can see it."""
    albums, home = tmp_path / "albums", tmp_path / "home"
    photos(albums, 4)
    write_jpeg(home / "own.jpg", color=(1, 2, 3))
    (home / "shortcut").symlink_to(albums / "sub0", target_is_directory=True)
    r_albums, r_home = cat.add_root(str(albums)), cat.add_root(str(home))
    assert folder_relation(str(home), str(albums)) is None
    r = scan(cat, [r_albums, r_home])
    assert (r.new, r.same_files) == (5, 2)
    assert sorted(p.path for p in cat.photos_of_root(r_home.id)) == [str(home / "own.jpg")]
    r = scan(cat)
    assert (r.new, r.unchanged, r.same_files, r.deleted) == (0, 5, 2, 0)


def test_hard_links_inside_one_root_stay_as_they_were(cat, tmp_path):
    root = tmp_path / "p"
    a = write_jpeg(root / "a.jpg")
    os.link(a, root / "b.jpg")
    cat.add_root(str(root))
    r = scan(cat)
    assert r.new + r.copied == 2 and r.same_files == 0


@pytest.mark.parametrize("where", ["inside", "is"])
def test_a_root_holding_the_library_never_takes_its_thumbnails_for_photos(tmp_path, where):
    """What an older `add` allowed (the window still adds without asking): the library grew with its own
    thumbnails at every index (20 -> 30 -> 40 photos)."""
    root = tmp_path / "home"
    photos(root / "pictures", 2)
    library = root / "photosift" if where == "inside" else root
    write_jpeg(library / "thumbnails" / "ab" / "abcdef.jpg")  # what an index writes there
    write_jpeg(library / "backups" / "not-a-thumbnail.jpg")
    with PhotoCatalog(library / "catalog.db") as cat:
        cat.add_root(str(root))
        for _ in range(2):
            scan(cat)
            found = {p.path for p in cat.photos_where()}
            write_jpeg(library / "thumbnails" / "cd" / f"{len(found)}.jpg")  # the next index's thumbnails
        expected = {str(root / "pictures" / "sub0" / "p0.jpg"), str(root / "pictures" / "sub1" / "p1.jpg")}
        if where == "is":  # the library folder is the root itself: only its thumbnails are left out
            expected.add(str(root / "backups" / "not-a-thumbnail.jpg"))
        assert found == expected
