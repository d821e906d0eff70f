"""Start the desktop window: `photosift` or `photosift FOLDER...`."""

from __future__ import annotations

import sys
from pathlib import Path


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
    added = [window.add_folder(folder, index=False) for folder in folders]
    if any(added):
        window.start_index()
    return app.exec()
