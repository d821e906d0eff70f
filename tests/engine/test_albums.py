"""Albums (issue #27 item 3): made by hand or saved from a query, filtering search and browse, kept through a
photo's merge, found again after each index."""

import pytest

from engine.albums import (
    AlbumError,
    add_to_album,
    delete_album,
    new_album,
    remove_from_album,
)
from engine.errors import QueryError
from engine.search import PhotoSearch, SearchFilters, SearchOptions
from engine.smart_albums import refresh_smart_albums
from tests.engine import test_search
from tests.engine.test_search import KnownEncoder, _names, _vec

library = test_search.library  # the fixture: a library of known vectors


def test_a_manual_album_holds_the_photos_put_in_it_and_filters_search(library):
    cat = library.catalog
    album = new_album(cat, "  Summer 2020 ")
    assert (album.name, album.kind, album.count) == ("Summer 2020", "manual", 0)
    ids = library.ids
    assert add_to_album(cat, "summer 2020", [ids["beach_people"], ids["dog_snow"]]) == 2
    assert add_to_album(cat, "SUMMER 2020", [ids["dog_snow"]]) == 0  # already in it
    assert cat.albums.named("summer 2020").count == 2
    s = PhotoSearch(library, KnownEncoder())
    assert _names(library, s.search('beach album:"summer 2020"', SearchOptions(min_z=None))) == [
        "beach_people", "dog_snow"]
    assert sorted(_names(library, s.search('album:"Summer 2020"'))) == ["beach_people", "dog_snow"]
    browse = cat.browse.filtered_photo_ids(SearchFilters(album="summer 2020"))
    assert sorted(browse) == sorted([ids["beach_people"], ids["dog_snow"]])
    assert remove_from_album(cat, "Summer 2020", [ids["dog_snow"]]) == 1
    assert cat.albums.of_photo(ids["beach_people"]) == ["Summer 2020"] and cat.albums.of_photo(ids["dog_snow"]) == []
    with pytest.raises(QueryError, match=r"no album is named 'Sumer' \(nearest: Summer 2020\)"):
        s.search("beach album:Sumer")


def test_album_names_and_kinds_are_checked(library):
    cat = library.catalog
    new_album(cat, "Trips")
    with pytest.raises(AlbumError, match="already an album named 'Trips'"):
        new_album(cat, "TRIPS")
    with pytest.raises(AlbumError, match="album name"):
        new_album(cat, "   ")
    smart = new_album(cat, "Beaches", query="beach")
    with pytest.raises(AlbumError, match="smart album: its photos are those its query finds"):
        add_to_album(cat, "Beaches", [library.ids["city"]])
    with pytest.raises(AlbumError, match="cannot be made of its own photos"):
        new_album(cat, "Loop", query="album:Loop beach")
    with pytest.raises(QueryError, match="unbalanced"):
        new_album(cat, "Broken", query='"beach')
    assert cat.albums.named("Broken") is None and smart.kind == "smart"
    delete_album(cat, "trips")
    assert [a.name for a in cat.albums.all()] == ["Beaches"] and cat.photo(library.ids["city"]) is not None


def test_a_smart_album_finds_its_photos_again_as_the_library_changes(library):
    cat = library.catalog
    new_album(cat, "Beaches 2019-2020", query="beach 2019..2020")
    encoder = KnownEncoder()
    assert refresh_smart_albums(library, encoder) == {"Beaches 2019-2020": 2}
    album = cat.albums.named("beaches 2019-2020")
    assert album.model_id == "known" and sorted(_names_of(library, cat.albums.photo_ids(album.id))) == [
        "beach_people", "sunset_beach"]
    pid = cat.insert_photo(root_id=cat.roots()[0].id, path="/photos/2020/beach2.jpg", raw_path=None, size=1,
                           mtime=1, fingerprint="beach2")
    cat.record_decoded(pid, {"taken_at": "2020-08-01T10:00:00"})
    cat.embeddings.put("known", [pid], _vec(beach=1)[None])
    library.ids["beach2"] = pid
    assert refresh_smart_albums(library, encoder) == {"Beaches 2019-2020": 3}
    # a query that no longer runs leaves the album empty instead of stopping the index
    new_album(cat, "Pets", query="tag:pets")
    cat.conn.execute("DELETE FROM tags")
    assert refresh_smart_albums(library, encoder)["Pets"] == 0


def test_a_merged_twin_gives_its_albums_to_the_row_that_stays(library):
    cat = library.catalog
    new_album(cat, "Keep")
    twin = library.ids["city"]
    keeper = library.ids["dog_snow"]
    add_to_album(cat, "Keep", [twin])
    with cat.transaction():
        cat.merge_photo_into(twin, keeper)
    assert cat.albums.of_photo(keeper) == ["Keep"] and cat.albums.named("Keep").count == 1


def _names_of(lib, ids):
    inv = {v: k for k, v in lib.ids.items()}
    return [inv[i] for i in ids]
