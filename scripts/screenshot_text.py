"""Screenshots of text in photos: scikit-image's sample photos, three with a sign drawn on them, indexed with
text reading on. "cafe" finds the photo whose sign says "Café Lisboa" first (its text in the details panel);
`text:"launch pad"` keeps only the photo whose sign says so, shown as a chip; Settings offers the reading.

    .venv/bin/python scripts/screenshot_text.py [--model starter] [--out docs] [--hold SECONDS]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

SIGNS = {"coffee": "Café Lisboa", "rocket": "LAUNCH PAD 39A", "chelsea": "Lost cat - call 555 0199"}
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
PLAIN = ("astronaut", "camera", "horse", "hubble_deep_field", "immunohistochemistry", "motorcycle_left")


def make_photos(folder: Path) -> Path:
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    for name in (*SIGNS, *PLAIN):
        try:
            image = Image.fromarray(getattr(data, name)()).convert("RGB")
        except Exception:  # noqa: BLE001 - a sample this scikit-image lacks (or cannot fetch offline)
            continue
        if name in SIGNS:
            draw = ImageDraw.Draw(image)
            font = ImageFont.truetype(FONT, max(20, image.width // 16))
            width = draw.textlength(SIGNS[name], font=font)
            draw.rectangle((16, 16, 40 + width, 30 + font.size * 1.3), fill=(245, 244, 236))
            draw.text((28, 22), SIGNS[name], font=font, fill=(25, 25, 25))
        image.save(folder / f"{name}.jpg", quality=90)
    return folder


def main() -> None:
    from _shot import indexed_window, shot_arguments

    from engine.text_in_photos import set_text_setting

    args = shot_arguments().parse_args()
    _app, w, pump = indexed_window(make_photos, args.model, "photosift-text-",
                                   prepare=lambda lib: set_text_setting(lib.catalog, True))
    pump(2)
    w.split.setSizes([260, 720, 300])
    args.out.mkdir(parents=True, exist_ok=True)
    for query, name in (("cafe", "screenshot-text-search.png"), ('text:"launch pad"', "screenshot-text-filter.png")):
        w.search_box.setText(query)
        w.search_box.returnPressed.emit()
        pump(3)
        w.grid.setCurrentIndex(w.grid_model.index(0))
        pump(1.5)
        print(query, "-> chips:", w.chips.labels(), "results:", w.grid_model.rowCount(),
              "text:", w.details.fields["Text"].text(), flush=True)
        w.grab().save(str(args.out / name))
        print(f"saved {args.out / name}", flush=True)
    pump(args.hold)
    w.close()


if __name__ == "__main__":
    main()
