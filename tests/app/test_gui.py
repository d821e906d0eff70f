"""The desktop window driven as a user would, offscreen (pytest-qt)."""

import os
import shutil

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.app.gui_helpers import _search, index_through_window
from tests.conftest import write_jpeg


def _paths(window):
    return [window.lib.catalog.photo(pid).path for pid in window.grid_model.ids]


def test_first_run_screen_then_index_search_similar_back(qtbot, window, photo_dir):
    assert window.stack.currentIndex() == 0  # welcome page invites adding a folder
    report = index_through_window(qtbot, window, photo_dir)
    assert window.stack.currentIndex() == 1
    total = window.lib.catalog.counts()["total"]
    assert report.index.indexed + report.scan.copied == total and window.grid_model.rowCount() == total
    # a photo whose embedding is known: make one photo's vector the text vector of the query
    target = window.lib.catalog.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    text_vec = window.grid_controller.encoder().encode_texts(["a red balloon"])[0]
    window.lib.catalog.embeddings.put("tiny", [target.id], text_vec[None])
    window.search_box.setText("a red balloon")
    n = _search(qtbot, window, lambda: qtbot.keyClick(window.search_box, Qt.Key.Key_Return))
    first = window.grid_model.ids[0]  # the target, or the keeper of its copies (coffee.png) standing for it
    member_of = window.lib.catalog.duplicates.membership([first, target.id])
    assert n >= 1 and (first == target.id or member_of.get(first) == member_of.get(target.id) is not None)
    assert window.mode == "results"
    assert "a red balloon" in window.recent.stringList()
    rocket = window.lib.catalog.photo_by_path(str(photo_dir / "space" / "rocket.jpg"))
    window.grid.setCurrentIndex(window.grid_model.index(0))
    _search(qtbot, window, lambda: window.find_similar(rocket.id))
    assert rocket.id not in window.grid_model.ids and window.back_action.isVisible()
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.mode == "browse" and window.grid_model.rowCount() == total


def test_drop_an_image_file_searches_by_it(qtbot, window, photo_dir, tmp_path):
    index_through_window(qtbot, window, photo_dir)
    outside = tmp_path / "dropped.jpg"
    shutil.copy(photo_dir / "space" / "astronaut.jpg", outside)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    _search(qtbot, window, lambda: window.dropEvent(event))
    assert _paths(window)[0] == str(photo_dir / "space" / "astronaut.jpg")
    assert window.grid_model.scores[window.grid_model.ids[0]] > 0.999


def test_tag_filter_and_folder_filter(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    cat = window.lib.catalog
    coffee = cat.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    window.details.show_photo(coffee, cat)
    window.details.new_tag.setText("Breakfast")
    qtbot.keyClick(window.details.new_tag, Qt.Key.Key_Return)
    names = [window.sidebar.tags.item(i).text() for i in range(window.sidebar.tags.count())]
    assert "breakfast  (1)" in names
    item = window.sidebar.tags.findItems("breakfast  (1)", Qt.MatchFlag.MatchExactly)[0]
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.sidebar.tags.itemClicked.emit(item)
    assert window.grid_model.ids == [coffee.id]
    window.back()
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.sidebar.folder_chosen.emit(str(photo_dir / "space"))
    assert sorted(os.path.basename(p) for p in _paths(window)) == ["astronaut.jpg", "hubble_deep_field.jpg",
                                                                    "rocket.jpg"]


def test_unreadable_files_are_listed(qtbot, window, tmp_path):
    folder = tmp_path / "mixed"
    write_jpeg(folder / "fine.jpg")
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    report = index_through_window(qtbot, window, folder)
    assert report.index.failed == 1
    assert window.failed_button.isVisible() and window.failed_button.text() == "1 unreadable"
    from desktop_app.gui.dialogs import FailedFilesDialog

    dialog = FailedFilesDialog(window.lib.catalog, window)
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text().endswith("broken.jpg")
    assert "not an image" in dialog.table.item(0, 1).text()


@pytest.mark.slow  # 3 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_model_switch_from_settings_reindexes(qtbot, window, photo_dir, models_root):
    from training.tiny import export_tiny

    export_tiny(models_root / "tiny-c", model_id="tiny-c", seed=3)
    index_through_window(qtbot, window, photo_dir)
    choices = dict(window.library_jobs.model_choices())
    assert "tiny-c" in choices
    with qtbot.waitSignal(window.index_finished, timeout=60_000):
        window.apply_settings("tiny-c")
    counts = window.lib.catalog.embeddings.models()
    assert window.lib.active_model_id == "tiny-c" and counts["tiny-c"] == counts["tiny"]
    shutil.rmtree(models_root / "tiny-c")


def test_offline_folder_shown(qtbot, window, tmp_path):
    usb = tmp_path / "usb"
    write_jpeg(usb / "a.jpg")
    index_through_window(qtbot, window, usb)
    shutil.rmtree(usb)
    with qtbot.waitSignal(window.index_finished, timeout=60_000):
        window.start_index()
    labels = [window.sidebar.folders.topLevelItem(i).text(0) for i in range(window.sidebar.folders.topLevelItemCount())]
    assert "usb  (offline)" in labels and window.lib.catalog.counts()["total"] == 1


def test_viewer_keys(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    from desktop_app.gui.dialogs import PhotoViewer

    viewer = PhotoViewer(window.lib.catalog, window.grid_model.ids, 0, window)
    qtbot.addWidget(viewer)
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.row == 1 and "2 of" in viewer.caption.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.row == 0


def test_photos_found_while_indexing_are_appended_without_resetting_the_grid(qtbot, window, photo_dir):
    from engine.library import Library
    from engine.scanner import scan

    index_through_window(qtbot, window, photo_dir)
    window.grid.setCurrentIndex(window.grid_model.index(2))
    before = list(window.grid_model.ids)
    resets: list[int] = []
    window.grid_model.modelReset.connect(lambda: resets.append(1))
    write_jpeg(photo_dir / "new" / "a.jpg")
    write_jpeg(photo_dir / "new" / "b.jpg", color=(20, 200, 30))
    with Library.open(window.library_dir) as lib:  # as the indexing process does
        scan(lib.catalog)
    window.grid_controller.grow()  # what the timer does while indexing runs
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == len(before) + 2, timeout=10_000)
    assert window.grid_model.ids[:len(before)] == before and not resets
    assert window.grid.currentIndex().row() == 2
    assert f"{len(before) + 2} in library" in window.status_label.text()
    window.grid_controller.grow()  # nothing new: nothing changes
    qtbot.wait(200)
    assert window.grid_model.rowCount() == len(before) + 2


def test_sidebar_counts_the_scanned_photos_while_they_are_still_indexing(qtbot, window, photo_dir):
    from engine.jobs import Progress
    from engine.library import Library
    from engine.scanner import scan

    with Library.open(window.library_dir) as lib:  # as the indexing process does before it indexes
        lib.catalog.add_root(str(photo_dir))
        n = scan(lib.catalog).new
    assert n > 0
    window.library_jobs.index_progress(Progress("scan", n, n, 1.0))
    window.library_jobs.index_progress(Progress("index", 0, n, 1.0))
    qtbot.waitUntil(lambda: window.sidebar.folders.topLevelItem(0).text(1) == str(n), timeout=10_000)


def test_the_end_of_indexing_keeps_the_users_place_in_the_grid(qtbot, window, photo_dir):
    from engine.library import Library
    from engine.scanner import scan

    index_through_window(qtbot, window, photo_dir)
    window.grid.setCurrentIndex(window.grid_model.index(3))
    chosen, before = window.grid_model.ids[3], len(window.grid_model.ids)
    # Undated photos are listed by path (the timeline's "No date" section): this one sorts first, so every
    # photo moves down a place.
    write_jpeg(photo_dir / "a-new" / "a.jpg")
    with Library.open(window.library_dir) as lib:
        scan(lib.catalog)
    with qtbot.waitSignal(window.index_finished, timeout=10_000):
        window.library_jobs.index_ended(None, "Indexed 1 photo")
    assert len(window.grid_model.ids) == before + 1 and window.grid_model.ids[3] != chosen
    assert window.grid_model.ids[window.grid.currentIndex().row()] == chosen


def test_status_line_names_the_stage_and_what_it_is_doing(window):
    from engine.jobs import Progress

    window.library_jobs.index_progress(Progress("tag", 0, 31, 2.0, "encoding the tag vocabulary"))
    assert "Tagging 0/31 (encoding the tag vocabulary)" in window.status_label.text()
    window.library_jobs.index_progress(Progress("vectors", 50, 100, 5.0))
    text = window.status_label.text()
    assert "Building the search index 50/100 at 10.0/s, about 5 s left" in text and "(" not in text


def test_ctrl_q_quits(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_viewer_shows_a_small_photo_at_100_percent_and_goes_full_screen(qtbot, window, tmp_path):
    from desktop_app.gui.dialogs import PhotoViewer

    folder = tmp_path / "small"
    write_jpeg(folder / "small.jpg", size=(320, 200))
    index_through_window(qtbot, window, folder)
    viewer = PhotoViewer(window.lib.catalog, window.grid_model.ids, 0, window)
    qtbot.addWidget(viewer)
    viewer.show()
    viewer.activateWindow()  # as exec() makes it: the main window's own Esc shortcut must not take the key
    qtbot.waitUntil(viewer.isActiveWindow)
    qtbot.waitUntil(lambda: not viewer.loading)  # decoded off the GUI thread (tests/app/test_viewer_gui.py)
    ratio = viewer.devicePixelRatioF()
    assert viewer.image.width() > 320 and viewer.image.height() > 200  # room to blow it up: it is not
    assert viewer.shown_size() == (320, 200) and viewer.image.pixmap().devicePixelRatio() == ratio
    qtbot.keyClick(viewer, Qt.Key.Key_F)
    qtbot.waitUntil(viewer.isFullScreen)
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)  # Esc leaves full screen first ...
    qtbot.waitUntil(lambda: not viewer.isFullScreen())
    assert viewer.isVisible()
    qtbot.keyClick(viewer, Qt.Key.Key_F11)
    qtbot.waitUntil(viewer.isFullScreen)
    viewer.resize(200, 150)  # ... and a photo larger than the room is scaled down to fit
    viewer.showNormal()
    viewer.resize(220, 160)
    qtbot.waitUntil(lambda: viewer.shown_size()[0] < 320)
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)  # then closes
    assert not viewer.isVisible()


def test_uncertain_tags_are_apart_and_a_rejected_tag_comes_back_with_undo(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    cat = window.lib.catalog
    coffee = cat.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    rocket = cat.photo_by_path(str(photo_dir / "space" / "rocket.jpg"))
    with cat.transaction():
        cat.tags.put_zeroshot("tiny", coffee.id, [("coffee", 0.31, 0.92), ("watermelon", 0.2, 0.03)])
        cat.tags.put_zeroshot("tiny", rocket.id, [("rocket", 0.3, 0.88), ("watermelon", 0.2, 0.02)])
    window.sidebar.refresh_tags(cat)

    def sidebar():
        return [window.sidebar.tags.item(i).text() for i in range(window.sidebar.tags.count())]

    assert "coffee  (1)" in sidebar() and not any(t.startswith("watermelon") for t in sidebar())
    assert window.sidebar.show_uncertain.isVisibleTo(window.sidebar)
    window.sidebar.show_uncertain.setChecked(True)
    assert "watermelon  (2)" in sidebar() and sidebar().index("watermelon  (2)") > sidebar().index("rocket  (1)")
    window.sidebar.show_uncertain.setChecked(False)

    window.details.show_photo(coffee, cat)
    labels = [window.details.tag_list.item(i).text() for i in range(window.details.tag_list.count())]
    assert labels == ["coffee   92%", "uncertain:", "watermelon   3%?"]

    before = cat.tags.row(coffee.id, "coffee")
    window.details.tag_list.setCurrentRow(0)
    window.details.reject_button.click()
    assert cat.tags.row(coffee.id, "coffee").source == "rejected" and "coffee  (1)" not in sidebar()
    assert window.undo_notice.isVisible()
    assert "Rejected tag \u201ccoffee\u201d on coffee.jpg" in window.undo_notice.label.text()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.details.tag_list.setFocus()
    qtbot.keyClick(window.details.tag_list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Z
    assert cat.tags.row(coffee.id, "coffee") == before  # exactly as it was: source, score, model, confidence
    assert "coffee  (1)" in sidebar() and window.details.tag_list.item(0).text() == "coffee   92%"
    window.details.tag_list.setCurrentRow(0)
    window.details.reject_button.click()
    window.undo_notice.button.click()  # the status bar's Undo does the same
    assert cat.tags.row(coffee.id, "coffee") == before
