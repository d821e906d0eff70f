"""The window's browse state without Qt: what it holds, what it says is shown, and when it tells listeners."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from desktop_app.browse_state import BrowseState, Chip, Event, Mode, Query
from engine.filters import SearchFilters


@pytest.fixture
def state() -> tuple[BrowseState, list[frozenset[str]]]:
    s = BrowseState()
    seen: list[frozenset[str]] = []
    s.changed.connect(seen.append)
    return s, seen


def test_imports_no_qt():
    code = "import sys, desktop_app.browse_state; assert not [m for m in sys.modules if m.startswith('PySide6')]"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_starts_browsing_everything(state):
    s, seen = state
    assert s.mode is Mode.BROWSE and s.filters == SearchFilters() and s.sort == "relevance"
    assert s.selection is None and s.chips() == [] and s.query.box_text == "" and seen == []


def test_typed_text_is_a_text_query_and_the_box_shows_it(state):
    s, seen = state
    s.search_text("  a dog  ")
    assert s.mode is Mode.TEXT and s.query.box_text == "a dog" and s.query.label == "a dog"
    assert seen == [frozenset({"query"})]
    s.search_text("a dog")  # the same query again: nothing changed, nobody is told
    assert seen == [frozenset({"query"})]


def test_find_similar_shows_similar_id_in_the_box_not_the_old_query(state):
    s, _ = state
    s.search_text("a dog")
    s.set_query(Query.similar(42, "dk_horses.jpg"))
    assert s.mode is Mode.SIMILAR and s.query.box_text == "similar:42" and s.query.label == "like dk_horses.jpg"
    # what the box shows, typed in again, is the same search
    assert Query.typed(s.query.box_text).mode is Mode.SIMILAR and Query.typed("similar:42").photo_id == 42


def test_an_image_file_is_shown_as_a_path_the_query_syntax_reads_as_an_image(state, tmp_path):
    from engine.query import parse_query

    photo = tmp_path / "my cat - 2.jpg"
    photo.write_bytes(b"")
    s, _ = state
    s.set_query(Query.image(str(photo)))
    assert s.mode is Mode.IMAGE and s.query.label == "like my cat - 2.jpg"
    terms = parse_query(s.query.box_text)
    assert [(t.kind, t.value) for t in terms] == [("image", str(photo))]


def test_empty_box_means_browsing():
    assert Query.typed("   ") == Query() and Query.typed("similar:x").mode is Mode.TEXT


def test_each_filter_is_a_chip_and_removing_it_drops_only_that_filter(state):
    s, seen = state
    s.search_text("a dog")
    s.set_tag("horse")
    s.set_folder("/photos/2021/")
    s.set_dates(date(2020, 1, 1), date(2021, 6, 30))
    assert [c.key for c in s.chips()] == ["folder", "tag", "from", "to"]
    assert s.chips()[1] == Chip("tag", "Tag: horse")
    assert s.chips()[0].label == "Folder: 2021" and s.chips()[2].label == "From 2020-01-01"
    seen.clear()
    s.remove_filter("tag")
    assert seen == [frozenset({"filters"})] and s.filters.tag is None
    assert s.filters == SearchFilters("/photos/2021/", date(2020, 1, 1), date(2021, 6, 30), None)
    assert s.query.text == "a dog"  # the query stays: the search runs again without the filter
    s.remove_filter("from")
    assert s.filters.date_from is None and s.filters.date_to == date(2021, 6, 30)
    with pytest.raises(ValueError, match="no filter"):
        s.remove_filter("colour")


def test_filters_read_from_the_query_are_chips_whose_removal_gives_the_words_back(state):
    s, seen = state
    s.set_tag("horse")
    s.search_text("kids on a beach july 2019 place:Lisbon")
    assert [(c.key, c.label) for c in s.chips()] == [
        ("tag", "Tag: horse"), ("query:0", "Place: Lisbon"), ("query:1", "Date: July 2019")]
    assert "july 2019" in s.chips()[2].tooltip
    seen.clear()
    s.remove_filter("query:1")
    assert seen == [frozenset({"query"})] and s.query.text == 'kids on a beach "july 2019" place:Lisbon'
    assert [c.label for c in s.chips()] == ["Tag: horse", "Place: Lisbon"]  # the words are searched as words
    s.remove_filter("query:0")
    assert s.query.text == 'kids on a beach "july 2019" "Lisbon"' and [c.key for c in s.chips()] == ["tag"]
    s.search_text("tag:dog")
    s.remove_filter("query:0")
    assert s.query.text == '"dog"' and s.mode is Mode.TEXT
    s.search_text('beach "unbalanced')  # a query the search will refuse: no chips, no error here
    assert [c.key for c in s.chips()] == ["tag"]
    with pytest.raises(ValueError, match="no filter"):
        s.remove_filter("query:5")


def test_words_naming_a_known_place_or_person_are_chips_too(state):
    s, _seen = state
    s.known_names = lambda candidates: ({"lisbon", "portugal"} & candidates, {"anna": "Anna"})
    s.search_text("anna on a tram in lisbon")
    assert [(c.key, c.label) for c in s.chips()] == [("query:0", "Person: Anna"), ("query:1", "Place: lisbon")]
    s.remove_filter("query:1")
    assert s.query.text == 'anna on a tram in "lisbon"' and [c.label for c in s.chips()] == ["Person: Anna"]
    s.remove_filter("query:0")
    assert s.query.text == '"anna" on a tram in "lisbon"' and s.chips() == []
    s.search_text("person:ANNA + beach")
    s.remove_filter("query:0")
    assert s.query.text == '"ANNA" + beach'


def test_all_photos_clears_query_filters_and_selection_in_one_change(state):
    s, seen = state
    selections: list[int | None] = []
    s.selection_changed.connect(selections.append)
    s.search_text("a dog")
    s.set_tag("horse")
    s.select(7)
    seen.clear()
    s.show_all()
    assert s.mode is Mode.BROWSE and not s.filters.active and s.selection is None and s.chips() == []
    assert seen == [frozenset({"query", "filters"})] and selections == [7, None]


def test_sort_is_checked_and_reported(state):
    s, seen = state
    s.set_sort("date")
    assert s.sort == "date" and seen == [frozenset({"sort"})]
    with pytest.raises(ValueError, match="unknown sort"):
        s.set_sort("colour")


def test_event_calls_listeners_in_order_and_disconnects():
    e, calls = Event(), []
    first = lambda x: calls.append(("first", x))  # noqa: E731
    e.connect(first)
    e.connect(lambda x: calls.append(("second", x)))
    e.emit(1)
    e.disconnect(first)
    e.emit(2)
    assert calls == [("first", 1), ("second", 1), ("second", 2)]


def test_a_folder_from_the_sidebar_can_replace_the_tag_filter(state):
    s, seen = state
    s.set_tag("horse")
    s.set_folder("/photos/2021", keep_tag=False)
    assert s.filters == SearchFilters(folder="/photos/2021") and len(seen) == 2
    s.set_tag("dog")
    s.set_folder(None)
    assert s.filters == SearchFilters(tag="dog")
