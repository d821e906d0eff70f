"""Text in photos in the window: turned on in Settings, the library is indexed and read, the details panel
shows a photo's text, and `text:` shows as a chip that, removed, gives its words back to the search."""

import pytest

pytest.importorskip("PySide6")
from engine.text_in_photos import text_installed
from tests.app.gui_helpers import _search, index_through_window
from tests.engine.test_text_in_photos import _photo_with_sign

pytestmark = pytest.mark.skipif(not text_installed(), reason="photosift[ocr] is not installed")


def test_settings_turns_reading_on_and_the_window_shows_what_was_read(qtbot, window, tmp_path):
    folder = tmp_path / "signs"
    _photo_with_sign(folder / "cafe.jpg", "Café Lisboa")
    _photo_with_sign(folder / "exit.jpg", "EXIT 24", photo="rocket")
    index_through_window(qtbot, window, folder)
    assert window.lib.catalog.text.counts() == (0, 0)
    window.grid.setCurrentIndex(window.grid_model.index(0))
    qtbot.waitUntil(lambda: window.details.photo is not None)
    assert window.details.fields["Text"].text().startswith("not read")

    index_through_window(qtbot, window, lambda: window.set_read_text(True))  # Settings' checkbox, then OK
    assert window.lib.catalog.get_setting("text_in_photos") == "on"
    assert window.lib.catalog.text.counts() == (2, 2)

    assert _search(qtbot, window, lambda: window.state.search_text("text:lisboa")) == 1
    assert window.chips.labels() == ['Text: "lisboa"']
    window.grid.setCurrentIndex(window.grid_model.index(0))
    qtbot.waitUntil(lambda: "Lisboa" in window.details.fields["Text"].text())
    # the chip removed: its words go back to the search, which finds the sign among all photos
    assert _search(qtbot, window, lambda: window.state.remove_filter("query:0")) >= 1
    assert window.state.query.text == '"lisboa"' and window.chips.labels() == []
    first = window.lib.catalog.photo(window.grid_model.ids[0])
    assert first.path.endswith("cafe.jpg")
    from PySide6.QtCore import Qt

    tip = window.grid_model.data(window.grid_model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "the text read in it holds your words" in tip  # why it is first, where the user looks
