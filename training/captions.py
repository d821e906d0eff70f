"""The caption pool and MCIP's pseudo-captions: captions retrieved for each training image, not generated.

The pool is what a library has to say about itself: its class names (album folders or tags) and the
tagging vocabulary, each through the prompt templates, plus every caption the user wrote.

Retrieval follows the paper: per image the `top_k` (20) nearest pool captions whose cosine to the image
exceeds a threshold, at most `max_per_image` (40) captions in all, the image's own captions first.

The threshold. The paper's 0.27 is an absolute cosine for OpenAI/LAION CLIPs, where unrelated image-text
pairs score about 0.15 +- 0.03 and matching ones about 0.3: 0.27 lies some 3-4 standard deviations above
the unrelated mean, most of the way to the matched mean. Other models have another scale: the starter
model's unrelated pairs score -0.01 +- 0.04 and its matched (Tux Paint caption) pairs 0.13. So the default
is relative: `z` = 3 standard deviations above the mean cosine of all (training image, pool caption)
pairs, which puts the starter's threshold at ~0.10, in the same place relative to its scale. An absolute
threshold (0.27 for a real CLIP, as in the paper) can be given instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.tagging import TagEntry, load_templates, load_vocabulary

TOP_K = 20
MAX_PER_IMAGE = 40
RELATIVE_Z = 3.0
PAPER_THRESHOLD = 0.27  # absolute cosine, for CLIP models
CLASS_TEMPLATES_MAX = 5  # class names through the first few templates; the vocabulary through all


@dataclass(frozen=True)
class CaptionPool:
    """Unique caption texts and where each came from ('class', 'vocabulary', 'user')."""

    texts: tuple[str, ...]
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.texts)}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.sources:
            out[s] = out.get(s, 0) + 1
        return out


def _clean(text: str) -> str:
    return " ".join(text.split())


def class_prompts(name: str, templates: Sequence[str], limit: int = CLASS_TEMPLATES_MAX) -> list[str]:
    return [t.format(name) for t in templates[:limit]]


def build_caption_pool(class_names: Iterable[str], user_captions: Iterable[str] = (),
                       vocabulary: Sequence[TagEntry] | None = None, templates: Sequence[str] | None = None,
                       include_vocabulary: bool = True) -> CaptionPool:
    """Class names and vocabulary through the templates, plus user captions; duplicates dropped, order kept."""
    templates = list(templates) if templates is not None else load_templates()
    if vocabulary is None and include_vocabulary:
        vocabulary = load_vocabulary()
    texts: list[str] = []
    sources: list[str] = []
    seen: set[str] = set()

    def add(text: str, source: str) -> None:
        text = _clean(text)
        if text and text not in seen:
            seen.add(text)
            texts.append(text)
            sources.append(source)

    for caption in user_captions:
        add(caption, "user")
    for name in class_names:
        for prompt in class_prompts(name, templates):
            add(prompt, "class")
    if include_vocabulary and vocabulary:
        for entry in vocabulary:
            for t in templates:
                add(t.format(entry.prompt), "vocabulary")
    return CaptionPool(tuple(texts), tuple(sources))


@dataclass(frozen=True)
class PseudoCaptionSettings:
    top_k: int = TOP_K
    max_per_image: int = MAX_PER_IMAGE
    threshold: float | None = None  # absolute cosine; None: relative rule (mean + z * std)
    z: float = RELATIVE_Z


def similarity_threshold(similarities: np.ndarray, settings: PseudoCaptionSettings) -> float:
    """The cosine a caption must exceed: the absolute setting, or mean + z * std of all pairs."""
    if settings.threshold is not None:
        return float(settings.threshold)
    sims = np.asarray(similarities, dtype=np.float64)
    return float(sims.mean() + settings.z * sims.std())


def retrieve_pseudo_captions(image_emb: np.ndarray, caption_emb: np.ndarray,
                             settings: PseudoCaptionSettings = PseudoCaptionSettings(),
                             own: Sequence[Sequence[int]] | None = None) -> tuple[list[np.ndarray], float]:
    """Per image, pool indices of its captions: its own ones, then the nearest above the threshold.

    `image_emb` (N, D) and `caption_emb` (C, D) are L2-normalised. Returns (indices per image, threshold).
    """
    image_emb = np.asarray(image_emb, dtype=np.float32)
    caption_emb = np.asarray(caption_emb, dtype=np.float32)
    sims = image_emb @ caption_emb.T
    threshold = similarity_threshold(sims, settings) if sims.size else float("inf")
    k = max(0, min(settings.top_k, sims.shape[1]))
    out: list[np.ndarray] = []
    for i in range(len(image_emb)):
        chosen: list[int] = []
        for c in (own[i] if own is not None else ()):
            if int(c) not in chosen:
                chosen.append(int(c))
        if k:
            nearest = np.argpartition(-sims[i], k - 1)[:k]
            nearest = nearest[np.argsort(-sims[i, nearest], kind="stable")]
            for c in nearest:
                if sims[i, c] > threshold and int(c) not in chosen:
                    chosen.append(int(c))
        out.append(np.asarray(chosen[:settings.max_per_image], dtype=np.int64))
    return out, threshold


def retrieval_summary(captions: Sequence[np.ndarray], threshold: float) -> dict[str, float]:
    counts = np.array([len(c) for c in captions], dtype=np.float64)
    return {"threshold": round(float(threshold), 4), "mean_per_image": round(float(counts.mean()), 2)
            if len(counts) else 0.0, "images_without": int((counts == 0).sum())}
