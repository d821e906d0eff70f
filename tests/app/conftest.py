"""App fixtures: the main window on a library whose active model is the tiny test model."""

import os
from pathlib import Path

import pytest


@pytest.fixture
def window(qtbot, tmp_path, tiny_model):
    from PySide6.QtCore import QSettings

    from desktop_app.gui.main_window import MainWindow
    from engine.library import Library

    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        lib.set_active_model("tiny")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("watch_folders", False)  # each test starts its index itself (tests/app/test_places_watch_gui.py)
    w = MainWindow(Path(os.environ["PHOTOSIFT_LIBRARY"]), settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
