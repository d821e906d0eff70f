"""The grid as a photo app's: a timeline with date headers and a scrubber when browsing, date pickers on the
library's own dates, "Show more" below the relevance cutoff, match bars, and a size slider that behaves
(pytest-qt, offscreen)."""

from datetime import date

import pytest

pytest.importorskip("PySide6")
from PIL import Image
from PySide6.QtCore import QDate, QPoint, Qt

from tests.app.gui_helpers import _search, index_through_window
from tests.conftest import write_jpeg

YEARS = (2017, 2018, 2019, 2020, 2021)


@pytest.fixture
def dated_dir(tmp_path):
    """Four photos a year over five years (EXIF DateTimeOriginal), and three without a date."""
    root = tmp_path / "dated"
    for k, year in enumerate(YEARS):
        for i in range(4):
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x9003] = f"{year}:{3 * i + 1:02d}:{10 + i:02d} 12:00:00"
            write_jpeg(root / f"y{year}" / f"p{i}.jpg", color=(40 * k, 60 * i, 90), exif=exif.tobytes())
    for i in range(3):
        write_jpeg(root / "undated" / f"u{i}.jpg", color=(200, 200, 40 * i))
    return root


def _taken(window):
    return [window.lib.catalog.photo(pid).taken_at for pid in window.grid_model.ids]


def test_browsing_is_a_timeline_newest_first_undated_last_with_year_headers(qtbot, window, dated_dir):
    index_through_window(qtbot, window, dated_dir)
    taken = _taken(window)
    dated = [t for t in taken if t]
    assert len(dated) == 20 and dated == sorted(dated, reverse=True) and taken[20:] == [None] * 3
    sections = window.grid.section_layout.sections
    assert [s.label for s in sections] == ["2021", "2020", "2019", "2018", "2017", "No date"]
    for s in sections:  # every row sits under its own year's header
        assert {(t or "")[:4] or None for t in taken[s.start:s.start + s.count]} == {s.key}
    assert window.grid.scrubber.isVisible()
    # A header takes space above its photos: the first photo is below "2021", not at the top.
    assert window.grid.visualRect(window.grid_model.index(0)).top() >= 30


def test_photos_that_arrived_undated_get_their_years_when_the_index_ends(qtbot, window, dated_dir):
    """The race CI once lost: while indexing, the grid may already hold every photo in its final order, all
    still "No date" (appended before their dates were read). When the index ends with the same ids, the new
    per-day counts must lay the headers out again, not only be stored."""
    index_through_window(qtbot, window, dated_dir)
    ids, days = list(window.grid_model.ids), list(window.grid_model.days)
    window.grid_model.set_photos(ids, days=[(None, len(ids))])
    assert [s.label for s in window.grid.section_layout.sections] == ["No date"]
    with qtbot.waitCallback(timeout=30_000) as shown:
        window.grid_controller.show_as_indexed(shown)
    assert window.grid_model.ids == ids and window.grid_model.days == days
    assert [s.label for s in window.grid.section_layout.sections] == ["2021", "2020", "2019", "2018", "2017", "No date"]


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_the_scrubber_jumps_to_a_year_and_shows_where_while_dragging(qtbot, window, dated_dir):
    index_through_window(qtbot, window, dated_dir)
    window.size_slider.setValue(256)  # big cells: the timeline is several screens long
    scrubber, bar = window.grid.scrubber, window.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    marks = dict((label, y) for y, label in scrubber._marks)
    target = next(year for year in ("2019", "2020", "2018") if marks[year] <= bar.maximum())
    y = scrubber._y_of(marks[target])
    qtbot.mousePress(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(scrubber.width() // 2, y))
    assert scrubber.bubble.isVisible() and scrubber.bubble.text() == target
    top = window.grid.top_index()
    assert window.lib.catalog.photo(window.grid_model.ids[top.row()]).taken_at.startswith(target)
    qtbot.mouseMove(scrubber, QPoint(scrubber.width() // 2, scrubber.height() - 2))  # dragged to the end
    assert bar.value() == bar.maximum() and scrubber.bubble.text() != target
    qtbot.mouseRelease(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(scrubber.width() // 2, scrubber.height() - 2))
    qtbot.waitUntil(lambda: not scrubber.bubble.isVisible(), timeout=3000)


def test_date_pickers_open_on_the_librarys_first_and_last_month(qtbot, window, dated_dir):
    index_through_window(qtbot, window, dated_dir)
    first, last = date(2017, 1, 10), date(2021, 10, 13)  # the fixture's first and last photo
    for edit, shown in ((window.date_from, first), (window.date_to, last)):
        assert edit.text().endswith("any")
        assert edit.minimumDate() == QDate(first).addDays(-1)
        qtbot.mouseClick(edit, Qt.MouseButton.LeftButton, pos=QPoint(edit.width() - 8, edit.height() // 2))
        calendar = edit.calendarWidget()
        assert (calendar.yearShown(), calendar.monthShown()) == (shown.year, shown.month)
        calendar.window().close()


def test_show_more_below_the_relevance_cutoff_as_the_clis_all(qtbot, window, photo_dir):
    from engine.search import PhotoSearch, SearchOptions

    index_through_window(qtbot, window, photo_dir)
    coffee = window.lib.catalog.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    search = PhotoSearch(window.lib, window.grid_controller.encoder())
    cut, everything = (len(search.similar(coffee.id, SearchOptions(limit=500, min_z=z))) for z in (2.0, None))
    assert cut < everything, "the test needs a search that the cutoff shortens"

    assert _search(qtbot, window, lambda: window.find_similar(coffee.id)) == cut
    footer = window.grid.footer_rect()
    assert not footer.isEmpty()
    window.grid.verticalScrollBar().setValue(window.grid.verticalScrollBar().maximum())
    footer = window.grid.footer_rect()
    with qtbot.waitSignal(window.search_finished, timeout=30_000) as blocker:
        qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=footer.center())
    assert blocker.args[0] == everything == window.grid_model.rowCount()
    sections = window.grid.section_layout.sections
    assert [(s.start, s.label is not None) for s in sections] == [(0, False), (cut, True)]
    assert "cutoff" in sections[1].label and window.grid.footer_rect().isEmpty()
    # A new search has the cutoff again.
    _search(qtbot, window, lambda: window.find_similar(coffee.id))
    assert window.grid_model.rowCount() == cut


def test_scores_are_shown_as_match_bars_relative_to_the_best(qtbot, window, photo_dir):
    from desktop_app.gui.grid import MatchRole

    index_through_window(qtbot, window, photo_dir)
    coffee = window.lib.catalog.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    window.grid.show_more_clicked.emit()  # browsing: nothing to show more of
    _search(qtbot, window, lambda: window.find_similar(coffee.id))
    _search(qtbot, window, window.grid_controller.show_more)  # every photo, each with its bar
    model = window.grid_model
    shares = [model.index(r).data(MatchRole) for r in range(model.rowCount())]
    assert shares[0] == 1.0 and all(0.0 <= s <= 1.0 for s in shares) and shares == sorted(shares, reverse=True)
    assert "of the best result" in model.index(1).data(Qt.ItemDataRole.ToolTipRole)


def _on_screen(window):
    view, model = window.grid, window.grid_model
    return [r for r in range(model.rowCount()) if view.visualRect(model.index(r)).intersects(view.viewport().rect())]


def _visible_loaded(window):
    rows = _on_screen(window)
    return bool(rows) and all(window.loader.pixmap(window.grid_model.ids[r]) is not None for r in rows)


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_shrinking_thumbnails_loads_the_new_cells_without_a_scroll(qtbot, window, tmp_path):
    for i in range(120):  # more photos than fit on screen at the smallest size
        write_jpeg(tmp_path / "many" / f"p{i:03d}.jpg", color=(2 * i, 255 - 2 * i, 90))
    index_through_window(qtbot, window, tmp_path / "many")
    window.size_slider.setValue(256)
    qtbot.waitUntil(lambda: _visible_loaded(window), timeout=10_000)
    shown_big = len(_on_screen(window))
    for size in range(256, 79, -16):  # dragged: a step every 10 ms, each painted
        window.size_slider.setValue(size)
        qtbot.wait(10)
    window.size_slider.setValue(80)
    assert len(_on_screen(window)) > shown_big
    qtbot.waitUntil(lambda: _visible_loaded(window), timeout=5_000)


def test_large_thumbnails_fill_the_width(qtbot, window, photo_dir):
    index_through_window(qtbot, window, photo_dir)
    for size in (256, 200, 120):
        window.size_slider.setValue(size)
        grid = window.grid
        scrubber = getattr(grid, "scrubber", None)
        right = grid.viewport().width() - (scrubber.width() if scrubber is not None and scrubber.isVisible() else 0)
        cells = [grid.visualRect(grid_model_index) for grid_model_index in
                 (window.grid_model.index(r) for r in range(window.grid_model.rowCount()))]
        assert right - max(c.right() + 1 for c in cells) <= 3, f"an empty strip on the right at {size} px"


def test_ok_in_settings_keeps_the_slider(qtbot, window, photo_dir, monkeypatch):
    from desktop_app.gui.dialogs import SettingsDialog

    index_through_window(qtbot, window, photo_dir)
    window.size_slider.setValue(200)
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: (self.accept(), 1)[1])
    window.open_settings()
    assert window.size_slider.value() == 200 and window.grid.iconSize().width() == 200
