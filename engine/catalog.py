"""The catalog: one SQLite database (WAL) per library, the source of truth for photos and vectors.

The schema is versioned with PRAGMA user_version and forward-only migrations, each preceded by a backup
(engine.backup); a catalog written by a newer Photosift is refused, never altered (its version is read
through a read-only connection first). A catalog this process cannot write is opened read-only.
SQLite failures are turned into typed errors (disk full, damaged, read-only) by `engine.errors.catalog_error`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np

from engine.catalog_schema import MIGRATIONS, SCHEMA_VERSION
from engine.errors import (
    CatalogReadOnlyError,
    CatalogVersionError,
    InvalidTagError,
    catalog_error,
)

if TYPE_CHECKING:
    import sqlite_utils

MAX_TAG_LENGTH = 100
TRANSIENT = "transient"  # vanished, I/O error, no space, permission denied: retried by the next index
PERMANENT = "permanent"  # not an image, truncated, too large: retried only when the file changes

PHOTO_COLUMNS = (
    "id, root_id, path, raw_path, size, mtime, fingerprint, width, height, taken_at, camera, "
    "orientation, gps_lat, gps_lon, status, error, added_at, indexed_at, error_kind, tagged_model, missing_since"
)


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    state: str
    last_scan: float | None
    error: str | None


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

    @property
    def fs_path(self) -> str | bytes:
        """The path to open: exact bytes for names that are not valid UTF-8."""
        return self.raw_path if self.raw_path is not None else self.path


class PhotoCatalog:
    """Photos, roots, per-model embeddings and tags of one library."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.read_only = False
        try:
            self.conn = self._open(timeout_s)
        except sqlite3.DatabaseError as e:
            raise catalog_error(e, self.path) from e

    def _open(self, timeout_s: float) -> sqlite3.Connection:
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
            if not _writable(self.path):
                return self._stay_read_only(ro, version)
            ro.close()
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

    def _stay_read_only(self, conn: sqlite3.Connection, version: int) -> sqlite3.Connection:
        if version < SCHEMA_VERSION:
            conn.close()
            raise CatalogReadOnlyError(
                f"catalog {self.path} needs an upgrade to open but is read-only; make it and its folder "
                "writable, then run the command again")
        self.read_only = True
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """The catalog through sqlite-utils, for ad-hoc queries and exports (imported on first use)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

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
        if 0 < version < SCHEMA_VERSION:
            from engine.backup import backup_catalog

            backup_catalog(self, reason=f"before-v{SCHEMA_VERSION}")
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
                     fingerprint: str | None) -> int:
        cur = self.conn.execute(
            "INSERT INTO photos(root_id, path, raw_path, size, mtime, fingerprint, status, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (root_id, path, raw_path, size, mtime, fingerprint, time.time()))
        return int(cur.lastrowid or 0)

    def mark_changed(self, photo_id: int, *, size: int, mtime: float, fingerprint: str | None) -> None:
        """A file's content changed: its vectors are stale, it will be indexed again."""
        self.conn.execute(
            "UPDATE photos SET size = ?, mtime = ?, fingerprint = ?, status = 'pending', error = NULL, "
            "error_kind = NULL, tagged_model = NULL, missing_since = NULL WHERE id = ?",
            (size, mtime, fingerprint, photo_id))
        self.conn.execute("DELETE FROM embeddings WHERE photo_id = ?", (photo_id,))
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'zeroshot'", (photo_id,))

    def move_photo(self, photo_id: int, *, root_id: int, path: str, raw_path: bytes | None,
                   mtime: float) -> None:
        """A file was moved or renamed: keep its id, vectors and tags."""
        self.conn.execute(
            "UPDATE photos SET root_id = ?, path = ?, raw_path = ?, mtime = ?, missing_since = NULL, "
            "status = CASE WHEN status = 'missing' THEN 'ok' ELSE status END WHERE id = ?",
            (root_id, path, raw_path, mtime, photo_id))

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

    def remove_tag(self, photo_id: int, name: str) -> None:
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND name = ?", (photo_id, name))

    def put_zeroshot_tags(self, model_id: str, photo_id: int, scored: Iterable[tuple[str, float]]) -> None:
        """Replace a photo's zero-shot tags; user and rejected tags always win and are kept."""
        self.conn.execute("DELETE FROM tags WHERE photo_id = ? AND source = 'zeroshot'", (photo_id,))
        self.conn.execute("UPDATE photos SET tagged_model = ? WHERE id = ?", (model_id, photo_id))
        self.conn.executemany(
            "INSERT OR IGNORE INTO tags(photo_id, name, source, score, model_id) "
            "VALUES (?, ?, 'zeroshot', ?, ?)",
            [(photo_id, name, float(score), model_id) for name, score in scored])

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
