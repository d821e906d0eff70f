"""The People sidebar filters the grid; a click on a face box on the preview names that face, a right-click
takes it out of its person or moves it to another."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QInputDialog

from engine.faces import FACE_MODEL_ID, faces_installed

pytestmark = pytest.mark.skipif(not faces_installed(), reason="photosift[faces] is not installed")


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_people_sidebar_filters_and_a_box_click_names_the_face(qtbot, window, photo_dir, monkeypatch):
    from engine.update import set_faces_setting

    set_faces_setting(window.lib.catalog, True)
    with qtbot.waitSignal(window.index_finished, timeout=120_000) as blocker:
        window.add_folder(photo_dir)
    assert blocker.args[0] is not None and blocker.args[0].faces is not None
    cat = window.lib.catalog
    astronaut = cat.photo_by_path(str(photo_dir / "space" / "astronaut.jpg"))
    qtbot.waitUntil(lambda: window.people.list.count() >= 1, timeout=10_000)
    person_items = [window.people.list.item(i) for i in range(window.people.list.count())]
    theirs = next(it for it in person_items
                  if astronaut.id in cat.people.photo_ids_of_persons([it.data(Qt.ItemDataRole.UserRole + 40)],
                                                                     FACE_MODEL_ID))
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.people.list.itemClicked.emit(theirs)
    assert astronaut.id in window.grid_model.ids
    assert all(astronaut.id == pid or cat.people.faces_of_photo(pid, FACE_MODEL_ID) for pid in window.grid_model.ids)
    assert [c.key for c in window.state.chips()] == ["person"]  # a chip beside the search box, as every filter

    row = window.grid_model.ids.index(astronaut.id)
    window.grid.setCurrentIndex(window.grid_model.index(row))
    boxes = window.face_boxes
    assert len(boxes.faces) >= 1
    face = boxes.faces[0]
    pm = boxes.base
    left = (window.details.preview.width() - pm.width()) / 2
    top = (window.details.preview.height() - pm.height()) / 2
    centre = QPoint(round(left + (face.x + face.w / 2) * pm.width()), round(top + (face.y + face.h / 2) * pm.height()))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Eileen", True)))
    qtbot.mouseClick(window.details.preview, Qt.MouseButton.LeftButton, pos=centre)
    assert cat.people.person(cat.people.face(face.id).person_id).name == "Eileen"
    assert any(window.people.list.item(i).text().startswith("Eileen") for i in range(window.people.list.count()))
    eileen = cat.people.face(face.id).person_id

    # Right-click: "not her" takes the face out of the person the grid is filtered by, and the photo leaves it.
    menu = boxes.face_menu(cat.people.face(face.id))
    out = next(a for a in menu.actions() if a.text() == "Not Eileen: take this face out")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        out.trigger()
    assert cat.people.face(face.id).person_id != eileen and astronaut.id not in window.grid_model.ids
    from engine.people import regroup

    regroup(cat, FACE_MODEL_ID)  # the user's word, not the grouping's: it holds
    assert cat.people.face(face.id).person_id != eileen
    # ...and "Move to" puts it back with her.
    move_to = next(a.menu() for a in boxes.face_menu(cat.people.face(face.id)).actions() if a.text() == "Move to")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        next(a for a in move_to.actions() if a.text() == "Eileen").trigger()
    assert cat.people.face(face.id).person_id == eileen and astronaut.id in window.grid_model.ids
    # the list was recounted each time; the person the grid is filtered by is still the one marked in it
    assert [it.data(Qt.ItemDataRole.UserRole + 40) for it in window.people.list.selectedItems()] == [eileen]
    window.back()
    assert not window.state.chips() and window.state.filters.person is None
    assert not window.people.list.selectedItems()


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_faces_are_turned_on_from_the_window_not_the_command_line(qtbot, window, photo_dir):
    from engine.faces import faces_enabled

    with qtbot.waitSignal(window.index_finished, timeout=120_000):
        window.add_folder(photo_dir)
    window.people.refresh(window.lib.catalog)
    assert not faces_enabled(window.lib.catalog)
    assert window.people.find_button.isVisibleTo(window) and "index --faces" not in window.people.hint.text()
    assert not window.people.list.isVisibleTo(window)  # no empty list taking the sidebar's room
    with qtbot.waitSignal(window.index_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(window.people.find_button, Qt.MouseButton.LeftButton)
    assert faces_enabled(window.lib.catalog) and blocker.args[0].faces is not None
    qtbot.waitUntil(lambda: window.people.list.count() >= 1, timeout=10_000)
    assert window.people.list.isVisibleTo(window) and not window.people.find_button.isVisibleTo(window)
