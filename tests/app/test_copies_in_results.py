"""Exact copies are one search result (issue #27 item 4): the keeper with a badge counting the copies; a click
on the badge shows every copy after it, numbered, and a second click folds them again."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from desktop_app.gui.grid import StackRole, stack_badge_rect
from tests.app.gui_helpers import _search, index_through_window


def _names(window) -> list[str]:
    return [window.lib.catalog.photo(pid).path.split("/photos/", 1)[-1] for pid in window.grid_model.ids]


def test_copies_are_one_result_whose_badge_opens_them(qtbot, window, photo_dir):
    window.resize(1000, 700)
    backup = photo_dir / "backup"
    backup.mkdir()
    shutil.copy2(photo_dir / "space" / "rocket.jpg", backup / "rocket.jpg")
    shutil.copy2(photo_dir / "space" / "rocket.jpg", backup / "rocket (copy).jpg")
    index_through_window(qtbot, window, photo_dir)
    rocket_id = window.lib.catalog.photo_by_path(str(photo_dir / "space" / "rocket.jpg")).id
    found = _search(qtbot, window, lambda: window.search(f"id:{rocket_id}"))
    names = _names(window)
    assert found == len(names) and names.count("space/rocket.jpg") == 1
    assert not any(n.startswith("backup/") for n in names)  # the copies fold into the keeper's cell
    row = names.index("space/rocket.jpg")
    mark = window.grid_model.index(row).data(StackRole)
    assert mark is not None and mark.size == 3 and mark.position is None and mark.kind == "copies"
    assert "stands for 3 copies" in window.grid_model.index(row).data(Qt.ItemDataRole.ToolTipRole)
    assert "standing for copies" in window.status_label.text()

    def click_badge(at: int) -> None:
        rect = stack_badge_rect(window.grid.visualRect(window.grid_model.index(at)))
        qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    click_badge(row)
    qtbot.waitUntil(lambda: len(window.grid_model.ids) == found + 2, timeout=5_000)
    names = _names(window)
    assert names[row:row + 3] == ["space/rocket.jpg", *sorted(names[row + 1:row + 3])]
    assert {n for n in names[row + 1:row + 3]} == {"backup/rocket.jpg", "backup/rocket (copy).jpg"}
    assert [window.grid_model.index(r).data(StackRole).position for r in range(row, row + 3)] == [1, 2, 3]
    assert window.grid_model.scores[window.grid_model.ids[row + 1]] == pytest.approx(
        window.grid_model.scores[window.grid_model.ids[row]], abs=1e-4)  # each copy with its own score
    click_badge(row + 2)  # any copy's badge folds them again
    qtbot.waitUntil(lambda: len(window.grid_model.ids) == found, timeout=5_000)
    assert window.state.query.text == f"id:{rocket_id}"  # no new search: the same results, folded
