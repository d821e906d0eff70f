"""The multi-split protocol of the fine-tuning benchmarks: libraries made the way a user's looks, many times over.

One split (seed s) of a labelled folder dataset:
- "other albums": a quarter of the albums, never in the library at all (what happens to the rest of a
  person's photos). Drawn stratified by album size (albums sorted by size, one of every four), so that
  every split has big and small ones.
- every other album: half of its photos (rounded down) held out, the rest in the library. The library is
  what `photosift train` sees, with its defaults (training.traindata.from_dataset).

Measured on the held-out photos only, which are one collection (gallery) for every query:
- library albums i2i mAP: held-out photos of the library's albums as queries;
- other albums i2i mAP: photos of the other albums as queries;
- T2I R@1 / R@10: the captions of every held-out photo as queries over them all;
- zero-shot accuracy: every held-out photo among the class names of all held-out albums.
Each number is paired with the base model's on the same split; the table gives the mean of the paired
difference and its 95% t-interval over splits (splits are the unit: their spread is what a user meets).

The dev protocol (--dev) is for tuning: split seeds DEV_SEED_BASE + k, and inside each only the library
side is used, split again the same way (library / held-out halves, a quarter of its albums as "other").
The test splits' seeds (0..N-1) are never measured while tuning.

Decoded photos and the base model's frozen features are computed once for every photo and shared by all
splits and methods (one FeatureBank; the base embeddings and text embeddings are cached), so a split
costs only its training runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training.evaluate import average_precision, l2_normalize, recall_at_k, zeroshot_accuracy
from training.report import t975  # the same interval the app shows its users

OTHER_SHARE = 4  # one album in OTHER_SHARE is held out entirely
DEV_SEED_BASE = 1000



def interval(diffs: Sequence[float], scale: float = 100.0) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval) of paired differences, scaled (points)."""
    d = np.asarray([x for x in diffs if not math.isnan(x)], dtype=np.float64) * scale
    if len(d) == 0:
        return math.nan, math.nan
    if len(d) == 1:
        return float(d[0]), math.nan
    return float(d.mean()), float(t975(len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))


def fmt_interval(diffs: Sequence[float]) -> str:
    mean, half = interval(diffs)
    if math.isnan(mean):
        return "n/a"
    return f"{mean:+.1f}" if math.isnan(half) else f"{mean:+.1f} ± {half:.1f}"


@dataclasses.dataclass(frozen=True)
class LibrarySplit:
    seed: int
    library: np.ndarray  # dataset rows the library holds (the training side)
    held: np.ndarray  # held-out photos of the library's albums
    other: np.ndarray  # photos of the albums held out entirely


def library_split(labels: np.ndarray, seed: int, among: np.ndarray | None = None) -> LibrarySplit:
    """Split the rows `among` (default: all) of a labelled dataset as described in the module docstring."""
    labels = np.asarray(labels)
    rows = np.arange(len(labels)) if among is None else np.asarray(among)
    rng = np.random.default_rng(seed)
    albums, sizes = np.unique(labels[rows], return_counts=True)
    order = albums[np.lexsort((rng.random(len(albums)), sizes))]  # by size, ties in random order
    other_albums = set()
    for start in range(0, len(order), OTHER_SHARE):
        group = order[start:start + OTHER_SHARE]
        if len(group) == OTHER_SHARE or rng.random() < len(group) / OTHER_SHARE:
            other_albums.add(int(rng.choice(group)))
    library: list[int] = []
    held: list[int] = []
    other: list[int] = []
    for album in albums:
        mine = rows[labels[rows] == album]
        if int(album) in other_albums:
            other += mine.tolist()
            continue
        mine = mine[rng.permutation(len(mine))]
        n_held = len(mine) // 2
        held += mine[:n_held].tolist()
        library += mine[n_held:].tolist()
    return LibrarySplit(seed, np.array(sorted(library)), np.array(sorted(held)), np.array(sorted(other)))


def dev_split(labels: np.ndarray, k: int) -> LibrarySplit:
    """The k-th dev split: the library side of split DEV_SEED_BASE + k, split again (see the docstring)."""
    outer = library_split(labels, DEV_SEED_BASE + k)
    return library_split(labels, 2 * DEV_SEED_BASE + k, among=outer.library)


class HeldOut:
    """The held-out photos of one split: labels, which are other albums', captions, class names."""

    def __init__(self, dataset: Any, split: LibrarySplit) -> None:
        rows = np.concatenate([split.held, split.other])
        self.rows = rows
        self.items = [dataset.items[i] for i in rows]
        self.paths = [str(it.path) for it in self.items]
        self.labels = np.asarray(dataset.labels)[rows]
        self.is_other = np.concatenate([np.zeros(len(split.held), bool), np.ones(len(split.other), bool)])
        self.classes = np.unique(self.labels)
        names = dataset.class_names()
        self.class_names = [names[int(c)] for c in self.classes]
        self.zs_labels = np.searchsorted(self.classes, self.labels)
        self.captions = [(i, it.caption) for i, it in enumerate(self.items) if it.caption]


def grouped_map(emb: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> float:
    """Mean AP of the rows `queries` (bool mask) against all other rows; queries with no relevant row skipped."""
    sim = l2_normalize(emb) @ l2_normalize(emb).T
    aps = []
    for i in np.flatnonzero(queries):
        others = np.arange(len(labels)) != i
        rel = labels[others] == labels[i]
        if rel.any():
            aps.append(average_precision(sim[i, others], rel))
    return float(np.mean(aps)) if aps else math.nan


def held_metrics(emb: np.ndarray, held: HeldOut, class_emb: np.ndarray, caption_emb: np.ndarray) -> dict[str, float]:
    recall = recall_at_k(caption_emb, emb, np.array([i for i, _ in held.captions]), ks=(1, 10))
    return {"library_map": grouped_map(emb, held.labels, ~held.is_other),
            "other_map": grouped_map(emb, held.labels, held.is_other),
            "t2i_r1": recall[1], "t2i_r10": recall[10],
            "zeroshot_acc": zeroshot_accuracy(emb, held.zs_labels, class_emb)}


METRICS = ("library_map", "other_map", "t2i_r1", "t2i_r10", "zeroshot_acc")
METRIC_LABELS = {"library_map": "library albums i2i mAP", "other_map": "other albums i2i mAP",
                 "t2i_r1": "T2I R@1", "t2i_r10": "T2I R@10", "zeroshot_acc": "zero-shot acc"}


class TextCache:
    """Text embeddings of one (unchanged) text tower, by text."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, e in zip(missing, self.encoder.encode_np(missing), strict=True):
                self.cache[t] = e
        return np.stack([self.cache[t] for t in texts])


def class_embeddings(encode: Any, names: Sequence[str], templates: Sequence[str]) -> np.ndarray:
    prompts = [t.format(c) for c in names for t in templates]
    emb = l2_normalize(encode(prompts)).reshape(len(names), len(templates), -1)
    return l2_normalize(emb.mean(1))


def embed(model: Any, plan: Any, bank: Any, paths: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Evaluation-view embeddings through the bank's cached prefix (as FineTuneSession.embed)."""
    out = []
    with torch.no_grad(), plan.stubs():
        for start in range(0, len(paths), batch_size):
            x = bank.eval_batch(paths[start:start + batch_size])
            out.append(F.normalize(model.encode_image(x).float(), dim=-1).cpu().numpy())
    return np.concatenate(out)


def measure(embeddings: np.ndarray, encode_text: Any, held: HeldOut, templates: Sequence[str]) -> dict[str, float]:
    """The held-out numbers of one model: its embeddings of held.paths and its text encoder."""
    cls = class_embeddings(encode_text, held.class_names, templates)
    cap = encode_text([c for _, c in held.captions])
    return held_metrics(embeddings, held, cls, cap)
