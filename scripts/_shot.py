"""What every screenshot script does first: index a folder of photos into a fresh library with a model, then
open the main window on it at 1280x800 (offscreen unless a display is chosen)."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.library import Library

ROOT = Path(__file__).resolve().parents[1]


def shot_arguments() -> argparse.ArgumentParser:
    """The options every screenshot script takes: the model, where the pictures go, and how long the window
    stays open afterwards (to capture a real X display with xwd, or to click through it with xdotool)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="starter")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--hold", type=float, default=0.0, help="keep the window open this long afterwards")
    return ap


def indexed_window(make_photos: Callable[[Path], Path], model: str, prefix: str,
                   prepare: Callable[[Library], None] | None = None):
    """(app, window, pump): `make_photos(folder)` fills a new folder and returns it; `prepare(library)` runs
    before it is indexed (a setting), and after (names); pump(seconds) runs the event loop that long."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from bench._common import own_models_folder
    from desktop_app.gui.main_window import MainWindow
    from desktop_app.models_runtime import load_encoder
    from engine.library import Library
    from engine.update import update_library

    work = Path(tempfile.mkdtemp(prefix=prefix))
    # what a script installs or trains (the training dialog's new model) lands in its own models folder, the
    # person's `model` linked in to be read
    own_models_folder(work / "models", model)
    photos = make_photos(work / "Pictures")
    with Library.open(work / "library") as lib:
        lib.set_active_model(model)
        lib.catalog.add_root(str(photos))
        if prepare is not None:
            prepare(lib)
        update_library(lib, load_encoder(model))
        if prepare is not None:
            prepare(lib)
    app = QApplication([])
    window = MainWindow(work / "library", QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()

    def pump(seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    return app, window, pump
