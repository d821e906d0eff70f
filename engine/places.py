"""Places: offline reverse geocoding of photos' GPS positions into city, region (admin1) and country.

The place names come from GeoNames (every place of 1,000 people or more, with its admin1 region and
country), shipped in resources/places/ (scripts/build_place_data.py writes them): nothing is downloaded,
nothing leaves the machine. The nearest point in plain latitude/longitude degrees would be wrong near the
poles and across the 180th meridian, and would name a neighbourhood ("Intendente") where people expect the
city ("Lisbon"). Here the search runs on unit vectors (great-circle distance), and among the CANDIDATES
nearest places those whose area covers the photo compete; the one it is most inside wins. A place of P people
is taken to cover a radius of `COVER_KM_PER_SQRT_POP * sqrt(P)` km (a town of 50,000 ~3 km, Lisbon ~11 km);
where none covers the photo, the nearest place within MAX_KM names it.

Bad positions give no place, never an error: no GPS, (0, 0) (what cameras write when they have no fix),
values out of range or not numbers, and positions farther than MAX_KM from any known place (at sea,
Antarctica), where the nearest town would name somewhere the photo was not taken.
"""

from __future__ import annotations

import gzip
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import PhotosiftError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.place_keys import PATH_SEPARATOR, Place, place_key, place_spec_keys  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from engine.catalog import PhotoCatalog

log = logging.getLogger(__name__)

EARTH_KM = 6371.0
MAX_KM = 100.0  # beyond this from the nearest known place the photo gets no place
COVER_KM_PER_SQRT_POP = 0.015
MIN_COVER_KM = 1.0
CANDIDATES = 16  # nearest places looked at for each photo


class PlaceDataError(PhotosiftError):
    """The GeoNames place data shipped with Photosift is missing or not in the expected form."""


def usable_position(lat: object, lon: object) -> tuple[float, float] | None:
    """(lat, lon) as floats when they can name a place; None for missing, (0, 0), out of range or not numbers."""
    try:
        la, lo = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(la) and math.isfinite(lo)) or abs(la) > 90 or abs(lo) > 180:
        return None
    if abs(la) < 1e-6 and abs(lo) < 1e-6:
        return None  # "null island": a camera without a fix
    return la, lo


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


class Gazetteer:
    """GeoNames places in arrays, searched by great-circle distance in a k-d tree over unit vectors (pykdtree:
    1.5 MB, where scipy's was 143 MB of a runtime that needs nothing else from scipy). Loading takes about half a
    second; use `Gazetteer.shared()` so a process loads it once, and only when a photo needs it."""

    _shared: Gazetteer | None = None
    _lock = threading.Lock()

    def __init__(self, lat: np.ndarray, lon: np.ndarray, pop: np.ndarray, codes: Sequence[str],
                 regions: Sequence[str], cities: Sequence[str], countries: dict[str, str]) -> None:
        if not len(cities):
            raise PlaceDataError("the place data is empty")
        from pykdtree.kdtree import KDTree

        self._cover_km = np.maximum(MIN_COVER_KM, COVER_KM_PER_SQRT_POP * np.sqrt(pop.astype(np.float64)))
        self._xyz = _unit(lat.astype(np.float64), lon.astype(np.float64))
        self._tree = KDTree(self._xyz)
        self._city, self._code = list(cities), list(codes)
        country_of = {code: countries.get(code, code) for code in set(self._code)}
        self._country = [country_of[c] for c in self._code]
        self._region = [region or country for region, country in zip(regions, self._country, strict=True)]

    @classmethod
    def load(cls) -> Gazetteer:
        """The data shipped in resources/places/ (never downloaded: a missing file is an error)."""
        try:
            folder = resources.files("resources").joinpath("places")
            text = gzip.decompress(folder.joinpath("cities.tsv.gz").read_bytes()).decode("utf-8")
            countries = dict(line.split("\t", 1) for line in
                             folder.joinpath("countries.tsv").read_text("utf-8").splitlines() if "\t" in line)
        except (ModuleNotFoundError, OSError, ValueError) as e:
            raise PlaceDataError(f"the place names (GeoNames data in Photosift's resources/places) cannot be "
                                 f"read: {e}; reinstall Photosift") from e
        names: dict[str, str] = {}  # one string object per distinct name: 155k places share far fewer names
        lat, lon, pop, codes, regions, cities = [], [], [], [], [], []
        try:
            for line in text.splitlines():
                la, lo, p, code, region, city = line.split("\t")
                lat.append(float(la))
                lon.append(float(lo))
                pop.append(int(p))
                codes.append(names.setdefault(code, code))
                regions.append(names.setdefault(region, region))
                cities.append(names.setdefault(city, city))
        except ValueError as e:
            raise PlaceDataError(f"the place data (resources/places/cities.tsv.gz) is not in the form Photosift "
                                 f"knows: {e}; reinstall Photosift") from e
        return cls(np.array(lat), np.array(lon), np.array(pop), codes, regions, cities, countries)

    @classmethod
    def shared(cls) -> Gazetteer:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls.load()
            return cls._shared

    def lookup(self, positions: Sequence[tuple[object, object]]) -> list[Place | None]:
        """The place of each (lat, lon), or None where it has none (see the module docstring)."""
        out: list[Place | None] = [None] * len(positions)
        usable = [(i, p) for i, p in enumerate(usable_position(la, lo) for la, lo in positions) if p is not None]
        if not usable:
            return out
        pts = np.array([p for _, p in usable], np.float64)
        k = min(CANDIDATES, len(self._city))
        chord, idx = self._tree.query(_unit(pts[:, 0], pts[:, 1]), k=k)
        chord, idx = chord.reshape(len(pts), k), idx.reshape(len(pts), k).astype(np.int64)
        km = 2 * EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
        ratio = km / self._cover_km[idx]
        inside = ratio <= 1.0
        # the place the photo is most inside; where none covers it, the nearest
        best = np.where(inside.any(axis=1), np.argmin(np.where(inside, ratio, np.inf), axis=1), 0)
        chosen = idx[np.arange(len(pts)), best]
        for row, (i, _) in enumerate(usable):
            if km[row, 0] <= MAX_KM:
                j = int(chosen[row])
                out[i] = Place(self._city[j], self._region[j], self._country[j], self._code[j])
        return out


def lookup_places(positions: Sequence[tuple[object, object]]) -> list[Place | None]:
    return Gazetteer.shared().lookup(positions)


def fill_places(catalog: PhotoCatalog, *, progress: ProgressCallback = ignore_progress,
                cancel: CancelToken | None = None, batch: int = 2000) -> int:
    """Name the positions of photos not named yet (new photos, a catalog from before places, changed
    positions). Each batch is committed, so a killed run is finished by the next. The place data is loaded
    only when some photo needs it. Returns how many photos were looked up (with or without a place)."""
    catalog.places.forget_stale()
    total = catalog.places.count_photos_needing()
    if not total:
        return 0
    clock = ProgressClock("places", total, progress)
    gazetteer = Gazetteer.shared()
    done = last = 0
    while True:
        if cancel:
            cancel.check()
        todo = catalog.places.photos_needing(batch, after_id=last)
        if not todo:
            return done
        last = todo[-1][0]
        places = gazetteer.lookup([(lat, lon) for _, lat, lon in todo])
        catalog.places.put([(pid, lat, lon, place) for (pid, lat, lon), place in zip(todo, places, strict=True)])
        done += len(todo)
        clock.report(done)


PlaceTree = dict[str, tuple[int, dict[str, tuple[int, dict[str, int]]]]]


def group_counts(rows: Iterable[tuple[str, str, str, int]]) -> PlaceTree:
    """(country, region, city, n) rows as {country: (n, {region: (n, {city: n})})}, for the sidebar tree."""
    tree: PlaceTree = {}
    for country, region, city, n in rows:
        c_total, regions = tree.get(country, (0, {}))
        r_total, cities = regions.get(region, (0, {}))
        cities[city] = cities.get(city, 0) + n
        regions[region] = (r_total + n, cities)
        tree[country] = (c_total + n, regions)
    return tree
