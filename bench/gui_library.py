"""Build a synthetic library for the GUI benchmarks: N catalog rows (dates, folders, tags, vectors)
whose first screens have real thumbnails made from scikit-image's sample photos."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine.imageio import save_thumbnail, thumbnail_path
from engine.library import Library


def sample_images() -> list[Image.Image]:
    import skimage.data as data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                 "camera", "page", "colorwheel"):
        a = getattr(data, name)()
        out.append(Image.fromarray(a[..., :3] if a.ndim == 3 else a).convert("RGB"))
    return out


def build_library(folder: Path, n: int, real_files: int = 400, model_id: str = "bench", dim: int = 512) -> Path:
    """Rows for n photos under /bench/photos/YYYY/MM; the first `real_files` exist on disk with thumbnails."""
    marker = folder / f".built-{n}"
    if marker.exists():
        return folder
    t0 = time.perf_counter()
    photos_dir = folder / "photos"
    images = sample_images()
    rng = np.random.default_rng(0)
    with Library.open(folder / "library") as lib:
        cat = lib.catalog
        root = cat.add_root(str(photos_dir))
        rows = []
        for i in range(n):
            # the photos with real files are the newest, so they are the first screen of the grid
            year, month = (2026, 1 + i % 12) if i < real_files else (2005 + i % 20, 1 + (i // 20) % 12)
            path = photos_dir / f"{year}" / f"{month:02d}" / f"IMG_{i:06d}.jpg"
            fp = f"{i:032x}"
            if i < real_files:
                img = images[i % len(images)]
                path.parent.mkdir(parents=True, exist_ok=True)
                img.save(path, quality=85)
                save_thumbnail(img, thumbnail_path(lib.paths.thumbnails, fp))
            rows.append((root.id, str(path), 1000 + i, 1.6e9 + i, fp, 4000, 3000,
                         f"{year}-{month:02d}-{1 + i % 28:02d}T12:00:00", "ok", time.time()))
        with cat.transaction():
            cat.conn.executemany(
                "INSERT INTO photos(root_id, path, size, mtime, fingerprint, width, height, taken_at, status, "
                "added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        ids = [r[0] for r in cat.conn.execute("SELECT id FROM photos ORDER BY id")]
        tags = ["beach", "dog", "sunset", "city", "food", "snow", "family", "car"]
        with cat.transaction():
            cat.conn.executemany("INSERT INTO tags(photo_id, name, source, score) VALUES (?, ?, 'zeroshot', 0.3)",
                                 [(pid, tags[pid % len(tags)]) for pid in ids])
            for s in range(0, len(ids), 20_000):
                chunk = ids[s:s + 20_000]
                vecs = rng.normal(size=(len(chunk), dim)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                cat.embeddings.put(model_id, chunk, vecs)
        lib.set_active_model(model_id)
    marker.write_text(f"built in {time.perf_counter() - t0:.1f}s\n")
    return folder
