"""One embedding per photo per model: written with their photos, read whole, in chunks, by ids or as a sample."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from engine.catalog.part import CatalogPart, in_chunks
from engine.catalog.rows import TRANSIENT, Photo


class Embeddings(CatalogPart):
    """`catalog.embeddings`: float32 rows, one per photo per model."""

    def put(self, model_id: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        # An upsert, not INSERT OR REPLACE: REPLACE's implicit delete fires no trigger, which would
        # count a re-embedded photo twice in embedding_versions.
        self.conn.executemany(
            "INSERT INTO embeddings(photo_id, model_id, vector) VALUES (?, ?, ?) "
            "ON CONFLICT(photo_id, model_id) DO UPDATE SET vector = excluded.vector",
            [(int(i), model_id, vecs[k].tobytes()) for k, i in enumerate(ids)])

    def get(self, photo_id: int, model_id: str) -> np.ndarray | None:
        row = self.conn.execute("SELECT vector FROM embeddings WHERE photo_id = ? AND model_id = ?",
                                (photo_id, model_id)).fetchone()
        return np.frombuffer(row[0], dtype=np.float32).copy() if row else None

    def load(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) of one model, in rowid order."""
        chunks = list(self.chunks(model_id))
        if not chunks:
            return np.zeros(0, dtype=np.uint64), np.zeros((0, 0), dtype=np.float32)
        return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])

    def chunks(self, model_id: str, chunk: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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

    def of_ids(self, model_id: str, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the given photos that have a vector of the model (point lookups, any order)."""
        out_ids: list[int] = []
        blobs: list[bytes] = []
        id_list = [int(i) for i in ids]
        for chunk, marks in in_chunks(id_list):
            for pid, blob in self.conn.execute(
                    f"SELECT photo_id, vector FROM embeddings WHERE model_id = ? AND photo_id IN ({marks})",
                    (model_id, *chunk)):
                out_ids.append(pid)
                blobs.append(blob)
        if not out_ids:
            return np.zeros(0, np.uint64), np.zeros((0, 1), np.float32)
        return (np.array(out_ids, np.uint64),
                np.frombuffer(b"".join(blobs), np.float32).reshape(len(out_ids), -1))

    def ids(self, model_id: str) -> np.ndarray:
        rows = self.conn.execute("SELECT photo_id FROM embeddings WHERE model_id = ?", (model_id,)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))

    def sample(self, model_id: str, n: int) -> tuple[np.ndarray, np.ndarray]:
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

    def stamp(self, model_id: str) -> str:
        """Changes whenever the set of vectors of a model changes; the vector index stores it."""
        version, count = self.version(model_id)
        return f"{version}:{count}"

    def version(self, model_id: str) -> tuple[int, int]:
        """(change counter, vector count) of one model, kept up to date by triggers."""
        row = self.conn.execute("SELECT version, count FROM embedding_versions WHERE model_id = ?",
                                (model_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def models(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT model_id, count FROM embedding_versions WHERE count > 0")
        return {m: int(n) for m, n in rows}

    def delete(self, model_id: str) -> int:
        with self.transaction():
            return self.conn.execute("DELETE FROM embeddings WHERE model_id = ?", (model_id,)).rowcount

    def photos_missing(self, model_id: str) -> list[Photo]:
        """Photos to index: new, changed, or failed for a transient reason (unplugged, full disk, ...).

        Photos of offline roots and photos held as missing are left for when they are back.
        """
        return self._catalog.photos_where(
            f"WHERE (status IN ('pending', 'ok') OR (status = 'error' AND error_kind = '{TRANSIENT}')) "
            "AND missing_since IS NULL AND root_id NOT IN (SELECT id FROM roots WHERE state = 'offline') "
            "AND id NOT IN (SELECT photo_id FROM embeddings WHERE model_id = ?) ORDER BY id", (model_id,))
