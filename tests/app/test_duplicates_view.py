"""The Duplicates view: reached from the sidebar, keyboard review, move to trash and undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from desktop_app.gui.duplicates_view import TrashConfirmDialog
from tests.app.test_duplicates_cli import indexed, trash_home  # noqa: F401 - fixtures


@pytest.fixture
def view_window(qtbot, tmp_path, indexed):  # noqa: F811
    from PySide6.QtCore import QSettings

    from desktop_app.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(Path(os.environ["PHOTOSIFT_LIBRARY"]), settings)
    qtbot.addWidget(w)
    w.show()
    yield w, indexed[0]
    w.close()


def names(view) -> list[str]:
    return [os.path.basename(p.path) for p in view.current().photos]


def test_review_with_the_keyboard(qtbot, view_window):
    w, _root = view_window
    view = w.duplicates
    assert view.sidebar_button.text() == "Duplicates (1)"
    qtbot.mouseClick(view.sidebar_button, Qt.MouseButton.LeftButton)
    assert w.stack.currentWidget() is view
    assert "group 1 of 1, 3 photos" in view.title.text()
    assert names(view)[0] == "a-chelsea.jpg" and "Keep" in view.cards[0].badge.text()
    qtbot.waitUntil(lambda: view.cards[0].image.pixmap() is not None and not view.cards[0].image.pixmap().isNull())
    qtbot.keyClick(view, Qt.Key.Key_3)  # the third photo becomes the keeper
    assert names(view)[0] == os.path.basename(view.cards[0].photo.path)
    keep = w.lib.catalog.duplicates.groups()[0]
    assert keep.keep_chosen and os.path.basename(w.lib.catalog.photo(keep.keep_id).path) == names(view)[0]
    assert names(view)[0] != "a-chelsea.jpg"
    qtbot.keyClick(view, Qt.Key.Key_K)  # keep all: no longer offered
    assert view.current() is None and "No duplicates" in view.title.text()
    assert w.lib.catalog.duplicates.groups()[0].reviewed
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert w.stack.currentWidget() is w.split


def test_move_others_to_trash_and_undo(qtbot, view_window, trash_home, monkeypatch):  # noqa: F811
    w, root = view_window
    view = w.duplicates
    reindexed = []
    monkeypatch.setattr(w, "start_index", lambda *a, **k: reindexed.append(True))
    view.reindex_requested.disconnect()
    view.reindex_requested.connect(w.start_index)
    monkeypatch.setattr(TrashConfirmDialog, "exec", lambda dialog: QDialog.DialogCode.Accepted)  # the person says yes
    qtbot.mouseClick(view.sidebar_button, Qt.MouseButton.LeftButton)
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert sorted(p.name for p in root.iterdir()) == ["a-chelsea.jpg", "astronaut.jpg", "coffee.jpg", "rocket.jpg"]
    assert w.lib.catalog.counts()["total"] == 4 and view.current() is None
    assert "Moved 2 photos" in w.toast.text()
    assert w.stack.currentWidget() is view  # the window's refresh must not end the review
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(list(root.iterdir())) == 6 and reindexed == [True]
    assert "Put back 2 photos" in w.toast.text()
