"""The catalog: one SQLite database (WAL) per library, the source of truth for photos and vectors.

The schema is versioned with PRAGMA user_version and forward-only migrations, each preceded by a backup (a
hook passed by whoever opens the library: engine.library passes engine.backup.backup_catalog); a catalog
written by a newer Photosift is refused, never altered (its version is read through a read-only connection
first). A catalog this process cannot write is opened read-only.
SQLite failures are turned into typed errors (disk full, damaged, read-only) by `engine.errors.catalog_error`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import numpy as np

from engine.catalog_schema import MIGRATIONS, SCHEMA_VERSION
from engine.errors import (
    CatalogMissingError,
    CatalogReadOnlyError,
    CatalogVersionError,
    InvalidTagError,
    catalog_error,
)
from engine.filters import SearchFilters
from engine.folders import folder_relation
from engine.place_keys import Place, place_key, place_spec_keys
from engine.tag_confidence import CONFIDENT

MAX_TAG_LENGTH = 100
# A tag row a photo has for sure (with min_confidence as its parameter): the user's own, or a zero-shot tag the
# model gave at least that confidence (or one written before confidences were kept). The sidebar's counts
# and the tag filter both use it, so that a tag's count is the photos its filter shows.
SURE_TAG_SQL = "(source = 'user' OR confidence IS NULL OR confidence >= ?)"
TRANSIENT = "transient"  # vanished, I/O error, no space, permission denied: retried by the next index
PERMANENT = "permanent"  # not an image, truncated, too large: retried only when the file changes

PHOTO_COLUMNS = (
    "id, root_id, path, raw_path, size, mtime, fingerprint, width, height, taken_at, camera, "
    "orientation, gps_lat, gps_lon, status, error, added_at, indexed_at, error_kind, tagged_model, missing_since, "
    "dev, ino"
)


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    state: str
    last_scan: float | None
    error: str | None


@dataclass(frozen=True)
class TagRow:
    """One stored tag of a photo. source: user | zeroshot | rejected; confidence: a zero-shot tag's
    probability among the vocabulary (None for the user's and for tags written before it was kept)."""

    name: str
    source: str
    score: float | None
    model_id: str | None
    confidence: float | None

    def uncertain(self, min_confidence: float) -> bool:
        return self.source == "zeroshot" and self.confidence is not None and self.confidence < min_confidence


@dataclass(frozen=True)
class Photo:
    id: int
    root_id: int
    path: str
    raw_path: bytes | None
    size: int
    mtime: float
    fingerprint: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    camera: str | None
    orientation: int | None
    gps_lat: float | None
    gps_lon: float | None
    status: str
    error: str | None
    added_at: float
    indexed_at: float | None
    error_kind: str | None = None  # TRANSIENT or PERMANENT when status is 'error'
    tagged_model: str | None = None  # the model whose zero-shot tags the photo has, None when untagged
    missing_since: float | None = None  # vanished with many others at once: kept until confirmed
    dev: int | None = None  # st_dev and st_ino of the file at the last scan (None before it was seen)
    ino: int | None = None

    @property
    def fs_path(self) -> str | bytes:
        """The path to open: exact bytes for names that are not valid UTF-8."""
        return self.raw_path if self.raw_path is not None else self.path


class PhotoCatalog:
    """Photos, roots, per-model embeddings and tags of one library."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0, read_only: bool = False,
                 before_migration: Callable[..., object] | None = None) -> None:
        """read_only: open an existing catalog for reading only (no file created, no migration, nothing written),
        for the commands that only read; without it a missing catalog is created and an older one upgraded.
        before_migration(catalog, reason=...): called before an older catalog is upgraded; whoever opens a
        library passes the backup (engine.backup.backup_catalog), which the catalog does not import."""
        self.path = Path(path)
        self._before_migration = before_migration
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

    # -- schema ---------------------------------------------------------------------------
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

    # -- settings -------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    # -- roots ----------------------------------------------------------------------------
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
        """Forget a second row of one file (reached through two roots) after giving its user tags and
        rejections to the row that stays (where that row has no user decision on the same name). Stopped
        between the two, the tags are on both rows and the next scan merges again."""
        self.conn.execute(
            "INSERT OR REPLACE INTO tags(photo_id, name, source, score, model_id) "
            "SELECT ?, name, source, score, model_id FROM tags AS t WHERE photo_id = ? "
            "AND source IN ('user', 'rejected') AND NOT EXISTS (SELECT 1 FROM tags AS k WHERE "
            "k.photo_id = ? AND k.name = t.name AND k.source IN ('user', 'rejected'))",
            (keeper_id, photo_id, keeper_id))
        self.conn.execute("DELETE FROM photos WHERE id = ?", (photo_id,))

    # -- photos ---------------------------------------------------------------------------
    def _photos(self, where: str = "", params: Sequence[object] = ()) -> list[Photo]:
        sql = f"SELECT {PHOTO_COLUMNS} FROM photos {where}"
        return [Photo(*r) for r in self.conn.execute(sql, params)]

    def photo(self, photo_id: int) -> Photo | None:
        found = self._photos("WHERE id = ?", (photo_id,))
        return found[0] if found else None

    def photo_by_path(self, path: str) -> Photo | None:
        found = self._photos("WHERE path = ?", (path,))
        return found[0] if found else None

    def photos_by_ids(self, ids: Sequence[int]) -> dict[int, Photo]:
        out: dict[int, Photo] = {}
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            for p in self._photos(f"WHERE id IN ({marks})", chunk):
                out[p.id] = p
        return out

    def photos_of_root(self, root_id: int) -> list[Photo]:
        return self._photos("WHERE root_id = ?", (root_id,))

    def photos_with_status(self, status: str, limit: int | None = None) -> list[Photo]:
        tail = f" LIMIT {int(limit)}" if limit else ""
        return self._photos("WHERE status = ? ORDER BY id" + tail, (status,))

    def photos_missing_embedding(self, model_id: str) -> list[Photo]:
        """Photos to index: new, changed, or failed for a transient reason (unplugged, full disk, ...).

        Photos of offline roots and photos held as missing are left for when they are back.
        """
        return self._photos(
            f"WHERE (status IN ('pending', 'ok') OR (status = 'error' AND error_kind = '{TRANSIENT}')) "
            "AND missing_since IS NULL AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') "
            "AND id NOT IN (SELECT photo_id FROM embeddings WHERE model_id = ?) ORDER BY id", (model_id,))

    def photos_missing_tags(self, model_id: str) -> list[int]:
        """Photos with a vector of the model but not (yet) its zero-shot tags: a run killed before tagging."""
        rows = self.conn.execute(
            "SELECT e.photo_id FROM embeddings e JOIN photos p ON p.id = e.photo_id WHERE e.model_id = ? "
            "AND (p.tagged_model IS NULL OR p.tagged_model != ?) ORDER BY e.photo_id", (model_id, model_id))
        return [int(r[0]) for r in rows]

    def mark_missing(self, ids: Sequence[int], since: float | None = None) -> None:
        """Photos that vanished in a way that looks like an unplugged drive: kept (tags and all) until confirmed."""
        when = time.time() if since is None else since
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"UPDATE photos SET missing_since = COALESCE(missing_since, ?) WHERE id IN ({marks})",
                              (when, *chunk))

    def clear_missing(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"UPDATE photos SET missing_since = NULL WHERE id IN ({marks})", chunk)

    def ids_with_user_tags(self, ids: Sequence[int]) -> set[int]:
        out: set[int] = set()
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            out.update(int(r[0]) for r in self.conn.execute(
                f"SELECT DISTINCT photo_id FROM tags WHERE source IN ('user', 'rejected') AND photo_id IN ({marks})",
                chunk))
        return out

    def missing_photos(self) -> list[Photo]:
        return self._photos("WHERE missing_since IS NOT NULL ORDER BY path")

    def photos_by_fingerprint(self, fingerprints: Iterable[str]) -> dict[str, list[Photo]]:
        fps = list(set(fingerprints))
        out: dict[str, list[Photo]] = {}
        for start in range(0, len(fps), 900):
            chunk = fps[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for p in self._photos(f"WHERE fingerprint IN ({marks})", chunk):
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

    def pixel_signatures(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored 32x32 grey signatures (engine.duplicates) of these photos, where they have one."""
        out: dict[int, bytes] = {}
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            out.update((int(r[0]), bytes(r[1])) for r in self.conn.execute(
                f"SELECT id, pixel_sig FROM photos WHERE pixel_sig IS NOT NULL AND id IN ({marks})", chunk))
        return out

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
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
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
        return self._photos("WHERE status = 'error' ORDER BY path")

    # -- embeddings -----------------------------------------------------------------------
    def put_embeddings(self, model_id: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        # An upsert, not INSERT OR REPLACE: REPLACE's implicit delete fires no trigger, which would
        # count a re-embedded photo twice in embedding_versions.
        self.conn.executemany(
            "INSERT INTO embeddings(photo_id, model_id, vector) VALUES (?, ?, ?) "
            "ON CONFLICT(photo_id, model_id) DO UPDATE SET vector = excluded.vector",
            [(int(i), model_id, vecs[k].tobytes()) for k, i in enumerate(ids)])

    def embedding(self, photo_id: int, model_id: str) -> np.ndarray | None:
        row = self.conn.execute("SELECT vector FROM embeddings WHERE photo_id = ? AND model_id = ?",
                                (photo_id, model_id)).fetchone()
        return np.frombuffer(row[0], dtype=np.float32).copy() if row else None

    def embeddings(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) of one model, in rowid order."""
        chunks = list(self.iter_embeddings(model_id))
        if not chunks:
            return np.zeros(0, dtype=np.uint64), np.zeros((0, 0), dtype=np.float32)
        return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])

    def iter_embeddings(self, model_id: str, chunk: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of one model in chunks, so a 1M-photo index build never holds every row as Python objects."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT rowid, photo_id, vector FROM embeddings WHERE model_id = ? AND rowid > ? "
                "ORDER BY rowid LIMIT ?", (model_id, last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            ids = np.fromiter((r[1] for r in rows), dtype=np.uint64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield ids, vecs

    def embeddings_of(self, model_id: str, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the given photos that have a vector of the model (point lookups, any order)."""
        out_ids: list[int] = []
        blobs: list[bytes] = []
        id_list = [int(i) for i in ids]
        for start in range(0, len(id_list), 900):
            chunk = id_list[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for pid, blob in self.conn.execute(
                    f"SELECT photo_id, vector FROM embeddings WHERE model_id = ? AND photo_id IN ({marks})",
                    (model_id, *chunk)):
                out_ids.append(pid)
                blobs.append(blob)
        if not out_ids:
            return np.zeros(0, np.uint64), np.zeros((0, 1), np.float32)
        return (np.array(out_ids, np.uint64),
                np.frombuffer(b"".join(blobs), np.float32).reshape(len(out_ids), -1))

    def embedding_ids(self, model_id: str) -> np.ndarray:
        rows = self.conn.execute("SELECT photo_id FROM embeddings WHERE model_id = ?", (model_id,)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))

    def embedding_sample(self, model_id: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """About n vectors spread evenly over the model's rows (point lookups, no scan)."""
        lo, hi = self.conn.execute("SELECT MIN(rowid), MAX(rowid) FROM embeddings WHERE model_id = ?",
                                   (model_id,)).fetchone()
        if lo is None:
            return np.zeros(0, dtype=np.uint64), np.zeros((0, 0), dtype=np.float32)
        seen: dict[int, bytes] = {}
        for target in np.unique(np.linspace(lo, hi, num=max(n, 1)).astype(np.int64)):
            row = self.conn.execute(
                "SELECT photo_id, vector FROM embeddings WHERE model_id = ? AND rowid >= ? ORDER BY rowid LIMIT 1",
                (model_id, int(target))).fetchone()
            if row is not None:
                seen.setdefault(row[0], row[1])
        ids = np.fromiter(seen.keys(), dtype=np.uint64, count=len(seen))
        vecs = np.frombuffer(b"".join(seen.values()), dtype=np.float32).reshape(len(seen), -1)
        return ids, vecs

    def embedding_stamp(self, model_id: str) -> str:
        """Changes whenever the set of vectors of a model changes; the vector index stores it."""
        version, count = self.embedding_version(model_id)
        return f"{version}:{count}"

    def embedding_version(self, model_id: str) -> tuple[int, int]:
        """(change counter, vector count) of one model, kept up to date by triggers."""
        row = self.conn.execute("SELECT version, count FROM embedding_versions WHERE model_id = ?",
                                (model_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def models_with_embeddings(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT model_id, count FROM embedding_versions WHERE count > 0")
        return {m: int(n) for m, n in rows}

    def delete_embeddings(self, model_id: str) -> int:
        with self.transaction():
            return self.conn.execute("DELETE FROM embeddings WHERE model_id = ?", (model_id,)).rowcount

    # -- tags -----------------------------------------------------------------------------
    def set_user_tag(self, photo_id: int, name: str) -> None:
        """Tag a photo; the name is trimmed and must be 1-100 printable characters (InvalidTagError)."""
        self.conn.execute("INSERT OR REPLACE INTO tags(photo_id, name, source, score) VALUES (?, ?, 'user', 1.0)",
                          (photo_id, clean_tag(name)))

    def reject_tag(self, photo_id: int, name: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO tags(photo_id, name, source, score) VALUES (?, ?, 'rejected', NULL)",
            (photo_id, clean_tag(name)))

    def put_zeroshot_tags(self, model_id: str, photo_id: int,
                          scored: Iterable[tuple[str, float] | tuple[str, float, float | None]]) -> None:
        """Replace a photo's zero-shot tags, each (name, score) or (name, score, confidence); user and
        rejected tags always win and are kept."""
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'zeroshot'", (photo_id,))
        self.conn.execute("UPDATE photos SET tagged_model = ? WHERE id = ?", (model_id, photo_id))
        self.conn.executemany(
            "INSERT OR IGNORE INTO tags(photo_id, name, source, score, model_id, confidence) "
            "VALUES (?, ?, 'zeroshot', ?, ?, ?)",
            [(photo_id, name, float(score), model_id, float(rest[0]) if rest and rest[0] is not None else None)
             for name, score, *rest in scored])

    def clear_zeroshot_tags(self) -> int:
        """Delete every zero-shot tag, and so every photo's tagged_model (a switch of model re-tags); user and
        rejected tags stay."""
        self.conn.execute("UPDATE photos SET tagged_model = NULL WHERE tagged_model IS NOT NULL")
        return self.conn.execute("DELETE FROM tags WHERE source = 'zeroshot'").rowcount

    def tags_of(self, photo_id: int) -> list[tuple[str, str, float | None]]:
        rows = self.conn.execute(
            "SELECT name, source, score FROM tags WHERE photo_id = ? AND source != 'rejected' "
            "ORDER BY source = 'zeroshot', score DESC, name", (photo_id,))
        return [(n, s, sc) for n, s, sc in rows]

    def tag_counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT name, COUNT(*) FROM tags WHERE source != 'rejected' GROUP BY name ORDER BY 2 DESC, 1")
        return {n: int(c) for n, c in rows}

    def photo_ids_with_tag(self, name: str) -> set[int]:
        rows = self.conn.execute(
            "SELECT photo_id FROM tags WHERE name = ? COLLATE NOCASE AND source != 'rejected'", (name,))
        return {int(r[0]) for r in rows}

    # -- issue #15: what the window, search, scanner and training read (one owner of SQL) -------------------
    def filtered_photo_ids(self, filters: SearchFilters, *, after_id: int | None = None, order: str = "id",
                           indexed_only: bool = False) -> list[int]:
        """Ids of the photos `filters` lets through: the ONE meaning of each filter, for the CLI's search, the
        window's search and the window's browse grid alike.

        after_id: only photos added after that id (ids grow). order: "id", "newest" (taken, else file time,
        newest first, then path) or "timeline" (taken newest first, undated last: the browse grid's sections).
        indexed_only: photos that could be read.
        """
        clauses, params = self._filter_clauses(filters)
        if indexed_only:
            clauses.append("status = 'ok'")
        if after_id is not None:
            clauses.append("id > ?")
            params.append(after_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        orders = {"id": "id", "newest": "COALESCE(taken_at, datetime(mtime, 'unixepoch')) DESC, path",
                  "timeline": self.TIMELINE_ORDER}
        if order not in orders:
            raise ValueError(f"unknown order {order!r}; one of {', '.join(orders)}")
        return [int(r[0]) for r in self.conn.execute(f"SELECT id FROM photos {where} ORDER BY {orders[order]}",
                                                     params)]

    def max_photo_id(self) -> int:
        """The highest photo id (0 when empty): photos added later have higher ids."""
        return int(self.conn.execute("SELECT MAX(id) FROM photos").fetchone()[0] or 0)

    def grid_rows(self, ids: Sequence[int]) -> dict[int, tuple]:
        """photo id -> (path, raw_path, fingerprint, status, root_id, missing_since): what a grid cell needs,
        as plain tuples (the cyclic GC does not track them; the grid keeps thousands)."""
        out: dict[int, tuple] = {}
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            out.update((r[0], r[1:]) for r in self.conn.execute(
                "SELECT id, path, raw_path, fingerprint, status, root_id, missing_since FROM photos "
                f"WHERE id IN ({marks})", chunk))
        return out

    def folder_counts(self) -> list[tuple[str, int]]:
        """(folder path ending in a separator, photos directly in it) for every folder that holds photos."""
        # The folder part of each path, computed by SQLite: everything up to the last separator.
        rows = self.conn.execute(
            "SELECT rtrim(path, replace(path, ?, '')) AS d, COUNT(*) FROM photos GROUP BY d", (os.sep,))
        return [(str(d), int(n)) for d, n in rows]

    def user_tags(self) -> list[tuple[int, str]]:
        """(photo id, tag) for every tag a user gave or confirmed."""
        return [(int(p), str(n)) for p, n in self.conn.execute("SELECT photo_id, name FROM tags WHERE source = 'user'")]

    def commit_batch(self) -> None:
        """Inside transaction(): make the work so far durable and go on in a new transaction (long scans)."""
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")


    def _filter_clauses(self, filters: SearchFilters) -> tuple[list[str], list[object]]:
        """The WHERE clauses and parameters of `filters` over the photos table: their one meaning."""
        clauses: list[str] = []
        params: list[object] = []
        if filters.folder:
            # The folder itself, or anything below it; a plain prefix would let /a/b match /a/bc.
            prefix = filters.folder.rstrip("/\\")
            clauses.append("(path = ? OR substr(path, 1, ?) = ?)")
            params += [prefix, len(prefix) + 1, prefix + os.sep]
        if filters.date_from:
            clauses.append("substr(taken_at, 1, 10) >= ?")
            params.append(filters.date_from.isoformat())
        if filters.date_to:
            clauses.append("substr(taken_at, 1, 10) <= ?")
            params.append(filters.date_to.isoformat())
        if filters.tag:
            sure = "" if filters.tag_uncertain_too else f" AND {SURE_TAG_SQL}"
            clauses.append("id IN (SELECT photo_id FROM tags WHERE name = ? COLLATE NOCASE AND source != 'rejected'"
                           f"{sure})")
            params += [filters.tag] if filters.tag_uncertain_too else [filters.tag, CONFIDENT]
        if filters.place:
            clause, more = PhotoCatalog.place_filter_sql(filters.place)  # ValueError for a malformed spec
            clauses.append(clause)
            params += more
        for names, keep in (((filters.person,) if filters.person else (), True), (filters.without_persons, False)):
            ids = sorted({pid for name in names for pid in self.person_ids_matching(name)})
            if not names:
                continue
            if keep and not ids:
                clauses.append("0")  # nobody by that name: no photo
            elif ids:
                marks = ",".join("?" * len(ids))
                negate = "" if keep else "NOT "
                clauses.append(f"id {negate}IN (SELECT photo_id FROM faces WHERE person_id IN ({marks}))")
                params += ids
        return clauses, params

    def person_ids_matching(self, spec: str) -> list[int]:
        """Persons called `spec` (any case), else the person with that id (following merges); [] for nobody."""
        name = spec.strip()
        named = [int(r[0]) for r in self.conn.execute(
            "SELECT id FROM persons WHERE name = ? COLLATE NOCASE AND merged_into IS NULL ORDER BY id", (name,))]
        if named or not name.isdigit():
            return named
        pid, seen = int(name), set()
        while pid not in seen:
            seen.add(pid)
            row = self.conn.execute("SELECT merged_into FROM persons WHERE id = ?", (pid,)).fetchone()
            if row is None:
                return []
            if row[0] is None:
                return [pid]
            pid = int(row[0])
        return []

    # -- timeline (issue #15, the grid): dates the browse grid's sections and date filter are made from ---
    # The browse grid lists photos newest first, undated last (TIMELINE_ORDER); these counts follow the same
    # order and the same filters as the grid's own query, so section boundaries are running sums of them.
    TIMELINE_ORDER = "taken_at IS NULL, taken_at DESC, path"

    def timeline_days(self, filters: SearchFilters | None = None) -> list[tuple[str | None, int]]:
        """(day "YYYY-MM-DD" or None when undated, photos) newest first, undated last, for the photos `filters`
        lets through: one grouped scan of the taken_at index (~50 ms at 100k photos) instead of every row."""
        clauses, params = self._filter_clauses(filters or SearchFilters())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT NULLIF(substr(taken_at, 1, 10), '') AS day, COUNT(*) FROM photos {where} "
            "GROUP BY day ORDER BY day IS NULL, day DESC", params).fetchall()
        return [(d, int(n)) for d, n in rows]

    def taken_range(self) -> tuple[date, date] | None:
        """The first and last day a photo was taken (two index lookups), or None when no photo has a date."""
        # Two queries: each alone is answered from one end of the index; together they would scan it.
        lo = self.conn.execute("SELECT MIN(taken_at) FROM photos WHERE taken_at > ''").fetchone()[0]
        hi = self.conn.execute("SELECT MAX(taken_at) FROM photos").fetchone()[0]
        try:
            return (date.fromisoformat(lo[:10]), date.fromisoformat(hi[:10])) if lo and hi else None
        except ValueError:  # not written by us (imported by hand): no range rather than a wrong one
            return None

    # -- tag confidence and undoing tag edits (issue #15: first run, tags, undo) -------------------
    def tag_row(self, photo_id: int, name: str) -> TagRow | None:
        """A photo's tag row as stored (rejected ones too), to put back exactly with restore_tag."""
        row = self.conn.execute("SELECT name, source, score, model_id, confidence FROM tags "
                                "WHERE photo_id = ? AND name = ?", (photo_id, name)).fetchone()
        return TagRow(*row) if row else None

    def restore_tag(self, photo_id: int, name: str, row: TagRow | None) -> None:
        """Put a tag back as tag_row read it; None: the photo had no such tag, so it has none again."""
        with self.transaction():
            self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND name = ?", (photo_id, name))
            if row is not None:
                self.conn.execute("INSERT INTO tags(photo_id, name, source, score, model_id, confidence) "
                                  "VALUES (?, ?, ?, ?, ?, ?)",
                                  (photo_id, row.name, row.source, row.score, row.model_id, row.confidence))

    def tags_with_confidence(self, photo_id: int) -> list[TagRow]:
        """A photo's tags that are not rejected: the user's first, then by confidence and score."""
        rows = self.conn.execute(
            "SELECT name, source, score, model_id, confidence FROM tags WHERE photo_id = ? AND source != 'rejected' "
            "ORDER BY source = 'zeroshot', coalesce(confidence, 1) DESC, score DESC, name", (photo_id,))
        return [TagRow(*r) for r in rows]

    def tag_counts_by_confidence(self, min_confidence: float) -> dict[str, tuple[int, int]]:
        """Each tag's (photos that have it for sure, photos that have it at all), most used first. For
        sure: the user's own, or a zero-shot tag at or above min_confidence (or written before
        confidences were kept). Photos are counted as the tag filter finds them: names in any case, each
        photo once (MAX: of "Frog" and "frog" the lower-case spelling names the tag)."""
        rows = self.conn.execute(
            f"SELECT MAX(name), COUNT(DISTINCT CASE WHEN {SURE_TAG_SQL} THEN photo_id END), COUNT(DISTINCT photo_id) "
            "FROM tags WHERE source != 'rejected' GROUP BY name COLLATE NOCASE ORDER BY 3 DESC, 1", (min_confidence,))
        return {n: (int(sure), int(total)) for n, sure, total in rows}

    # -- places (issue #16: GPS named offline; engine.places does the naming) ------------------
    def photos_needing_place(self, limit: int = 1000, after_id: int = 0) -> list[tuple[int, float, float]]:
        """(id, lat, lon) of photos with a GPS position not yet looked up, or looked up for another position;
        ids above `after_id` (a cursor: each batch reads on from the last, not from the start)."""
        rows = self.conn.execute(
            "SELECT p.id, p.gps_lat, p.gps_lon FROM photos p LEFT JOIN places g ON g.photo_id = p.id "
            "WHERE p.id > ? AND p.gps_lat IS NOT NULL AND p.gps_lon IS NOT NULL "
            "AND (g.photo_id IS NULL OR g.lat IS NOT p.gps_lat OR g.lon IS NOT p.gps_lon) ORDER BY p.id LIMIT ?",
            (int(after_id), int(limit)))
        return [(int(i), float(la), float(lo)) for i, la, lo in rows]

    def count_photos_needing_place(self) -> int:
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM photos p LEFT JOIN places g ON g.photo_id = p.id "
            "WHERE p.gps_lat IS NOT NULL AND p.gps_lon IS NOT NULL "
            "AND (g.photo_id IS NULL OR g.lat IS NOT p.gps_lat OR g.lon IS NOT p.gps_lon)").fetchone()[0])

    def forget_stale_places(self) -> int:
        """Drop the places of photos that no longer have a GPS position (the file changed)."""
        return self.conn.execute(
            "DELETE FROM places WHERE photo_id IN "
            "(SELECT id FROM photos WHERE gps_lat IS NULL OR gps_lon IS NULL)").rowcount

    def put_places(self, rows: Sequence[tuple[int, float, float, Place | None]]) -> None:
        """(photo id, lat, lon, place or None for "no place") for each photo looked up, in one transaction."""
        with self.transaction():
            # Only photos still there: the window names places beside an index that may forget photos meanwhile.
            self.conn.executemany(
                "INSERT INTO places(photo_id, lat, lon, city, region, country, country_code, city_key, "
                "region_key, country_key) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM photos WHERE id = ?1) ON CONFLICT(photo_id) DO UPDATE SET "
                "lat = excluded.lat, lon = excluded.lon, city = excluded.city, region = excluded.region, "
                "country = excluded.country, country_code = excluded.country_code, city_key = excluded.city_key, "
                "region_key = excluded.region_key, country_key = excluded.country_key",
                [(pid, lat, lon, *((p.city, p.region, p.country, p.country_code, place_key(p.city),
                                    place_key(p.region), place_key(p.country)) if p else (None,) * 7))
                 for pid, lat, lon, p in rows])

    def place_of(self, photo_id: int) -> Place | None:
        return self.places_of([photo_id]).get(photo_id)

    def places_of(self, ids: Sequence[int]) -> dict[int, Place]:
        out: dict[int, Place] = {}
        id_list = [int(i) for i in ids]
        for start in range(0, len(id_list), 900):
            chunk = id_list[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for pid, city, region, country, code in self.conn.execute(
                    f"SELECT photo_id, city, region, country, country_code FROM places "
                    f"WHERE city IS NOT NULL AND photo_id IN ({marks})", chunk):
                out[int(pid)] = Place(city, region, country, code)
        return out

    def place_counts(self) -> list[tuple[str, str, str, int]]:
        """(country, region, city, photos) for every place with photos, for the sidebar."""
        rows = self.conn.execute(
            "SELECT country, region, city, COUNT(*) FROM places WHERE city IS NOT NULL "
            "GROUP BY country, region, city ORDER BY country, region, city")
        return [(c, r, t, int(n)) for c, r, t, n in rows]

    @staticmethod
    def place_filter_sql(spec: str) -> tuple[str, list[object]]:
        """A WHERE clause on photos (and its parameters) for photos taken in a place: one name matches any
        level, case and accents aside ("lisbon", "Kyōto"); "Japan > Kyoto > Kyoto" matches level by level,
        country first. ValueError for a malformed spec."""
        keys = place_spec_keys(spec)
        if len(keys) == 1:
            return ("id IN (SELECT photo_id FROM places WHERE city_key = ? OR region_key = ? OR country_key = ?)",
                    [keys[0]] * 3)
        levels = ("country_key", "region_key", "city_key")[: len(keys)]
        where = " AND ".join(f"{col} = ?" for col in levels)
        return f"id IN (SELECT photo_id FROM places WHERE {where})", list(keys)

    def photo_ids_in_place(self, spec: str) -> set[int]:
        clause, params = self.place_filter_sql(spec)
        return {int(r[0]) for r in self.conn.execute(f"SELECT id FROM photos WHERE {clause}", params)}

    # -- duplicates (issue #16): content signatures, checks and groups ---------------------------------
    def put_duplicate_signatures(self, rows: Iterable[tuple[int, str | None, bytes | None, float | None]]) -> None:
        """(photo_id, content hash, 32x32 grey thumbnail, sharpness) per photo (engine.duplicates)."""
        self.conn.executemany("UPDATE photos SET content_hash = ?, pixel_sig = ?, sharpness = ? WHERE id = ?",
                              [(h, sig, sharp, int(pid)) for pid, h, sig, sharp in rows])

    def photos_missing_signature(self, model_id: str) -> list[Photo]:
        """Indexed photos of online roots without a content hash (indexed before duplicates existed, or reused
        from a byte-identical copy)."""
        return self._photos(
            "WHERE status = 'ok' AND content_hash IS NULL AND missing_since IS NULL "
            "AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') "
            "AND id IN (SELECT photo_id FROM embeddings WHERE model_id = ?) ORDER BY id", (model_id,))

    def photos_to_check_for_duplicates(self, model_id: str) -> np.ndarray:
        """Ids of photos with a vector whose duplicate check is missing or older than their last indexing."""
        rows = self.conn.execute(
            "SELECT id FROM photos WHERE status = 'ok' AND (dup_checked IS NULL OR dup_checked < indexed_at) "
            "AND id IN (SELECT photo_id FROM embeddings WHERE model_id = ?) ORDER BY id", (model_id,)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))

    def mark_duplicates_checked(self, ids: Sequence[int], when: float) -> None:
        self.conn.executemany("UPDATE photos SET dup_checked = ? WHERE id = ?", [(when, int(i)) for i in ids])

    def reset_duplicates(self) -> None:
        """Forget every group and check (the vectors they came from were replaced, e.g. a model switch)."""
        self.conn.execute("DELETE FROM duplicate_groups")
        self.conn.execute("UPDATE photos SET dup_checked = NULL WHERE dup_checked IS NOT NULL")

    def duplicate_candidates(self, ids: Iterable[int]) -> dict[int, DuplicateCandidate]:
        """What the duplicate check and the keeper choice read of each photo."""
        out: dict[int, DuplicateCandidate] = {}
        id_list = sorted({int(i) for i in ids})
        for start in range(0, len(id_list), 900):
            chunk = id_list[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                    "SELECT id, path, width, height, size, taken_at, camera, content_hash, pixel_sig, sharpness, "
                    "EXISTS (SELECT 1 FROM tags t WHERE t.photo_id = photos.id AND t.source = 'user') "
                    f"FROM photos WHERE id IN ({marks})", chunk):
                out[row[0]] = DuplicateCandidate(*row[:10], user_tagged=bool(row[10]))
        return out

    def photos_sharing_content(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        """(photo in `ids`, another photo with the same content hash) pairs."""
        pairs: list[tuple[int, int]] = []
        id_list = [int(i) for i in ids]
        for start in range(0, len(id_list), 900):
            chunk = id_list[start:start + 900]
            marks = ",".join("?" * len(chunk))
            pairs += self.conn.execute(
                "SELECT a.id, b.id FROM photos a JOIN photos b ON b.content_hash = a.content_hash AND b.id != a.id "
                f"WHERE a.id IN ({marks}) AND a.content_hash IS NOT NULL AND b.status = 'ok'", chunk).fetchall()
        return pairs

    def duplicate_membership(self, ids: Iterable[int]) -> dict[int, int]:
        """photo id -> its group id, for those of `ids` that are in a group."""
        out: dict[int, int] = {}
        id_list = sorted({int(i) for i in ids})
        for start in range(0, len(id_list), 900):
            chunk = id_list[start:start + 900]
            marks = ",".join("?" * len(chunk))
            out.update(self.conn.execute(
                f"SELECT photo_id, group_id FROM duplicate_members WHERE photo_id IN ({marks})", chunk).fetchall())
        return out

    def duplicate_groups(self, kind: str | None = None, *, group_ids: Iterable[int] | None = None,
                         include_reviewed: bool = True) -> list[DuplicateGroup]:
        """Groups (largest first), each with its members (photo id, similarity to the keeper), keeper first."""
        where, params = ["1"], []
        if kind is not None:
            where.append("g.kind = ?")
            params.append(kind)
        if not include_reviewed:
            where.append("g.reviewed = 0")
        if group_ids is not None:
            gids = sorted({int(g) for g in group_ids})
            if not gids:
                return []
            where.append(f"g.id IN ({','.join(str(g) for g in gids)})")
        members: dict[int, list[tuple[int, float | None]]] = {}
        rows = self.conn.execute(
            "SELECT g.id, g.kind, g.keep_id, g.reason, g.keep_chosen, g.reviewed, m.photo_id, m.similarity "
            "FROM duplicate_groups g JOIN duplicate_members m ON m.group_id = g.id "
            f"WHERE {' AND '.join(where)} ORDER BY g.id, m.photo_id = g.keep_id DESC, m.similarity DESC, m.photo_id",
            params).fetchall()
        heads: dict[int, tuple] = {}
        for gid, kind_, keep, reason, chosen, reviewed, pid, sim in rows:
            heads.setdefault(gid, (gid, kind_, keep, reason, bool(chosen), bool(reviewed)))
            members.setdefault(gid, []).append((pid, sim))
        groups = [DuplicateGroup(*heads[g], members=tuple(members[g])) for g in heads]
        return sorted(groups, key=lambda g: (-len(g.members), g.id))

    def burst_members(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(photo ids, their burst's group id, its keeper id or -1) for every photo in a burst, as int64 arrays:
        the grid stacks each burst."""
        rows = self.conn.execute(
            "SELECT m.photo_id, g.id, COALESCE(g.keep_id, -1) FROM duplicate_members m "
            "JOIN duplicate_groups g ON g.id = m.group_id WHERE g.kind = 'burst'").fetchall()
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()

    def remove_from_duplicate_groups(self, ids: Sequence[int]) -> set[int]:
        """Take photos out of their groups (to be checked again); returns the groups they were in."""
        groups = set(self.duplicate_membership(ids).values())
        self.conn.executemany("DELETE FROM duplicate_members WHERE photo_id = ?", [(int(i),) for i in ids])
        return groups

    def prune_duplicate_groups(self) -> set[int]:
        """Take out photos no longer indexed (changed and unreadable now), delete groups left with fewer than two
        photos; returns the groups whose keeper is gone."""
        self.conn.execute(
            "DELETE FROM duplicate_members WHERE photo_id IN (SELECT id FROM photos WHERE status != 'ok')")
        self.conn.execute("DELETE FROM duplicate_groups WHERE id NOT IN "
                          "(SELECT group_id FROM duplicate_members GROUP BY group_id HAVING COUNT(*) >= 2)")
        rows = self.conn.execute(
            "SELECT id FROM duplicate_groups WHERE keep_id IS NULL OR keep_id NOT IN "
            "(SELECT photo_id FROM duplicate_members WHERE group_id = duplicate_groups.id)").fetchall()
        return {r[0] for r in rows}

    def replace_duplicate_groups(self, drop: Iterable[int], groups: Iterable[NewDuplicateGroup]) -> list[int]:
        """Delete the groups `drop` and insert `groups`; returns the new group ids."""
        self.conn.executemany("DELETE FROM duplicate_groups WHERE id = ?", [(int(g),) for g in drop])
        new_ids = []
        for g in groups:
            cur = self.conn.execute(
                "INSERT INTO duplicate_groups(kind, keep_id, reason, keep_chosen, reviewed) VALUES (?, ?, ?, ?, ?)",
                (g.kind, g.keep_id, g.reason, int(g.keep_chosen), int(g.reviewed)))
            gid = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT OR REPLACE INTO duplicate_members(photo_id, group_id, similarity) VALUES (?, ?, ?)",
                [(int(pid), gid, sim) for pid, sim in g.members])
            new_ids.append(gid)
        return new_ids

    def set_duplicate_keeper(self, group_id: int, photo_id: int, reason: str, *, chosen: bool = True) -> None:
        self.conn.execute("UPDATE duplicate_groups SET keep_id = ?, reason = ?, keep_chosen = ? WHERE id = ?",
                          (photo_id, reason, int(chosen), group_id))

    def set_duplicate_similarities(self, rows: Iterable[tuple[int, float | None]]) -> None:
        self.conn.executemany("UPDATE duplicate_members SET similarity = ? WHERE photo_id = ?",
                              [(sim, int(pid)) for pid, sim in rows])

    def set_duplicates_reviewed(self, group_id: int, reviewed: bool = True) -> None:
        """"Keep all": the group stays, but is no longer offered for review."""
        self.conn.execute("UPDATE duplicate_groups SET reviewed = ? WHERE id = ?", (int(reviewed), group_id))

    # -- people (issue #17): faces, persons, user decisions --------------------------------------------
    # Persons are never deleted: their ids are what decisions and names hang on. A person's photos are those
    # with a face of the face model in use; merged persons point at the one they were merged into.

    def photos_missing_faces(self, face_model: str) -> list[Photo]:
        """Indexed photos (of online roots) not yet searched for faces with `face_model`: new, or a killed run."""
        return self._photos(
            "WHERE status = 'ok' AND missing_since IS NULL AND (faces_model IS NULL OR faces_model != ?) "
            "AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') ORDER BY id", (face_model,))

    def put_faces(self, photo_id: int, face_model: str, faces: Sequence[FoundFaceRow]) -> None:
        """A photo's faces (replacing any it had) and the mark that it was searched; run inside a transaction."""
        self.conn.execute("DELETE FROM faces WHERE photo_id = ?", (photo_id,))
        self.conn.executemany(
            "INSERT INTO faces(photo_id, model_id, x, y, w, h, score, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(photo_id, face_model, f.x, f.y, f.w, f.h, f.score,
              np.ascontiguousarray(f.embedding, np.float32).tobytes()) for f in faces])
        self.conn.execute("UPDATE photos SET faces_model = ? WHERE id = ?", (face_model, photo_id))

    def drop_weak_faces(self, face_model: str, min_score: float) -> int:
        """Forget detections scoring under `min_score` (found before that floor was raised), except those the
        user named: their person has a name. Returns how many went."""
        cur = self.conn.execute(
            "DELETE FROM faces WHERE model_id = ? AND score < ? AND (person_id IS NULL OR person_id NOT IN "
            "(SELECT id FROM persons WHERE name IS NOT NULL))", (face_model, min_score))
        return cur.rowcount

    def faces_without_person(self, face_model: str) -> list[FaceRow]:
        return self._faces("WHERE f.model_id = ? AND f.person_id IS NULL ORDER BY f.id", (face_model,))

    def faces_of_photo(self, photo_id: int, face_model: str) -> list[FaceRow]:
        return self._faces("WHERE f.photo_id = ? AND f.model_id = ? ORDER BY f.x", (photo_id, face_model))

    def faces_of_person(self, person_id: int, face_model: str | None) -> list[FaceRow]:
        """The person's faces of one face model (None: of any)."""
        if face_model is None:
            return self._faces("WHERE f.person_id = ? ORDER BY f.id", (person_id,))
        return self._faces("WHERE f.person_id = ? AND f.model_id = ? ORDER BY f.score DESC, f.id",
                           (person_id, face_model))

    def face(self, face_id: int) -> FaceRow | None:
        rows = self._faces("WHERE f.id = ?", (face_id,))
        return rows[0] if rows else None

    def _faces(self, where: str, params: Sequence[object]) -> list[FaceRow]:
        rows = self.conn.execute(
            "SELECT f.id, f.photo_id, f.x, f.y, f.w, f.h, f.score, f.person_id, p.fingerprint, f.model_id "
            f"FROM faces f JOIN photos p ON p.id = f.photo_id {where}", params)
        return [FaceRow(*r) for r in rows]

    def face_embeddings(self, face_model: str, assigned: bool = True, chunk: int = 50_000
                        ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(face ids, person ids, embeddings) of the model's faces with (or without) a person, in chunks."""
        last = 0
        cond = "IS NOT NULL" if assigned else "IS NULL"
        while True:
            rows = self.conn.execute(
                f"SELECT id, COALESCE(person_id, 0), embedding FROM faces WHERE model_id = ? AND person_id {cond} "
                "AND id > ? ORDER BY id LIMIT ?", (face_model, last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            ids = np.array([r[0] for r in rows], np.int64)
            persons = np.array([r[1] for r in rows], np.int64)
            vecs = np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(len(rows), -1)
            yield ids, persons, vecs

    def set_face_persons(self, pairs: Iterable[tuple[int, int]]) -> None:
        """(face id, person id) pairs."""
        self.conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", [(p, f) for f, p in pairs])

    def clear_face_persons(self, face_model: str) -> None:
        self.conn.execute("UPDATE faces SET person_id = NULL WHERE model_id = ?", (face_model,))

    def new_person(self, name: str | None = None) -> int:
        cur = self.conn.execute("INSERT INTO persons(name, created_at) VALUES (?, ?)", (name, time.time()))
        return int(cur.lastrowid or 0)

    def new_persons(self, n: int) -> list[int]:
        return [self.new_person() for _ in range(n)]

    def person(self, person_id: int) -> PersonRow | None:
        row = self.conn.execute("SELECT id, name, hidden, merged_into FROM persons WHERE id = ?",
                                (person_id,)).fetchone()
        return PersonRow(int(row[0]), row[1], bool(row[2]), row[3]) if row else None

    def persons_named(self, name: str) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM persons WHERE name = ? COLLATE NOCASE AND merged_into IS NULL ORDER BY id", (name,))
        return [int(r[0]) for r in rows]

    def named_persons(self) -> list[tuple[int, str]]:
        """(id, name) of every named person not merged away, by name: those a face can be moved to."""
        rows = self.conn.execute(
            "SELECT id, name FROM persons WHERE name IS NOT NULL AND merged_into IS NULL ORDER BY name COLLATE NOCASE")
        return [(int(i), n) for i, n in rows]

    def merge_targets(self) -> dict[int, int]:
        """person id -> the id it was merged into (one step; callers follow chains)."""
        rows = self.conn.execute("SELECT id, merged_into FROM persons WHERE merged_into IS NOT NULL")
        return {int(a): int(b) for a, b in rows}

    def set_person_name(self, person_id: int, name: str | None) -> None:
        self.conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, person_id))

    def set_person_hidden(self, person_id: int, hidden: bool) -> None:
        self.conn.execute("UPDATE persons SET hidden = ? WHERE id = ?", (int(hidden), person_id))

    def merge_person_rows(self, keep: int, gone: int) -> None:
        """Move everything of `gone` to `keep`: faces, decisions; `gone` remembers where it went."""
        self.conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (keep, gone))
        self.conn.execute("UPDATE face_decisions SET person_id = ? WHERE person_id = ?", (keep, gone))
        self.conn.execute("UPDATE persons SET merged_into = ? WHERE merged_into = ?", (keep, gone))
        self.conn.execute("UPDATE persons SET merged_into = ? WHERE id = ?", (keep, gone))

    def person_summaries(self, face_model: str, include_hidden: bool = False) -> list[PersonRow]:
        """Persons with at least one face of the model: photo count and their best face, most photos first."""
        rows = self.conn.execute(
            "SELECT p.id, p.name, p.hidden, p.merged_into, COUNT(DISTINCT f.photo_id), "
            "(SELECT f2.id FROM faces f2 WHERE f2.person_id = p.id AND f2.model_id = ? "
            " ORDER BY f2.w * f2.h * f2.score DESC LIMIT 1) "
            "FROM persons p JOIN faces f ON f.person_id = p.id AND f.model_id = ? "
            f"{'' if include_hidden else 'WHERE p.hidden = 0 '}"
            "GROUP BY p.id ORDER BY p.name IS NULL, COUNT(DISTINCT f.photo_id) DESC, p.id",
            (face_model, face_model))
        return [PersonRow(int(r[0]), r[1], bool(r[2]), r[3], int(r[4]), r[5]) for r in rows]

    def photo_ids_of_persons(self, person_ids: Sequence[int], face_model: str) -> set[int]:
        marks = ",".join("?" * len(person_ids))
        rows = self.conn.execute(
            f"SELECT DISTINCT photo_id FROM faces WHERE model_id = ? AND person_id IN ({marks})",
            (face_model, *person_ids))
        return {int(r[0]) for r in rows}

    def add_face_decision(self, fingerprint: str, box: tuple[float, float, float, float], person_id: int,
                          verdict: str) -> None:
        """A user's word about one face: it `is` or is `not` the person. A newer word on the same face and
        person replaces an older one."""
        self.conn.execute(
            "DELETE FROM face_decisions WHERE fingerprint = ? AND person_id = ? AND abs(x - ?) < 1e-6 "
            "AND abs(y - ?) < 1e-6", (fingerprint, person_id, box[0], box[1]))
        if verdict == "is":  # one face is one person: an older 'is' for another person no longer holds
            self.conn.execute(
                "DELETE FROM face_decisions WHERE fingerprint = ? AND verdict = 'is' AND abs(x - ?) < 1e-6 "
                "AND abs(y - ?) < 1e-6", (fingerprint, box[0], box[1]))
        self.conn.execute(
            "INSERT INTO face_decisions(fingerprint, x, y, w, h, person_id, verdict, made_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (fingerprint, *box, person_id, verdict, time.time()))

    def face_decisions_for(self, fingerprints: Iterable[str]) -> dict[str, list[FaceDecision]]:
        out: dict[str, list[FaceDecision]] = {}
        fps = list(set(fingerprints))
        for start in range(0, len(fps), 900):
            chunk = fps[start:start + 900]
            rows = self.conn.execute(
                "SELECT fingerprint, x, y, w, h, person_id, verdict FROM face_decisions "
                f"WHERE fingerprint IN ({','.join('?' * len(chunk))}) ORDER BY made_at", chunk)
            for fp, x, y, w, h, pid, verdict in rows:
                out.setdefault(fp, []).append(FaceDecision((x, y, w, h), int(pid), verdict))
        return out

    def face_counts(self, face_model: str) -> tuple[int, int]:
        """(faces of the model, photos searched for faces with it)."""
        faces = self.conn.execute("SELECT COUNT(*) FROM faces WHERE model_id = ?", (face_model,)).fetchone()[0]
        photos = self.conn.execute("SELECT COUNT(*) FROM photos WHERE faces_model = ?", (face_model,)).fetchone()[0]
        return int(faces), int(photos)


def read_setting(path: Path, key: str) -> str | None:
    """One setting of the catalog file at `path`, read without opening it for writing (no migration, no backup:
    asking must not upgrade a library another Photosift may still use); None when unset or never set up."""
    conn = connect_read_only(path, 5.0)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'").fetchone():
            return None
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def catalog_is_blank(path: Path) -> bool:
    """Whether the catalog file at `path` holds nothing: 0 bytes, or an SQLite header without a single table
    (a creation that stopped before its schema was written). Read without writing; False when damaged."""
    size = Path(path).stat().st_size
    if size == 0:
        return True
    if size > 65536:  # more than one page of the largest size: it holds more than a header
        return False
    try:
        conn = connect_read_only(Path(path), 5.0)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            return version == 0 and not conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # damaged, not blank: `photosift doctor --repair` deals with it


def catalog_file_problem(path: Path) -> str | None:
    """None when `path` is a sound Photosift catalog (PRAGMA quick_check), else what is wrong with it."""
    try:
        conn = connect_read_only(path, 5.0)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchmany(3)]
            if rows != ["ok"]:
                return "; ".join(str(r) for r in rows)
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) < 1:
                return "not a Photosift catalog (no schema)"
            conn.execute("SELECT COUNT(*) FROM roots").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return str(e)
    return None


def folders_of_damaged_catalog(path: Path) -> list[str]:
    """The folders a damaged catalog still names (often readable: the roots table is small and early)."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(Path(path).absolute()))}?mode=ro&immutable=1", uri=True)
        try:
            return [str(r[0]) for r in conn.execute("SELECT path FROM roots ORDER BY path")]
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def clean_tag(name: str) -> str:
    """A tag name trimmed of surrounding spaces; InvalidTagError when empty, too long or not printable."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidTagError("a tag needs at least one character")
    if len(cleaned) > MAX_TAG_LENGTH:
        raise InvalidTagError(f"a tag is at most {MAX_TAG_LENGTH} characters; this one has {len(cleaned)}")
    if not cleaned.isprintable():
        raise InvalidTagError(f"a tag cannot hold control characters: {cleaned!r}")
    return cleaned


def connect_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that cannot write; in a folder it may not write either, the file is read as immutable
    (SQLite cannot create the WAL index there)."""
    uri = "file:" + quote(str(path.absolute())) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as e:
        conn.close()
        if "readonly" not in str(e) and "unable to open" not in str(e):
            raise
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=timeout_s, isolation_level=None,
                               check_same_thread=False)
    return conn


def _writable(path: Path) -> bool:
    """Whether this process may write the catalog and create its WAL files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _split_sql(script: str) -> list[str]:
    """Statements of a migration script; trigger bodies keep their inner semicolons."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:80]}")
    return statements


# -- duplicates (issue #16): rows the catalog hands engine.duplicates ------------------------------------
@dataclass(frozen=True)
class DuplicateCandidate:
    id: int
    path: str
    width: int | None
    height: int | None
    size: int
    taken_at: str | None
    camera: str | None
    content_hash: str | None
    pixel_sig: bytes | None
    sharpness: float | None
    user_tagged: bool = False


@dataclass(frozen=True)
class DuplicateGroup:
    id: int
    kind: str  # 'exact', 'near' or 'burst'
    keep_id: int | None
    reason: str | None
    keep_chosen: bool  # the user chose the keeper: a regrouping keeps it
    reviewed: bool  # "keep all": no longer offered for review
    members: tuple[tuple[int, float | None], ...] = ()  # (photo id, cosine to the keeper), keeper first


@dataclass(frozen=True)
class NewDuplicateGroup:
    kind: str
    keep_id: int
    reason: str
    members: tuple[tuple[int, float | None], ...]
    keep_chosen: bool = False
    reviewed: bool = False


# -- people (issue #17) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FoundFaceRow:
    """A face as a detector found it: box as fractions of the oriented photo, score, embedding."""
    x: float
    y: float
    w: float
    h: float
    score: float
    embedding: np.ndarray


@dataclass(frozen=True)
class FaceRow:
    id: int
    photo_id: int
    x: float
    y: float
    w: float
    h: float
    score: float
    person_id: int | None
    fingerprint: str | None
    model_id: str

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class PersonRow:
    id: int
    name: str | None
    hidden: bool
    merged_into: int | None
    count: int = 0  # photos
    cover_face_id: int | None = None


@dataclass(frozen=True)
class FaceDecision:
    box: tuple[float, float, float, float]
    person_id: int
    verdict: str  # 'is' | 'not'
