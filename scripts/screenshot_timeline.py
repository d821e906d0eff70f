"""The timeline screenshot for the README: Tux Paint's photo stamps (apt package tuxpaint-stamps-default) saved
as JPEGs with an EXIF DateTimeOriginal spread over several years (a few left undated), indexed, browsed, with
the date scrubber being dragged.

    .venv/bin/python scripts/screenshot_timeline.py [--model starter] [--photos 160] [--out docs]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STAMPS = Path("/usr/share/tuxpaint/stamps")


def make_photos(folder: Path, n: int) -> Path:
    """Stamps flattened onto a light background, dated at random over 2016-2024 (every 12th undated)."""
    from PIL import Image

    rng = random.Random(7)
    stamps = sorted(p for p in STAMPS.rglob("*.png") if "-mirror" not in p.name and "_" not in p.stem[-3:])
    if not stamps:
        raise SystemExit(f"no stamps under {STAMPS}: apt-get install tuxpaint-stamps-default")
    for i, src in enumerate(rng.sample(stamps, min(n, len(stamps)))):
        img = Image.open(src).convert("RGBA")
        bg = Image.new("RGBA", img.size, (246, 244, 240, 255))
        photo = Image.alpha_composite(bg, img).convert("RGB")
        exif = Image.Exif()
        if i % 12:
            when = f"{rng.randint(2016, 2024)}:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d} 12:00:00"
            exif.get_ifd(0x8769)[0x9003] = when
        out = folder / src.parent.name / f"{src.stem}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        photo.save(out, quality=90, exif=exif.tobytes())
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="starter")
    ap.add_argument("--photos", type=int, default=160)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    from _shot import indexed_window
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    _app, w, pump = indexed_window(lambda folder: make_photos(folder, args.photos), args.model,
                                   "photosift-timeline-")

    pump(3)
    w.size_slider.setValue(120)
    scrubber = w.grid.scrubber
    marks = {label: y for y, label in scrubber._marks}
    year = next((y for y in ("2021", "2020", "2022") if y in marks), next(iter(marks)))
    y = scrubber._y_of(min(marks[year], w.grid.verticalScrollBar().maximum()))
    QTest.mousePress(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(scrubber.width() // 2, y))
    QTest.mouseMove(scrubber, QPoint(scrubber.width() // 2, y + 3))
    pump(2.5)  # thumbnails of the new place
    QTest.mouseMove(scrubber, QPoint(scrubber.width() // 2, y + 3))
    pump(0.2)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "screenshot-timeline.png"
    w.grab().save(str(out))
    print(f"saved {out}; granularity {w.grid.granularity_in_use}; sections "
          f"{[s.label for s in w.grid.section_layout.sections]}")
    if os.environ.get("PHOTOSIFT_SHOT_HOLD"):  # keep the window up for an X screenshot from outside
        pump(float(os.environ["PHOTOSIFT_SHOT_HOLD"]))
    QTest.mouseRelease(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(scrubber.width() // 2, y + 3))
    w.close()


if __name__ == "__main__":
    main()
