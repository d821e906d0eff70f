"""Evaluate a model folder on a labelled folder dataset, with the ONNX encoder users run.

Metrics (all fractions in [0, 1]):
- i2i_map: image-to-image mean average precision; every image is a query against all the others, the
  images of its class are the relevant ones.
- nn1_acc / knn_acc: leave-one-out nearest-neighbour classification (k-NN: similarity-weighted vote,
  weights exp(cos / 0.07), as in DINO's k-NN evaluation).
  Images alone in their class have nothing to find; they are left out of these three as queries (but
  stay in the gallery).
- zeroshot_acc: each image classified by the nearest class text embedding (a prompt-template ensemble
  over readable class names).
- t2i_r1/5/10: captions as queries over all images; a caption's correct image is its own image.

The metric functions are pure numpy on L2-normalised embeddings, so they can be tested by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.encoder import ClipEncoder
from engine.imageio import READ_ERRORS, read_error_reason
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.preprocess import normalize, resize_and_crop
from training.datasets import FolderDataset, readable_class_name

log = logging.getLogger(__name__)

DEFAULT_K = 5
KNN_TEMPERATURE = 0.07
FALLBACK_TEMPLATES = ("a photo of {}.", "a photo of a {}.", "a close-up photo of {}.", "a picture showing {}.")
METRIC_KEYS = ("i2i_map", "nn1_acc", "knn_acc", "zeroshot_acc", "t2i_r1", "t2i_r5", "t2i_r10")


# ---------------------------------------------------------------------------------------------------------
# Pure metric functions


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _loo_similarity(emb: np.ndarray) -> np.ndarray:
    """Cosine similarities with the diagonal masked out (an image never finds itself)."""
    emb = l2_normalize(emb)
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    return sim


def _query_mask(labels: np.ndarray) -> np.ndarray:
    """Queries whose class has at least one other member."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return counts[inverse] > 1


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of one ranking: mean of precision at the rank of each relevant item (ties ranked stably)."""
    order = np.argsort(-scores, kind="stable")
    rel = relevant[order].astype(bool)
    n_rel = int(rel.sum())
    if n_rel == 0:
        return float("nan")
    hits = np.cumsum(rel)
    ranks = np.arange(1, len(rel) + 1)
    return float((hits[rel] / ranks[rel]).sum() / n_rel)


def i2i_map(emb: np.ndarray, labels: np.ndarray) -> float:
    """Mean AP with every image (whose class has another member) as a query against the rest."""
    labels = np.asarray(labels)
    sim = _loo_similarity(emb)
    aps = []
    for i in np.flatnonzero(_query_mask(labels)):
        others = np.arange(len(labels)) != i
        aps.append(average_precision(sim[i, others], labels[others] == labels[i]))
    return float(np.mean(aps)) if aps else float("nan")


def nn1_accuracy(emb: np.ndarray, labels: np.ndarray) -> float:
    labels = np.asarray(labels)
    sim = _loo_similarity(emb)
    q = _query_mask(labels)
    if not q.any():
        return float("nan")
    return float((labels[sim.argmax(1)] == labels)[q].mean())


def knn_accuracy(emb: np.ndarray, labels: np.ndarray, k: int = DEFAULT_K,
                 temperature: float = KNN_TEMPERATURE) -> float:
    """Leave-one-out k-NN: the k nearest others vote for their class with weight exp(cos / T)."""
    labels = np.asarray(labels)
    classes, y = np.unique(labels, return_inverse=True)
    sim = _loo_similarity(emb)
    q = _query_mask(labels)
    if not q.any():
        return float("nan")
    k = max(1, min(k, len(labels) - 1))
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    weights = np.exp((np.take_along_axis(sim, nearest, 1) - 1.0) / temperature)
    votes = np.zeros((len(labels), len(classes)))
    np.add.at(votes, (np.repeat(np.arange(len(labels)), k), y[nearest].ravel()), weights.ravel())
    return float((votes.argmax(1) == y)[q].mean())


def zeroshot_accuracy(image_emb: np.ndarray, labels: np.ndarray, class_emb: np.ndarray) -> float:
    """Share of images whose nearest class embedding is their class; labels index rows of class_emb."""
    pred = (l2_normalize(image_emb) @ l2_normalize(class_emb).T).argmax(1)
    return float((pred == np.asarray(labels)).mean())


def recall_at_k(query_emb: np.ndarray, gallery_emb: np.ndarray, targets: np.ndarray,
                ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Share of queries whose target gallery row is among their k most similar (ties count against)."""
    sim = l2_normalize(query_emb) @ l2_normalize(gallery_emb).T
    targets = np.asarray(targets)
    target_sim = sim[np.arange(len(targets)), targets]
    rank = (sim > target_sim[:, None]).sum(1) + (sim == target_sim[:, None]).sum(1) - 1  # 0-based, pessimistic
    return {k: float((rank < k).mean()) for k in ks}


def class_text_embeddings(encode_texts: Any, class_names: Sequence[str],
                          templates: Sequence[str]) -> np.ndarray:
    """One normalised embedding per class: the mean of its normalised prompt embeddings."""
    prompts = [t.format(c) for c in class_names for t in templates]
    emb = l2_normalize(encode_texts(prompts)).reshape(len(class_names), len(templates), -1)
    return l2_normalize(emb.mean(1))


def load_templates() -> tuple[str, ...]:
    """The app's prompt templates (resources/prompt_templates.txt), or a small built-in set."""
    path = Path(__file__).resolve().parent.parent / "resources" / "prompt_templates.txt"
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except OSError:
        return FALLBACK_TEMPLATES
    templates = tuple(ln for ln in lines if ln and not ln.startswith("#") and "{}" in ln)
    return templates or FALLBACK_TEMPLATES


# ---------------------------------------------------------------------------------------------------------
# Running a model over a dataset


def embed_images(encoder: ClipEncoder, paths: Sequence[Path], batch_size: int = 32,
                 progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                 unreadable: dict[str, str] | None = None) -> np.ndarray:
    """Embeddings of the images that can be read; each one that cannot goes into `unreadable` (path -> why)."""
    cfg = encoder.preprocess_config
    clock = ProgressClock("eval", len(paths), progress)
    bad = unreadable if unreadable is not None else {}
    out = []
    for start in range(0, len(paths), batch_size):
        if cancel is not None:
            cancel.check()
        batch = []
        for path in paths[start:start + batch_size]:
            try:
                with Image.open(path) as im:
                    batch.append(resize_and_crop(im, cfg))
            except READ_ERRORS as e:  # the reasons indexing gives; the pixels stay exactly as evaluated before
                bad[str(path)] = read_error_reason(e, path)
        if batch:
            out.append(encoder.encode_images(normalize(np.stack(batch), cfg)))
        clock.report(min(start + batch_size, len(paths)))
    return np.concatenate(out) if out else np.zeros((0, encoder.embed_dim), np.float32)


def evaluate(encoder: ClipEncoder, dataset: FolderDataset, progress: ProgressCallback = ignore_progress,
             k: int = DEFAULT_K, templates: Sequence[str] | None = None, cancel: CancelToken | None = None,
             extra_levels: Sequence[int] = ()) -> dict[str, Any]:
    """All metrics of one model on one dataset. `extra_levels` adds zero-shot accuracy at other levels."""
    templates = tuple(templates or load_templates())
    unreadable: dict[str, str] = {}
    image_emb = embed_images(encoder, [it.path for it in dataset.items], progress=progress, cancel=cancel,
                             unreadable=unreadable)
    if unreadable:  # measured on the rest, and reported
        dataset = dataset.subset([i for i, it in enumerate(dataset.items) if str(it.path) not in unreadable])
    labels = dataset.labels
    class_emb = class_text_embeddings(encoder.encode_texts, dataset.class_names(), templates)
    captioned = dataset.captioned()
    result: dict[str, Any] = {
        "model": encoder.model_id, "variant": encoder.variant, "dataset": dataset.name, "level": dataset.level,
        "i2i_map": i2i_map(image_emb, labels), "nn1_acc": nn1_accuracy(image_emb, labels),
        "knn_acc": knn_accuracy(image_emb, labels, k), "k": k,
        "zeroshot_acc": zeroshot_accuracy(image_emb, labels, class_emb),
        "n_images": len(dataset), "n_classes": len(dataset.classes), "n_captions": len(captioned),
        "n_queries": int(_query_mask(labels).sum()), "n_templates": len(templates),
    }
    if unreadable:
        result["unreadable"] = dict(sorted(unreadable.items()))
    if captioned:
        caption_emb = encoder.encode_texts([c for _, c in captioned])
        recall = recall_at_k(caption_emb, image_emb, np.array([i for i, _ in captioned]))
        result.update({f"t2i_r{k_}": v for k_, v in recall.items()})
    else:
        result.update({"t2i_r1": float("nan"), "t2i_r5": float("nan"), "t2i_r10": float("nan")})
    for level in extra_levels:
        labels_l, names_l = relabel(dataset, level)
        emb_l = class_text_embeddings(encoder.encode_texts, names_l, templates)
        result[f"zeroshot_acc_level{level}"] = zeroshot_accuracy(image_emb, labels_l, emb_l)
    return result


def relabel(dataset: FolderDataset, level: int) -> tuple[np.ndarray, list[str]]:
    """The dataset's items labelled at another folder level: (label indices, readable class names)."""
    keys = ["/".join(it.path.relative_to(dataset.root).parts[:-1][:level]) for it in dataset.items]
    classes = sorted(set(keys))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[k_] for k_ in keys], dtype=np.int64), [readable_class_name(c) for c in classes]


def gallery_map(query: np.ndarray, q_labels: np.ndarray, gallery: np.ndarray, g_labels: np.ndarray,
                same: np.ndarray | None = None) -> tuple[float, float]:
    """(mAP, 1-NN accuracy) of queries against a gallery; `same[i]` is the gallery row of query i (skipped)."""
    sim = l2_normalize(query) @ l2_normalize(gallery).T
    aps, hits = [], []
    for i in range(len(query)):
        mask = np.ones(len(gallery), dtype=bool)
        if same is not None and same[i] >= 0:
            mask[same[i]] = False
        rel = g_labels[mask] == q_labels[i]
        if not rel.any():
            continue
        aps.append(average_precision(sim[i, mask], rel))
        hits.append(bool(g_labels[mask][int(np.argmax(sim[i, mask]))] == q_labels[i]))
    return (float(np.mean(aps)) if aps else float("nan"), float(np.mean(hits)) if hits else float("nan"))
