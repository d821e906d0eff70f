"""Training data for fine-tuning: labelled photos with captions, split per class into train and validation.

Sources:
- a library catalog: classes from album folders (the folder a photo sits in) or from the user's own tags
  (a photo with several qualifying tags goes to its rarest one, so that small classes survive);
- any FolderDataset (as `photosift eval` reads it).
Classes with at least `min_per_class` photos are split three ways: training photos, "choose" photos (`val`:
they pick the checkpoint and the weight mix) and "report" photos (`report`: used for no choice at all, the
before/after numbers are measured on them). Smaller classes with at least MIN_TRAIN_ONLY photos train
(extra positives: their photos pull together) but are not measured; classes of one photo are left out and
listed. Photos outside every class ("your other photos": single-photo albums, sampled-out photos, photos
without a usable tag) are kept as `other`, to measure how much the model changes for them. Captions come
from a `.txt` beside the photo (first line), the same convention as folder datasets.

Augmentation for photos: a mild random resized crop, horizontal flip and a small colour jitter; the
validation view is exactly the runtime's (engine.preprocess).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.catalog import PhotoCatalog
from engine.errors import ImageReadError, PhotosiftError
from engine.imageio import open_photo
from engine.modelfolder import PreprocessConfig
from engine.preprocess import normalize, resize_and_crop
from training.datasets import FolderDataset, read_caption, readable_class_name
from training.defaults import MAX_PER_CLASS, MAX_PHOTOS

MIN_PER_CLASS = 4
MIN_TRAIN_ONLY = 2  # classes of 2 .. MIN_PER_CLASS - 1 photos: training only (too small to hold photos out)
VAL_FRACTION = 0.3  # held out per measured class, shared between "choose" and "report" photos
MAX_OTHER = 500  # "other" photos kept for the neighbour-change measure (a random sample beyond this)
LABEL_SOURCES = ("folders", "tags", "albums")


class TrainingDataError(PhotosiftError):
    """There is not enough labelled data to fine-tune on."""


@dataclass(frozen=True)
class TrainItem:
    path: str | bytes  # what to open (bytes for names that are not valid UTF-8)
    label: int
    captions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingData:
    """Labelled photos split per class; `classes` are keys, `class_names` readable names for prompts."""

    classes: tuple[str, ...]
    class_names: tuple[str, ...]
    train: tuple[TrainItem, ...]
    val: tuple[TrainItem, ...]  # "choose" photos: checkpoint and mix selection
    source: str
    left_out: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # photo path -> why it could not be read
    sampled: dict[str, int] = field(default_factory=dict)  # {"per_class": cap, "photos_not_used": n} when capped
    report: tuple[TrainItem, ...] = ()  # "report" photos: before/after measured here, used for no choice
    other: tuple[str | bytes, ...] = ()  # library photos outside every class
    train_only: dict[str, int] = field(default_factory=dict)  # small classes that train but are not measured

    @property
    def measured_classes(self) -> int:
        """Classes large enough to hold photos out (the ones before/after numbers speak for)."""
        return len(self.classes) - len(self.train_only)

    def summary(self) -> dict[str, Any]:
        out = {"source": self.source, "classes": len(self.classes), "train_photos": len(self.train),
               "val_photos": len(self.val), "report_photos": len(self.report), "other_photos": len(self.other),
               "labelled_photos": len(self.train) + len(self.val) + len(self.report),
               "measured_classes": self.measured_classes,
               "train_captions": sum(len(it.captions) for it in self.train),
               "val_captions": sum(len(it.captions) for it in self.val),
               "left_out_classes": dict(sorted(self.left_out.items())),
               "train_only_classes": dict(sorted(self.train_only.items()))}
        if self.sampled:
            out["sampled"] = dict(self.sampled)
        if self.unreadable:
            out["unreadable_photos"] = dict(sorted(self.unreadable.items()))
        return out

    def without(self, unreadable: dict[str, str]) -> TrainingData:
        """The same data without photos that could not be read (keyed by os.fsdecode(path)).

        A class left without training photos is left out (its validation photos with it); fewer than two
        classes left is a TrainingDataError.
        """
        ours = {os.fsdecode(it.path) for it in (*self.train, *self.val, *self.report)}
        ours |= {os.fsdecode(p) for p in self.other}
        gone = {k: v for k, v in unreadable.items() if k in ours}
        if not gone:
            return self
        train = [it for it in self.train if os.fsdecode(it.path) not in gone]
        val = [it for it in self.val if os.fsdecode(it.path) not in gone]
        report = [it for it in self.report if os.fsdecode(it.path) not in gone]
        kept = sorted({it.label for it in train})
        relabel = {old: new for new, old in enumerate(kept)}
        left_out = dict(self.left_out)
        for c in range(len(self.classes)):
            if c not in relabel:
                left_out[self.class_names[c]] = sum(it.label == c for it in (*val, *report))
        if len(kept) < 2:
            raise TrainingDataError(
                f"fine-tuning needs at least 2 classes with readable photos; {len(gone)} photos could not be read "
                f"(first: {next(iter(gone))}: {next(iter(gone.values()))})")
        return TrainingData(tuple(self.classes[c] for c in kept), tuple(self.class_names[c] for c in kept),
                            tuple(TrainItem(it.path, relabel[it.label], it.captions) for it in train),
                            tuple(TrainItem(it.path, relabel[it.label], it.captions) for it in val
                                  if it.label in relabel),
                            self.source, left_out, {**self.unreadable, **gone}, self.sampled,
                            tuple(TrainItem(it.path, relabel[it.label], it.captions) for it in report
                                  if it.label in relabel),
                            tuple(p for p in self.other if os.fsdecode(p) not in gone),
                            {k: v for k, v in self.train_only.items() if k not in left_out})


def split_per_class(labels: Sequence[int], fraction: float = VAL_FRACTION, seed: int = 0,
                    min_train: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: per class round(fraction * n) photos held out (at least 1 when the class
    has more than `min_train`), never leaving fewer than `min_train` for training."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_held = max(1, round(fraction * len(idx))) if len(idx) > min_train else 0
        n_held = min(n_held, max(0, len(idx) - min_train))
        held.extend(idx[:n_held].tolist())
        train.extend(idx[n_held:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(held), dtype=np.int64)


def class_cap(sizes: Sequence[int], max_per_class: int | None, max_photos: int | None,
              floor: int = MIN_PER_CLASS) -> int | None:
    """Photos to use per class at most: `max_per_class`, lowered (not below `floor`) until the classes
    together hold no more than `max_photos`. None when no class is that large (everything is used)."""
    if not sizes:
        return None
    cap = max(sizes) if max_per_class is None else max(1, max_per_class)

    def used(c: int) -> int:
        return sum(min(n, c) for n in sizes)

    if max_photos is not None and used(cap) > max_photos:
        lo, hi = min(floor, cap), cap  # the largest cap in [lo, hi] that fits; lo when none does
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if used(mid) <= max_photos else (lo, mid - 1)
        cap = lo
    return cap if any(n > cap for n in sizes) else None


def _assemble(keys: list[str], names: dict[str, str], paths: list[str | bytes],
              caption_of: Callable[[int], tuple[str, ...]], source: str, min_per_class: int, val_fraction: float,
              seed: int, extra_left_out: dict[str, int] | None = None, max_per_class: int | None = None,
              max_photos: int | None = None, min_train_only: int = MIN_TRAIN_ONLY,
              other: Sequence[str | bytes] = ()) -> TrainingData:
    """Training data from labelled photos (photo i has class `keys[i]`): which classes, which photos of them,
    then the three-way split. Every step is a plain function of the labels and the seed."""
    counts = Counter(keys)
    kept, measured, left_out = choose_classes(counts, names, min_per_class, min_train_only)
    left_out.update(extra_left_out or {})
    index = {k: i for i, k in enumerate(kept)}
    cap = class_cap([counts[k] for k in kept], max_per_class, max_photos, min_per_class)
    rows, sampled = sample_rows(keys, kept, cap, seed)
    used = set(rows)
    outside = sample_other([paths[i] for i in range(len(keys)) if i not in used] + list(other), seed)
    labels = [index[keys[i]] for i in rows]
    tr, choose, report = split_rows(labels, [keys[i] in measured for i in rows], val_fraction, seed)
    items = [TrainItem(paths[i], index[keys[i]], caption_of(i)) for i in rows]
    return TrainingData(tuple(kept), tuple(names[k] for k in kept), tuple(items[j] for j in tr),
                        tuple(items[j] for j in choose), source, left_out, sampled=sampled,
                        report=tuple(items[j] for j in report), other=tuple(outside),
                        train_only={names[k]: counts[k] for k in kept if k not in measured})


def choose_classes(counts: Counter[str], names: dict[str, str], min_per_class: int,
                   min_train_only: int = MIN_TRAIN_ONLY) -> tuple[list[str], set[str], dict[str, int]]:
    """The classes kept (sorted), those of them measured (`min_per_class` photos or more), and the classes left
    out (readable name -> photos). Fewer than two kept, or none measured, is a TrainingDataError."""
    floor = min(min_per_class, max(2, min_train_only))
    kept = sorted(k for k, n in counts.items() if n >= floor)
    measured = {k for k in kept if counts[k] >= min_per_class}
    if len(kept) < 2 or not measured:
        raise TrainingDataError(
            f"fine-tuning needs at least 2 classes of {floor} or more photos, one of them with {min_per_class} or "
            f"more to measure on; found {len(kept)} ({len(measured)} with {min_per_class} or more)")
    return kept, measured, {names[k]: n for k, n in counts.items() if n < floor}


def sample_rows(keys: Sequence[str], kept: Sequence[str], cap: int | None,
                seed: int) -> tuple[list[int], dict[str, int]]:
    """The photos (positions in `keys`) of the kept classes: all of them, or when `cap` is set a random `cap` of
    each larger class, the same ones for the same seed. Also what the summary says about the sampling."""
    wanted = set(kept)
    rows = [i for i, k in enumerate(keys) if k in wanted]
    if cap is None:
        return rows, {}
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i in rows:
        by_class.setdefault(keys[i], []).append(i)
    sampled = sorted(j for k in kept for j in (by_class[k] if len(by_class[k]) <= cap
                                               else rng.choice(by_class[k], cap, replace=False).tolist()))
    return sampled, {"per_class": cap, "photos_not_used": len(rows) - len(sampled)}


def sample_other(outside: list[str | bytes], seed: int) -> list[str | bytes]:
    """The photos outside every class, at most MAX_OTHER of them (a random sample, in their order)."""
    if len(outside) <= MAX_OTHER:
        return outside
    pick = np.random.default_rng(seed).choice(len(outside), MAX_OTHER, replace=False)
    return [outside[i] for i in sorted(pick.tolist())]


def split_rows(labels: Sequence[int], is_measured: Sequence[bool], val_fraction: float,
               seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the training, "choose" and "report" photos: measured classes are split per class, the
    photos of the others all train."""
    measured = np.asarray(is_measured, dtype=bool)
    tr, held = split_per_class(np.where(measured, labels, -1), val_fraction, seed)
    tr = np.sort(np.concatenate([tr[measured[tr]], np.flatnonzero(~measured)]))
    held = held[measured[held]]
    choose, report = choose_and_report(np.asarray(labels)[held], seed)
    return tr, held[choose], held[report]


def choose_and_report(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of held-out photos that choose (checkpoint, mix) and that report, disjoint: each class's held-out
    photos alternate between the two, a class's first one going to report or choose in turn, so that both sets
    get photos of every class with two or more and about half of the classes with one."""
    rng = np.random.default_rng(seed + 1)
    choose: list[int] = []
    report: list[int] = []
    for n, c in enumerate(np.unique(labels)):
        mine = np.flatnonzero(labels == c)
        mine = mine[rng.permutation(len(mine))]
        for j, pos in enumerate(mine.tolist()):
            (report if (j + n) % 2 == 0 else choose).append(pos)
    return np.array(sorted(choose), dtype=np.int64), np.array(sorted(report), dtype=np.int64)


def sidecar_caption(path: str | bytes) -> tuple[str, ...]:
    txt = os.path.splitext(os.fsdecode(path))[0] + ".txt"
    caption = read_caption(Path(txt)) if os.path.isfile(txt) else None
    return (caption,) if caption else ()


def from_catalog(catalog: PhotoCatalog, labels: str = "folders", min_per_class: int = MIN_PER_CLASS,
                 val_fraction: float = VAL_FRACTION, seed: int = 0, max_per_class: int | None = MAX_PER_CLASS,
                 max_photos: int | None = MAX_PHOTOS, min_train_only: int = MIN_TRAIN_ONLY) -> TrainingData:
    """Indexed photos of a library labelled by folder, by the user's tags or by the albums they made (a photo in
    several albums or with several tags counts for its rarest one; large classes sampled)."""
    if labels not in LABEL_SOURCES:
        raise ValueError(f"labels must be one of {LABEL_SOURCES}")
    # Only photos that are still there (a folder may be offline, a file deleted since it was indexed).
    photos = [p for p in catalog.photos_with_status("ok") if os.path.isfile(p.fs_path)]
    keys: list[str] = []
    names: dict[str, str] = {}
    paths: list[str | bytes] = []
    not_used: dict[str, int] = {}
    untagged: list[str | bytes] = []
    if labels == "folders":
        for p in photos:
            folder = os.path.dirname(p.path)
            keys.append(folder)
            names[folder] = readable_class_name(os.path.basename(folder) or folder)
            paths.append(p.fs_path)
    else:
        pairs = catalog.tags.user_tags() if labels == "tags" else catalog.albums.memberships()
        assigned, not_used = _assign_tags(pairs, [p.id for p in photos], min_per_class)
        if not assigned and not not_used and labels == "tags":
            raise TrainingDataError(
                "no photo has tags of your own yet: add tags (or confirm suggested ones) to at least 2 x "
                f"{min_per_class} photos, or learn from folders instead")
        if not assigned and not not_used:
            raise TrainingDataError(
                f"no photo is in an album yet: put at least {min_per_class} photos in each of 2 albums "
                "(photosift albums, or Add to album in the window), or learn from folders instead")
        for p in photos:
            tag = assigned.get(p.id)
            if tag is not None:
                keys.append(tag)
                names[tag] = tag
                paths.append(p.fs_path)
            else:
                untagged.append(p.fs_path)
    return _assemble(keys, names, paths, lambda i: sidecar_caption(paths[i]), f"library:{labels}", min_per_class,
                     val_fraction, seed, extra_left_out=not_used, max_per_class=max_per_class,
                     max_photos=max_photos, min_train_only=min_train_only, other=untagged)


def _assign_tags(pairs: Iterable[tuple[int, str]], photo_ids: list[int],
                 min_per_class: int) -> tuple[dict[int, str], dict[str, int]]:
    """Each photo to one of its labels (its user tags, or its albums: `pairs` of photo id and name): its rarest
    one; labels left with too few photos are dropped one by one.

    Returns (photo id -> label, labels that did not make it -> their photo count).
    """
    wanted = set(photo_ids)
    candidates: dict[int, set[str]] = {}
    for pid, name in pairs:
        if pid in wanted:
            candidates.setdefault(int(pid), set()).add(str(name))
    totals = Counter(t for tags in candidates.values() for t in tags)
    assigned: dict[int, str] = {}
    while candidates:
        counts = Counter(t for tags in candidates.values() for t in tags)
        assigned = {pid: min(tags, key=lambda t: (counts[t], t)) for pid, tags in candidates.items()}
        sizes = Counter(assigned.values())
        small = [t for t in counts if sizes.get(t, 0) < min_per_class]
        if not small:
            break
        # Drop only the weakest tag, then reassign: its photos may lift another tag over the bar.
        weakest = min(small, key=lambda t: (sizes.get(t, 0), counts[t], t))
        candidates = {pid: tags - {weakest} for pid, tags in candidates.items() if tags - {weakest}}
        assigned = {}
    used = set(assigned.values())
    return assigned, {t: n for t, n in totals.items() if t not in used}


def from_dataset(dataset: FolderDataset, min_per_class: int = MIN_PER_CLASS, val_fraction: float = VAL_FRACTION,
                 seed: int = 0, indices: Sequence[int] | None = None, max_per_class: int | None = None,
                 max_photos: int | None = None, min_train_only: int = MIN_TRAIN_ONLY) -> TrainingData:
    """A folder dataset (or the subset `indices` of it) as training data; all of it unless capped."""
    chosen = list(indices) if indices is not None else list(range(len(dataset)))
    items = [dataset.items[i] for i in chosen]
    keys = [it.label for it in items]
    names = {it.label: readable_class_name(it.label) for it in items}
    paths: list[str | bytes] = [str(it.path) for it in items]
    captions = [(it.caption,) if it.caption else () for it in items]
    return _assemble(keys, names, paths, lambda i: captions[i], f"dataset:{dataset.name}", min_per_class,
                     val_fraction, seed, max_per_class=max_per_class, max_photos=max_photos,
                     min_train_only=min_train_only)


# ---------------------------------------------------------------------------------------------------------
# Pixels


def load_rgb(path: str | bytes, cfg: PreprocessConfig) -> Image.Image:
    """The photo, oriented and RGB, decoded at no more than twice the model's input size."""
    return open_photo(path, min_side=2 * cfg.image_size).image


def eval_pixels(paths: Sequence[str | bytes], cfg: PreprocessConfig) -> np.ndarray:
    """(N, 3, S, S) float32 exactly as the runtime prepares them (resize shortest side, centre crop)."""
    return normalize(np.stack([resize_and_crop(load_rgb(p, cfg), cfg) for p in paths]), cfg)


@dataclass(frozen=True)
class AugmentSettings:
    crop_scale: tuple[float, float] = (0.6, 1.0)  # area of the photo kept
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    jitter: float = 0.15  # brightness, contrast, saturation factor range 1 +- jitter
    hue: float = 0.02


class PhotoAugment:
    """Random view of a photo for training: mild crop, flip, small colour jitter; then the model's input."""

    def __init__(self, cfg: PreprocessConfig, settings: AugmentSettings = AugmentSettings(), seed: int = 0) -> None:
        from torchvision.transforms import v2

        self.cfg = cfg
        self.settings = settings
        self.generator_seed = seed
        interp = {"bicubic": v2.InterpolationMode.BICUBIC, "bilinear": v2.InterpolationMode.BILINEAR,
                  "nearest": v2.InterpolationMode.NEAREST, "lanczos": v2.InterpolationMode.LANCZOS}
        mode = interp.get(cfg.interpolation, v2.InterpolationMode.BICUBIC)
        ops: list[Any] = [v2.RandomResizedCrop(cfg.image_size, scale=settings.crop_scale, ratio=settings.crop_ratio,
                                               interpolation=mode, antialias=True)]
        if settings.flip:
            ops.append(v2.RandomHorizontalFlip())
        if settings.jitter > 0 or settings.hue > 0:
            ops.append(v2.ColorJitter(brightness=settings.jitter, contrast=settings.jitter,
                                      saturation=settings.jitter, hue=settings.hue))
        self.transform = v2.Compose(ops)

    def __call__(self, image: Image.Image) -> np.ndarray:
        """One augmented (S, S, 3) uint8 view; seed torch's global RNG beforehand for reproducible views."""
        return np.asarray(self.transform(image))

    def pixels(self, images: Sequence[Image.Image]) -> np.ndarray:
        return normalize(np.stack([self(im) for im in images]), self.cfg)


def load_images(paths: Sequence[str | bytes], cfg: PreprocessConfig) -> list[Image.Image]:
    out = []
    for p in paths:
        try:
            out.append(load_rgb(p, cfg))
        except ImageReadError as e:
            raise TrainingDataError(f"{os.fsdecode(p)}: {e}") from None
    return out


def try_load(path: str | bytes, cfg: PreprocessConfig) -> Image.Image | str:
    """The photo as load_rgb gives it, or why it cannot be read (a corrupt or vanished file)."""
    try:
        return load_rgb(path, cfg)
    except ImageReadError as e:
        return str(e)
