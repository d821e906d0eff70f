"""Start the desktop window: `photosift` or `photosift FOLDER...`."""

from __future__ import annotations

import sys
from pathlib import Path


def run_app(library_dir: Path, folders: list[Path]) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop_app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Photosift")
    app.setOrganizationName("Photosift")
    window = MainWindow(library_dir)
    window.show()
    added = [window.add_folder(folder, index=False) for folder in folders]
    if any(added):
        window.start_index()
    return app.exec()
