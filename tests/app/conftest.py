"""App fixtures: the main window on a library whose active model is the tiny test model."""

import os
import shutil
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


@pytest.fixture(scope="module")
def second_model(models_root: Path, tiny_model):
    """A second exported tiny model ("tiny-2", other weights) to switch the window to."""
    from training.tiny import export_tiny

    folder = export_tiny(models_root / "tiny-2", model_id="tiny-2", seed=11)
    yield folder
    shutil.rmtree(folder.path, ignore_errors=True)
