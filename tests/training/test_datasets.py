"""Folder datasets (classes at a chosen level, captions beside images) and the Tux Paint photo set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.datasets import (
    TUXPAINT_INSTALL,
    DatasetError,
    DatasetSourceMissingError,
    FolderDataset,
    flat_fraction,
    prepare_tuxpaint,
    readable_class_name,
    resolve_dataset,
)


def test_classes_at_level_one_and_two(labelled_photos: Path) -> None:
    (labelled_photos / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8)).save(labelled_photos / "loose.jpg")  # in the root: no class
    (labelled_photos / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(labelled_photos / ".hidden" / "x.jpg")

    top = FolderDataset(labelled_photos, level=1)
    assert top.classes == ["home", "science", "space"]
    assert len(top) == 7
    second = FolderDataset(labelled_photos, level=2)
    assert second.classes == ["home/food", "home/pets", "science", "space/people", "space/sky"]
    assert second.class_names() == ["food", "pets", "science", "people", "sky"]
    assert list(np.bincount(second.labels)) == [1, 1, 2, 1, 2]


def test_captions_are_the_first_line_of_the_txt(labelled_photos: Path) -> None:
    ds = FolderDataset(labelled_photos, level=2)
    by_name = {it.path.stem: it for it in ds.items}
    assert by_name["rocket"].caption == "A photo of the rocket."
    assert by_name["retina"].caption is None
    assert len(ds.captioned()) == 6
    assert all(ds.items[i].caption == c for i, c in ds.captioned())


def test_missing_or_empty_folder_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        FolderDataset(tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        FolderDataset(tmp_path / "empty")
    with pytest.raises(ValueError):
        FolderDataset(tmp_path, level=0)


def test_readable_class_names() -> None:
    assert readable_class_name("animals/big_cats") == "big cats"
    assert readable_class_name("town/road-signs/") == "road signs"
    assert readable_class_name("food") == "food"


def test_prepare_tuxpaint_without_the_package_names_the_apt_command(tmp_path: Path) -> None:
    with pytest.raises(DatasetSourceMissingError) as err:
        prepare_tuxpaint(tmp_path / "out", stamps=tmp_path / "no-stamps")
    assert str(err.value) == TUXPAINT_INSTALL
    assert "apt-get install" in TUXPAINT_INSTALL and "tuxpaint-stamps-default" in TUXPAINT_INSTALL


def _photo_rgba(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    a[..., 3] = 255
    a[:10, :10, 3] = 0  # a transparent corner that must become white
    return Image.fromarray(a, "RGBA")


def _drawing_rgba() -> Image.Image:
    a = np.zeros((40, 50, 4), dtype=np.uint8)
    a[..., 0] = 200
    a[..., 3] = 255
    a[15:25, :, :3] = 0
    return Image.fromarray(a, "RGBA")


@pytest.fixture
def fake_stamps(tmp_path: Path) -> Path:
    root = tmp_path / "stamps"
    for d in ("animals/cats", "animals/cats/cartoon", "food", "symbols/alphabets"):
        (root / d).mkdir(parents=True)
    _photo_rgba(0).save(root / "animals/cats/lion.png")
    (root / "animals/cats/lion.txt").write_text("A lion.\nde.utf8=Ein Löwe.\n", encoding="utf-8")
    _photo_rgba(1).save(root / "animals/cats/lion_mirror.png")  # a flipped copy
    _photo_rgba(2).save(root / "animals/cats/cartoon/cat.png")  # a cartoon folder
    _photo_rgba(3).save(root / "food/apple.png")  # a photo without caption
    _drawing_rgba().save(root / "food/flag.png")  # flat colours
    _photo_rgba(4).save(root / "food/pear.png")
    (root / "food/pear.svg").write_text("<svg/>")  # clip-art with a PNG fallback
    _photo_rgba(5).save(root / "symbols/alphabets/a.png")
    return root


def test_prepare_tuxpaint_keeps_photos_only_on_white(fake_stamps: Path, tmp_path: Path) -> None:
    out = prepare_tuxpaint(tmp_path / "tux", stamps=fake_stamps)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["animals/cats/lion.png", "animals/cats/lion.txt", "dataset.json", "food/apple.png"]
    assert (out / "animals/cats/lion.txt").read_text(encoding="utf-8") == "A lion.\n"
    with Image.open(out / "animals/cats/lion.png") as im:
        assert im.mode == "RGB"
        assert im.getpixel((0, 0)) == (255, 255, 255)
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["images"] == 2 and summary["captioned"] == 1
    assert summary["skipped"]["food/flag.png"] == "flat colours"
    assert summary["skipped"]["food/pear.png"] == "svg clip-art"
    ds = FolderDataset(out, level=2)
    assert ds.classes == ["animals/cats", "food"]


def test_prepare_tuxpaint_is_cached(fake_stamps: Path, tmp_path: Path) -> None:
    out = prepare_tuxpaint(tmp_path / "tux", stamps=fake_stamps)
    (out / "food" / "apple.png").unlink()
    assert prepare_tuxpaint(tmp_path / "tux", stamps=fake_stamps) == out
    assert not (out / "food" / "apple.png").exists()  # not rebuilt
    prepare_tuxpaint(tmp_path / "tux", stamps=fake_stamps, force=True)
    assert (out / "food" / "apple.png").exists()


def test_flat_fraction_tells_drawings_from_photos() -> None:
    assert flat_fraction(np.asarray(_drawing_rgba())) > 0.9
    assert flat_fraction(np.asarray(_photo_rgba(0))) < 0.05


def test_resolve_dataset_takes_a_folder(labelled_photos: Path) -> None:
    ds = resolve_dataset(str(labelled_photos), level=1)
    assert ds.name == labelled_photos.name and len(ds.classes) == 3
