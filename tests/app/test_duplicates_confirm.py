"""What a person confirms before photos go to the trash: every photo listed (CLI and window), the folder of each
copy on the review cards, and Delete in the window asks first (issue 24, item 8)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from desktop_app.cli import main
from desktop_app.gui.duplicates_view import TrashConfirmDialog
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.indexer import IndexSettings
from engine.library import Library
from engine.update import update_library
from tests.app.test_duplicates_cli import indexed, trash_home  # noqa: F401 - fixtures
from tests.app.test_duplicates_view import view_window  # noqa: F401 - fixture


def test_cli_lists_every_photo_before_asking(tmp_path, tiny_model, sample_arrays, monkeypatch, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    Image.fromarray(sample_arrays["coffee"]).save(root / "coffee.jpg", quality=90)
    copies = [root / f"coffee ({n}).jpg" for n in range(1, 13)]
    for copy in copies:
        shutil.copy(root / "coffee.jpg", copy)
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        lib.set_active_model("tiny")
        lib.catalog.add_root(str(root))
        update_library(
            lib,
            ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32")),
            settings=IndexSettings(batch_size=4, workers=1),
        )
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal: shown, then refused
    assert main(["duplicates", "--trash"]) == 1
    out = capsys.readouterr().out
    listed = [line.split("  (keeping ")[0].strip() for line in out.splitlines() if "(keeping " in line]
    assert sorted(listed) == sorted(str(c) for c in copies)  # all 12, not 10 "and 2 more"
    assert all(f"(keeping {root / 'coffee.jpg'})" in line for line in out.splitlines() if "(keeping " in line)
    assert "more" not in out


def test_delete_in_the_window_asks_first_and_lists_every_photo(qtbot, view_window, trash_home, monkeypatch):  # noqa: F811
    w, root = view_window
    view = w.duplicates
    shown: list[TrashConfirmDialog] = []
    answer = [QDialog.DialogCode.Rejected]

    def exec_(dialog):
        shown.append(dialog)
        return answer[0]

    monkeypatch.setattr(TrashConfirmDialog, "exec", exec_)
    qtbot.mouseClick(view.sidebar_button, Qt.MouseButton.LeftButton)
    # Each card names the photo's folder, not only its file name.
    assert all(card.folder.text().endswith(os.path.basename(str(root)) + os.sep) for card in view.cards)
    assert str(root / "a-chelsea.jpg") in view.reason.text()

    qtbot.keyClick(view, Qt.Key.Key_Delete)  # cancelled: nothing moves
    assert len(shown) == 1 and len(list(root.iterdir())) == 6 and view.current() is not None
    dialog = shown[0]
    assert "Move 2 photos to the system Trash?" in dialog.message.text()
    assert sorted(dialog.paths.item(i).text() for i in range(dialog.paths.count())) == [
        str(root / "b-chelsea-copy.jpg"),
        str(root / "c-chelsea-small.jpg"),
    ]
    answer[0] = QDialog.DialogCode.Accepted
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert len(shown) == 2
    assert sorted(p.name for p in root.iterdir()) == ["a-chelsea.jpg", "astronaut.jpg", "coffee.jpg", "rocket.jpg"]
