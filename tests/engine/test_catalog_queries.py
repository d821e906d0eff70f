"""The catalog's queries for the window, search and training (issue #15): one meaning of each filter."""

from __future__ import annotations

from datetime import date

import pytest

from engine.catalog import PhotoCatalog
from engine.filters import SearchFilters


@pytest.fixture
def cat(tmp_path):
    with PhotoCatalog(tmp_path / "catalog.db") as c:
        root = c.add_root("/p")
        rows = [
            ("/p/a/1.jpg", "2021-05-01T10:00:00"),
            ("/p/a/sub/2.jpg", "2019-01-02T00:00:00"),
            ("/p/ab/3.jpg", None),
            ("/p/a", "2022-01-01T00:00:00"),
        ]
        for path, taken in rows:
            pid = c.insert_photo(root_id=root.id, path=path, raw_path=None, size=1, mtime=1_000_000.0, fingerprint=path)
            c.record_decoded(pid, {"taken_at": taken})
        yield c


def _names(cat, ids):
    return [cat.photo(i).path for i in ids]


def test_a_folder_is_the_folder_and_what_is_below_it_never_a_name_prefix(cat):
    for folder in ("/p/a", "/p/a/"):
        got = _names(cat, cat.browse.filtered_photo_ids(SearchFilters(folder=folder)))
        assert sorted(got) == ["/p/a", "/p/a/1.jpg", "/p/a/sub/2.jpg"]  # not /p/ab/3.jpg


def test_tags_ignore_case_and_rejected_ones_do_not_count(cat):
    one, two = cat.photo_by_path("/p/a/1.jpg").id, cat.photo_by_path("/p/ab/3.jpg").id
    cat.tags.set_user(one, "Horse")
    cat.tags.reject(two, "horse")
    assert cat.browse.filtered_photo_ids(SearchFilters(tag="hORSE")) == [one]
    assert cat.tags.user_tags() == [(one, "Horse")]


def test_dates_newest_first_and_only_photos_added_after_an_id(cat):
    f = SearchFilters(date_from=date(2020, 1, 1), date_to=date(2021, 12, 31))
    assert _names(cat, cat.browse.filtered_photo_ids(f)) == ["/p/a/1.jpg"]
    newest = _names(cat, cat.browse.filtered_photo_ids(SearchFilters(), order="newest"))
    assert newest[:3] == ["/p/a", "/p/a/1.jpg", "/p/a/sub/2.jpg"]  # undated: by file time (1970), last
    first = cat.photo_by_path("/p/a/1.jpg").id
    assert first not in cat.browse.filtered_photo_ids(SearchFilters(), after_id=first)
    assert cat.browse.max_photo_id() == max(cat.browse.filtered_photo_ids(SearchFilters()))
    with pytest.raises(ValueError, match="unknown order"):
        cat.browse.filtered_photo_ids(SearchFilters(), order="colour")


def test_grid_rows_and_folder_counts(cat):
    pid = cat.photo_by_path("/p/a/sub/2.jpg").id
    assert cat.browse.grid_rows([pid]) == {pid: ("/p/a/sub/2.jpg", None, "/p/a/sub/2.jpg", "ok", 1, None)}
    assert dict(cat.browse.folder_counts()) == {"/p/": 1, "/p/a/": 1, "/p/a/sub/": 1, "/p/ab/": 1}


def test_commit_batch_keeps_what_came_before_when_the_rest_fails(cat):
    with pytest.raises(RuntimeError), cat.transaction():
        cat.set_setting("first", "1")
        cat.commit_batch()
        cat.set_setting("second", "2")
        raise RuntimeError
    assert cat.get_setting("first") == "1" and cat.get_setting("second") is None


def test_places_and_persons_are_filters_like_the_others_and_the_timeline_counts_them(cat):
    import numpy as np

    from engine.catalog import FoundFaceRow
    from engine.places import Place

    one, two, three = (cat.photo_by_path(p).id for p in ("/p/a/1.jpg", "/p/a/sub/2.jpg", "/p/ab/3.jpg"))
    cat.places.put([(one, 38.7, -9.1, Place("Lisbon", "Lisbon", "Portugal", "PT")),
                    (two, 35.0, 135.8, Place("Kyoto", "Kyoto", "Japan", "JP"))])
    assert cat.browse.filtered_photo_ids(SearchFilters(place="portugal")) == [one]
    assert cat.browse.filtered_photo_ids(SearchFilters(place="Japan > Kyoto", folder="/p/a")) == [two]
    with pytest.raises(ValueError):
        cat.browse.filtered_photo_ids(SearchFilters(place="a > b > c > d"))

    face = FoundFaceRow(0.1, 0.1, 0.2, 0.2, 1.0, np.ones(128, np.float32))
    for pid in (one, two, three):
        cat.people.put_faces(pid, "faces-test", [face])
    anna, bob = cat.people.new_person("Anna"), cat.people.new_person()
    faces = {f.photo_id: f.id for pid in (one, two, three) for f in cat.people.faces_of_photo(pid, "faces-test")}
    cat.people.set_face_persons([(faces[one], anna), (faces[two], bob), (faces[three], bob)])
    assert cat.browse.filtered_photo_ids(SearchFilters(person="ANNA")) == [one]  # a name, any case
    assert cat.browse.filtered_photo_ids(SearchFilters(person=str(bob))) == [two, three]  # an unnamed person's id
    assert cat.browse.filtered_photo_ids(SearchFilters(person="Nobody")) == []
    assert cat.browse.filtered_photo_ids(SearchFilters(without_persons=("anna",))) == [two, three, 4]
    cat.people.merge_person_rows(anna, bob)  # bob's id now means anna
    assert cat.browse.filtered_photo_ids(SearchFilters(person=str(bob))) == [one, two, three]
    # The timeline's day counts narrow as the grid does: their sum is the grid's length.
    f = SearchFilters(person="anna", place="kyoto")
    assert sum(n for _, n in cat.browse.timeline_days(f)) == len(cat.browse.filtered_photo_ids(f)) == 1
