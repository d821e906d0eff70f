"""The window's side of "nothing lost": the banner about photos that vanished many at once (Forget them /
Keep), and photos of an offline folder marked on their cards and in the details panel."""

import shutil

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from desktop_app.gui.grid import OfflineRole
from tests.app.gui_helpers import index_through_window
from tests.conftest import write_jpeg


def _unplugged_disk(qtbot, window, tmp_path, n=8):
    """A folder indexed with n photos, then left with only a README (a mount point without its disk),
    indexed again: the scan keeps the photos as missing."""
    disk = tmp_path / "disk"
    files = [write_jpeg(disk / f"{i}.jpg", color=(i * 25, 40, 90)) for i in range(n)]
    index_through_window(qtbot, window, lambda: window.add_folder(disk))
    for f in files:
        f.unlink()
    (disk / "README.txt").write_text("the disk is not mounted")
    report = index_through_window(qtbot, window, window.start_index)
    assert report.scan.held == n and report.scan.deleted == 0
    return disk


def _offline_marks(window):
    return [bool(window.grid_model.index(r).data(OfflineRole)) for r in range(window.grid_model.rowCount())]


def _folder_labels(window):
    folders = window.sidebar.folders
    return [folders.topLevelItem(i).text(0) for i in range(folders.topLevelItemCount())]


def _sidebar_total(window):
    return window.sidebar.folders.topLevelItem(0).text(1)


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_banner_shows_vanished_photos_and_forget_them_forgets_them(qtbot, window, tmp_path):
    assert window.banner.isHidden()  # nothing missing: no banner
    disk = _unplugged_disk(qtbot, window, tmp_path)
    qtbot.waitUntil(window.banner.isVisible, timeout=10_000)
    assert window.banner.label.text() == (f"8 photos in {disk} vanished (drive unplugged?); "
                                          "they are kept with their tags.")
    assert window.lib.catalog.counts()["missing"] == 8 and window.grid_model.rowCount() == 8
    assert all(_offline_marks(window))  # the kept photos cannot be opened now: marked on their cards
    window.grid.setCurrentIndex(window.grid_model.index(0))
    assert window.details.offline_note.isVisible()
    assert window.details.offline_note.text().startswith(f"Missing: it vanished from {disk}")

    with qtbot.waitSignal(window.index_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(window.banner.forget_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].scan.deleted == 8
    qtbot.waitUntil(lambda: window.banner.isHidden() and window.grid_model.rowCount() == 0, timeout=10_000)
    assert window.lib.catalog.counts()["total"] == 0 and _sidebar_total(window) == "0"


@pytest.mark.slow  # 3 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_keep_hides_the_banner_for_the_session_until_more_photos_vanish(qtbot, window, tmp_path):
    _unplugged_disk(qtbot, window, tmp_path)
    qtbot.waitUntil(window.banner.isVisible, timeout=10_000)
    qtbot.mouseClick(window.banner.keep_button, Qt.MouseButton.LeftButton)
    assert window.banner.isHidden() and window.lib.catalog.counts()["missing"] == 8  # kept, not forgotten
    report = index_through_window(qtbot, window, window.start_index)  # the same photos held again: nothing new to say
    assert report.scan.held == 8
    window.refresh_library()
    qtbot.wait(300)
    assert window.banner.isHidden()

    other = tmp_path / "card"
    files = [write_jpeg(other / f"{i}.jpg", color=(90, i * 25, 40)) for i in range(5)]
    index_through_window(qtbot, window, lambda: window.add_folder(other))
    for f in files:
        f.unlink()
    (other / ".Trash-0").mkdir()
    index_through_window(qtbot, window, window.start_index)  # five more vanished: ask again
    qtbot.waitUntil(window.banner.isVisible, timeout=10_000)
    assert window.banner.label.text().startswith("13 photos in ")


def test_photos_of_an_offline_folder_are_marked_when_browsing_and_in_search_results(qtbot, window, tmp_path):
    usb = tmp_path / "usb"
    for i in range(3):
        write_jpeg(usb / f"{i}.jpg", color=(i * 60, 90, 30))
    home = tmp_path / "home"
    write_jpeg(home / "here.jpg", color=(10, 200, 10))
    index_through_window(qtbot, window, lambda: window.add_folder(usb))
    index_through_window(qtbot, window, lambda: window.add_folder(home))
    assert _offline_marks(window) == [False] * 4
    window.grid.setCurrentIndex(window.grid_model.index(0))
    assert window.details.offline_note.isHidden()

    shutil.rmtree(usb)  # unplugged: no scan has run since, the window sees it when it reads the library
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.refresh_library()
    qtbot.waitUntil(lambda: "usb  (offline)" in _folder_labels(window), timeout=10_000)
    here = window.lib.catalog.photo_by_path(str(home / "here.jpg")).id
    assert {pid: mark for pid, mark in zip(window.grid_model.ids, _offline_marks(window), strict=True)} == {
        pid: pid != here for pid in window.grid_model.ids}
    row = next(r for r, pid in enumerate(window.grid_model.ids) if pid != here)
    window.grid.setCurrentIndex(window.grid_model.index(row))
    assert window.details.offline_note.isVisible()
    assert window.details.offline_note.text().startswith(f"Offline: the folder {usb} is not reachable")

    with qtbot.waitSignal(window.search_finished, timeout=30_000) as blocker:
        window.search("a photo")
    assert blocker.args[0] == 4
    marks = dict(zip(window.grid_model.ids, _offline_marks(window), strict=True))
    assert marks == {pid: pid != here for pid in window.grid_model.ids}
    assert window.grid_model.offline == {pid for pid in window.grid_model.ids if pid != here}  # search's own mark


def test_banner_text_names_a_few_folders_and_counts_the_rest():
    from desktop_app.gui.banner import MissingSummary, banner_text

    assert banner_text(MissingSummary(1, ["/mnt/usb"])) == (
        "1 photo in /mnt/usb vanished (drive unplugged?); it is kept with its tags.")
    many = banner_text(MissingSummary(40, [f"/mnt/d{i}" for i in range(5)]))
    assert many.startswith("40 photos in /mnt/d0, /mnt/d1, /mnt/d2 and 2 more folders vanished")


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_photos_that_come_back_lose_their_mark_after_the_next_index(qtbot, window, tmp_path):
    disk = _unplugged_disk(qtbot, window, tmp_path, n=6)
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == 6 and all(_offline_marks(window)), timeout=10_000)
    (disk / "README.txt").unlink()
    for i in range(6):  # the disk is back: the same photos, where they were
        write_jpeg(disk / f"{i}.jpg", color=(i * 25, 40, 90))
    report = index_through_window(qtbot, window, window.start_index)
    assert report.scan.held == 0 and window.lib.catalog.counts()["missing"] == 0
    ids = list(window.grid_model.ids)
    qtbot.waitUntil(window.banner.isHidden, timeout=10_000)
    assert window.grid_model.ids == ids and not any(_offline_marks(window))  # the same ids, fresh marks


def test_the_window_refuses_a_folder_it_already_has_under_another_name(qtbot, window, tmp_path):
    """*Add folder* asks the same rule as `photosift add`: a symlink to a library folder would list each photo
    twice, and the duplicates review could then trash the only copy."""
    photos = tmp_path / "photos"
    write_jpeg(photos / "a.jpg")
    (tmp_path / "link").symlink_to(photos, target_is_directory=True)
    assert window.add_folder(photos, index=False)
    assert not window.add_folder(tmp_path / "link", index=False)
    assert "already in the library" in window.toast.text() and window.toast.isVisible()
    assert not window.add_folder(window.lib.paths.root, index=False)  # thumbnails are not photos
    assert [r.path for r in window.lib.catalog.roots()] == [str(photos)]
