"""Search a library: text, image (catalog photo or any file) and combined weighted queries, with filters.

Only vectors of the encoder's model are searched, so two models' vectors never mix.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from engine.catalog import Photo
from engine.errors import ImageReadError, PhotosiftError, QueryError
from engine.filters import SearchFilters
from engine.imageio import open_photo
from engine.library import Library
from engine.place_keys import PATH_SEPARATOR, place_key
from engine.places import Place
from engine.preprocess import preprocess
from engine.query import (
    QueryFilters,
    Term,
    balanced_weights,
    name_candidates,
    parse_query,
    split_filters,
    understand_names,
)
from engine.scanner import path_key
from engine.vectorindex import Hits, VectorIndex

if TYPE_CHECKING:
    from engine.catalog import PhotoCatalog
    from engine.encoder import ClipEncoder

DEFAULT_LIMIT = 50
DEFAULT_MIN_Z = 2.0  # keep results at least this many standard deviations above the library's mean
MIN_SAMPLE = 8  # fewer scores than this say nothing about what is usual: no cutoff
# the filtered photos whose scores set their cutoff: a mean and a spread need no more (reading 4,096 vectors
# from SQLite cost 24 ms a search at 100,000 photos)
FILTERED_SAMPLE = 1024


@dataclass(frozen=True)
class SearchOptions:
    limit: int = DEFAULT_LIMIT
    sort: str = "relevance"  # relevance | date
    min_z: float | None = DEFAULT_MIN_Z  # None: no relevance cutoff
    filters: SearchFilters = SearchFilters()  # noqa: RUF009 - frozen, so one shared default is safe
    one_per_group: bool = True  # exact copies and near-duplicates are one result (engine.duplicates' groups)


@dataclass(frozen=True)
class SearchResult:
    photo: Photo
    score: float
    offline: bool = False  # its folder is unplugged or unreachable: listed, but cannot be opened now
    place: Place | None = None  # where it was taken (from its GPS), when known
    group: int | None = None  # its group of copies (engine.duplicates), when it stands for one
    copies: tuple[tuple[int, float], ...] = ()  # (photo id, score) of the group's other photos it stands for
    text_match: bool = False  # the text read in it holds every word of the query (engine.text_in_photos)

    def to_dict(self) -> dict[str, object]:
        p = self.photo
        return {"id": p.id, "path": p.path, "score": round(self.score, 5), "taken_at": p.taken_at,
                "width": p.width, "height": p.height, "camera": p.camera, "offline": self.offline,
                "place": self.place.to_dict() if self.place else None, "group": self.group,
                "copies": [pid for pid, _ in self.copies], "text_match": self.text_match}


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
        """A query's filter terms (place, tag, folder, dates, album) and its persons filter, words naming a
        place or a person of the library included (engine.query.understand_names); the rest is ranked by
        similarity."""
        terms = parse_query(query)
        terms = understand_names(terms, *known_names(self.library.catalog, name_candidates(terms)))
        terms, wanted = split_filters(terms)
        return self.search_terms(terms, with_query_filters(options, wanted, self.library.catalog),
                                 place=wanted.place)

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
        words = query_words(vector_terms)
        if not vector_terms:
            if place is not None or filters.active:  # filters alone: their photos, newest first
                return self.in_place(place, options) if place is not None else self._newest_first(
                    [int(i) for i in self._allowed_ids(filters)], options.limit)  # type: ignore[union-attr]
            raise QueryError("a query needs at least one positive term")
        return self.search_vector(self.query_vector(vector_terms), options, place=place, words=words)

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
            return self.search_vector(self.query_vector(vector_terms), options, within=ids,
                                      words=query_words(vector_terms))
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
        results = self.search_vector(vec, replace(options, limit=options.limit + 1), exclude={photo_id})
        return results[: options.limit]

    def search_vector(self, vec: np.ndarray, options: SearchOptions,
                      exclude: set[int] | None = None, place: str | None = None,
                      within: list[int] | None = None, words: Sequence[str] = ()) -> list[SearchResult]:
        """`place`: a place the results must also be in (a query's `place:` term), besides options' filters.
        `within`: photo ids already narrowed down (filters applied) by the caller.
        `words`: the query's own words (query_words): photos whose text holds all of them come first (in the
        vector's order, whatever the cutoff), then the rest as the vector ranks them (docs/guide.md#text-in-photos)."""
        allowed = np.array(within, np.uint64) if within is not None else self._allowed_ids(options.filters, place)
        if allowed is not None and len(allowed) == 0:
            return []
        # room for the copies that fold into one result each
        want = options.limit * (2 if options.one_per_group else 1) + len(exclude or ())
        hits = self.index.search(vec, want, allowed)
        if exclude:
            mask = ~np.isin(hits.ids, np.fromiter(exclude, np.uint64, count=len(exclude)))
            hits = Hits(hits.ids[mask], hits.scores[mask])
        keep = np.ones(len(hits.ids), bool)
        if options.min_z is not None and len(hits.ids) > 1:
            cutoff = self._cutoff(vec, options.min_z, allowed)
            if cutoff is not None:
                # The best match always stays (the photo a "find similar" started from is already left out).
                keep = hits.scores >= min(cutoff, float(hits.scores[0]))
        ids = [int(i) for i, k in zip(hits.ids, keep, strict=True) if k]
        photos = self.library.catalog.photos_by_ids(ids)
        score_of = {int(i): float(s) for i, s in zip(hits.ids, hits.scores, strict=True)}
        offline = self._offline_roots()
        places = self.library.catalog.places.of_photos(ids)
        results = [SearchResult(photos[i], score_of[i], photos[i].root_id in offline, places.get(i))
                   for i in ids if i in photos]
        if words:
            results = self._text_first(results, vec, words, allowed, exclude or set(), offline, options.limit)
        if options.one_per_group:
            results = self._one_per_group(results, vec, allowed, exclude or set(), offline)
        if options.sort == "date":  # newest first, as people browse; ties keep their relevance order
            dated = sorted((r for r in results if r.photo.taken_at), key=lambda r: r.photo.taken_at or "",
                           reverse=True)
            results = dated + sorted((r for r in results if not r.photo.taken_at), key=lambda r: r.photo.path)
        return results[: options.limit]

    def _text_first(self, results: list[SearchResult], vec: np.ndarray, words: Sequence[str],
                    allowed: np.ndarray | None, exclude: set[int], offline: set[int], limit: int) -> list[SearchResult]:
        """The photos whose text holds every one of `words` first (the best `limit` by the vector's score,
        whether or not the vector alone found them), then `results` in their order."""
        catalog = self.library.catalog
        # each word must begin a word of the text: "cow" is no match for a sign saying "Moscow Road"
        matched = catalog.text.photos_with_words(words, None if allowed is None else allowed.tolist(),
                                                 word_start=True) - exclude
        if not matched:
            return results
        have, vectors = catalog.embeddings.of_ids(self.encoder.model_id, sorted(matched))
        if not len(have):
            return results
        scores = vectors @ np.asarray(vec, np.float32).reshape(-1)
        best = sorted(zip(have.tolist(), scores.tolist(), strict=True), key=lambda m: -m[1])[:limit]
        photos = catalog.photos_by_ids([pid for pid, _ in best])
        places = catalog.places.of_photos([pid for pid, _ in best])
        first = [SearchResult(photos[pid], float(score), photos[pid].root_id in offline, places.get(pid),
                              text_match=True) for pid, score in best if pid in photos and photos[pid].status == "ok"]
        chosen = {r.photo.id for r in first}
        return first + [r for r in results if r.photo.id not in chosen]

    def _one_per_group(self, results: list[SearchResult], vec: np.ndarray, allowed: np.ndarray | None,
                       exclude: set[int], offline: set[int]) -> list[SearchResult]:
        """Each group of exact copies or near-duplicates among `results` as one result where its best-ranked photo
        was: the group's keeper when the filters let it through, carrying the group's other photos (those the
        filters let through, each with its own score) as its copies."""
        catalog = self.library.catalog
        member_of = catalog.duplicates.membership([r.photo.id for r in results])
        if not member_of:
            return results
        groups = {g.id: g for g in catalog.duplicates.groups(group_ids=set(member_of.values()))
                  if g.kind in ("exact", "near")}
        if not groups:
            return results
        allowed_set = None if allowed is None else set(allowed.tolist())
        candidates = {pid for g in groups.values() for pid, _ in g.members
                      if pid not in exclude and (allowed_set is None or pid in allowed_set)}
        photos = catalog.photos_by_ids(sorted(candidates))
        have, vectors = catalog.embeddings.of_ids(self.encoder.model_id, sorted(candidates))
        score_of = dict(zip(have.tolist(), (vectors @ np.asarray(vec, np.float32).reshape(-1)).tolist(),
                            strict=True)) if len(have) else {}
        places = catalog.places.of_photos(sorted(candidates))
        out: list[SearchResult] = []
        done: set[int] = set()
        for r in results:
            g = groups.get(member_of.get(r.photo.id, -1))
            if g is None:
                out.append(r)
                continue
            if g.id in done:
                continue
            done.add(g.id)
            members = [pid for pid, _ in g.members if pid in photos and photos[pid].status == "ok"
                       and pid in score_of]
            if len(members) < 2:
                out.append(r)
                continue
            head = g.keep_id if g.keep_id in members else r.photo.id
            others = tuple(sorted(((pid, score_of[pid]) for pid in members if pid != head), key=lambda m: -m[1]))
            p = photos[head]
            # the group ranks, and is scored, by its best match (near-duplicates score a little apart)
            out.append(SearchResult(p, max(score_of.get(head, r.score), r.score), p.root_id in offline,
                                    places.get(head), g.id, others, r.text_match))
        return out

    def _cutoff(self, vec: np.ndarray, min_z: float, allowed: np.ndarray | None) -> float | None:
        """The score a result must reach: `min_z` deviations above the mean of the library's sample, or of the
        photos the filters leave when they narrow it (whichever is lower: a filter never hides a match the same
        query without it showed). None when too few scores say what is usual."""
        cutoffs = []
        sample = self.index.score_sample(vec)
        if len(sample) >= MIN_SAMPLE:
            cutoffs.append(float(sample.mean() + min_z * sample.std()))
        if allowed is not None:
            ids = allowed if len(allowed) <= FILTERED_SAMPLE else np.random.default_rng(0).choice(
                allowed, FILTERED_SAMPLE, replace=False)
            _, vectors = self.library.catalog.embeddings.of_ids(self.encoder.model_id, ids.astype(np.int64))
            if len(vectors) < MIN_SAMPLE:
                return None  # a handful of photos: all of them, ranked
            scores = vectors @ np.asarray(vec, np.float32).reshape(-1)
            cutoffs.append(float(scores.mean() + min_z * scores.std()))
        return min(cutoffs) if cutoffs else None

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


# Words that say nothing a photo's text could answer: a sign saying "THE" is no match for "the beach".
_NOT_CONTENT = frozenset({
    "the", "and", "with", "for", "from", "into", "onto", "over", "under", "near", "this", "that", "these", "those",
    "some", "any", "our", "your", "their", "his", "her", "its", "who", "what", "where", "when", "photo", "photos",
    "picture", "pictures", "image", "images", "are", "was", "were", "you", "have", "has", "they", "them", "also",
    "not", "but", "all",
})


def query_words(terms: Sequence[Term]) -> list[str]:
    """The words of a query's positive text terms that text read in a photo can match: three letters or more,
    not a little word like "the" or "with"; a quoted phrase's words count one by one."""
    out: list[str] = []
    for term in terms:
        if term.kind != "text" or term.weight <= 0:
            continue
        for raw in term.value.replace('"', " ").split():
            word = raw.strip(".,;:!?()[]{}'\u201c\u201d\u2018\u2019\u00ab\u00bb")
            if len(word) >= 3 and word.lower() not in _NOT_CONTENT and word.lower() not in out:
                out.append(word.lower())
    return out


def _nearest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=3, cutoff=0.5)
    by_key = {k.lower(): k for k in known}
    return ", ".join(by_key[c] for c in close) if close else ", ".join(known[:3])


def with_query_filters(options: SearchOptions, wanted: QueryFilters, catalog: PhotoCatalog) -> SearchOptions:
    """`options` narrowed by a query's filter terms. A tag, folder or place the library does not know is
    refused in one line naming the nearest it knows; a filter given twice must agree (dates: both apply)."""
    f = options.filters
    tag, folder = f.tag, f.folder
    if wanted.tag is not None:
        known = list(catalog.tags.counts())
        if wanted.tag.lower() not in {k.lower() for k in known}:
            raise QueryError(f"no photo has the tag '{wanted.tag}'" + (
                f" (nearest tags: {_nearest(wanted.tag, known)})" if known else " (the library has no tags yet)"))
        if tag is not None and tag.lower() != wanted.tag.lower():
            raise QueryError(f"two tags asked for, '{tag}' and '{wanted.tag}': one tag at a time")
        tag = wanted.tag
    if wanted.folder is not None:
        found = folders_named(catalog, wanted.folder)
        if len(found) != 1:
            names = sorted({os.path.basename(d.rstrip(os.sep)) for d, _ in catalog.browse.folder_counts()})
            raise QueryError(f"no folder of the library is named '{wanted.folder}' (nearest: "
                             f"{_nearest(wanted.folder, names)})" if not found else
                             f"folder:{wanted.folder} names {len(found)} folders ({', '.join(found[:3])}"
                             f"{', ...' if len(found) > 3 else ''}); give its path")
        if folder is not None and not (found[0] + os.sep).startswith(folder.rstrip(os.sep) + os.sep):
            raise QueryError(f"folder:{wanted.folder} is not inside the folder already chosen ({folder})")
        folder = found[0]
    if wanted.place is not None:
        check_place_known(catalog, wanted.place)
    album = f.album
    if wanted.album is not None:
        from engine.albums import AlbumError, album_named

        try:
            album = album_named(catalog, wanted.album).name
        except AlbumError as e:
            raise QueryError(str(e)) from None
        if f.album is not None and f.album.lower() != album.lower():
            raise QueryError(f"two albums asked for, '{f.album}' and '{album}': one album at a time")
    date_from, date_to = f.date_from, f.date_to
    if wanted.date_from is not None:
        date_from = max(d for d in (date_from, wanted.date_from) if d is not None)
        date_to = min(d for d in (date_to, wanted.date_to) if d is not None)
        if date_from > date_to:
            raise QueryError(f"the dates asked for do not overlap ({date_from} is after {date_to})")
    if wanted.text and not catalog.text.any_read():
        raise QueryError("text: searches the text read in photos, and none has been read in this library yet: "
                         "photosift index --text reads it")
    return replace(options, filters=replace(f, tag=tag, folder=folder, date_from=date_from, date_to=date_to,
                                            album=album, text=(*f.text, *wanted.text)))


def folders_named(catalog: PhotoCatalog, name: str) -> list[str]:
    """Folders holding photos that `name` names: a path (the folder or one above photos), else a folder's own
    name (any case). Paths without the trailing separator."""
    folders = [d.rstrip(os.sep) for d, _ in catalog.browse.folder_counts()]
    if os.sep in name:
        path = os.path.abspath(os.path.expanduser(name)).rstrip(os.sep)
        return [path] if any(d == path or d.startswith(path + os.sep) for d in folders) else []
    key = name.strip().lower()
    return sorted({d for d in folders if os.path.basename(d).lower() == key})


def check_place_known(catalog: PhotoCatalog, place: str) -> None:
    """A place name no photo of the library was taken in is refused, naming the nearest places it knows."""
    rows = catalog.places.counts()
    if not rows:
        return  # no place named yet (or no GPS): nothing to compare with; the filter finds nothing
    names = sorted({n for row in rows for n in row[:3] if n})
    known = {place_key(n) for n in names}
    unknown = [part.strip() for part in place.split(PATH_SEPARATOR)
               if place_key(part) not in known and not catalog.places.any_in(part)]  # another name ("Lisboa")
    if unknown:
        raise QueryError(f"no photo of this library was taken in a place named '{unknown[0]}' (nearest: "
                         f"{_nearest(unknown[0], names)})")


def known_names(catalog: PhotoCatalog, candidates: set[str]) -> tuple[
        set[str], dict[str, str], Callable[[date, date], bool]]:
    """Which of `candidates` (name keys: engine.query.name_candidates) name a place some photo of the library
    was taken in (any level), and the library's named persons (key -> name): what a query's plain words may
    mean. The places are looked up by their indexed keys: reading every name would cost 80 ms a search at
    100,000 photos with places."""
    persons = {place_key(name): name for _, name in catalog.people.named_persons()}
    return catalog.places.known_keys(candidates), persons, catalog.browse.taken_between
