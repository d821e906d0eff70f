"""Screenshot of the Places sidebar for the README: scikit-image's sample photos (public domain) given GPS
positions of real places in their EXIF, indexed, and the window filtered to one region.

    .venv/bin/python scripts/screenshot_places.py [--model starter] [--out docs] [--hold SECONDS]

`--hold` keeps the window open that long after it is set up (to capture a real X display with xwd).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRIPS = {  # folder -> [(sample, lat, lon, taken)]
    "2023 Portugal": [("coffee", 38.7139, -9.1334, "2023:05:02 09:10:00"), ("astronaut", 38.7223, -9.1393, None),
                      ("chelsea", 38.7876, -9.3906, "2023:05:03 15:00:00"), ("clock", 41.1496, -8.6109, None),
                      ("horse", 38.6979, -9.4215, None), ("brick", 41.1579, -8.6291, None)],
    "2024 Japan": [("rocket", 35.0116, 135.7681, "2024:04:01 10:00:00"), ("moon", 34.9671, 135.7727, None),
                   ("grass", 35.6595, 139.7005, None), ("gravel", 35.0094, 135.6668, None)],
    "2022 Iceland": [("hubble_deep_field", 64.1466, -21.9426, None), ("page", 63.4186, -19.0060, None)],
    "Home": [("coins", 0.0, 0.0, None), ("colorwheel", None, None, None), ("text", None, None, None)],
}


def make_photos(folder: Path) -> Path:
    import numpy as np
    import skimage.data as data
    from PIL import Image

    from tests.conftest import gps_exif

    for trip, shots in TRIPS.items():
        (folder / trip).mkdir(parents=True, exist_ok=True)
        for name, lat, lon, taken in shots:
            a = getattr(data, name)()
            if a.dtype == bool:
                a = a.astype(np.uint8) * 255
            a = a[..., :3] if a.ndim == 3 else np.stack([a] * 3, -1)
            exif = gps_exif(lat, lon, taken) if lat is not None else None
            Image.fromarray(a.astype(np.uint8)).save(folder / trip / f"{name}.jpg", quality=92,
                                                     **({"exif": exif} if exif else {}))
    return folder


def main() -> None:
    from _shot import indexed_window, shot_arguments

    args = shot_arguments().parse_args()

    _app, w, pump = indexed_window(make_photos, args.model, "photosift-places-")

    pump(2)
    w.split.setSizes([300, 680, 300])
    w.places.expandAll()
    region = next(w.places.topLevelItem(i).child(0) for i in range(w.places.topLevelItemCount())
                  if w.places.topLevelItem(i).text(0) == "Portugal")
    w.places.setCurrentItem(region)
    w.places.itemClicked.emit(region, 0)
    pump(1.5)
    w.grid.setCurrentIndex(w.grid_model.index(0))
    pump(1.5)
    args.out.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(args.out / "screenshot-places.png"))
    print(f"saved {args.out / 'screenshot-places.png'}", flush=True)
    pump(args.hold)
    w.close()


if __name__ == "__main__":
    main()
