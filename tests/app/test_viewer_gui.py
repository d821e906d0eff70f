"""The photo viewer decodes off the GUI thread: its thumbnail stands in meanwhile, and a photo the user has
moved on from is never shown."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from tests.conftest import write_jpeg

RED, BLUE = (220, 20, 20), (20, 20, 220)


def _colour(viewer) -> tuple[int, int, int]:
    """The colour in the middle of what the viewer shows."""
    image = viewer.image.pixmap().toImage()
    c = image.pixelColor(image.width() // 2, image.height() // 2)
    return c.red(), c.green(), c.blue()


def _near(colour, expected) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(colour, expected, strict=True))


def test_the_viewer_decodes_off_the_gui_thread_and_never_shows_a_photo_left_behind(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QColor, QPixmap

    from desktop_app.gui import dialogs
    from engine.catalog import PhotoCatalog
    from engine.scanner import scan

    folder = tmp_path / "photos"
    write_jpeg(folder / "a-red.jpg", RED, size=(320, 200))
    write_jpeg(folder / "b-blue.jpg", BLUE, size=(200, 320))
    release = threading.Event()
    decoded_in: list[threading.Thread] = []
    real_open_photo = dialogs.open_photo

    def slow_open_photo(source, **kwargs):  # the red photo is a big one: still decoding when the user moves on
        decoded_in.append(threading.current_thread())
        if "a-red" in str(source):
            assert release.wait(10)
        return real_open_photo(source, **kwargs)

    monkeypatch.setattr(dialogs, "open_photo", slow_open_photo)
    with PhotoCatalog(tmp_path / "catalog.db") as catalog:
        catalog.add_root(str(folder))
        scan(catalog)
        red, blue = (catalog.photo_by_path(str(folder / name)) for name in ("a-red.jpg", "b-blue.jpg"))
        catalog.record_decoded(red.id, {"width": 320, "height": 200})  # as indexing found them
        catalog.record_decoded(blue.id, {"width": 200, "height": 320})
        thumb = QPixmap(32, 20)  # the grid's thumbnail of the red photo
        thumb.fill(QColor(*RED))
        viewer = dialogs.PhotoViewer(catalog, [red.id, blue.id], 0, placeholder={red.id: thumb}.get)
        qtbot.addWidget(viewer)
        viewer.show()
        qtbot.waitExposed(viewer)
        # The window is not held while the red photo decodes: its thumbnail stands in, as large as the photo.
        assert viewer.loading and "loading" in viewer.caption.text() and "1 of 2" in viewer.caption.text()
        assert viewer.shown_size() == (320, 200) and _near(_colour(viewer), RED)
        qtbot.waitUntil(lambda: len(decoded_in) == 1)  # its decoding has begun

        qtbot.keyClick(viewer, Qt.Key.Key_Right)  # no thumbnail of the blue one: nothing shown until it is decoded
        assert viewer.row == 1 and viewer.shown_size() == (0, 0) and "2 of 2" in viewer.caption.text()
        qtbot.waitUntil(lambda: not viewer.loading, timeout=10_000)
        assert viewer.shown_size() == (200, 320) and _near(_colour(viewer), BLUE)
        assert "b-blue.jpg" in viewer.caption.text() and "loading" not in viewer.caption.text()

        release.set()  # the red photo is decoded at last: too late, it is not shown
        qtbot.wait(500)
        assert viewer.row == 1 and viewer.shown_size() == (200, 320) and _near(_colour(viewer), BLUE)
        assert "b-blue.jpg" in viewer.caption.text()
        assert len(decoded_in) == 2 and threading.main_thread() not in decoded_in

        qtbot.keyClick(viewer, Qt.Key.Key_Left)  # back to the red one: decoded again, and shown
        qtbot.waitUntil(lambda: not viewer.loading, timeout=10_000)
        assert viewer.shown_size() == (320, 200) and _near(_colour(viewer), RED)
        viewer.close()
