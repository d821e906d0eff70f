"""Screenshots of the main window for the README: a library of scikit-image's sample photos (public
domain) indexed with a real model, browsed and searched.

    .venv/bin/python scripts/screenshot.py [--model starter] [--out docs]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass",
           "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text")


def make_photos(folder: Path) -> Path:
    import numpy as np
    import skimage.data as data
    from PIL import Image

    groups = {"space": {"astronaut", "rocket", "hubble_deep_field", "moon"},
              "lab": {"immunohistochemistry", "retina", "coins", "page", "text", "colorwheel"},
              "textures": {"brick", "grass", "gravel"}}
    for name in SAMPLES:
        a = getattr(data, name)()
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        a = a[..., :3] if a.ndim == 3 else np.stack([a] * 3, -1)
        sub = next((g for g, names in groups.items() if name in names), "home")
        (folder / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(a.astype(np.uint8)).save(folder / sub / f"{name}.jpg", quality=92)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="starter")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--query", default="a cup of coffee")
    args = ap.parse_args()
    from _shot import indexed_window

    _app, w, pump = indexed_window(make_photos, args.model, "photosift-shot-")

    pump(2)
    w.grid.setCurrentIndex(w.grid_model.index(0))
    pump(1)
    args.out.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(args.out / "screenshot-browse.png"))
    w.search_box.setText(args.query)
    w.search(args.query)
    pump(4)
    w.grid.setCurrentIndex(w.grid_model.index(0))
    pump(1.5)
    w.grab().save(str(args.out / "screenshot-search.png"))
    w.close()
    print(f"saved {args.out / 'screenshot-browse.png'} and {args.out / 'screenshot-search.png'}")


if __name__ == "__main__":
    main()
