"""The catalog: one SQLite database (WAL) per library, the source of truth for photos and vectors.

The schema is versioned with PRAGMA user_version and forward-only migrations, each preceded by a backup (a
hook passed by whoever opens the library: engine.library passes engine.backup.backup_catalog); a catalog
written by a newer Photosift is refused, never altered (its version is read through a read-only connection
first). A catalog this process cannot write is opened read-only.
SQLite failures are turned into typed errors (disk full, damaged, read-only) by `engine.errors.catalog_error`.

The core opens it and holds settings, roots and photos; the other tables are parts on the same connection:
`catalog.embeddings`, `catalog.tags`, `catalog.browse`, `catalog.places`, `catalog.duplicates`,
`catalog.people`."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine.catalog.albums import Albums
from engine.catalog.browse import Browse
from engine.catalog.duplicates import Duplicates
from engine.catalog.embeddings import Embeddings
from engine.catalog.files import _split_sql, _writable, connect_read_only
from engine.catalog.part import in_chunks
from engine.catalog.people import People
from engine.catalog.places import Places
from engine.catalog.rows import PERMANENT, PHOTO_COLUMNS, TRANSIENT, Photo, Root
from engine.catalog.tags import Tags
from engine.catalog.text import PhotoTexts
from engine.catalog_schema import MIGRATIONS, SCHEMA_VERSION
from engine.errors import CatalogMissingError, CatalogReadOnlyError, CatalogVersionError, catalog_error
from engine.folders import folder_relation


class PhotoCatalog:
    """Photos, roots and settings of one library; its other tables through its parts (`catalog.tags`...)."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0, read_only: bool = False,
                 before_migration: Callable[..., object] | None = None) -> None:
        """read_only: open an existing catalog for reading only (no file created, no migration, nothing written),
        for the commands that only read; without it a missing catalog is created and an older one upgraded.
        before_migration(catalog, reason=...): called before an older catalog is upgraded; whoever opens a
        library passes the backup (engine.backup.backup_catalog), which the catalog does not import."""
        self.path = Path(path)
        self._before_migration = before_migration
        self.embeddings = Embeddings(self)
        self.tags = Tags(self)
        self.browse = Browse(self)
        self.places = Places(self)
        self.duplicates = Duplicates(self)
        self.people = People(self)
        self.albums = Albums(self)
        self.text = PhotoTexts(self)
        self.read_only = False
        try:
            self.conn = self._open(timeout_s, read_only)
        except sqlite3.DatabaseError as e:
            raise catalog_error(e, self.path) from e

    def _open(self, timeout_s: float, read_only: bool = False) -> sqlite3.Connection:
        """Connect without changing anything a refusal should leave alone.

        An existing file is first opened read-only: its schema version is checked before any write (a
        newer catalog is refused with its header bytes untouched), and a catalog this process cannot
        write stays open read-only, so `status` and `search` work. Only then is it opened for writing,
        switched to WAL and migrated (after a backup).
        """
        if self.path.exists():
            ro = connect_read_only(self.path, timeout_s)
            try:
                version = int(ro.execute("PRAGMA user_version").fetchone()[0])
            except sqlite3.Error:
                ro.close()
                raise
            if version > SCHEMA_VERSION:
                ro.close()
                raise CatalogVersionError(
                    f"catalog {self.path} has schema version {version}, newer than this Photosift "
                    f"understands ({SCHEMA_VERSION}); upgrade Photosift to open it (the catalog was not changed)")
            if read_only:
                return self._stay_read_only(ro, version, asked=True)
            if not _writable(self.path):
                return self._stay_read_only(ro, version)
            ro.close()
        elif read_only:
            raise CatalogMissingError(f"the catalog {self.path} does not exist")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created private: SQLite gives the WAL and shared-memory files the catalog's own mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None,
                               check_same_thread=False)
        try:
            # Only takes effect on a new, empty database: 2 KB vectors fill 16 KB pages 7 to a page, where
            # 4 KB pages hold one each and waste half the file.
            conn.execute("PRAGMA page_size=16384")
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as e:  # a read-only disk that os.access did not reveal
            conn.close()
            if "readonly" not in str(e):
                raise
            ro = connect_read_only(self.path, timeout_s)
            return self._stay_read_only(ro, int(ro.execute("PRAGMA user_version").fetchone()[0]))
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        try:
            self._migrate()
        except BaseException:
            conn.close()
            raise
        return conn

    def _stay_read_only(self, conn: sqlite3.Connection, version: int, asked: bool = False) -> sqlite3.Connection:
        if version < SCHEMA_VERSION and asked:
            conn.close()
            raise CatalogReadOnlyError(
                f"catalog {self.path} was written by an older Photosift and needs an upgrade, which a command "
                "that only reads does not make; run `photosift index` (or open the window) to upgrade it")
        if version < SCHEMA_VERSION:
            conn.close()
            raise CatalogReadOnlyError(
                f"catalog {self.path} needs an upgrade to open but is read-only; make it and its folder "
                "writable, then run the command again")
        self.read_only = True
        return conn

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the catalog into the (empty) file at `path`, as one self-contained file: left in
        the catalog's WAL mode, every read-only open of the copy would leave a -shm and a -wal file beside it."""
        dest = sqlite3.connect(str(path))
        try:
            self.conn.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PhotoCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:  # checked read-only before; another process may have upgraded since
            raise CatalogVersionError(
                f"catalog {self.path} has schema version {version}, newer than this Photosift "
                f"understands ({SCHEMA_VERSION}); upgrade Photosift to open it")
        if 0 < version < SCHEMA_VERSION and self._before_migration is not None:
            self._before_migration(self, reason=f"before-v{SCHEMA_VERSION}")
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[number]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (BEGIN IMMEDIATE so writers queue instead of failing late)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def add_root(self, path: str) -> Root:
        self.conn.execute("INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (path, time.time()))
        return self.root_by_path(path)  # type: ignore[return-value]

    def root_by_path(self, path: str) -> Root | None:
        row = self.conn.execute("SELECT id, path, state, last_scan, error FROM roots WHERE path = ?",
                                (path,)).fetchone()
        return Root(*row) if row else None

    def roots(self) -> list[Root]:
        rows = self.conn.execute("SELECT id, path, state, last_scan, error FROM roots ORDER BY path")
        return [Root(*r) for r in rows]

    def related_roots(self, path: str) -> list[tuple[str, Root]]:
        """The roots that are the folder at `path` (SAME), hold it (it is INSIDE them) or lie inside it (it
        CONTAINS them), however either is spelled (engine.folders: device and inode, resolved path)."""
        out = []
        for root in self.roots():
            relation = folder_relation(path, root.path)
            if relation is not None:
                out.append((relation, root))
        return out

    def set_root_state(self, root_id: int, state: str, error: str | None = None) -> None:
        self.conn.execute("UPDATE roots SET state = ?, error = ?, last_scan = ? WHERE id = ?",
                          (state, error, time.time(), root_id))

    def root_mounts(self, root_id: int) -> list[str]:
        """Mount points seen inside a root (the root itself included) at its last full scan."""
        row = self.conn.execute("SELECT mounts FROM roots WHERE id = ?", (root_id,)).fetchone()
        return [m for m in (row[0] or "").split("\n") if m] if row else []

    def set_root_mounts(self, root_id: int, mounts: Iterable[str]) -> None:
        self.conn.execute("UPDATE roots SET mounts = ? WHERE id = ?", ("\n".join(sorted(set(mounts))) or None, root_id))

    def fingerprints_only_in_root(self, root_id: int) -> set[str]:
        """Fingerprints (thumbnail keys) of a root's photos that no photo of another root shares."""
        rows = self.conn.execute(
            "SELECT DISTINCT fingerprint FROM photos WHERE root_id = ? AND fingerprint IS NOT NULL AND fingerprint "
            "NOT IN (SELECT fingerprint FROM photos WHERE root_id != ? AND fingerprint IS NOT NULL)",
            (root_id, root_id))
        return {r[0] for r in rows}

    def remove_root(self, root_id: int) -> int:
        """Forget a root and everything of it (the photos on disk are never touched)."""
        with self.transaction():
            n = self.conn.execute("DELETE FROM photos WHERE root_id = ?", (root_id,)).rowcount
            self.conn.execute("DELETE FROM roots WHERE id = ?", (root_id,))
        return n

    def merge_photo_into(self, photo_id: int, keeper_id: int) -> None:
        """Forget a second row of one file (reached through two roots) after giving its user tags,
        rejections and albums to the row that stays (where that row has no user decision on the same name). Stopped
        between the two, the tags are on both rows and the next scan merges again."""
        self.conn.execute(
            "INSERT OR REPLACE INTO tags(photo_id, name, source, score, model_id) "
            "SELECT ?, name, source, score, model_id FROM tags AS t WHERE photo_id = ? "
            "AND source IN ('user', 'rejected') AND NOT EXISTS (SELECT 1 FROM tags AS k WHERE "
            "k.photo_id = ? AND k.name = t.name AND k.source IN ('user', 'rejected'))",
            (keeper_id, photo_id, keeper_id))
        self.conn.execute("INSERT OR IGNORE INTO album_photos(album_id, photo_id, added_at) "
                          "SELECT album_id, ?, added_at FROM album_photos WHERE photo_id = ?", (keeper_id, photo_id))
        self.conn.execute("DELETE FROM photos WHERE id = ?", (photo_id,))

    def photos_where(self, where: str = "", params: Sequence[object] = ()) -> list[Photo]:
        """Photos matching a WHERE clause (with its ORDER BY): for the catalog's parts and tests."""
        sql = f"SELECT {PHOTO_COLUMNS} FROM photos {where}"
        return [Photo(*r) for r in self.conn.execute(sql, params)]

    def photo(self, photo_id: int) -> Photo | None:
        found = self.photos_where("WHERE id = ?", (photo_id,))
        return found[0] if found else None

    def photo_by_path(self, path: str) -> Photo | None:
        found = self.photos_where("WHERE path = ?", (path,))
        return found[0] if found else None

    def photos_by_ids(self, ids: Sequence[int]) -> dict[int, Photo]:
        out: dict[int, Photo] = {}
        for chunk, marks in in_chunks(ids):
            for p in self.photos_where(f"WHERE id IN ({marks})", chunk):
                out[p.id] = p
        return out

    def photos_of_root(self, root_id: int) -> list[Photo]:
        return self.photos_where("WHERE root_id = ?", (root_id,))

    def photos_with_status(self, status: str, limit: int | None = None) -> list[Photo]:
        tail = f" LIMIT {int(limit)}" if limit else ""
        return self.photos_where("WHERE status = ? ORDER BY id" + tail, (status,))

    def mark_missing(self, ids: Sequence[int], since: float | None = None) -> None:
        """Photos that vanished in a way that looks like an unplugged drive: kept (tags and all) until confirmed."""
        when = time.time() if since is None else since
        for chunk, marks in in_chunks(ids):
            self.conn.execute(f"UPDATE photos SET missing_since = COALESCE(missing_since, ?) WHERE id IN ({marks})",
                              (when, *chunk))

    def clear_missing(self, ids: Sequence[int]) -> None:
        for chunk, marks in in_chunks(ids):
            self.conn.execute(f"UPDATE photos SET missing_since = NULL WHERE id IN ({marks})", chunk)

    def missing_photos(self) -> list[Photo]:
        return self.photos_where("WHERE missing_since IS NOT NULL ORDER BY path")

    def photos_by_fingerprint(self, fingerprints: Iterable[str]) -> dict[str, list[Photo]]:
        fps = list(set(fingerprints))
        out: dict[str, list[Photo]] = {}
        for chunk, marks in in_chunks(fps):
            for p in self.photos_where(f"WHERE fingerprint IN ({marks})", chunk):
                out.setdefault(p.fingerprint or "", []).append(p)
        return out

    def insert_photo(self, *, root_id: int, path: str, raw_path: bytes | None, size: int, mtime: float,
                     fingerprint: str | None, dev: int | None = None, ino: int | None = None) -> int:
        cur = self.conn.execute(
            "INSERT INTO photos(root_id, path, raw_path, size, mtime, fingerprint, status, added_at, dev, ino) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (root_id, path, raw_path, size, mtime, fingerprint, time.time(), dev, ino))
        return int(cur.lastrowid or 0)

    def mark_changed(self, photo_id: int, *, size: int, mtime: float, fingerprint: str | None,
                     dev: int | None = None, ino: int | None = None) -> None:
        """A file's content changed: its vectors are stale, it will be indexed again (the user's tags stay)."""
        self.conn.execute(
            "UPDATE photos SET size = ?, mtime = ?, fingerprint = ?, status = 'pending', error = NULL, "
            "error_kind = NULL, tagged_model = NULL, missing_since = NULL, dev = COALESCE(?, dev), "
            "ino = COALESCE(?, ino) WHERE id = ?",
            (size, mtime, fingerprint, dev, ino, photo_id))
        self.conn.execute("DELETE FROM embeddings WHERE photo_id = ?", (photo_id,))
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'zeroshot'", (photo_id,))

    def move_photo(self, photo_id: int, *, root_id: int, path: str, raw_path: bytes | None,
                   mtime: float, dev: int | None = None, ino: int | None = None) -> None:
        """A file was moved or renamed: keep its id, vectors and tags."""
        self.conn.execute(
            "UPDATE photos SET root_id = ?, path = ?, raw_path = ?, mtime = ?, missing_since = NULL, "
            "status = CASE WHEN status = 'missing' THEN 'ok' ELSE status END, dev = COALESCE(?, dev), "
            "ino = COALESCE(?, ino) WHERE id = ?",
            (root_id, path, raw_path, mtime, dev, ino, photo_id))

    def set_file_ids(self, rows: Iterable[tuple[int, int, int]]) -> None:
        """(photo id, st_dev, st_ino): where unchanged photos were found (filled in, or a renumbered device)."""
        self.conn.executemany("UPDATE photos SET dev = ?, ino = ? WHERE id = ?", [(d, i, pid) for pid, d, i in rows])

    def copy_indexed_state(self, src_id: int, dst_id: int) -> bool:
        """A byte-identical copy of an indexed photo: reuse its metadata and vectors, compute nothing."""
        self.conn.execute(
            "UPDATE photos SET (width, height, taken_at, camera, orientation, gps_lat, gps_lon, status, "
            "indexed_at, tagged_model) = (SELECT width, height, taken_at, camera, orientation, gps_lat, gps_lon, "
            "status, indexed_at, tagged_model FROM photos WHERE id = ?) WHERE id = ?", (src_id, dst_id))
        n = self.conn.execute(
            "INSERT OR IGNORE INTO embeddings(photo_id, model_id, vector) "
            "SELECT ?, model_id, vector FROM embeddings WHERE photo_id = ?", (dst_id, src_id)).rowcount
        self.conn.execute(
            "INSERT OR IGNORE INTO tags(photo_id, name, source, score, model_id) "
            "SELECT ?, name, source, score, model_id FROM tags WHERE photo_id = ? AND source = 'zeroshot'",
            (dst_id, src_id))
        return n > 0

    def delete_photos(self, ids: Sequence[int]) -> None:
        for chunk, marks in in_chunks(ids):
            self.conn.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

    def record_decoded(self, photo_id: int, meta: dict[str, object]) -> None:
        cols = ("width", "height", "taken_at", "camera", "orientation", "gps_lat", "gps_lon")
        values = [meta.get(c) for c in cols]
        self.conn.execute(
            "UPDATE photos SET width = ?, height = ?, taken_at = ?, camera = ?, orientation = ?, "
            "gps_lat = ?, gps_lon = ?, status = 'ok', error = NULL, error_kind = NULL, indexed_at = ? WHERE id = ?",
            (*values, time.time(), photo_id))

    def record_error(self, photo_id: int, reason: str, kind: str = PERMANENT) -> None:
        self.conn.execute("UPDATE photos SET status = 'error', error = ?, error_kind = ?, indexed_at = ? "
                          "WHERE id = ?", (reason, kind, time.time(), photo_id))

    def counts(self) -> dict[str, int]:
        """Photos by status; 'error' is split into 'failed_transient' and 'failed_permanent'; 'missing' counts
        photos held after vanishing (see mark_missing)."""
        rows = self.conn.execute("SELECT status, COUNT(*) FROM photos GROUP BY status").fetchall()
        out = {"pending": 0, "ok": 0, "error": 0}
        out.update({s: int(n) for s, n in rows})
        out["total"] = sum(int(n) for _, n in rows)
        kinds = dict(self.conn.execute(
            "SELECT COALESCE(error_kind, ?), COUNT(*) FROM photos WHERE status = 'error' GROUP BY 1",
            (PERMANENT,)).fetchall())
        out["failed_transient"] = int(kinds.get(TRANSIENT, 0))
        out["failed_permanent"] = int(kinds.get(PERMANENT, 0))
        out["missing"] = int(self.conn.execute(
            "SELECT COUNT(*) FROM photos WHERE missing_since IS NOT NULL").fetchone()[0])
        return out

    def failed(self) -> list[Photo]:
        return self.photos_where("WHERE status = 'error' ORDER BY path")

    def commit_batch(self) -> None:
        """Inside transaction(): make the work so far durable and go on in a new transaction (long scans)."""
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")
