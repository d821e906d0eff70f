"""Fixtures for training tests (the `slow` marker is registered in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def labelled_photos(tmp_path: Path, sample_arrays: dict[str, np.ndarray]) -> Path:
    """A two-level folder dataset of real photos, most with a caption beside them."""
    root = tmp_path / "labelled"
    layout = {
        "space/sky": ["rocket", "hubble_deep_field"],
        "space/people": ["astronaut"],
        "home/pets": ["chelsea"],
        "home/food": ["coffee"],
        "science": ["immunohistochemistry", "retina"],
    }
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            Image.fromarray(sample_arrays[name]).save(root / folder / f"{name}.jpg", quality=90)
            if name != "retina":
                (root / folder / f"{name}.txt").write_text(f"A photo of the {name}.\nde.utf8=Ein Foto.\n")
    return root


def register_tiny_arch(folder: Path, name: str) -> Path:
    """Register the tiny model's config with open_clip under `name`; returns the config file."""
    import json

    import open_clip

    from training.tiny import TINY_CFG

    path = folder / f"{name}.json"
    path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(path)
    return path


def colour_albums(root: Path, captions: bool = False) -> Path:
    """Three colour albums (red, green, blue) of 4 noisy photos each under root/photos; with `captions`, a
    caption beside each photo (so text-to-image recall is measured too)."""
    rng = np.random.default_rng(0)
    for name, channel in {"red": 0, "green": 1, "blue": 2}.items():
        (root / "photos" / name).mkdir(parents=True)
        for i in range(4):
            a = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            a[..., channel] += np.uint8(150)
            Image.fromarray(a).save(root / "photos" / name / f"{name}{i}.jpg")
            if captions:
                (root / "photos" / name / f"{name}{i}.txt").write_text(f"a {name} square number {i}")
    return root / "photos"
