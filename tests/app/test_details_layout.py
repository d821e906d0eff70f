"""The details panel at a small window (issue #24, item 18): at 900x600 the file name, the facts and the
tags are laid out below the preview, never drawn over it or over each other."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QRect

from tests.app.gui_helpers import index_through_window


def _in_window(widget, window) -> QRect:
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return QRect(top_left, widget.size())


@pytest.mark.parametrize("size", [(900, 600), (1280, 800)])
def test_the_details_panel_never_draws_one_thing_over_another(qtbot, window, photo_dir, size):
    index_through_window(qtbot, window, photo_dir)
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5_000)  # it fits a small screen
    cat = window.lib.catalog
    photo = cat.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    cat.tags.set_user(photo.id, "breakfast")
    window.grid.setCurrentIndex(window.grid_model.index(window.grid_model.ids.index(photo.id)))
    qtbot.waitUntil(lambda: window.details.photo is not None and window.details.name.text() == "coffee.jpg",
                    timeout=10_000)
    qtbot.waitUntil(lambda: not window.details.preview.pixmap().isNull(), timeout=10_000)
    qtbot.wait(100)
    out = os.environ.get("PHOTOSIFT_SHOTS")  # set to a folder to look at the window as a user would
    if out:
        window.grab().save(str(Path(out) / f"details-{size[0]}x{size[1]}.png"))
    d = window.details
    shown = [w for w in (d.preview, d.name, *d.fields.values(), d.similar_button, d.tag_list, d.confirm_button,
                         d.new_tag) if w.isVisible()]
    rects = [(w, _in_window(w, window)) for w in shown]
    for i, (a, ra) in enumerate(rects):
        assert ra.height() > 0, a
        for b, rb in rects[i + 1:]:
            assert not ra.intersects(rb), f"{a.objectName() or type(a).__name__} {ra} overlaps {type(b).__name__} {rb}"
    assert _in_window(d.name, window).top() >= _in_window(d.preview, window).bottom()
    assert d.preview.height() >= 100  # the preview stays a preview
