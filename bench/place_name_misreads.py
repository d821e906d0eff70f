"""Which queries' plain words are read as a place by another of its names: everyday queries that should stay
words ("a lion" is not Lyon, though Lion is its French name) and queries that name a place in another language
("coffee lisboa"), with the shipped alias table and with this file's first version (every other name of a
country or of a city of 100,000 people was read from plain words), side by side in one process.

The library is the worst case for misreads: one photo in every place of --min-population people or more (a
traveller who has been to every large city), so every such place's other names can be read. Everyday queries:
the captions of Tux Paint's photo stamps (tuxpaint-stamps-default) and every tag of the zero-shot vocabulary
(resources/tag_vocabulary.txt). Only the reading through another name is counted: a word that is a place's own
name ("nice", "reading") is read as before, by both tables.

    python bench/place_name_misreads.py [--min-population 100000] [--first-version COMMIT]
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import console, machine_line, make_table
from bench.text_search_quality import captioned_stamps
from engine.catalog import PhotoCatalog
from engine.place_keys import Place, place_key
from engine.query import name_candidates, parse_query, understand_names
from engine.search import known_names
from engine.tagging import load_vocabulary

REPO = Path(__file__).resolve().parents[1]
FIRST_VERSION = "30abeb1"  # the commit that shipped the table with every large place's names prominent
FOREIGN = ["coffee lisboa", "tram in lisbonne", "beer garden münchen", "snow in deutschland", "gondola venezia",
           "duomo firenze", "metro moskva", "beach españa", "castle praha", "opera in wien", "market in bruxelles",
           "temple in 京都", "harbour københavn", "bridge in praga", "old town warszawa", "tower in pisa italia",
           "canal in den haag", "night in sevilla", "sushi in nippon", "street food peking"]


def library(min_population: int, folder: Path) -> PhotoCatalog:
    countries = dict(line.split("\t", 1) for line in (REPO / "resources/places/countries.tsv").read_text(
        "utf-8").splitlines() if "\t" in line)
    rows = []
    for line in gzip.decompress((REPO / "resources/places/cities.tsv.gz").read_bytes()).decode().splitlines():
        _lat, _lon, pop, code, region, city = line.split("\t")
        if int(pop) >= min_population:
            country = countries.get(code, code)
            rows.append(Place(city, region or country, country, code))
    cat = PhotoCatalog(folder / "c.db")
    root = cat.add_root("/p")
    with cat.transaction():
        ids = [cat.insert_photo(root_id=root.id, path=f"/p/{i}.jpg", raw_path=None, size=1, mtime=1,
                                fingerprint=str(i)) for i in range(len(rows))]
    cat.places.put([(pid, 1.0, 1.0, place) for pid, place in zip(ids, rows, strict=True)])
    return cat


def read_as_places(cat: PhotoCatalog, queries: list[str], *, by_other_names_only: bool) -> list[tuple[str, str]]:
    """(query, words) for each query whose words were read as a place; by_other_names_only: only where no place
    of the library is called that (the words were read through the alias table)."""
    out = []
    for q in queries:
        terms = parse_query(q)
        for t in understand_names(terms, *known_names(cat, name_candidates(terms))):
            if t.kind == "place" and not (by_other_names_only and cat.places.known_stored(place_key(t.value))):
                out.append((q, t.value))
    return out


def with_table(folder: Path | None, fn: Callable[[], object]) -> object:
    """fn() in a fresh thread (the table's connection is per thread), reading the table in `folder`/places/."""
    files = resources.files
    got: list[object] = []
    if folder is not None:
        resources.files = lambda _package: folder
    try:
        t = threading.Thread(target=lambda: got.append(fn()))
        t.start()
        t.join()
    finally:
        resources.files = files
    return got[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-population", type=int, default=100_000)
    ap.add_argument("--first-version", default=FIRST_VERSION)
    args = ap.parse_args()
    everyday = sorted({caption.strip().rstrip(".") for _, caption in captioned_stamps()})
    tags = sorted({entry.name for entry in load_vocabulary()})
    sets = [("Tux Paint captions", everyday), ("tag vocabulary", tags), ("places in other languages", FOREIGN)]
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "first"
        (first / "places").mkdir(parents=True)
        (first / "places" / "aliases.sqlite").write_bytes(subprocess.run(
            ["git", "show", f"{args.first_version}:resources/places/aliases.sqlite"], cwd=REPO,
            capture_output=True, check=True).stdout)
        cat = library(args.min_population, Path(tmp))
        places = len(cat.places.counts())
        rows, examples, left = [], [], []
        for name, queries in sets:
            foreign = name == "places in other languages"

            def count(q=queries, foreign=foreign):
                return read_as_places(cat, q, by_other_names_only=not foreign)

            before, after = with_table(first, count), with_table(None, count)
            rows.append([name + (" (read as a place, any name)" if foreign else " (misread by another name)"),
                         len(queries), len(before), len(after)])
            if foreign:
                missed = sorted(set(queries) - {q for q, _ in after})
            else:
                examples += [f"{q[:40]!r} -> {w}" for q, w in before if (q, w) not in after][:5]
                left += [f"{q[:40]!r} -> {w}" for q, w in after]
        cat.close()
    console().print(make_table(
        f"Queries whose words were read as a place by another of its names (one photo in each of {places:,} "
        f"places of {args.min_population:,}+ people)",
        ["queries", "n", f"first version ({args.first_version})", "shipped"], rows,
        caption=f"{machine_line()}. Misread by the first version only, e.g.: {'; '.join(examples)}. Still misread: "
                f"{'; '.join(left) or 'none'}. Queries in other languages the shipped table leaves as words: "
                f"{', '.join(missed) or 'none'}."))


if __name__ == "__main__":
    main()
