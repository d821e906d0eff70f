"""Model input preparation in numpy, driven by the model folder's preprocess.json (no torch).

Matches open_clip's eval transform: resize the shortest side (bicubic), centre-crop, scale to [0, 1],
normalise by mean/std, channels first.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.modelfolder import PreprocessConfig

_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
            "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}


def resize_and_crop(image: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    """An RGB image to a (size, size, 3) uint8 array; cheap to pass between processes."""
    size = cfg.image_size
    image = image.convert("RGB")
    resample = _FILTERS[cfg.interpolation]
    if cfg.resize_mode == "squash":
        return np.asarray(image.resize((size, size), resample))
    w, h = image.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    image = image.resize((new_w, new_h), resample)
    left = round((new_w - size) / 2.0)
    top = round((new_h - size) / 2.0)
    return np.asarray(image.crop((left, top, left + size, top + size)))


def normalize(batch_hwc: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """(N, H, W, 3) uint8 to the model's (N, 3, H, W) float32 input."""
    x = batch_hwc.astype(np.float32) * np.float32(1.0 / 255.0)
    x -= np.asarray(cfg.mean, dtype=np.float32)
    x /= np.asarray(cfg.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def preprocess(image: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    return normalize(resize_and_crop(image, cfg)[None], cfg)
