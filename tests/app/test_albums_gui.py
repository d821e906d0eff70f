"""Albums in the window (issue #27 item 3): photos put in a new album from the grid's menu, the album listed
in the sidebar with its count, a click on it filters the grid with a chip, and its photos taken out again."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMenu

from desktop_app.gui.albums import AlbumRole
from tests.app.gui_helpers import index_through_window


def _choose_in_menu(qtbot, window, row: int, *path: str) -> None:
    """Right-click the grid cell at `row` and pick the menu entries named by `path`, as a user does."""
    def pick(menu: QMenu, names: list[str]) -> None:
        action = next(a for a in menu.actions() if a.text().startswith(names[0]))
        if len(names) == 1:
            action.trigger()
            QApplication.activePopupWidget() and QApplication.activePopupWidget().close()
            menu.close()
            return
        pick(action.menu(), names[1:])

    def when_open() -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu), menu
        pick(menu, list(path))

    QTimer.singleShot(300, when_open)
    window._context_menu(window.grid.visualRect(window.grid_model.index(row)).center())


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_photos_go_into_an_album_from_the_grid_and_the_album_filters_it(qtbot, window, photo_dir, monkeypatch):
    index_through_window(qtbot, window, photo_dir)
    qtbot.waitUntil(lambda: window.albums.count() == 1, timeout=10_000)
    assert window.albums.item(0).text().startswith("No albums yet")
    ids = window.grid_model.ids[:3]
    window.grid.setCurrentIndex(window.grid_model.index(0))
    assert window.details.fields["Albums"].text() == "none"
    for row in range(3):  # three photos chosen, as with Ctrl+click
        window.grid.selectionModel().select(window.grid_model.index(row),
                                            window.grid.selectionModel().SelectionFlag.Select)
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Best of", True)))
    _choose_in_menu(qtbot, window, 0, "Add to album", "New album")
    qtbot.waitUntil(lambda: window.albums.count() == 1 and window.albums.item(0).data(AlbumRole) == "Best of",
                    timeout=10_000)
    assert window.albums.item(0).text() == "Best of  (3)"
    assert window.details.fields["Albums"].text() == "Best of"  # the current photo's details say so at once
    assert sorted(window.lib.catalog.albums.photo_ids(window.lib.catalog.albums.named("Best of").id)) == sorted(ids)

    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.albums.viewport(), Qt.MouseButton.LeftButton,
                         pos=window.albums.visualItemRect(window.albums.item(0)).center())
    assert sorted(window.grid_model.ids) == sorted(ids) and window.chips.labels() == ["Album: Best of"]
    assert [it.text() for it in window.albums.selectedItems()] == ["Best of  (3)"]
    window.grid.setCurrentIndex(window.grid_model.index(1))
    assert window.details.fields["Albums"].text() == "Best of"  # the details say which albums a photo is in

    window.grid.selectionModel().clearSelection()
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        _choose_in_menu(qtbot, window, 0, "Add to album", "Remove this photo")
    assert len(window.grid_model.ids) == 2
    qtbot.waitUntil(lambda: window.albums.item(0).text() == "Best of  (2)", timeout=10_000)
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.chips.chip("album").remove_button, Qt.MouseButton.LeftButton)
    assert window.state.filters.album is None and window.albums.selectedItems() == []
