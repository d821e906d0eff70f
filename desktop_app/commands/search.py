"""`photosift search | similar`: find photos by text, by image, or by combined weighted terms."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date

from desktop_app.commands import bounded_int, catalog_key, is_utf8, photo_for_path, photo_id_ref, shown
from desktop_app.models_runtime import load_encoder
from engine.dates import parse_dates
from engine.errors import PhotosiftError, QueryError
from engine.library import Library
from engine.places import place_spec_keys
from engine.query import (
    QueryFilters,
    Term,
    filter_label,
    name_candidates,
    parse_query,
    split_filters,
    understand_names,
)
from engine.search import (
    DEFAULT_LIMIT,
    DEFAULT_MIN_Z,
    PhotoSearch,
    SearchFilters,
    SearchOptions,
    SearchResult,
    check_place_known,
    known_names,
    with_query_filters,
)

MAX_LIMIT = 100_000


def _dates(text: str) -> tuple[date, date]:
    """A year, month, day or range (engine.dates): --from takes its first day, --to its last."""
    try:
        return parse_dates(text)
    except QueryError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _name(text: str) -> str:
    """A tag, place or person to filter by: an empty one would be ignored, so it is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _check_text(args: argparse.Namespace, terms: list[Term] = ()) -> None:
    """Words and names are text: bytes that are not UTF-8 (a mis-encoded argument) are refused here in one
    line, before a tokenizer or the catalog meets them (neither can take them). An image term's path may
    hold any bytes: it names a file."""
    given = [(f"--{k}", getattr(args, k)) for k in ("tag", "place", "person") if getattr(args, k, None)]
    given += [(f"the query's {t.kind}", t.value) for t in terms if t.kind not in ("image", "photo")]
    for what, text in given:
        if not is_utf8(text):
            raise PhotosiftError(f"{what} \"{shown(text)}\" is not valid UTF-8 text; type it again in a "
                                 "UTF-8 terminal")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=bounded_int(1, MAX_LIMIT), default=DEFAULT_LIMIT)
    p.add_argument("--sort", choices=("relevance", "date"), default="relevance")
    p.add_argument("--folder", help="only photos under this folder")
    p.add_argument("--from", dest="date_from", type=_dates, metavar="DATE",
                   help="taken on or after (2019, 2019-07, 2019-07-14 or july 2019: its first day)")
    p.add_argument("--to", dest="date_to", type=_dates, metavar="DATE",
                   help="taken on or before (2019, 2019-07, 2019-07-14 or july 2019: its last day)")
    p.add_argument("--tag", type=_name, help="only photos with this tag")
    p.add_argument("--place", metavar="NAME", type=_name,
                   help='only photos taken there: a city, region or country ("lisbon", also by other names: "Lisboa"), '
                        'or "Japan > Kyoto"')
    p.add_argument("--person", type=_name,
                   help="only photos of this person (a name from `photosift people`, or its id)")
    p.add_argument("--all", action="store_true",
                   help="no relevance cutoff (always --limit results), and every copy of a photo listed apart")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", action="store_true", help="print a JSON list of {path, score, offline, ...}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help='search: "kids on a beach" | beach + ./this.jpg - people | 2:"sunset"')
    p.add_argument("query", nargs="+")
    _common(p)
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("similar", help="photos that look like a photo of the library or any image file")
    p.add_argument("photo", help="a photo path, id:N, or any image file")
    _common(p)
    p.set_defaults(func=cmd_similar)


def _options(args: argparse.Namespace, lib: Library) -> SearchOptions:
    """The filters, refused when they cannot match anything for a reason the user should hear."""
    date_from = args.date_from[0] if args.date_from else None
    date_to = args.date_to[1] if args.date_to else None
    if date_from and date_to and date_from > date_to:
        raise PhotosiftError(f"--from {date_from} is after --to {date_to}; swap them")
    if args.tag:
        with_query_filters(SearchOptions(), QueryFilters(tag=args.tag), lib.catalog)  # an unknown tag: say so
    folder = catalog_key(args.folder) if args.folder else None
    if folder is not None:
        roots = [r.path for r in lib.catalog.roots()]
        if not any(_within(folder, r) or _within(r, folder) for r in roots):
            raise PhotosiftError(f"--folder {shown(folder)} is not in the library (its folders: "
                                 f"{', '.join(shown(r) for r in roots) or 'none yet'})")
    return SearchOptions(limit=args.limit, sort=args.sort, min_z=None if args.all else DEFAULT_MIN_Z,
                         one_per_group=not args.all,
                         filters=SearchFilters(folder=folder, date_from=date_from, date_to=date_to,
                                               tag=args.tag, place=args.place, person=getattr(args, "person", None)))


def _check_place(place: str | None, lib: Library) -> None:
    """A malformed place is refused; photos whose place is not named yet are pointed out (they cannot match)."""
    if place is None:
        return
    try:
        place_spec_keys(place)
    except ValueError as e:
        raise PhotosiftError(f"--place: {e}") from None
    check_place_known(lib.catalog, place)
    unnamed = lib.catalog.places.count_photos_needing()
    if unnamed:
        print(f"note: {unnamed} photos with GPS have no place name yet; run `photosift index` to name them",
              file=sys.stderr)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _print(args: argparse.Namespace, results: list[SearchResult]) -> None:
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return
    if not results:
        print("no matching photos")
    for r in results:
        taken = (r.photo.taken_at or "")[:10] or "-" * 10  # undated: the column stays aligned
        copies = f"  (+{len(r.copies)} {'copy' if len(r.copies) == 1 else 'copies'}; --all lists them)"
        print(f"{r.score:7.4f}  {taken}  {shown(r.photo.path)}" + ("  (offline)" if r.offline else "")
              + (f"  [{r.place.name}]" if r.place else "") + ("  (text in photo)" if r.text_match else "")
              + (copies if r.copies else ""))


def _searcher(lib: Library, device: str) -> PhotoSearch:
    model_id = lib.active_model_id
    if not lib.catalog.embeddings.models().get(model_id):
        raise PhotosiftError(f"no photos are indexed with model '{model_id}' yet; run `photosift index`")
    return PhotoSearch(lib, load_encoder(model_id, device))


def cmd_search(args: argparse.Namespace) -> int:
    query = parse_query(" ".join(args.query))
    _check_text(args, query)
    with Library.open(args.library, read_only=True) as lib:
        query = understand_names(query, *known_names(lib.catalog, name_candidates(query)))
        for term in query:  # words read as a filter: said, with the way to search them as words
            if term.kind in ("date", "place", "person") and term.words and ":" not in term.words:
                print(f"note: {term.words!r} is read as a filter ({filter_label(term)}); put it in quotes to "
                      "search for the words", file=sys.stderr)
        terms, wanted = split_filters(query)
        _check_place(args.place or wanted.place, lib)
        options = with_query_filters(_options(args, lib), wanted, lib.catalog)
        searcher = _searcher(lib, args.device)
        _print(args, searcher.search_terms(terms, options, place=wanted.place))
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    _check_text(args)
    with Library.open(args.library, read_only=True) as lib:
        _check_place(args.place, lib)
        searcher = _searcher(lib, args.device)
        ref = args.photo
        photo_id = photo_id_ref(ref)
        if photo_id is not None:
            results = searcher.similar(photo_id, _options(args, lib))
        else:
            path = os.fsencode(os.path.abspath(os.path.expanduser(ref)))  # any bytes, UTF-8 or not
            known = photo_for_path(lib.catalog, ref)
            if known is not None and known.status == "ok":
                results = searcher.similar(known.id, _options(args, lib))
            elif os.path.isfile(path):
                results = searcher.search_vector(searcher.image_vector(path), _options(args, lib))
            else:
                raise PhotosiftError(f"no such photo or image file: {shown(ref)}")
        _print(args, results)
    return 0
