"""Zero-shot tags from an editable vocabulary, with prompt-template ensembles and per-tag thresholds.

A tag is given to a photo when it is among the photo's best few tags AND it stands out for that tag
across the library (its score is `min_z` standard deviations above the tag's mean over a library
sample), unless the vocabulary fixes a threshold for the tag. User and rejected tags always win.

Each tag also gets a confidence: the model's probability for it among the whole vocabulary (softmax at
the model's logit scale). A tag that stands out in the library can still be one the model barely
believes (the starter model's "watermelon" on 6 photos of 107 that hold none); below
engine.tag_confidence.CONFIDENT the window shows it apart, as uncertain.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.atomic import atomic_file
from engine.catalog import PhotoCatalog, clean_tag
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from resources import RESOURCES

if TYPE_CHECKING:  # only for annotations: the window imports clean_user_tag, and the encoder loads onnxruntime
    from engine.encoder import ClipEncoder

DEFAULT_VOCABULARY = RESOURCES / "tag_vocabulary.txt"
DEFAULT_TEMPLATES = RESOURCES / "prompt_templates.txt"
TOP_K = 5
MIN_Z = 2.0
FIT_SAMPLE = 20_000  # vectors behind the per-tag statistics
SMALL_LIBRARY = 30  # below this, per-tag statistics mean little; rely on the softmax instead
MIN_PROB = 0.15

log = logging.getLogger(__name__)


def clean_user_tag(name: str) -> str:
    """A tag the user typed (`photosift tag --add/--reject`, the window's tag field), as it is stored: lower
    case, trimmed; InvalidTagError when empty, too long or not printable (engine.catalog.clean_tag)."""
    return clean_tag(name.lower())


@dataclass(frozen=True)
class TagEntry:
    name: str
    prompt: str
    category: str
    threshold: float | None = None


def load_vocabulary(path: Path = DEFAULT_VOCABULARY) -> list[TagEntry]:
    entries: list[TagEntry] = []
    category = ""
    seen: set[str] = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            category = line.lstrip("#").strip()
            continue
        parts = [p.strip() for p in line.split("|")]
        name = parts[0].lower()
        if not name or name in seen:
            continue
        seen.add(name)
        prompt = parts[1] if len(parts) > 1 and parts[1] else name
        threshold = float(parts[2]) if len(parts) > 2 and parts[2] else None
        entries.append(TagEntry(name, prompt, category, threshold))
    return entries


def load_templates(path: Path = DEFAULT_TEMPLATES) -> list[str]:
    return [t.strip() for t in Path(path).read_text(encoding="utf-8").splitlines()
            if t.strip() and not t.startswith("#") and "{}" in t]


def _load_cached_matrix(path: Path, rows: int) -> np.ndarray | None:
    """The cached vocabulary matrix, or None when the file is damaged or does not fit (then it is rebuilt)."""
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        log.warning("tag vocabulary cache %s is damaged (%s); encoding the vocabulary again", path, e)
        return None
    if matrix.ndim != 2 or matrix.shape[0] != rows or matrix.dtype != np.float32 or not np.isfinite(matrix).all():
        log.warning("tag vocabulary cache %s does not fit the vocabulary; encoding it again", path)
        return None
    return matrix


class ZeroShotTagger:
    def __init__(self, encoder: ClipEncoder, vocabulary: list[TagEntry], templates: list[str],
                 cache_dir: Path | None = None) -> None:
        self.encoder = encoder
        self.vocabulary = vocabulary
        self.templates = templates
        self.text = self._text_matrix(cache_dir)
        self.col_mean: np.ndarray | None = None
        self.col_std: np.ndarray | None = None

    def _text_matrix(self, cache_dir: Path | None) -> np.ndarray:
        key = hashlib.sha1("\n".join([self.encoder.model_id, self.encoder.variant, *self.templates,
                                      *(e.prompt for e in self.vocabulary)]).encode()).hexdigest()[:16]
        cached = Path(cache_dir) / f"tags-{self.encoder.model_id}-{key}.npy" if cache_dir else None
        if cached and cached.is_file():
            loaded = _load_cached_matrix(cached, len(self.vocabulary))
            if loaded is not None:
                return loaded
        prompts = [t.format(e.prompt) for e in self.vocabulary for t in self.templates]
        emb = self.encoder.encode_texts(prompts).reshape(len(self.vocabulary), len(self.templates), -1).mean(1)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        emb = emb.astype(np.float32)
        if cached:
            try:
                with atomic_file(cached) as tmp, open(tmp, "wb") as f:
                    np.save(f, emb)
            except OSError as e:  # a cache: a full disk costs the next run a few seconds, not this one
                log.warning("could not save the tag vocabulary cache %s: %s", cached, e)
        return emb

    def fit(self, sample: np.ndarray) -> None:
        """Per-tag statistics over a sample of the library's vectors."""
        if len(sample) >= SMALL_LIBRARY:
            scores = sample @ self.text.T
            self.col_mean, self.col_std = scores.mean(0), scores.std(0) + 1e-6
        else:
            self.col_mean = self.col_std = None

    def assign(self, vectors: np.ndarray) -> list[list[tuple[str, float, float]]]:
        """Each photo's tags as (name, cosine score, confidence)."""
        scores = vectors @ self.text.T
        logits = scores * np.float32(self.encoder.folder.manifest.logit_scale)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        top = np.argsort(-scores, axis=1)[:, :TOP_K]
        out: list[list[tuple[str, float]]] = []
        for row in range(len(vectors)):
            tags = []
            for col in top[row]:
                entry, s = self.vocabulary[col], float(scores[row, col])
                if entry.threshold is not None:
                    ok = s >= entry.threshold
                elif self.col_mean is not None and self.col_std is not None:
                    ok = (s - self.col_mean[col]) / self.col_std[col] >= MIN_Z
                else:
                    ok = probs[row, col] >= MIN_PROB
                if ok:
                    tags.append((entry.name, s, float(probs[row, col])))
            out.append(tags)
        return out


def tag_library(catalog: PhotoCatalog, tagger: ZeroShotTagger, photo_ids: list[int] | None = None, *,
                progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                chunk: int = 4096, clock: ProgressClock | None = None) -> int:
    """(Re)tag the given photos, or all photos with vectors of the tagger's model. Returns tags written.

    Only the photos being tagged and a fixed sample (for the per-tag statistics) are read: tagging 100 new
    photos of a 1M library must not load 2 GB of vectors.
    """
    model_id = tagger.encoder.model_id
    _, sample = catalog.embeddings.sample(model_id, FIT_SAMPLE)
    if len(sample) == 0:
        return 0
    tagger.fit(sample)
    if photo_ids is not None:
        chunks = (catalog.embeddings.of_ids(model_id, photo_ids[i:i + chunk]) for i in range(0, len(photo_ids), chunk))
    else:
        chunks = catalog.embeddings.chunks(model_id, chunk)
    clock = clock or ProgressClock("tag", _tag_total(catalog, model_id, photo_ids), progress)
    total = clock.total
    written = done = 0
    for ids, vectors in chunks:
        if cancel:
            cancel.check()
        assigned = tagger.assign(vectors)
        with catalog.transaction():
            for pid, tags in zip(ids, assigned, strict=True):
                catalog.tags.put_zeroshot(model_id, int(pid), tags)
                written += len(tags)
        done += len(ids)
        clock.report(min(done, total))
    return written


def _tag_total(catalog: PhotoCatalog, model_id: str, photo_ids: list[int] | None) -> int:
    return len(photo_ids) if photo_ids is not None else catalog.embeddings.version(model_id)[1]


def tag_with_vocabulary(catalog: PhotoCatalog, encoder: ClipEncoder, cache_dir: Path | None,
                        photo_ids: list[int] | None = None, *, progress: ProgressCallback = ignore_progress,
                        cancel: CancelToken | None = None) -> int:
    """tag_library with the default vocabulary and templates, as one "tag" stage.

    Encoding the vocabulary takes seconds the first time a model is used, so the stage says so first.
    """
    clock = ProgressClock("tag", _tag_total(catalog, encoder.model_id, photo_ids), progress)
    clock.report(0, "encoding the tag vocabulary")
    tagger = ZeroShotTagger(encoder, load_vocabulary(), load_templates(), cache_dir)
    clock.setup_done()
    return tag_library(catalog, tagger, photo_ids, progress=progress, cancel=cancel, clock=clock)
