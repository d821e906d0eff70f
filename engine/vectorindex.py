"""Per-model vector index: usearch HNSW derived from the catalog's vectors, saved atomically.

The catalog is the source of truth. The index file carries a stamp of the catalog's vectors; a missing,
stale or foreign index is brought up to date (small differences are patched, large ones rebuilt).
Small libraries are searched exactly with numpy; large ones through the memory-mapped HNSW graph, whose
candidates are re-scored exactly from the stored float32 vectors.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.atomic import atomic_file, write_text_atomic
from engine.catalog import PhotoCatalog
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress

if TYPE_CHECKING:
    from usearch.index import Index

log = logging.getLogger(__name__)

EXACT_BELOW = 20_000  # below this many vectors a numpy scan is as fast and always exact
INDEX_DTYPE = "i8"  # 1M x 512 fits in ~0.6 GB; scores are re-computed exactly from float32
CONNECTIVITY = 16
PATCH_LIMIT = 0.2  # patch in place when under 20% of the vectors changed, else rebuild
EXPANSION_SEARCH = 1024
WIDEN_BELOW_Z = 5.0
BUILD_CHUNK = 50_000
SAMPLE_SIZE = 4096
NEIGHBOUR_BEAM = 64  # batch neighbour search (duplicates): near-identical pairs need no wide beam...
NEIGHBOUR_BEAM_MAX = 512  # ...up to ~100k photos; then it widens (neighbour_beam)
NO_NEIGHBOUR = np.iinfo(np.uint64).max

# Queries unlike every photo (text queries behind CLIP's modality gap, or nothing in the library matching)
# are where HNSW loses its way: when the 10th hit scored under 5 standard deviations above the library's
# typical score, recall@10 with the 1024 beam was 0.91 at 100k vectors and 0.05-0.5 at 1M. Such queries
# are searched again with a wider beam; well-matched queries never pay for it. Measured: 2048 gives 0.978
# at 100k (10 ms), 8192 gives 0.96 at 1M (~50 ms); wide_beam() runs through those two points.


def wide_beam(count: int) -> int:
    return int(min(max(2048 * (count / 100_000) ** 0.6, 2048), 16384))


def usearch_index_class() -> type[Index]:
    """usearch's Index, loaded after onnxruntime.

    onnxruntime 1.31 segfaults while importing when usearch 2.26's extension module is already loaded
    (the reverse order is fine), and the app needs both in one process.
    """
    try:
        import engine.onnx_runtime  # noqa: F401
    except ImportError:
        pass
    from usearch.index import Index

    return Index


@dataclass(frozen=True)
class Hits:
    ids: np.ndarray  # uint64 photo ids, best first
    scores: np.ndarray  # float32 cosine similarities


class VectorIndex:
    """Search one model's vectors of one library."""

    def __init__(self, catalog: PhotoCatalog, model_id: str, index_dir: Path) -> None:
        self.catalog = catalog
        self.model_id = model_id
        self.index_path = Path(index_dir) / f"{model_id}.usearch"
        self.meta_path = Path(index_dir) / f"{model_id}.json"
        self._index: Index | None = None
        self._exact: tuple[np.ndarray, np.ndarray] | None = None
        self._stamp: str | None = None
        self._sample_cache: np.ndarray | None = None
        self._last_sample_scores: tuple[bytes, np.ndarray] | None = None
        self.wide_searches = 0  # how many searches needed the wide beam (diagnostics, benchmarks)

    # -- state ----------------------------------------------------------------------------
    def _read_meta(self) -> dict[str, object]:
        try:
            return json.loads(self.meta_path.read_text())
        except (OSError, ValueError):
            return {}

    def _meta_matches(self, meta: dict[str, object], stamp: str) -> bool:
        return meta.get("model_id") == self.model_id and meta.get("stamp") == stamp and self.index_path.is_file()

    def is_current(self) -> bool:
        return self._meta_matches(self._read_meta(), self.catalog.embeddings.stamp(self.model_id))

    def state(self) -> str:
        _, count = self.catalog.embeddings.version(self.model_id)
        if count < EXACT_BELOW:
            return f"exact search over {count} vectors"
        return "up to date" if self.is_current() else "stale (rebuilt on next search)"

    # -- maintenance ----------------------------------------------------------------------
    def refresh(self, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None) -> None:
        """Make the on-disk index match the catalog (no-op for small libraries).

        Opening a library whose index file is current maps the file and reads no vectors.
        """
        stamp = self.catalog.embeddings.stamp(self.model_id)  # one row, kept by catalog triggers
        if stamp == self._stamp:
            return
        self._index, self._exact = None, None
        self._sample_cache, self._last_sample_scores = None, None
        _, count = self.catalog.embeddings.version(self.model_id)
        if count < EXACT_BELOW or count == 0:  # no vectors (every photo offline, or none indexed yet): nothing to map
            self._exact = self.catalog.embeddings.load(self.model_id)
            self._stamp = stamp
            return
        index_class = usearch_index_class()
        meta = self._read_meta()
        if self._meta_matches(meta, stamp):
            self._index = self._open_view(index_class)
        if self._index is None:
            count, ndim = self._update_file(index_class, meta, ProgressClock("vectors", count, progress), cancel)
            write_text_atomic(self.meta_path, json.dumps(
                {"model_id": self.model_id, "stamp": stamp, "count": count, "ndim": ndim, "dtype": INDEX_DTYPE}))
            self._index = self._open_view(index_class)
            if self._index is None:
                raise RuntimeError(f"the vector index {self.index_path} just written cannot be read back")
        # The default beam (64) gave recall@10 0.32 at 1M text-like queries; 1024 gives 0.98 at ~6 ms.
        self._index.expansion_search = EXPANSION_SEARCH
        self._stamp = stamp

    def _open_view(self, index_class: type[Index]) -> Index | None:
        """The saved index memory-mapped, or None when the file is damaged (it is then rebuilt, never fatal)."""
        try:
            index = index_class.restore(str(self.index_path), view=True)
        except Exception as e:  # noqa: BLE001 - a damaged derived file is rebuilt from the catalog
            log.warning("vector index %s unreadable (%s); rebuilding", self.index_path, e)
            return None
        if index is None:
            log.warning("vector index %s unreadable; rebuilding", self.index_path)
        return index

    def _update_file(self, index_class: type[Index], meta: dict[str, object], clock: ProgressClock,
                     cancel: CancelToken | None) -> tuple[int, int]:
        """Patch or rebuild the index file; returns (vector count, dimensions)."""
        index: Index | None = None
        if meta.get("model_id") == self.model_id and self.index_path.is_file():
            try:
                index = index_class.restore(str(self.index_path), view=False)
            except Exception as e:  # noqa: BLE001 - a damaged file is just rebuilt
                log.warning("vector index %s unreadable (%s); rebuilding", self.index_path, e)
            if index is not None and int(index.ndim) != int(meta.get("ndim") or index.ndim):
                index = None
        if index is not None:
            index = self._patch(index)
        if index is None:
            done = 0
            for ids, vectors in self.catalog.embeddings.chunks(self.model_id, BUILD_CHUNK):
                if cancel:
                    cancel.check()  # nothing is written until the end: the old file stays as it was
                if index is None:
                    index = index_class(ndim=int(vectors.shape[1]), metric="cos", dtype=INDEX_DTYPE,
                                        connectivity=CONNECTIVITY)
                index.add(ids, vectors)
                done += len(ids)
                clock.report(done, "building the search index")
        if index is None:
            raise RuntimeError(f"no vectors of model {self.model_id} to index")
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.index_path) as tmp:
            index.save(str(tmp))
        return len(index), int(index.ndim)

    def _patch(self, index: Index) -> Index | None:
        """Bring a loaded index up to date in place, or None when a rebuild is cheaper."""
        ids = np.sort(self.catalog.embeddings.ids(self.model_id))
        have = np.asarray(index.keys, dtype=np.uint64) if len(index) else np.zeros(0, np.uint64)
        add = ids[~np.isin(ids, have)]
        drop = have[~np.isin(have, ids)]
        if len(add) + len(drop) > PATCH_LIMIT * max(len(ids), 1):
            return None
        if len(drop):
            index.remove(drop)
        if len(add):
            add_ids, vectors = self.catalog.embeddings.of_ids(self.model_id, add)
            if vectors.shape[1] != index.ndim:
                return None
            index.add(add_ids, vectors)
        return index

    # -- search ---------------------------------------------------------------------------
    def count(self) -> int:
        self.refresh()
        if self._exact is not None:
            return len(self._exact[0])
        return len(self._index) if self._index is not None else 0

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Hits:
        """Top-k by cosine; `allowed` (sorted uint64 ids) restricts the candidates, e.g. to a folder."""
        self.refresh()
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if self._exact is not None or (allowed is not None and len(allowed) < EXACT_BELOW):
            ids, vecs = (self._exact if self._exact is not None
                         else self.catalog.embeddings.of_ids(self.model_id, allowed))
            if allowed is not None and self._exact is not None:
                keep = np.isin(ids, allowed)
                ids, vecs = ids[keep], vecs[keep]
            return _top_k(ids, vecs @ q if len(ids) else np.zeros(0, np.float32), k)
        assert self._index is not None
        hits = self._ann(q, k, allowed)
        if self._weak(q, hits):
            self.wide_searches += 1
            self._index.expansion_search = wide_beam(len(self._index))
            try:
                hits = self._ann(q, k, allowed)
            finally:
                self._index.expansion_search = EXPANSION_SEARCH
        return hits

    def _ann(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> Hits:
        assert self._index is not None
        want = k * 4 if allowed is None else k * 20
        found = self._index.search(q, count=min(max(want, 64), len(self._index)))
        cand = np.asarray(found.keys, dtype=np.uint64)
        if allowed is not None:
            cand = cand[np.isin(cand, allowed)]
        ids, vecs = self.catalog.embeddings.of_ids(self.model_id, cand)
        return _top_k(ids, vecs @ q if len(ids) else np.zeros(0, np.float32), k)

    def _weak(self, q: np.ndarray, hits: Hits) -> bool:
        """True when the 10th hit (or the last) barely stands out from the library's typical score."""
        if len(hits.scores) == 0:
            return False
        sample = self.score_sample(q)
        if len(sample) < 8:
            return False
        z = (float(hits.scores[min(len(hits.scores), 10) - 1]) - float(sample.mean())) / max(float(sample.std()), 1e-6)
        return z < WIDEN_BELOW_Z

    def score_sample(self, query: np.ndarray) -> np.ndarray:
        """Scores of the query against a fixed sample of the library, to judge what 'relevant' means."""
        self.refresh()
        q = np.asarray(query, np.float32).reshape(-1)
        if self._exact is not None:
            return self._exact[1] @ q
        if self._sample_cache is None:
            self._sample_cache = self.catalog.embeddings.sample(self.model_id, SAMPLE_SIZE)[1]
        key = q.tobytes()
        if self._last_sample_scores is None or self._last_sample_scores[0] != key:
            # The search and its relevance cutoff both ask for the same query's scores.
            self._last_sample_scores = (key, self._sample_cache @ q)
        return self._last_sample_scores[1]

    # -- batch neighbours (duplicate finding, issue #16) -----------------------------------------------
    def neighbours(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest stored photos of each row of `vectors` (itself included when stored): (ids, cosines),
        both (n, k), best first; a missing neighbour has id NO_NEIGHBOUR and cosine -inf.

        Large libraries ask the HNSW graph for all rows at once (usearch's own threads) with a narrow beam:
        the pairs this serves are near-identical, where a beam of NEIGHBOUR_BEAM finds them (recall measured
        by bench/duplicates_speed.py); the cosines are then the int8 index's approximations. Small ones are
        exact (numpy, float32).
        """
        self.refresh()
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(q)
        ids_out = np.full((n, k), NO_NEIGHBOUR, dtype=np.uint64)
        cos_out = np.full((n, k), -np.inf, dtype=np.float32)
        if n == 0:
            return ids_out, cos_out
        if self._exact is not None:
            ids, vecs = self._exact
            kk = min(k, len(ids))
            for start in range(0, n, 1024):
                scores = q[start:start + 1024] @ vecs.T
                part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
                top = np.take_along_axis(scores, part, axis=1)
                order = np.argsort(-top, axis=1, kind="stable")
                ids_out[start:start + 1024, :kk] = ids[np.take_along_axis(part, order, axis=1)]
                cos_out[start:start + 1024, :kk] = np.take_along_axis(top, order, axis=1)
            return ids_out, cos_out
        assert self._index is not None
        self._index.expansion_search = neighbour_beam(len(self._index))
        try:
            found = self._index.search(q, count=min(k, len(self._index)), threads=0)
        finally:
            self._index.expansion_search = EXPANSION_SEARCH
        keys = np.asarray(found.keys, dtype=np.uint64).reshape(n, -1)
        dist = np.asarray(found.distances, dtype=np.float32).reshape(n, -1)
        valid = np.arange(keys.shape[1])[None, :] < np.asarray(found.counts).reshape(n, 1)
        ids_out[:, :keys.shape[1]] = np.where(valid, keys, NO_NEIGHBOUR)
        cos_out[:, :keys.shape[1]] = np.where(valid, 1.0 - dist, -np.inf)
        return ids_out, cos_out


def neighbour_beam(size: int) -> int:
    """The beam of the duplicates' neighbour search for an index of `size` photos: NEIGHBOUR_BEAM up to 100k
    (every planted copy found there), about 4x per tenfold growth beyond. Measured on the 1M synthetic library
    of bench/duplicates_speed.py, 3,000 planted copies looked up from one side: beam 64 found 91.4% of the
    partners (grouping, which looks from both sides, 96.6%), 128 96.6%, 256 98.6%, 512 98.8%, at 0.46 / 0.74 /
    1.04 / 1.86 ms a query on 2 cores."""
    return int(min(NEIGHBOUR_BEAM_MAX, NEIGHBOUR_BEAM * max(1.0, size / 100_000) ** 0.6))


def _top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> Hits:
    if len(ids) == 0:
        return Hits(np.zeros(0, np.uint64), np.zeros(0, np.float32))
    k = min(k, len(ids))
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.argsort(-scores[part], kind="stable")]
    return Hits(ids[order], scores[order].astype(np.float32))
