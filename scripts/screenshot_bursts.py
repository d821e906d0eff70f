"""Screenshots of bursts stacked in the browse grid for the README: scikit-image's sample photos (public
domain) shot as bursts (the frame shifted and re-exposed, a second apart, same camera) among single photos,
indexed; one picture with every burst stacked, one with a burst opened out.

    .venv/bin/python scripts/screenshot_bursts.py [--model starter] [--out docs] [--hold SECONDS]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BURSTS = {"astronaut": 5, "chelsea": 4, "coffee": 3}  # sample -> frames
SINGLES = ("rocket", "horse", "clock", "moon", "camera", "brick")


def make_photos(folder: Path) -> Path:
    import numpy as np
    import skimage.data as data
    from PIL import Image

    from tests.engine.test_duplicates import save_with_exif, shifted

    def sample(name: str) -> Image.Image:
        a = getattr(data, name)()
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        a = a[..., :3] if a.ndim == 3 else np.stack([a] * 3, -1)
        return Image.fromarray(a.astype(np.uint8))

    folder.mkdir(parents=True, exist_ok=True)
    for hour, (name, frames) in enumerate(BURSTS.items(), 10):
        for i in range(frames):
            save_with_exif(shifted(sample(name), 4 * i, 1.0 + 0.04 * (i % 3 - 1)), folder / f"{name}-{i}.jpg",
                           when=f"2024:07:14 {hour}:00:0{i}", camera="Phone X")
    for minute, name in enumerate(SINGLES):
        save_with_exif(sample(name), folder / f"{name}.jpg", when=f"2024:07:14 09:{minute:02d}:00", camera="Phone X")
    return folder


def main() -> None:
    from _shot import indexed_window, shot_arguments

    args = shot_arguments().parse_args()

    from desktop_app.gui.grid import StackRole

    _app, w, pump = indexed_window(make_photos, args.model, "photosift-bursts-")
    pump(2.5)
    args.out.mkdir(parents=True, exist_ok=True)
    stacks = {w.grid_model.index(r).data(StackRole): r for r in range(w.grid_model.rowCount())}
    print(f"{w.grid_model.rowCount()} cells; stacks: {sorted(m.size for m in stacks if m)}", flush=True)
    w.grab().save(str(args.out / "screenshot-bursts.png"))
    biggest = max((m for m in stacks if m), key=lambda m: m.size)
    w.grid_controller.toggle_burst(w.grid_model.ids[stacks[biggest]])
    pump(1.5)
    w.grab().save(str(args.out / "screenshot-burst-open.png"))
    print(f"saved {args.out / 'screenshot-bursts.png'} and screenshot-burst-open.png", flush=True)
    pump(args.hold)
    w.close()


if __name__ == "__main__":
    main()
