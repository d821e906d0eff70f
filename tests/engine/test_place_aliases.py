"""Other names of places ("Lisboa", "München", "Deutschland", "リスボン"): shipped in resources/places/aliases.sqlite
(GeoNames' alternate names, CLDR's country names), understood by place filters and by a query's plain words."""

import logging
import shutil
import threading
from pathlib import Path

import pytest

from engine.catalog import PhotoCatalog
from engine.catalog import place_aliases as alias_table
from engine.catalog.place_aliases import PlaceAlias, place_aliases
from engine.errors import QueryError
from engine.place_keys import place_key
from engine.places import Place
from engine.query import name_candidates, parse_query, understand_names
from engine.search import PhotoSearch, SearchOptions, check_place_known, known_names
from engine.update import update_library
from tests.conftest import gps_exif, write_jpeg

PLACES = {
    "lisbon.jpg": Place("Lisbon", "Lisbon", "Portugal", "PT"),
    "sintra.jpg": Place("Sintra", "Lisbon", "Portugal", "PT"),
    "koln.jpg": Place("Köln", "North Rhine-Westphalia", "Germany", "DE"),
    "roma_texas.jpg": Place("Roma", "Texas", "United States", "US"),
    "rome.jpg": Place("Rome", "Latium", "Italy", "IT"),
    "florence_ky.jpg": Place("Florence", "Kentucky", "United States", "US"),
    "reykjavik.jpg": Place("Reykjavík", "Capital Region", "Iceland", "IS"),
    "lyon.jpg": Place("Lyon", "Auvergne-Rhône-Alpes", "France", "FR"),
}


@pytest.fixture
def catalog(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        rows = []
        for name, place in PLACES.items():
            pid = cat.insert_photo(root_id=root.id, path=f"/p/{name}", raw_path=None, size=1, mtime=1, fingerprint=name)
            rows.append((pid, 1.0, 1.0, place))
        cat.places.put(rows)
        yield cat


def _names(cat, spec):
    ids = cat.places.photo_ids_in(spec)
    return sorted(p.path.rsplit("/", 1)[1] for p in cat.photos_by_ids(sorted(ids)).values())


def test_the_shipped_table_knows_other_names_of_cities_and_countries():
    got = place_aliases(["lisboa", "deutschland", place_key("München"), place_key("リスボン"), "tram", ""])
    assert got["lisboa"] == [PlaceAlias("PT", "lisbon", True)]
    assert got["deutschland"] == [PlaceAlias("DE", "germany", True)]
    assert got["munchen"] == [PlaceAlias("DE", "munich", True)]
    assert PlaceAlias("PT", "lisbon", True) in got[place_key("リスボン")]
    assert "tram" not in got and "" not in got
    # a small town's other names are kept for place: filters, but are not prominent enough for plain words
    assert {a.prominent for a in place_aliases(["crossroads"])["crossroads"]} == {False}
    # nor are common English words (Danish "Island" is Iceland, French "Lion" Lyon); a country's English name is
    assert place_aliases(["island", "lion"]) == {"island": [PlaceAlias("IS", "iceland", False)],
                                                 "lion": [PlaceAlias("FR", "lyon", False)]}
    assert place_aliases(["russia"])["russia"] == [PlaceAlias("RU", "russian federation", True)]
    # the name of another place is that place's, not another name ("Venice" is also Dayton's in GeoNames)
    assert place_aliases(["venice", "philadelphia"]) == {}
    # unless the place it names is ten times larger: a town in Illinois is called Pekin too
    assert place_aliases(["pekin"])["pekin"] == [PlaceAlias("CN", "beijing", True)]


def test_a_place_filter_finds_a_place_by_another_name(catalog):
    # another name means what the place's own name does: "Lisbon" names the city and its region
    assert _names(catalog, "Lisboa") == _names(catalog, "Lisbon") == ["lisbon.jpg", "sintra.jpg"]
    assert _names(catalog, "LISBONNE") == _names(catalog, "リスボン") == ["lisbon.jpg", "sintra.jpg"]
    assert _names(catalog, "Cologne") == _names(catalog, "Deutschland") == ["koln.jpg"]
    assert _names(catalog, "Portugal > Lisboa") == ["lisbon.jpg", "sintra.jpg"]  # level by level: the region
    assert _names(catalog, "Portugal > Lisboa > Sintra") == ["sintra.jpg"]
    assert _names(catalog, "Deutschland > Lisboa") == []  # the other name holds in its own country only
    assert _names(catalog, "crossroads") == ["florence_ky.jpg"]  # GeoNames: a former name of Florence, Kentucky
    assert _names(catalog, "Atlantis") == []


def test_a_name_a_place_of_the_library_goes_by_means_that_place(catalog):
    # "Roma" is Rome's other name, but this library has photos taken in Roma, Texas: that is what it means
    assert _names(catalog, "Roma") == ["roma_texas.jpg"]
    assert _names(catalog, "Rom") == ["rome.jpg"]  # German for Rome, no place of the library's own name


def test_plain_words_name_a_place_by_another_name_when_it_is_a_large_one(catalog):
    assert catalog.places.known_keys({"lisboa", "deutschland", "tram", "crossroads", "munchen", "island",
                                      "lion"}) == {"lisboa", "deutschland"}
    # no photo in Munich; Crossroads is a small town's other name; "island" and "lion" are words first
    assert _names(catalog, "island") == ["reykjavik.jpg"] and _names(catalog, "lion") == ["lyon.jpg"]
    terms = parse_query("a lion on an island")
    assert understand_names(terms, *known_names(catalog, name_candidates(terms))) == terms
    kyoto = catalog.insert_photo(root_id=catalog.roots()[0].id, path="/p/kyoto.jpg", raw_path=None, size=1, mtime=1,
                                 fingerprint="kyoto.jpg")
    catalog.places.put([(kyoto, 1.0, 1.0, Place("Kyoto", "Kyoto", "Japan", "JP"))])
    terms = parse_query("temple 京都")
    assert [(t.kind, t.value) for t in understand_names(terms, *known_names(catalog, name_candidates(terms)))] == [
        ("place", "京都"), ("text", "temple")]
    terms = parse_query("tram in lisboa")
    understood = understand_names(terms, *known_names(catalog, name_candidates(terms)))
    assert [(t.kind, t.value) for t in understood] == [("place", "lisboa"), ("text", "tram in")]


def test_an_unknown_place_is_one_line_and_another_name_is_known(catalog):
    check_place_known(catalog, "Lisboa")
    check_place_known(catalog, "Portugal > Lisboa")
    with pytest.raises(QueryError, match="'Atlantis'"):
        check_place_known(catalog, "Atlantis")


def _in_a_new_thread(fn):
    """fn() in a thread of its own: the table's connection is kept per thread, so each case opens it anew."""
    got = []
    t = threading.Thread(target=lambda: got.append(fn()))
    t.start()
    t.join()
    return got[0]


def _shipped_table_in(folder: Path, monkeypatch) -> Path:
    table = folder / "places" / "aliases.sqlite"
    table.parent.mkdir(parents=True)
    shutil.copyfile(Path(str(alias_table.resources.files("resources"))) / "places" / "aliases.sqlite", table)
    monkeypatch.setattr(alias_table.resources, "files", lambda _package: folder)
    return table


def test_without_the_table_a_place_is_found_by_its_own_name_and_the_reason_is_logged(catalog, monkeypatch, caplog):
    monkeypatch.setattr(alias_table.resources, "files", lambda _package: Path("/nonexistent"))
    with caplog.at_level(logging.WARNING, logger="engine.catalog.place_aliases"):
        got = _in_a_new_thread(lambda: (place_aliases(["lisboa"]), _names(catalog, "Lisboa"),
                                        _names(catalog, "Lisbon")))
    assert got == ({}, [], ["lisbon.jpg", "sintra.jpg"])
    assert "other place names are not available" in caplog.text


def test_an_install_folder_with_uri_characters_in_its_name_reads_the_table(tmp_path, monkeypatch):
    _shipped_table_in(tmp_path / "My Apps #2 50% ?off", monkeypatch)
    assert _in_a_new_thread(lambda: place_aliases(["lisboa"])) == {"lisboa": [PlaceAlias("PT", "lisbon", True)]}


@pytest.mark.parametrize("damage", ["not a database", "cut in half", "pages overwritten"])
def test_a_damaged_table_is_one_warning_never_an_error(catalog, tmp_path, monkeypatch, caplog, damage):
    table = _shipped_table_in(tmp_path / "install", monkeypatch)
    data = bytearray(table.read_bytes())
    n = len(data)
    if damage == "pages overwritten":  # it still opens (its first pages are whole); a look-up meets the damage
        data[n // 10: n * 9 // 10] = b"\xff" * (n * 9 // 10 - n // 10)
    table.write_bytes(b"not a database" * 100 if damage == "not a database" else
                      data[: n // 2] if damage == "cut in half" else data)
    everything = [f"{a}{b}{c}" for a in "abcdefghijklmnopqrstuvwxyz" for b in "aeiou" for c in "nrst"]
    with caplog.at_level(logging.WARNING, logger="engine.catalog.place_aliases"):
        got = _in_a_new_thread(lambda: (place_aliases(everything), _names(catalog, "Lisbon")))
    assert got[1] == ["lisbon.jpg", "sintra.jpg"]
    assert got[0] == {} and "other place names are not available" in caplog.text


def test_indexed_photos_are_searched_by_another_name_of_their_place(lib, encoder, tmp_path):
    photos = tmp_path / "photos"
    write_jpeg(photos / "tram.jpg", color=(200, 180, 20), exif=gps_exif(38.7139, -9.1334))
    write_jpeg(photos / "cathedral.jpg", color=(20, 80, 200), exif=gps_exif(50.9413, 6.9583))
    lib.catalog.add_root(str(photos))
    update_library(lib, encoder, do_tag=False)
    search = PhotoSearch(lib, encoder)
    everything = SearchOptions(min_z=None)
    for query in ("a photo place:Lisboa", "a photo in lisboa", "a photo lisbonne"):
        assert [r.photo.path.rsplit("/", 1)[1] for r in search.search(query, everything)] == ["tram.jpg"], query
    assert [r.photo.path.rsplit("/", 1)[1] for r in search.search("place:Köln", everything)] == ["cathedral.jpg"]
    with pytest.raises(QueryError, match="nearest"):
        search.search("a photo place:Atlantis", everything)
