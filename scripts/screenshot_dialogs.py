"""Screenshots for the README and docs of what the other scripts do not show: a search narrowed by a tag (its
chip beside the search box), Settings' model list, the training dialog after a run, and the first-run
screen. The library is Tux Paint's photo stamps (apt package tuxpaint-stamps-default) in 12 album folders,
indexed with the model; training fine-tunes that model on them with the dialog's defaults (a few minutes on
2 cores; the new model is installed into a scratch models folder beside the library: scripts/_shot.py).

    .venv/bin/python scripts/screenshot_dialogs.py [--model starter] [--out docs] [--skip-training]

Dialogs are separate windows, so each is grabbed on its own; the first-run screen is a window on an empty
library. Offline (no route to the download hosts), the first-run screen and Settings say so, as shown.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALBUMS = 12
PER_ALBUM = 13


def make_photos(folder: Path) -> Path:
    """The 12 largest second-level albums of the photo-only Tux Paint set, up to 13 JPEGs each."""
    from PIL import Image

    from training.datasets import prepare_tuxpaint

    tux = prepare_tuxpaint()
    albums = sorted((d for d in tux.glob("*/*") if d.is_dir()), key=lambda d: (-len(list(d.rglob("*.png"))), d.name))
    for album in albums[:ALBUMS]:
        (folder / album.name).mkdir(parents=True, exist_ok=True)
        for png in sorted(album.rglob("*.png"))[:PER_ALBUM]:
            Image.open(png).convert("RGB").save(folder / album.name / f"{png.stem}.jpg", quality=92)
            caption = png.with_suffix(".txt")
            if caption.is_file():
                shutil.copy(caption, folder / album.name / f"{png.stem}.txt")
    return folder


def main() -> None:
    from _shot import indexed_window, shot_arguments

    ap = shot_arguments()
    ap.add_argument("--query", default="something red")
    ap.add_argument("--tag", default="fruit", help="the tag filter shown as a chip (else the library's first tag)")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    app, w, pump = indexed_window(make_photos, args.model, "photosift-dialogs-")

    def wait(done, timeout: float, what: str) -> None:
        end = time.time() + timeout
        while not done():
            if time.time() > end:
                raise SystemExit(f"timed out waiting for {what}")
            pump(0.2)

    pump(2)
    # A search narrowed by a tag: the chip beside the search box names the filter
    tags = list(w.lib.catalog.tags.counts())
    tag = args.tag if not tags or args.tag in tags else tags[0]
    w.state.set_tag(tag)
    w.search_box.setText(args.query)
    w.search(args.query)
    pump(4)
    w.grid.setCurrentIndex(w.grid_model.index(0))
    pump(2)
    w.grab().save(str(args.out / "screenshot-filter-chip.png"))
    print(f"saved screenshot-filter-chip.png ({args.query!r}, tag {tag!r})", flush=True)

    from desktop_app.gui.dialogs import SettingsDialog
    from engine.text_in_photos import text_enabled, text_installed

    reading = text_enabled(w.lib.catalog) if text_installed() else None
    settings = SettingsDialog(w.settings, w.lib.active_model_id, w, runner=w.runner, read_text=reading)
    settings.show()
    wait(lambda: settings.models.facts, 60, "the model facts in Settings")
    pump(1)
    settings.grab().save(str(args.out / "screenshot-settings-models.png"))
    settings.reject()
    print("saved screenshot-settings-models.png", flush=True)

    if not args.skip_training:
        from desktop_app.gui.training_dialog import TrainingDialog

        dialog = TrainingDialog(w.library_dir, w.lib.active_model_id, w.runner, lambda *_a: None, w)
        dialog.show()
        wait(lambda: dialog.data is not None and dialog.start_button.isEnabled(), 120, "the training data count")
        started = time.time()
        dialog.start()
        wait(lambda: dialog.result is not None, 1800, "training")
        pump(1)
        dialog.grab().save(str(args.out / "screenshot-training.png"))
        print(f"saved screenshot-training.png (trained in {time.time() - started:.0f} s)", flush=True)
        dialog.close()

    w.close()
    # The first-run screen: a window on a library that has no folder yet
    from PySide6.QtCore import QSettings

    from desktop_app.gui.main_window import MainWindow

    empty = Path(w.library_dir).parent / "empty-library"
    first = MainWindow(empty, QSettings(str(empty.parent / "first-run.ini"), QSettings.Format.IniFormat))
    first.resize(1280, 800)
    first.show()
    wait(lambda: first.welcome.facts, 60, "the first-run screen's model facts")
    pump(1)
    first.grab().save(str(args.out / "screenshot-first-run.png"))
    print("saved screenshot-first-run.png", flush=True)
    first.close()
    pump(args.hold)
    del app


if __name__ == "__main__":
    main()
