"""What other place names ("Lisboa" for Lisbon, resources/places/aliases.sqlite) cost a search: the look-ups a
query's plain words make (engine.search.known_names) and a place filter (catalog.places.photo_ids_in), with the
alias table as shipped and without it (engine.catalog.place_aliases.place_aliases answering nothing), side by
side in one process, on a real engine catalog of N photos named from GPS positions near 500 GeoNames places
(bench/places_backfill.py's data: home and trips). Without the table, another name finds nothing (checked).

Each cell is the median of --reps calls, after a warm-up. The first look-up in a thread also opens the alias
table: timed apart, in fresh threads.

    python bench/place_names.py [--photos 100000] [--reps 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import console, machine_line, make_table
from bench.places_backfill import insert_photos_at, positions
from engine.catalog import PhotoCatalog, place_aliases
from engine.catalog import places as places_part  # the name the catalog's places part calls
from engine.places import fill_places
from engine.query import name_candidates, parse_query
from engine.search import known_names

QUERIES = ["kids on a beach at sunset", "coffee in {city}", "tram {alias}", "snow in deutschland",
           "dinner with anna and the dog at the lake house"]


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def first_call_ms(runs: int = 20) -> float:
    """The first alias look-up of a thread (it opens the table), median over fresh threads."""
    times: list[float] = []

    def once() -> None:
        t = time.perf_counter()
        place_aliases.place_aliases(["lisboa"])
        times.append(time.perf_counter() - t)

    for _ in range(runs):
        th = threading.Thread(target=once)
        th.start()
        th.join()
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    shipped = places_part.place_aliases
    with tempfile.TemporaryDirectory() as tmp, PhotoCatalog(Path(tmp) / "c.db") as cat:
        insert_photos_at(cat, positions(args.photos))
        fill_places(cat)
        # the library's largest city that has another name, and that name: what a user would type
        city = alias = None
        for _country, _region, name, _n in sorted(cat.places.counts(), key=lambda r: -r[3]):
            key = name.casefold()
            others = [a for a, found in shipped_aliases_of(cat, key) if found]
            if others:
                city, alias = name, others[0]
                break
        assert city and alias, "no city of the sample has another name"
        queries = [q.format(city=city.lower(), alias=alias) for q in QUERIES]
        rows = []
        cases = [(f"words: {q!r}", lambda q=q: known_names(cat, name_candidates(parse_query(q)))) for q in queries]
        cases += [(f"filter: place:{city}", lambda: cat.places.photo_ids_in(city)),
                  (f"filter: place:{alias}", lambda: cat.places.photo_ids_in(alias))]
        for label, fn in cases:
            with_ms = median_ms(fn, args.reps)
            places_part.place_aliases = lambda keys: {}
            try:
                without_ms = median_ms(fn, args.reps)
                if label.startswith("filter: place:") and label != f"filter: place:{city}":
                    assert not fn(), "without the table another name finds nothing"
            finally:
                places_part.place_aliases = shipped
            rows.append([label, f"{without_ms:.3f}", f"{with_ms:.3f}", f"{with_ms / without_ms:.2f}x",
                         f"{with_ms - without_ms:+.3f}"])
        found = len(cat.places.photo_ids_in(alias))
        first_ms = first_call_ms()
    console().print(make_table(
        f"Other place names: a search's place look-ups with the alias table and without ({args.photos:,} photos)",
        ["call", "without ms", "with ms", "with / without", "difference ms"], rows,
        caption=f"{machine_line()}; medians of {args.reps} calls; place:{alias} finds {found:,} photos of "
                f"{city}; first look-up of a thread (opens the table): {first_ms:.2f} ms"))


def shipped_aliases_of(cat: PhotoCatalog, key: str) -> list[tuple[str, bool]]:
    """Other names of the place `key` (as shipped), each with whether it finds photos of this catalog."""
    conn = place_aliases._alias_db()
    names = [r[0] for r in conn.execute("SELECT alias FROM aliases WHERE place = ? AND prominent = 1 "
                                        "AND alias GLOB '[a-z]*' ORDER BY alias", (key,))]
    return [(n, bool(cat.places.photo_ids_in(n))) for n in names[:5]]


if __name__ == "__main__":
    main()
