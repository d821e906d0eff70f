"""Bursts stacked in the browse grid (issue #16): one cell per burst with its frame count, expanded and
stacked again from its badge or the context menu, and off in Settings."""

from __future__ import annotations

import pytest
from PIL import Image

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt

from desktop_app.gui.grid import PhotoIdRole, StackRole, stack_badge_rect
from desktop_app.gui.stacks import StackMark
from tests.app.gui_helpers import index_through_window
from tests.engine.test_duplicates import save_with_exif, shifted


@pytest.fixture
def burst_folder(tmp_path, sample_arrays):
    root = tmp_path / "trip"
    astro = Image.fromarray(sample_arrays["astronaut"])
    for i, (dx, gain) in enumerate(((0, 1.0), (8, 1.1), (16, 0.9))):
        save_with_exif(shifted(astro, dx, gain), root / f"burst-{i}.jpg", when=f"2024:05:01 10:00:0{i}",
                       camera="Phone X")
    for name in ("coffee", "rocket"):
        save_with_exif(Image.fromarray(sample_arrays[name]), root / f"{name}.jpg", when="2024:05:01 09:00:00")
    return root


def _names(window) -> list[str]:
    return [window.lib.catalog.photo(pid).path.rsplit("/", 1)[-1] for pid in window.grid_model.ids]


def _click_badge(qtbot, window, row: int) -> None:
    index = window.grid_model.index(row)
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton,
                         pos=stack_badge_rect(window.grid.visualRect(index)).center())


def test_a_burst_is_one_cell_that_opens_out_and_stacks_again_from_its_badge(qtbot, window, burst_folder):
    window.resize(1000, 700)
    index_through_window(qtbot, window, burst_folder)
    qtbot.waitUntil(lambda: len(window.grid_model.ids) == 3, timeout=10_000)
    names = _names(window)
    stacked = [n for n in names if n.startswith("burst-")]
    assert len(stacked) == 1 and sorted(names) == sorted([*stacked, "coffee.jpg", "rocket.jpg"])
    row = names.index(stacked[0])
    mark = window.grid_model.index(row).data(StackRole)
    assert isinstance(mark, StackMark) and mark.size == 3 and mark.position is None
    assert "burst of 3 frames" in window.grid_model.index(row).data(Qt.ItemDataRole.ToolTipRole)
    assert sum(n for _k, n in window.grid_model.days) == 3  # the timeline lays the stack out as one cell
    assert window.grid_model.photos_in_rows(0, 3) == 5  # and its header counts every frame, as the status does
    assert window.status_label.text().startswith("5 photos (1 burst stacked)")

    _click_badge(qtbot, window, row)
    names = _names(window)
    assert sorted(n for n in names if n.startswith("burst-")) == ["burst-0.jpg", "burst-1.jpg", "burst-2.jpg"]
    marks = [window.grid_model.index(r).data(StackRole) for r in range(len(names)) if names[r].startswith("burst-")]
    assert [m.position for m in marks] == [1, 2, 3] and {m.size for m in marks} == {3}
    assert window.grid_model.photos_in_rows(0, 5) == 5 and window.status_label.text().startswith("5 photos ")

    third = names.index("burst-2.jpg")
    window.grid.setCurrentIndex(window.grid_model.index(third))
    _click_badge(qtbot, window, third)  # any frame's badge stacks the burst again
    assert len(window.grid_model.ids) == 3
    assert window.grid.currentIndex().row() == row  # the frame that was current went into the stack: it is current

    pid = window.grid_model.index(row).data(PhotoIdRole)  # clicking the photo, not its badge, selects it
    qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.grid.visualRect(window.grid_model.index(row)).center())
    assert window.grid_model.photo_id(window.grid.currentIndex().row()) == pid and len(window.grid_model.ids) == 3


def test_stacking_can_be_turned_off_in_settings(qtbot, window, burst_folder):
    index_through_window(qtbot, window, burst_folder)
    qtbot.waitUntil(lambda: len(window.grid_model.ids) == 3, timeout=10_000)
    window.settings.setValue("stack_bursts", "false")
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000):
        window.apply_settings(window.lib.active_model_id)
    assert len(window.grid_model.ids) == 5 and not window.grid_model.stacks
