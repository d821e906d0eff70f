"""Screenshot of the Duplicates view for the README, on a library indexed before (e.g. by
bench/duplicates_quality.py): the window opens on it, the Duplicates view shows its first group of `--kind`.

    Xvfb :94 -screen 0 1280x800x24 -nolisten tcp &
    DISPLAY=:94 QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot_duplicates.py --library LIB --out docs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--kind", default="burst")
    args = ap.parse_args()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop_app.gui.main_window import MainWindow

    app = QApplication([])
    settings = QSettings(str(args.out / ".screenshot-settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(args.library, settings)
    w.move(0, 0)
    w.resize(1280, 800)
    w.show()
    view = w.duplicates
    view.sidebar_button.click()
    kinds = [g.group.kind for g in view.groups]
    view.go(kinds.index(args.kind) if args.kind in kinds else 0)
    end = time.time() + 4
    while time.time() < end:  # thumbnails arrive from the loader's thread
        app.processEvents()
        time.sleep(0.05)
    out = args.out / "screenshot-duplicates.png"
    if os.environ.get("QT_QPA_PLATFORM") == "xcb" and os.environ.get("DISPLAY"):
        xwd = subprocess.run(["xwd", "-root", "-silent"], capture_output=True, check=True).stdout
        pnm = subprocess.run(["xwdtopnm"], input=xwd, capture_output=True, check=True).stdout
        out.write_bytes(subprocess.run(["pnmtopng"], input=pnm, capture_output=True, check=True).stdout)
    else:
        w.grab().save(str(out))
    (args.out / ".screenshot-settings.ini").unlink(missing_ok=True)
    w.close()
    print(out)


if __name__ == "__main__":
    main()
