"""Search a library: text, image (catalog photo or any file) and combined weighted queries, with filters.

Only vectors of the encoder's model are searched, so two models' vectors never mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from engine.catalog import Photo
from engine.errors import ImageReadError, PhotosiftError, QueryError
from engine.imageio import open_photo
from engine.library import Library
from engine.preprocess import preprocess
from engine.query import Term, parse_query
from engine.scanner import path_key
from engine.vectorindex import Hits, VectorIndex

if TYPE_CHECKING:
    from engine.encoder import ClipEncoder

DEFAULT_LIMIT = 50
DEFAULT_MIN_Z = 2.0  # keep results at least this many standard deviations above the library's mean


@dataclass(frozen=True)
class SearchFilters:
    folder: str | None = None  # a folder path prefix
    date_from: date | None = None
    date_to: date | None = None
    tag: str | None = None
    person: str | None = None  # a person's name (or id): only photos with their face
    without_persons: tuple[str, ...] = ()  # persons whose photos are left out (`- person:Bob`)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.folder, self.date_from, self.date_to, self.tag, self.person)) \
            or bool(self.without_persons)


@dataclass(frozen=True)
class SearchOptions:
    limit: int = DEFAULT_LIMIT
    sort: str = "relevance"  # relevance | date
    min_z: float | None = DEFAULT_MIN_Z  # None: no relevance cutoff
    filters: SearchFilters = SearchFilters()


@dataclass(frozen=True)
class SearchResult:
    photo: Photo
    score: float
    offline: bool = False  # its folder is unplugged or unreachable: listed, but cannot be opened now

    def to_dict(self) -> dict[str, object]:
        p = self.photo
        return {"id": p.id, "path": p.path, "score": round(self.score, 5), "taken_at": p.taken_at,
                "width": p.width, "height": p.height, "camera": p.camera, "offline": self.offline}


class PhotoSearch:
    def __init__(self, library: Library, encoder: ClipEncoder) -> None:
        self.library = library
        self.encoder = encoder
        self.index = VectorIndex(library.catalog, encoder.model_id, library.paths.indexes)

    # -- query vectors --------------------------------------------------------------------
    def term_vector(self, term: Term) -> np.ndarray:
        if term.kind == "text":
            return self.encoder.encode_texts([term.value])[0]
        if term.kind == "photo":
            vec = self.library.catalog.embedding(term.photo_id, self.encoder.model_id)
            if vec is None and self.library.catalog.photo(term.photo_id) is None:
                raise QueryError(f"there is no photo id:{term.value} in this library")
            if vec is None:
                raise QueryError(f"photo id:{term.value} has no vector for model '{self.encoder.model_id}' yet")
            return vec
        return self.image_vector(term.value)

    def image_vector(self, path: str | bytes) -> np.ndarray:
        raw = os.fsencode(path)  # a str may carry bytes that are not UTF-8 (surrogate escapes)
        known = self.library.catalog.photo_by_path(path_key(raw)[0])
        path = raw
        if known is not None:
            vec = self.library.catalog.embedding(known.id, self.encoder.model_id)
            if vec is not None:
                return vec
        try:
            photo = open_photo(path, min_side=self.encoder.preprocess_config.image_size)
        except ImageReadError as e:  # the reason alone would not say which of the query's images it was
            raise ImageReadError(f"{os.fsdecode(path)}: {e}") from None
        return self.encoder.encode_images(preprocess(photo.image, self.encoder.preprocess_config))[0]

    def query_vector(self, terms: list[Term]) -> np.ndarray:
        total = np.zeros(self.encoder.embed_dim, np.float32)
        for term in terms:
            total += np.float32(term.weight) * self.term_vector(term)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError("the query's terms cancel each other out")
        return total / norm

    # -- searching ------------------------------------------------------------------------
    def search(self, query: str, options: SearchOptions = SearchOptions()) -> list[SearchResult]:
        return self.search_terms(parse_query(query), options)

    def search_terms(self, terms: list[Term], options: SearchOptions = SearchOptions()) -> list[SearchResult]:
        """Vector terms ranked by similarity; person terms filter (all of the + ones, none of the - ones).

        Person terms alone list that person's photos, newest first.
        """
        people = [t for t in terms if t.kind == "person"]
        vector_terms = [t for t in terms if t.kind != "person"]
        filters = options.filters
        if people:
            wanted = [t.value for t in people if t.weight > 0]
            if filters.person:
                wanted.append(filters.person)
            filters = replace(filters, person=None, without_persons=(
                *filters.without_persons, *(t.value for t in people if t.weight < 0)))
            options = replace(options, filters=filters)
            if wanted:
                return self._with_persons(wanted, vector_terms, options)
        if not vector_terms:
            raise QueryError("a query needs at least one positive term")
        return self.search_vector(self.query_vector(vector_terms), options)

    def _with_persons(self, names: list[str], vector_terms: list[Term], options: SearchOptions
                      ) -> list[SearchResult]:
        from engine.people import photos_of

        keep: set[int] | None = None
        for name in names:
            ids = photos_of(self.library.catalog, name)
            keep = ids if keep is None else keep & ids
        allowed = self._allowed_ids(options.filters)
        ids = sorted(keep or set()) if allowed is None else sorted((keep or set()) & set(allowed.tolist()))
        if vector_terms:
            # Within one person's photos the library-wide relevance cutoff would drop most of them.
            narrowed = replace(options, min_z=None)
            return self.search_vector(self.query_vector(vector_terms), narrowed, within=ids)
        photos = self.library.catalog.photos_by_ids(ids)
        offline = self._offline_roots()
        results = [SearchResult(photos[i], 1.0, photos[i].root_id in offline) for i in ids if i in photos]
        dated = sorted((r for r in results if r.photo.taken_at), key=lambda r: r.photo.taken_at or "", reverse=True)
        return (dated + sorted((r for r in results if not r.photo.taken_at), key=lambda r: r.photo.path))[
            : options.limit]

    def similar(self, photo_id: int, options: SearchOptions = SearchOptions()) -> list[SearchResult]:
        vec = self.library.catalog.embedding(photo_id, self.encoder.model_id)
        if vec is None and self.library.catalog.photo(photo_id) is None:
            raise PhotosiftError(f"there is no photo id:{photo_id} in this library")
        if vec is None:
            raise PhotosiftError(f"photo {photo_id} is not indexed with model '{self.encoder.model_id}' yet")
        results = self.search_vector(vec, SearchOptions(options.limit + 1, options.sort, options.min_z,
                                                        options.filters), exclude={photo_id})
        return results[: options.limit]

    def search_vector(self, vec: np.ndarray, options: SearchOptions,
                      exclude: set[int] | None = None, within: list[int] | None = None) -> list[SearchResult]:
        """`within`: photo ids already narrowed down (filters applied) by the caller."""
        allowed = np.array(within, np.uint64) if within is not None else self._allowed_ids(options.filters)
        if allowed is not None and len(allowed) == 0:
            return []
        want = options.limit + len(exclude or ())
        hits = self.index.search(vec, want, allowed)
        if exclude:
            mask = ~np.isin(hits.ids, np.fromiter(exclude, np.uint64, count=len(exclude)))
            hits = Hits(hits.ids[mask], hits.scores[mask])
        keep = np.ones(len(hits.ids), bool)
        if options.min_z is not None and len(hits.ids) > 1:
            sample = self.index.score_sample(vec)
            if len(sample) >= 8:
                cutoff = float(sample.mean() + options.min_z * sample.std())
                # The best match always stays (the photo a "find similar" started from is already left out).
                keep = hits.scores >= min(cutoff, float(hits.scores[0]))
        ids = [int(i) for i, k in zip(hits.ids, keep, strict=True) if k]
        photos = self.library.catalog.photos_by_ids(ids)
        score_of = {int(i): float(s) for i, s in zip(hits.ids, hits.scores, strict=True)}
        offline = self._offline_roots()
        results = [SearchResult(photos[i], score_of[i], photos[i].root_id in offline) for i in ids if i in photos]
        if options.sort == "date":  # newest first, as people browse; ties keep their relevance order
            dated = sorted((r for r in results if r.photo.taken_at), key=lambda r: r.photo.taken_at or "",
                           reverse=True)
            results = dated + sorted((r for r in results if not r.photo.taken_at), key=lambda r: r.photo.path)
        return results[: options.limit]

    def _offline_roots(self) -> set[int]:
        """Roots the last scan found offline, or whose folder is not there now (one stat per root)."""
        return {r.id for r in self.library.catalog.roots() if r.state == "offline" or not os.path.isdir(r.path)}

    def _allowed_ids(self, f: SearchFilters) -> np.ndarray | None:
        if not f.active:
            return None
        clauses, params = ["status = 'ok'"], []
        if f.folder:
            prefix = f.folder.rstrip("/\\")
            clauses.append("(path = ? OR substr(path, 1, ?) = ?)")
            params += [prefix, len(prefix) + 1, prefix + os.sep]
        if f.date_from:
            clauses.append("substr(taken_at, 1, 10) >= ?")
            params.append(f.date_from.isoformat())
        if f.date_to:
            clauses.append("substr(taken_at, 1, 10) <= ?")
            params.append(f.date_to.isoformat())
        if f.tag:
            clauses.append("id IN (SELECT photo_id FROM tags WHERE name = ? COLLATE NOCASE AND source != 'rejected')")
            params.append(f.tag)
        rows = self.library.catalog.conn.execute(f"SELECT id FROM photos WHERE {' AND '.join(clauses)} ORDER BY id",
                                                 params).fetchall()
        ids = [r[0] for r in rows]
        if f.person or f.without_persons:
            from engine.people import photos_of

            keep = photos_of(self.library.catalog, f.person) if f.person else None
            drop = set().union(*(photos_of(self.library.catalog, n) for n in f.without_persons))
            ids = [i for i in ids if (keep is None or i in keep) and i not in drop]
        return np.array(ids, dtype=np.uint64)
