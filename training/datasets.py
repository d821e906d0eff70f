"""Labelled folder datasets for evaluation and fine-tuning, and the photo-only Tux Paint set.

A folder dataset is a tree of images: each sub-folder is a class, read at a chosen depth (level 1: the
top-level folder, level 2: the second level; an image that sits higher than the chosen level is in the
class of the deepest folder it has). A `.txt` file beside an image (same stem) is its caption; only its
first non-empty line is used.

`prepare_tuxpaint` builds such a tree from the Debian package tuxpaint-stamps-default: the photo
cut-outs only, composited on white, captions copied, the clip-art left out (see `is_photo_stamp`).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_folder
from engine.errors import PhotosiftError
from engine.paths import download_cache_dir

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic"})
TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")
TUXPAINT_PACKAGE = "tuxpaint-stamps-default"
TUXPAINT_INSTALL = f"sudo apt-get install -y {TUXPAINT_PACKAGE}"
_TUXPAINT_FORMAT = 1  # bump when the selection rules change, so caches are rebuilt

# Folders whose stamps are drawn, not photographed: any "cartoon" folder, and these sub-trees.
_DRAWN_FOLDER_NAME = "cartoon"
_DRAWN_TREES = ("symbols/alphabets", "symbols/math", "symbols/music", "symbols/chess", "symbols/shapes",
                "symbols/faces", "town/flags")
# Drawn stamps that the flat-colour test below lets through (soft gradients instead of flat fills).
_DRAWN_STEMS = frozenset({
    "bunny-egg", "bunny-head", "chick", "chick-hatched", "santa", "santahat", "xing_school", "xing_ped",
    "give_way_sign", "sedan_police", "confetti", "hard_candy", "highlighter", "menorah", "holiday_candle",
    "party-horn-in", "party-horn-out", "skull", "bow", "sedan", "sportscar2", "truck"})
FLAT_FRACTION_MAX = 0.5


class DatasetError(PhotosiftError):
    """A dataset folder is missing, empty or unreadable."""


class DatasetSourceMissingError(DatasetError):
    """The files a dataset is built from are not installed; the message is the command that installs them."""


@dataclass(frozen=True)
class DatasetItem:
    path: Path
    label: str
    caption: str | None


def readable_class_name(label: str) -> str:
    """'animals/big_cats' -> 'big cats': the last folder, with separators as spaces."""
    name = label.rstrip("/").split("/")[-1]
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def read_caption(path: Path) -> str | None:
    """The first non-empty line of a caption file (Tux Paint files list translations after it)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line
    return None


class FolderDataset:
    """Images under `root` labelled by their folder at depth `level`; captions from `.txt` siblings."""

    def __init__(self, root: Path, level: int = 1, name: str | None = None) -> None:
        if level < 1:
            raise ValueError("level must be 1 or more")
        self.root = Path(root)
        self.level = level
        self.name = name or self.root.name
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist")
        self.items = self._scan()
        if not self.items:
            raise DatasetError(f"dataset folder {self.root} holds no images in sub-folders")

    def _scan(self) -> list[DatasetItem]:
        items = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(self.root).parts
            if not rel:
                continue  # images in the root have no class
            label = "/".join(rel[:self.level])
            for fname in sorted(filenames):
                path = Path(dirpath) / fname
                if fname.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                caption_file = path.with_suffix(".txt")
                caption = read_caption(caption_file) if caption_file.is_file() else None
                items.append(DatasetItem(path, label, caption))
        return items

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, keep: Sequence[int]) -> FolderDataset:
        """The same dataset with only the items at `keep` (classes follow: one left empty disappears)."""
        out = copy.copy(self)
        out.items = [self.items[i] for i in keep]
        if not out.items:
            raise DatasetError(f"dataset folder {self.root} holds no readable images")
        return out

    @property
    def classes(self) -> list[str]:
        return sorted({it.label for it in self.items})

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item, in the order of `classes`."""
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[it.label] for it in self.items], dtype=np.int64)

    def class_names(self) -> list[str]:
        """Readable names for zero-shot prompts, in the order of `classes`."""
        return [readable_class_name(c) for c in self.classes]

    def captioned(self) -> list[tuple[int, str]]:
        """(item index, caption) for every item that has a caption."""
        return [(i, it.caption) for i, it in enumerate(self.items) if it.caption]


# ---------------------------------------------------------------------------------------------------------
# Tux Paint


def flat_fraction(rgba: np.ndarray) -> float:
    """Share of horizontally adjacent opaque pixel pairs with exactly the same colour.

    Drawings are filled with flat colours (most neighbours identical); photos, even palette-reduced ones,
    vary from pixel to pixel.
    """
    opaque = rgba[..., 3] > 250
    pairs = opaque[:, 1:] & opaque[:, :-1]
    same = (rgba[:, 1:, :3] == rgba[:, :-1, :3]).all(-1) & pairs
    return float(same.sum() / max(int(pairs.sum()), 1))


def is_photo_stamp(png: Path, stamps_root: Path) -> tuple[bool, str]:
    """Whether a Tux Paint PNG stamp is a photo cut-out, and why not when it is not.

    Clip-art ships as SVG (with a PNG fallback of the same stem beside it); `_mirror`/`_flip` files are
    pre-flipped copies; some folders hold only drawings; the rest is judged by its pixels.
    """
    rel = png.relative_to(stamps_root)
    stem = png.stem.lower()
    if png.with_suffix(".svg").exists():
        return False, "svg clip-art"
    if stem.endswith(("_mirror", "_flip")):
        return False, "flipped copy"
    folder = "/".join(rel.parts[:-1]).lower()
    if _DRAWN_FOLDER_NAME in rel.parts[:-1] or any(folder == t or folder.startswith(t + "/") for t in _DRAWN_TREES):
        return False, "drawn folder"
    if stem in _DRAWN_STEMS:
        return False, "known drawing"
    with Image.open(png) as im:
        rgba = np.asarray(im.convert("RGBA"))
    if flat_fraction(rgba) >= FLAT_FRACTION_MAX:
        return False, "flat colours"
    return True, ""


def composite_on_white(png: Path) -> Image.Image:
    with Image.open(png) as im:
        rgba = im.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def tuxpaint_cache_dir() -> Path:
    return download_cache_dir() / "datasets" / "tuxpaint"


def prepare_tuxpaint(dest: Path | None = None, stamps: Path = TUXPAINT_STAMPS, force: bool = False) -> Path:
    """Build (once) the photo-only Tux Paint folder dataset at `dest` and return it.

    The tree keeps the stamps' folders (animals/mammals/cats/lion.png), so FolderDataset can read it at
    level 1 or 2. A `dataset.json` records the source, the rules and what was left out.
    """
    dest = Path(dest) if dest is not None else tuxpaint_cache_dir()
    stamps = Path(stamps)
    marker = dest / "dataset.json"
    if not force and marker.is_file():
        try:
            if json.loads(marker.read_text()).get("format") == _TUXPAINT_FORMAT:
                return dest
        except ValueError:
            pass
    if not stamps.is_dir() or not any(stamps.rglob("*.png")):
        raise DatasetSourceMissingError(TUXPAINT_INSTALL)
    with atomic_folder(dest, "build") as work:
        kept, skipped = _copy_photos(stamps, work)
        if not kept:
            raise DatasetError(f"no photo stamps found under {stamps}")
        summary = {"format": _TUXPAINT_FORMAT, "source": str(stamps), "package": TUXPAINT_PACKAGE,
                   "license": "GPL-2.0 (Tux Paint stamps); do not commit these files",
                   "images": len(kept), "captioned": sum(1 for _, c in kept if c),
                   "rules": "PNG without an SVG twin, no _mirror/_flip copies, not in a 'cartoon' folder nor "
                            f"in {list(_DRAWN_TREES)}, not a known drawing, flat-colour fraction "
                            f"< {FLAT_FRACTION_MAX}; composited on white",
                   "skipped": skipped}
        (work / "dataset.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    log.info("prepared %d Tux Paint photos in %s", len(kept), dest)
    return dest


def _copy_photos(stamps: Path, out: Path) -> tuple[list[tuple[Path, str | None]], dict[str, str]]:
    kept: list[tuple[Path, str | None]] = []
    skipped: dict[str, str] = {}
    for png in sorted(stamps.rglob("*.png")):
        rel = png.relative_to(stamps)
        if len(rel.parts) < 2:
            continue  # a class needs a folder
        ok, why = is_photo_stamp(png, stamps)
        if not ok:
            skipped[str(rel)] = why
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        composite_on_white(png).save(target)
        caption = read_caption(png.with_suffix(".txt")) if png.with_suffix(".txt").is_file() else None
        if caption:
            target.with_suffix(".txt").write_text(caption + "\n", encoding="utf-8")
        kept.append((rel, caption))
    return kept, skipped


def resolve_dataset(spec: str, level: int = 2) -> FolderDataset:
    """'tuxpaint' (prepared on first use) or a folder path."""
    if spec.lower() == "tuxpaint":
        return FolderDataset(prepare_tuxpaint(), level=level, name="tuxpaint")
    return FolderDataset(Path(spec).expanduser(), level=level)
