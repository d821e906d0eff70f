"""The window shows what it is showing (issue #15): filters as removable chips, the search box saying what
the grid holds, and nothing left over from a previous view (old scores, old details, late search results)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from engine.library import Library
from tests.app.gui_helpers import _search, index_through_window


def _coffees(window, photo_dir):
    """coffee.jpg and coffee.png, both made the best match of "a cup of coffee"."""
    cat = window.lib.catalog
    jpg = cat.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    png = cat.photo_by_path(str(photo_dir / "home" / "coffee.png"))
    vec = window.grid_controller.encoder().encode_texts(["a cup of coffee"])
    cat.embeddings.put("tiny", [jpg.id, png.id], np.repeat(vec, 2, axis=0))
    return jpg, png


def test_a_tag_filter_is_a_chip_and_removing_it_runs_the_search_again_without_it(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    jpg, png = _coffees(window, photo_dir)
    window.lib.catalog.tags.set_user(jpg.id, "breakfast")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.sidebar.tag_chosen.emit("breakfast")
    assert window.chips.labels() == ["Tag: breakfast"] and window.grid_model.ids == [jpg.id]
    window.search_box.setText("a cup of coffee")
    assert _search(qtbot, window, lambda: qtbot.keyClick(window.search_box, Qt.Key.Key_Return)) == 1
    assert window.grid_model.ids == [jpg.id] and window.chips.isVisibleTo(window)
    # the chip's remove button: the same search, without the tag
    _search(qtbot, window, lambda: qtbot.mouseClick(window.chips.chip("tag").remove_button, Qt.MouseButton.LeftButton))
    # the coffee photo and its PNG copy are one result now (issue #27): the cell stands for both
    first = window.grid_model.ids[0]
    mark = window.grid_model.stacks.get(first)
    assert first in (jpg.id, png.id) and mark is not None and mark.kind == "copies" and mark.size == 2
    assert window.chips.labels() == []
    assert window.search_box.text() == "a cup of coffee" and window.mode == "results"
    assert window.grid_controller.options().filters.tag is None


def test_a_folder_filter_is_a_chip_that_includes_the_folder_itself(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    total = window.grid_model.rowCount()
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.sidebar.folder_chosen.emit(str(photo_dir / "space") + "/")  # a trailing separator, as typed
    assert window.chips.labels() == ["Folder: space"] and window.grid_model.rowCount() == 3
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.chips.chip("folder").remove_button, Qt.MouseButton.LeftButton)
    assert window.grid_model.rowCount() == total and not window.chips.isVisibleTo(window)


def test_after_find_similar_the_search_box_says_what_is_shown(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    rocket = window.lib.catalog.photo_by_path(str(photo_dir / "space" / "rocket.jpg"))
    window.search_box.setText("a red balloon")
    _search(qtbot, window, lambda: qtbot.keyClick(window.search_box, Qt.Key.Key_Return))
    _search(qtbot, window, lambda: window.find_similar(rocket.id))
    assert window.search_box.text() == f"similar:{rocket.id}"  # not the old "a red balloon"
    assert "like rocket.jpg" in window.status_label.text()
    shown = list(window.grid_model.ids)
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.back()
    assert window.search_box.text() == ""
    # what the box said, typed in again, shows the same photos
    window.search_box.setText(f"similar:{rocket.id}")
    _search(qtbot, window, lambda: qtbot.keyClick(window.search_box, Qt.Key.Key_Return))
    assert window.grid_model.ids == shown and rocket.id not in shown
    # a photo that is not there: the error, and an empty grid rather than the previous query's photos
    window.search_box.setText("similar:999999")
    assert _search(qtbot, window, lambda: qtbot.keyClick(window.search_box, Qt.Key.Key_Return)) == -1
    assert window.grid_model.rowCount() == 0 and window.search_box.text() == "similar:999999"
    assert "no photo id:999999" in window.toast.text()


def test_all_photos_does_not_leave_the_last_result_and_its_score_in_the_details(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    _search(qtbot, window, lambda: window.search("a red balloon"))
    assert window.details.photo is not None and window.details.fields["Score"].text() != ""
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.back()
    assert window.details.fields["Score"].text() == ""
    current = window.grid.currentIndex()
    shown = window.grid_model.photo_id(current.row()) if current.isValid() else None
    assert (window.details.photo.id if window.details.photo else None) == shown


@pytest.mark.slow  # 3 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_search_still_running_when_all_photos_is_chosen_does_not_replace_the_grid(
    qtbot, window, photo_dir, monkeypatch
):
    from engine.search import PhotoSearch

    index_through_window(qtbot, window, photo_dir)
    total = window.grid_model.rowCount()
    search = PhotoSearch.search

    def slow(self, *args, **kwargs):  # a big library: the user is quicker than the search
        time.sleep(0.8)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(PhotoSearch, "search", slow)
    window.search("a red balloon")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.back()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    qtbot.wait(100)
    assert window.mode == "browse" and window.grid_model.rowCount() == total and not window.grid_model.scores


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_after_a_model_switch_no_score_of_the_old_model_stays_on_screen(qtbot, window, photo_dir, second_model):
    from engine.encoder import ClipEncoder, RuntimeConfig
    from engine.search import PhotoSearch
    from engine.update import update_library

    index_through_window(qtbot, window, photo_dir)
    other = ClipEncoder(second_model, RuntimeConfig(device="cpu"))
    with Library.open(window.library_dir) as lib:  # the new model's vectors exist: the switch is quick
        update_library(lib, other, do_scan=False, do_tag=False)
    _search(qtbot, window, lambda: window.search("a cup of coffee"))
    old = dict(window.grid_model.scores)
    assert old and window.details.fields["Score"].text() != ""
    with qtbot.waitSignal(window.model_switched, timeout=120_000) as blocker:
        window.apply_settings("tiny-2")
    assert blocker.args[0] is not None
    # when the switch is reported the search is on its way again; meanwhile no badge shows an old score
    assert not set(window.grid_model.scores.items()) & set(old.items())
    assert window.details.fields["Score"].text() == ""
    with Library.open(window.library_dir) as lib:
        options = window.grid_controller.options()
        expected = {r.photo.id: r.score for r in PhotoSearch(lib, other).search("a cup of coffee", options)}
    qtbot.waitUntil(lambda: window.grid_model.scores == expected, timeout=30_000)


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_after_a_model_switch_the_details_show_the_new_models_tags_and_keep_the_photo(
    qtbot, window, photo_dir, second_model
):
    from engine.encoder import ClipEncoder, RuntimeConfig
    from engine.update import update_library

    index_through_window(qtbot, window, photo_dir)
    cat = window.lib.catalog
    coffee = cat.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    with Library.open(window.library_dir) as lib:
        update_library(lib, ClipEncoder(second_model, RuntimeConfig(device="cpu")), do_scan=False, do_tag=False)
    with cat.transaction():
        cat.tags.put_zeroshot("tiny", coffee.id, [("pasta", 0.9)])
    window.grid.setCurrentIndex(window.grid_model.index(window.grid_model.ids.index(coffee.id)))

    def tags() -> set[str]:
        return {window.details.tag_list.item(i).text().split("   ")[0] for i in range(window.details.tag_list.count())}

    assert "pasta" in tags()
    with qtbot.waitSignal(window.model_switched, timeout=120_000):
        window.apply_settings("tiny-2")
    qtbot.waitUntil(lambda: window.details.photo is not None and "pasta" not in tags(), timeout=10_000)
    qtbot.wait(300)  # the browse grid read again after the switch keeps the photo chosen
    assert window.details.photo is not None and window.details.photo.id == coffee.id and "pasta" not in tags()
