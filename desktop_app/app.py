"""Start the desktop window: `photosift` or `photosift FOLDER...`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Startup benchmarks and the packaged app's headless check (bench/packaged_app.py): with this set to a number of
# seconds, the window prints the wall-clock time of its first paint on stdout and quits that many seconds later.
QUIT_AFTER_SHOWN = "PHOTOSIFT_QUIT_AFTER_SHOWN"


def run_app(library_dir: Path, folders: list[Path]) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop_app.gui.main_window import MainWindow
    from engine.errors import PhotosiftError

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Photosift")
    app.setOrganizationName("Photosift")
    try:
        window = MainWindow(library_dir)
    except PhotosiftError as e:  # a library that lost its catalog, a damaged or newer one: said, not a traceback
        print(f"photosift: error: {e}", file=sys.stderr)
        QMessageBox.critical(None, "Photosift", str(e))
        return 1
    window.show()
    if os.environ.get(QUIT_AFTER_SHOWN):
        _quit_after_first_paint(app, window, os.environ[QUIT_AFTER_SHOWN])
    added = [window.add_folder(folder, index=False) for folder in folders]
    if any(added):
        window.start_index()
    return app.exec()


def _quit_after_first_paint(app: object, window: object, seconds: str) -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer

    try:
        delay_ms = max(0, int(float(seconds) * 1000))
    except ValueError:
        delay_ms = 0

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                window.removeEventFilter(self)  # type: ignore[attr-defined]
                print(f"photosift: window shown at {time.time():.6f}", flush=True)
                QTimer.singleShot(delay_ms, app.quit)  # type: ignore[attr-defined]
            return False

    window.installEventFilter(FirstPaint(window))  # type: ignore[attr-defined]
