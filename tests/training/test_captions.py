"""The caption pool and pseudo-caption retrieval (nearest captions above a threshold, own captions first)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.tagging import TagEntry
from training.captions import (
    PseudoCaptionSettings,
    build_caption_pool,
    retrieve_pseudo_captions,
    similarity_threshold,
)


def _unit(*rows: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_pool_renders_classes_and_vocabulary_through_templates_and_keeps_user_captions() -> None:
    vocab = [TagEntry("beach", "a beach", "places"), TagEntry("dog", "dog", "animals")]
    pool = build_caption_pool(["holiday 2020", "dog"], ["Kids at the beach.", "Kids  at the beach."],
                              vocabulary=vocab, templates=["a photo of {}.", "a picture showing {}."])
    assert pool.texts[0] == "Kids at the beach."  # user captions first, whitespace-normalised, deduplicated
    assert pool.sources[0] == "user"
    assert "a photo of holiday 2020." in pool.texts
    assert "a picture showing a beach." in pool.texts
    assert pool.texts.count("a photo of dog.") == 1  # class "dog" and tag "dog" give the same prompt once
    assert pool.counts() == {"user": 1, "class": 4, "vocabulary": 2}


def test_retrieval_keeps_nearest_above_threshold_in_order_with_own_first() -> None:
    images = _unit([1, 0, 0], [0, 1, 0])
    captions = _unit([1, 0.1, 0], [1, 0.5, 0], [0, 1, 0], [0, 0, 1], [1, 0.3, 0])
    settings = PseudoCaptionSettings(top_k=2, max_per_image=40, threshold=0.5)
    got, threshold = retrieve_pseudo_captions(images, captions, settings, own=[[3], []])
    assert threshold == 0.5
    # image 0: own caption 3 first, then the 2 nearest (0 at cos .995, 4 at .958); 1 (.894) is beyond top_k
    assert got[0].tolist() == [3, 0, 4]
    # image 1: caption 2 (cos 1.0) and 1 (cos .447 < .5 is dropped)
    assert got[1].tolist() == [2]


def test_retrieval_caps_captions_per_image() -> None:
    rng = np.random.default_rng(0)
    images = _unit(*rng.normal(size=(3, 8)).tolist())
    captions = _unit(*rng.normal(size=(100, 8)).tolist())
    settings = PseudoCaptionSettings(top_k=20, max_per_image=5, threshold=-1.0)
    got, _ = retrieve_pseudo_captions(images, captions, settings, own=[[1, 2, 3], [], []])
    assert [len(g) for g in got] == [5, 5, 5]
    assert got[0][:3].tolist() == [1, 2, 3]
    sims = images[1] @ captions.T
    assert got[1].tolist() == np.argsort(-sims)[:5].tolist()


def test_relative_threshold_is_mean_plus_z_std() -> None:
    sims = np.array([[0.1, 0.2, 0.3], [0.2, 0.4, 0.0]])
    expected = sims.mean() + 2.0 * sims.std()
    assert similarity_threshold(sims, PseudoCaptionSettings(z=2.0)) == pytest.approx(expected)
    assert similarity_threshold(sims, PseudoCaptionSettings(threshold=0.27)) == 0.27
    images = _unit([1, 0], [0, 1])
    captions = _unit([1, 0], [0.9, 0.1], [0, 1], [-1, 0], [0, -1], [-0.5, -0.5])
    got, threshold = retrieve_pseudo_captions(images, captions, PseudoCaptionSettings(z=1.0))
    all_sims = images @ captions.T
    assert threshold == pytest.approx(all_sims.mean() + all_sims.std(), rel=1e-5)
    for row, chosen in enumerate(got):
        assert set(chosen.tolist()) == set(np.flatnonzero(all_sims[row] > threshold).tolist())
