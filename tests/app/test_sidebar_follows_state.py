"""The sidebar says what the grid shows (issue #24, items 17 and 18): a tag's count is the photos its filter
shows (not those where the model is unsure of it), and the sidebar's highlight follows the browse state:
removing a chip, or a recount of the sidebar, never leaves a selection that no longer filters anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from engine.places import Place
from tests.app.gui_helpers import index_through_window


def _shot(widget, name: str) -> None:
    out = os.environ.get("PHOTOSIFT_SHOTS")  # set to a folder to look at the window as a user would
    if out:
        widget.grab().save(str(Path(out) / name))


def _tag_item(window, name: str):
    tags = window.sidebar.tags
    return next(tags.item(i) for i in range(tags.count()) if tags.item(i).text().split("  (")[0] == name)


def _click(qtbot, view, item) -> None:
    """A click on the item where it is drawn, as a user makes it."""
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualItemRect(item).center())


def _highlighted(view) -> list[str]:
    """What a person sees marked in a list or tree: its selected items."""
    return [it.text(0) if hasattr(it, "childCount") else it.text() for it in view.selectedItems()]


def _photos(window, photo_dir):
    cat = window.lib.catalog
    return {name: cat.photo_by_path(str(photo_dir / sub / f"{name}.jpg")) for sub, name in
            (("home", "coffee"), ("home", "chelsea"), ("space", "rocket"), ("home", "camera"))}


def test_a_tags_count_is_what_its_filter_shows(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    p = _photos(window, photo_dir)
    cat = window.lib.catalog
    with cat.transaction():
        cat.tags.put_zeroshot("tiny", p["coffee"].id, [("cup", 0.31, 0.92), ("melon", 0.2, 0.03)])
        cat.tags.put_zeroshot("tiny", p["chelsea"].id, [("cup", 0.2, 0.004), ("melon", 0.2, 0.02)])  # "<1%?"
    window.sidebar.refresh_tags(cat)
    item = _tag_item(window, "cup")
    assert item.text() == "cup  (1)"
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _click(qtbot, window.sidebar.tags, item)
    assert window.grid_model.ids == [p["coffee"].id] and window.chips.labels() == ["Tag: cup"]
    # a tag the model is unsure of everywhere: listed apart when asked for, and its filter shows what it counts
    window.sidebar.show_uncertain.setChecked(True)
    melon = _tag_item(window, "melon")
    assert melon.text() == "melon  (2)"
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _click(qtbot, window.sidebar.tags, melon)
    assert sorted(window.grid_model.ids) == sorted([p["coffee"].id, p["chelsea"].id])
    assert window.chips.labels() == ["Tag: melon (uncertain too)"]
    _shot(window, "uncertain-tag-filter.png")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.chips.chip("tag").remove_button, Qt.MouseButton.LeftButton)
    assert window.state.filters.tag is None and not window.state.filters.tag_uncertain_too


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_the_sidebar_highlight_follows_the_filters(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    p = _photos(window, photo_dir)
    cat = window.lib.catalog
    cat.tags.set_user(p["coffee"].id, "breakfast")
    cat.places.put([(p["rocket"].id, 38.72, -9.14, Place("Lisbon", "Lisbon", "Portugal", "PT"))])
    done = []
    window.sidebar_controller.refresh(lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done) and window.places.topLevelItemCount() == 1, timeout=10_000)
    sidebar = window.sidebar

    # a place clicked, its chip removed: nothing stays marked, not even after the sidebar is counted again
    portugal = window.places.topLevelItem(0)
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _click(qtbot, window.places, portugal)
    assert window.chips.labels() == ["Place: Portugal"] and _highlighted(window.places) == ["Portugal"]
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.chips.chip("place").remove_button, Qt.MouseButton.LeftButton)
    assert _highlighted(window.places) == []
    done.clear()
    window.sidebar_controller.refresh(lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    qtbot.waitUntil(lambda: window.places.topLevelItemCount() == 1, timeout=10_000)
    qtbot.wait(200)  # the places' own recount lands after the sidebar's
    assert _highlighted(window.places) == [] and window.state.filters.place is None

    # a tag and a folder chosen: a recount of the sidebar (a tag edited, an index) keeps them marked
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _click(qtbot, sidebar.tags, _tag_item(window, "breakfast"))
    space = next(sidebar.folders.topLevelItem(1).child(i) for i in range(sidebar.folders.topLevelItem(1).childCount())
                 if sidebar.folders.topLevelItem(1).child(i).text(0) == "space")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _click(qtbot, sidebar.folders, space)
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _click(qtbot, sidebar.tags, _tag_item(window, "breakfast"))
    assert window.chips.labels() == ["Folder: space", "Tag: breakfast"]
    done.clear()
    window.sidebar_controller.refresh(lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    sidebar.refresh_tags(cat)
    window.details.tags_changed.emit(p["coffee"].id)  # as after a tag edit in the details panel
    assert _highlighted(sidebar.tags) == ["breakfast  (1)"] and _highlighted(sidebar.folders) == ["space"]
    _shot(window, "sidebar-follows-state.png")
    # the chips removed: the sidebar marks "All photos" and no tag
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.chips.chip("tag").remove_button, Qt.MouseButton.LeftButton)
    assert _highlighted(sidebar.tags) == [] and sidebar.tags.currentItem() is None
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.chips.chip("folder").remove_button, Qt.MouseButton.LeftButton)
    assert _highlighted(sidebar.folders) == ["All photos"]
