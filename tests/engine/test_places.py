"""Places: GPS named offline from the GeoNames data shipped in resources/places, stored, filtered and searched."""

import sqlite3

import numpy as np
import pytest

from engine.catalog import MIGRATIONS, SCHEMA_VERSION, PhotoCatalog, _split_sql
from engine.errors import Cancelled, QueryError
from engine.jobs import CancelToken
from engine.places import CANDIDATES, EARTH_KM, MAX_KM, Gazetteer, Place, _unit, fill_places, place_key, usable_position
from engine.query import parse_query, split_places
from engine.search import PhotoSearch, SearchFilters, SearchOptions
from engine.update import update_library
from tests.conftest import gps_exif, write_jpeg

CITIES = {  # a spot in each city centre -> (city, region, country) as the sidebar shows it
    "lisbon": ((38.7223, -9.1393), ("Lisbon", "Lisbon", "Portugal")),
    "kyoto": ((35.0116, 135.7681), ("Kyoto", "Kyoto", "Japan")),
    "sydney": ((-33.8688, 151.2093), ("Sydney", "New South Wales", "Australia")),
    "newark": ((40.7357, -74.1724), ("Newark", "New Jersey", "United States")),
    "zurich": ((47.3769, 8.5417), ("Zürich", "Zurich", "Switzerland")),
    "reykjavik": ((64.1466, -21.9426), ("Reykjavík", "Capital Region", "Iceland")),
}


@pytest.fixture(scope="module")
def gazetteer():
    return Gazetteer.shared()


def test_city_centres_are_named_as_people_name_them(gazetteer):
    names = gazetteer.lookup([pos for pos, _ in CITIES.values()])
    for (city, (_, want)), got in zip(CITIES.items(), names, strict=True):
        assert got is not None, city
        assert (got.city, got.region, got.country) == want, city
    # the neighbourhood nearest to downtown Lisbon ("Intendente") does not win over the city around it,
    # and a city beside a bigger one keeps its own name (Newark, not New York City)
    assert names[0].name == "Lisbon, Portugal"
    assert gazetteer.lookup([(38.8029, -9.3817)])[0].name == "Sintra, Lisbon, Portugal"


def test_positions_that_name_no_place(gazetteer):
    bad = [(None, None), (0.0, 0.0), (91.0, 0.0), (10.0, 181.0), (float("nan"), 1.0), ("north", "west"),
           (30.0, -40.0),  # mid-Atlantic: the nearest island is hundreds of km away
           (-80.0, 0.0)]  # Antarctica
    assert gazetteer.lookup(bad) == [None] * len(bad)
    assert usable_position(0, 0) is None and usable_position(1e-3, 0) == (1e-3, 0.0)
    # the 180th meridian: Fiji's Taveuni straddles it; great-circle search finds it from either side
    east, west = gazetteer.lookup([(-16.85, 179.99), (-16.85, -179.99)])
    assert east is not None and west is not None and east.country == west.country == "Fiji"


def _named_by_looking_at_every_place(gazetteer, positions):
    """The rule of engine/places.py applied by measuring the distance to every known place, one photo at a time:
    of the CANDIDATES nearest, the place the photo is most inside, else the nearest within MAX_KM, else none."""
    xyz = gazetteer._xyz
    out = []
    for lat, lon in positions:
        chord = np.linalg.norm(xyz - _unit(np.array([lat]), np.array([lon]))[0], axis=1)
        km = 2 * EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
        near = np.argsort(km, kind="stable")[:CANDIDATES]
        ratio = km[near] / gazetteer._cover_km[near]
        j = int(near[np.argmin(np.where(ratio <= 1, ratio, np.inf))] if (ratio <= 1).any() else near[0])
        out.append(None if km.min() > MAX_KM else
                   Place(gazetteer._city[j], gazetteer._region[j], gazetteer._country[j], gazetteer._code[j]))
    return out


@pytest.mark.slow  # 9 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_the_tree_search_names_what_looking_at_every_place_names(gazetteer):
    rng = np.random.default_rng(7)
    xyz = gazetteer._xyz
    lat, lon = np.degrees(np.arcsin(xyz[:, 2])), np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))
    homes = rng.integers(0, len(lat), 300)
    near = np.stack([lat[homes] + rng.uniform(-0.3, 0.3, 300), lon[homes] + rng.uniform(-0.3, 0.3, 300)], 1)
    big = np.flatnonzero(gazetteer._cover_km > 30)[:40]  # the suburbs of big cities: covered from far away
    suburbs = np.stack([lat[big] + 0.25, lon[big] - 0.2], 1)
    anywhere = np.stack([rng.uniform(-89, 89, 200), rng.uniform(-180, 180, 200)], 1)
    edges = [(-16.85, 179.999), (-16.85, -179.999), (64.5, -179.9), (78.22, 15.65), (-77.85, 166.67)]
    positions = [(float(a), float(b)) for a, b in np.concatenate([near, suburbs, anywhere]) if abs(a) <= 90]
    positions = [(a, (b + 180) % 360 - 180) for a, b in positions] + edges
    got = gazetteer.lookup(positions)
    assert got == _named_by_looking_at_every_place(gazetteer, positions)
    assert sum(p is not None for p in got) > 350  # mostly named: the comparison is not of Nones


def test_the_library_is_asked_only_for_the_names_a_query_could_mean(tmp_path):
    from engine.catalog import PhotoCatalog

    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        pid = cat.insert_photo(root_id=root.id, path="/p/a.jpg", raw_path=None, size=1, mtime=1, fingerprint="a")
        cat.places.put([(pid, 38.8029, -9.3817, Place("Sintra", "Lisbon", "Portugal", "PT"))])
        assert cat.places.known_keys({"sintra", "lisbon", "portugal", "kyoto", "beach"}) == {
            "sintra", "lisbon", "portugal"}
        assert cat.places.known_keys(set()) == set()


def test_names_compare_without_case_or_accents():
    assert place_key("Kyōto") == place_key("KYOTO") == "kyoto"
    assert place_key("  Zürich ") == "zurich"


def _catalog_before_places(path):
    """A catalog as the last Photosift without places wrote it, with photos, a vector and a tag."""
    before = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE places" in m)
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:before]:
        for statement in _split_sql(migration):
            conn.execute(statement)
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, '/p', 0)")
    positions = [CITIES["lisbon"][0], CITIES["kyoto"][0], (0.0, 0.0), (None, None)]
    for i, (lat, lon) in enumerate(positions, start=1):
        conn.execute("INSERT INTO photos(id, root_id, path, size, mtime, added_at, status, gps_lat, gps_lon) "
                     "VALUES (?, 1, ?, 1, 1, 0, 'ok', ?, ?)", (i, f"/p/{i}.jpg", lat, lon))
    conn.execute("INSERT INTO embeddings VALUES (1, 'm', ?)", (np.ones(4, np.float32).tobytes(),))
    conn.execute("INSERT INTO tags(photo_id, name, source, score) VALUES (2, 'temple', 'user', 1.0)")
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()


def test_a_catalog_from_before_places_migrates_keeps_its_rows_and_is_filled_once(tmp_path):
    path = tmp_path / "old.db"
    _catalog_before_places(path)
    with PhotoCatalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        assert cat.counts()["total"] == 4 and cat.embeddings.models() == {"m": 1}
        assert cat.tags.of_photo(2) == [("temple", "user", 1.0)]
        assert cat.places.count_photos_needing() == 3  # the photo without GPS needs nothing
        assert fill_places(cat) == 3
        assert cat.places.count_photos_needing() == 0 and fill_places(cat) == 0  # once
        assert cat.places.of_photo(1) == Place("Lisbon", "Lisbon", "Portugal", "PT")
        assert cat.places.of_photo(3) is None and cat.places.of_photo(4) is None  # null island, no GPS
        assert cat.places.counts() == [("Japan", "Kyoto", "Kyoto", 1), ("Portugal", "Lisbon", "Lisbon", 1)]
        assert cat.places.photo_ids_in("LISBON") == {1} and cat.places.photo_ids_in("kyōto") == {2}
        assert cat.places.photo_ids_in("Japan > Kyoto > Kyoto") == {2}
        assert cat.places.photo_ids_in("Portugal > Kyoto") == set()


def test_the_backfill_is_resumable_and_follows_changed_positions(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        for i in range(5):
            pid = cat.insert_photo(root_id=root.id, path=f"/p/{i}.jpg", raw_path=None, size=1, mtime=1,
                                   fingerprint=str(i))
            cat.record_decoded(pid, {"gps_lat": CITIES["sydney"][0][0], "gps_lon": CITIES["sydney"][0][1]})
        token = CancelToken()
        seen = []

        def cancel_after_first_batch(p):
            seen.append(p.done)
            token.cancel()

        with pytest.raises(Cancelled):
            fill_places(cat, progress=cancel_after_first_batch, cancel=token, batch=2)
        assert seen == [2] and cat.places.count_photos_needing() == 3  # the first batch was committed
        assert fill_places(cat, batch=2) == 3
        assert cat.places.photo_ids_in("sydney") == {1, 2, 3, 4, 5}
        cat.record_decoded(1, {"gps_lat": CITIES["kyoto"][0][0], "gps_lon": CITIES["kyoto"][0][1]})  # edited
        cat.record_decoded(2, {})  # GPS stripped
        assert fill_places(cat) == 1
        assert cat.places.of_photo(1).city == "Kyoto" and cat.places.of_photo(2) is None
        cat.delete_photos([3])
        assert cat.places.photo_ids_in("australia") == {4, 5}


def test_place_terms_in_queries():
    terms, place = split_places(parse_query("beach place:Lisbon"))
    assert [t.value for t in terms] == ["beach"] and place == "Lisbon"
    assert split_places(parse_query('place:"New York" + sunset'))[1] == "New York"
    assert split_places(parse_query('"place:Lisbon"'))[1] is None  # quoted: just words
    for bad in ("beach - place:Lisbon", "place:", "place:a place:b", 'place:"a > b > c > d"'):
        with pytest.raises(QueryError):
            parse_query(bad)


def test_indexed_photos_with_gps_are_found_by_place(lib, encoder, tmp_path):
    photos = tmp_path / "photos"
    for i, (name, (pos, _)) in enumerate(CITIES.items()):
        write_jpeg(photos / f"{name}.jpg", color=(40 * i, 90, 200 - 30 * i),
                   exif=gps_exif(*pos, taken=f"2024:0{i + 1}:01 10:00:00"))
    write_jpeg(photos / "lisbon2.jpg", color=(10, 10, 10), exif=gps_exif(38.7139, -9.1334))
    write_jpeg(photos / "no_exif.jpg", color=(250, 250, 0))
    write_jpeg(photos / "null_island.jpg", color=(0, 250, 250), exif=gps_exif(0.0, 0.0))
    write_jpeg(photos / "at_sea.jpg", color=(0, 0, 250), exif=gps_exif(30.0, -40.0))
    lib.catalog.add_root(str(photos))
    report = update_library(lib, encoder, do_tag=False)
    assert report.index.indexed == 10 and report.places_named == 9  # every photo with a GPS position
    search = PhotoSearch(lib, encoder)
    in_lisbon = search.in_place("lisbon")
    assert sorted(r.photo.path.rsplit("/", 1)[1] for r in in_lisbon) == ["lisbon.jpg", "lisbon2.jpg"]
    assert in_lisbon[0].photo.taken_at is not None  # dated first
    assert in_lisbon[0].to_dict()["place"] == {"name": "Lisbon, Portugal", "city": "Lisbon", "region": "Lisbon",
                                               "country": "Portugal", "country_code": "PT"}
    options = SearchOptions(min_z=None, filters=SearchFilters(place="Japan"))
    assert [r.photo.path.rsplit("/", 1)[1] for r in search.search("a photo", options)] == ["kyoto.jpg"]
    found = search.search("a photo place:portugal", SearchOptions(min_z=None))
    assert {r.place.city for r in found} == {"Lisbon"} and len(found) == 2
    both = SearchOptions(min_z=None, filters=SearchFilters(place="Portugal"))
    assert search.search("a photo place:Kyoto", both) == []  # a query's place and the filter must both hold
    assert search.search("place:Kyoto", both) == [] and len(search.search("place:Lisbon", both)) == 2
    unnamed = search.search("a photo", SearchOptions(min_z=None, limit=100))
    assert {r.photo.path.rsplit("/", 1)[1] for r in unnamed if r.place is None} == {
        "no_exif.jpg", "null_island.jpg", "at_sea.jpg"}
