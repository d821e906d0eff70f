"""Search a library: text, image (catalog photo or any file) and combined weighted queries, with filters.

Only vectors of the encoder's model are searched, so two models' vectors never mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from engine.catalog import Photo
from engine.errors import ImageReadError, PhotosiftError, QueryError
from engine.filters import SearchFilters
from engine.imageio import open_photo
from engine.library import Library
from engine.places import Place
from engine.preprocess import preprocess
from engine.query import Term, balanced_weights, parse_query, split_places
from engine.scanner import path_key
from engine.vectorindex import Hits, VectorIndex

if TYPE_CHECKING:
    from engine.encoder import ClipEncoder

DEFAULT_LIMIT = 50
DEFAULT_MIN_Z = 2.0  # keep results at least this many standard deviations above the library's mean


@dataclass(frozen=True)
class SearchOptions:
    limit: int = DEFAULT_LIMIT
    sort: str = "relevance"  # relevance | date
    min_z: float | None = DEFAULT_MIN_Z  # None: no relevance cutoff
    filters: SearchFilters = SearchFilters()  # noqa: RUF009 - frozen, so one shared default is safe


@dataclass(frozen=True)
class SearchResult:
    photo: Photo
    score: float
    offline: bool = False  # its folder is unplugged or unreachable: listed, but cannot be opened now
    place: Place | None = None  # where it was taken (from its GPS), when known

    def to_dict(self) -> dict[str, object]:
        p = self.photo
        return {"id": p.id, "path": p.path, "score": round(self.score, 5), "taken_at": p.taken_at,
                "width": p.width, "height": p.height, "camera": p.camera, "offline": self.offline,
                "place": self.place.to_dict() if self.place else None}


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
            vec = self.library.catalog.embeddings.get(term.photo_id, self.encoder.model_id)
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
            vec = self.library.catalog.embeddings.get(known.id, self.encoder.model_id)
            if vec is not None:
                return vec
        try:
            photo = open_photo(path, min_side=self.encoder.preprocess_config.image_size)
        except ImageReadError as e:  # the reason alone would not say which of the query's images it was
            raise ImageReadError(f"{os.fsdecode(path)}: {e}") from None
        return self.encoder.encode_images(preprocess(photo.image, self.encoder.preprocess_config))[0]

    def query_vector(self, terms: list[Term], balance: bool = True) -> np.ndarray:
        """The terms' weighted sum as one unit vector; `balance` evens out the terms' spreads over the
        library first (see engine.query: an image term otherwise drowns a text term)."""
        vectors = [self.term_vector(term) for term in terms]
        weights = [term.weight for term in terms]
        if balance and len(terms) > 1:
            weights = list(balanced_weights(weights, *self._term_spreads(vectors)))
        total = np.zeros(self.encoder.embed_dim, np.float32)
        for weight, vec in zip(weights, vectors, strict=True):
            total += np.float32(weight) * vec
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError("the query's terms cancel each other out")
        return total / norm

    def _term_spreads(self, vectors: list[np.ndarray]) -> tuple[list[float], list[float]]:
        """Each term's mean score over the library sample and its best score over the whole library
        (NaN where the library has no vectors yet: then the terms stay as they are)."""
        typical, best = [], []
        for vec in vectors:
            sample = self.index.score_sample(vec)
            top = self.index.search(vec, 1)
            typical.append(float(sample.mean()) if len(sample) else float("nan"))
            best.append(float(top.scores[0]) if len(top.scores) else float("nan"))
        return typical, best

    # -- searching ------------------------------------------------------------------------
    def search(self, query: str, options: SearchOptions = SearchOptions()) -> list[SearchResult]:
        """A query's `place:` term and its `person:` terms filter; the rest is ranked by similarity."""
        terms, place = split_places(parse_query(query))
        return self.search_terms(terms, options, place=place)

    def search_terms(self, terms: list[Term], options: SearchOptions = SearchOptions(),
                     place: str | None = None) -> list[SearchResult]:
        """Vector terms ranked by similarity; person terms filter (all of the + ones, none of the - ones),
        `place` too. Filters alone (a person, a place) list their photos, newest first."""
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
                return self._with_persons(wanted, vector_terms, options, place)
        if not vector_terms:
            if place is not None:
                return self.in_place(place, options)
            raise QueryError("a query needs at least one positive term")
        return self.search_vector(self.query_vector(vector_terms), options, place=place)

    def _with_persons(self, names: list[str], vector_terms: list[Term], options: SearchOptions,
                      place: str | None = None) -> list[SearchResult]:
        from engine.people import photos_of

        keep: set[int] | None = None
        for name in names:
            ids = photos_of(self.library.catalog, name)
            keep = ids if keep is None else keep & ids
        allowed = self._allowed_ids(options.filters, place)
        ids = sorted(keep or set()) if allowed is None else sorted((keep or set()) & set(allowed.tolist()))
        if vector_terms:
            # Within one person's photos the library-wide relevance cutoff would drop most of them.
            narrowed = replace(options, min_z=None)
            return self.search_vector(self.query_vector(vector_terms), narrowed, within=ids)
        return self._newest_first(ids, options.limit)

    def in_place(self, place: str, options: SearchOptions = SearchOptions()) -> list[SearchResult]:
        """The photos taken in `place` (and passing the other filters), newest first."""
        ids = self._allowed_ids(options.filters, place)
        return self._newest_first([int(i) for i in ids] if ids is not None else [], options.limit)

    def _newest_first(self, ids: list[int], limit: int) -> list[SearchResult]:
        """Photos a filter alone chose (no query to rank by): newest first, undated last by path (score 0)."""
        photos = self.library.catalog.photos_by_ids(ids)
        offline = self._offline_roots()
        dated = sorted((p for p in photos.values() if p.taken_at), key=lambda p: p.taken_at or "", reverse=True)
        chosen = (dated + sorted((p for p in photos.values() if not p.taken_at), key=lambda p: p.path))[:limit]
        places = self.library.catalog.places.of_photos([p.id for p in chosen])
        return [SearchResult(p, 0.0, p.root_id in offline, places.get(p.id)) for p in chosen]

    def similar(self, photo_id: int, options: SearchOptions = SearchOptions()) -> list[SearchResult]:
        vec = self.library.catalog.embeddings.get(photo_id, self.encoder.model_id)
        if vec is None and self.library.catalog.photo(photo_id) is None:
            raise PhotosiftError(f"there is no photo id:{photo_id} in this library")
        if vec is None:
            raise PhotosiftError(f"photo {photo_id} is not indexed with model '{self.encoder.model_id}' yet")
        results = self.search_vector(vec, SearchOptions(options.limit + 1, options.sort, options.min_z,
                                                        options.filters), exclude={photo_id})
        return results[: options.limit]

    def search_vector(self, vec: np.ndarray, options: SearchOptions,
                      exclude: set[int] | None = None, place: str | None = None,
                      within: list[int] | None = None) -> list[SearchResult]:
        """`place`: a place the results must also be in (a query's `place:` term), besides options' filters.
        `within`: photo ids already narrowed down (filters applied) by the caller."""
        allowed = np.array(within, np.uint64) if within is not None else self._allowed_ids(options.filters, place)
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
        places = self.library.catalog.places.of_photos(ids)
        results = [SearchResult(photos[i], score_of[i], photos[i].root_id in offline, places.get(i))
                   for i in ids if i in photos]
        if options.sort == "date":  # newest first, as people browse; ties keep their relevance order
            dated = sorted((r for r in results if r.photo.taken_at), key=lambda r: r.photo.taken_at or "",
                           reverse=True)
            results = dated + sorted((r for r in results if not r.photo.taken_at), key=lambda r: r.photo.path)
        return results[: options.limit]

    def _offline_roots(self) -> set[int]:
        """Roots the last scan found offline, or whose folder is not there now (one stat per root)."""
        return {r.id for r in self.library.catalog.roots() if r.state == "offline" or not os.path.isdir(r.path)}

    def _allowed_ids(self, f: SearchFilters, place: str | None = None) -> np.ndarray | None:
        if not f.active and place is None:
            return None
        catalog = self.library.catalog
        if f.person:
            from engine.people import persons_matching

            persons_matching(catalog, f.person)  # nobody by that name: say so, rather than find nothing
        try:
            if place is not None and f.place is not None and place != f.place:  # the sidebar's and the query's
                also = set(catalog.browse.filtered_photo_ids(SearchFilters(place=place)))
                ids = [i for i in catalog.browse.filtered_photo_ids(f, indexed_only=True) if i in also]
            else:
                ids = catalog.browse.filtered_photo_ids(replace(f, place=place or f.place), indexed_only=True)
        except ValueError as e:  # a malformed place spec
            raise QueryError(str(e)) from None
        return np.array(ids, dtype=np.uint64)
