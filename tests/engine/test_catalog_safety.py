"""The catalog's safety net: refusals that change nothing, read-only opening, private files, backups, repair."""

import os
import shutil
import sqlite3
import stat
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.backup import backup_catalog, backup_if_due, integrity_problem, list_backups, repair_catalog
from engine.catalog import MIGRATIONS, SCHEMA_VERSION, PhotoCatalog
from engine.errors import CatalogReadOnlyError, CatalogVersionError, InvalidTagError, QueryError
from engine.library import Library
from engine.paths import LibraryPaths
from engine.query import parse_query

NOBODY = 65534


@contextmanager
def read_only_for_this_process(*paths: Path):
    """Make `paths` unwritable to this process: chmod a-w, and when running as root (who ignores modes)
    hand them to `nobody` and act as nobody until the block ends."""
    root = os.geteuid() == 0
    for p in paths:
        if root:
            os.chown(p, NOBODY, NOBODY)
        os.chmod(p, stat.S_IMODE(p.stat().st_mode) & ~0o222)
    if root:
        os.seteuid(NOBODY)
    try:
        yield
    finally:
        if root:
            os.seteuid(0)
        for p in paths:
            os.chmod(p, stat.S_IMODE(p.stat().st_mode) | 0o200)


def private_dir(tmp_path: Path) -> Path:
    """A folder `nobody` can reach (pytest's own temp folder is root-only)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="photosift-ro-"))
    os.chmod(d, 0o755)
    return d


def test_newer_rollback_journal_catalog_is_refused_with_header_bytes_identical(tmp_path):
    path = tmp_path / "c.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    assert conn is not None and path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal, not WAL
    before = path.read_bytes()
    with pytest.raises(CatalogVersionError, match="newer"):
        PhotoCatalog(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]


def test_read_only_catalog_opens_read_only_and_refuses_writers(tmp_path):
    lib_dir = private_dir(tmp_path) / "library"
    try:
        with Library.open(lib_dir) as lib:
            lib.catalog.add_root("/photos")
        before = (lib_dir / "catalog.db").read_bytes()
        with read_only_for_this_process(lib_dir / "catalog.db", lib_dir), Library.open(lib_dir) as lib:
            assert lib.catalog.read_only
            assert [r.path for r in lib.catalog.roots()] == ["/photos"]
            with pytest.raises(CatalogReadOnlyError, match="read-only"), lib.write_lock():
                pass
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                lib.catalog.add_root("/other")
        assert (lib_dir / "catalog.db").read_bytes() == before
    finally:
        shutil.rmtree(lib_dir.parent)


def test_library_folder_and_files_are_private_and_old_ones_tightened(tmp_path):
    with Library.open(tmp_path / "lib") as lib:
        lib.catalog.add_root("/photos")
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in lib.paths.root.iterdir()}
        assert stat.S_IMODE(lib.paths.root.stat().st_mode) == 0o700
        assert files["catalog.db"] == 0o600 and files["catalog.db-wal"] == 0o600
        assert files["indexes"] == 0o700 and files["thumbnails"] == 0o700
    # A library made by an older version, readable by everyone, is tightened on open.
    os.chmod(tmp_path / "lib", 0o755)
    os.chmod(tmp_path / "lib" / "catalog.db", 0o644)
    (tmp_path / "lib" / "indexes" / "m.usearch").write_bytes(b"x")
    os.chmod(tmp_path / "lib" / "indexes" / "m.usearch", 0o644)
    Library.open(tmp_path / "lib").close()
    for p in ("", "catalog.db", "indexes/m.usearch"):
        assert stat.S_IMODE((tmp_path / "lib" / p).stat().st_mode) & 0o077 == 0, p


def _catalog_at_version_1(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO roots(path, added_at) VALUES ('/old', 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_migration_is_preceded_by_a_backup(tmp_path):
    path = tmp_path / "catalog.db"
    _catalog_at_version_1(path)
    with PhotoCatalog(path, before_migration=backup_catalog) as cat:
        assert cat.schema_version == SCHEMA_VERSION
    backups = list_backups(path)
    assert len(backups) == 1 and integrity_problem(backups[0]) is None
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    conn = sqlite3.connect(backups[0])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT path FROM roots").fetchall() == [("/old",)]
    conn.close()


def test_opening_the_library_backs_up_before_migrating(tmp_path):
    # The catalog imports no backup module: the library hands it the backup as its before-migration hook.
    paths = LibraryPaths(tmp_path / "lib")
    paths.root.mkdir()
    _catalog_at_version_1(paths.catalog)
    with Library.open(paths.root, create=False) as lib:
        assert lib.catalog.schema_version == SCHEMA_VERSION
    backups = list_backups(paths.catalog)
    assert len(backups) == 1 and f"before-v{SCHEMA_VERSION}" in backups[0].name
    conn = sqlite3.connect(backups[0])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_backups_at_most_daily_and_only_the_newest_three_kept(tmp_path):
    with PhotoCatalog(tmp_path / "catalog.db") as cat:
        assert backup_if_due(cat) is not None
        assert backup_if_due(cat) is None  # one a day
        made = [backup_catalog(cat) for _ in range(4)]
        assert list_backups(cat.path) == made[:-4:-1]
    # each backup is one file: nothing else is left in the folder (it kept a -shm and -wal per backup)
    assert sorted(p.name for p in made[-1].parent.iterdir()) == sorted(p.name for p in made[:-4:-1])
    assert integrity_problem(made[-1]) is None  # a read-only open of a backup (as repair does) adds nothing either
    assert sorted(p.name for p in made[-1].parent.iterdir()) == sorted(p.name for p in made[:-4:-1])


def _damage_page_of(path: Path, table: str) -> None:
    """Overwrite the b-tree root page of `table` with garbage (the rest of the file stays readable)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xa5" * page_size)


def _library_with_a_photo(root: Path) -> LibraryPaths:
    with Library.open(root) as lib:
        r = lib.catalog.add_root("/photos")
        lib.catalog.insert_photo(root_id=r.id, path="/photos/a.jpg", raw_path=None, size=1, mtime=1.0,
                                 fingerprint="f")
        return lib.paths


def test_repair_restores_the_newest_good_backup_and_keeps_the_damaged_file(tmp_path):
    paths = _library_with_a_photo(tmp_path / "lib")
    with PhotoCatalog(paths.catalog) as cat:
        backup_catalog(cat)
    (paths.indexes / "m.usearch").write_bytes(b"stale")
    _damage_page_of(paths.catalog, "photos")
    damaged = paths.catalog.read_bytes()
    assert integrity_problem(paths.catalog) is not None
    report = repair_catalog(paths)
    assert report.restored == list_backups(paths.catalog)[0] and report.folders == ["/photos"] and report.photos == 1
    assert report.kept_as is not None and report.kept_as.read_bytes() == damaged
    assert integrity_problem(paths.catalog) is None and not (paths.indexes / "m.usearch").exists()
    assert repair_catalog(paths).problem is None  # sound now: nothing more is done


def test_repair_without_a_backup_starts_fresh_with_the_folders_it_can_read(tmp_path):
    paths = _library_with_a_photo(tmp_path / "lib")
    _damage_page_of(paths.catalog, "photos")
    report = repair_catalog(paths)
    assert report.problem and report.restored is None and report.kept_as.exists()
    assert report.folders == ["/photos"] and report.photos == 0
    paths.catalog.write_bytes(b"garbage" * 1000)  # nothing readable at all
    report = repair_catalog(paths)
    assert "not a database" in report.problem and report.folders == []


def test_user_tags_are_trimmed_and_1_to_100_characters(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        pid = cat.insert_photo(root_id=root.id, path="/p/a.jpg", raw_path=None, size=1, mtime=1.0, fingerprint="f")
        cat.tags.set_user(pid, "  dog ")
        cat.tags.set_user(pid, "x" * 100)
        for bad in ("", "   ", "x" * 101, "two\nlines"):
            with pytest.raises(InvalidTagError):
                cat.tags.set_user(pid, bad)
            with pytest.raises(InvalidTagError):
                cat.tags.reject(pid, bad)
        assert sorted(n for n, _, _ in cat.tags.of_photo(pid)) == ["dog", "x" * 100]


def test_query_weights_are_bounded():
    assert parse_query("100:dog")[0].weight == 100
    for query in ("99999999999999999999999999999999:dog", "101:dog", "1" * 400 + ":dog"):
        with pytest.raises(QueryError, match="at most 100"):
            parse_query(query)


def test_backups_made_across_a_seconds_turn_sort_in_the_order_they_were_made(tmp_path, monkeypatch):
    import engine.backup

    base = int(time.time()) * 1_000_000_000
    clock = iter([base + 999_999_999, base + 1_000_000_001])  # the second backup is made 2 ns later
    monkeypatch.setattr(engine.backup.time, "time_ns", lambda: next(clock))
    with PhotoCatalog(tmp_path / "catalog.db") as cat:
        made = [backup_catalog(cat) for _ in range(2)]
        assert list_backups(cat.path) == made[::-1]
