import time

import numpy as np

from engine.catalog import PhotoCatalog
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.jobs import Progress
from engine.tagging import TagEntry, ZeroShotTagger, tag_library, tag_with_vocabulary
from tests.conftest import store_vectors


def test_tagging_new_photos_reads_only_them_and_a_sample(tmp_path, tiny_model, monkeypatch):
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    vocabulary = [TagEntry(name, name, "test") for name in ("dog", "beach", "cake", "snow", "car", "tree")]
    tagger = ZeroShotTagger(encoder, vocabulary, ["a photo of {}"])
    rng = np.random.default_rng(0)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        vectors = rng.standard_normal((60, encoder.embed_dim)).astype(np.float32)
        vectors[-2:] = tagger.text[[0, 1]] * 10  # the two new photos: "dog" and "beach", exactly
        ids = store_vectors(cat, encoder.model_id, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))

        def no_bulk_read(*args, **kwargs):
            raise AssertionError("read every vector to tag two photos")

        monkeypatch.setattr(cat.embeddings, "load", no_bulk_read)
        monkeypatch.setattr(cat.embeddings, "chunks", no_bulk_read)
        reports: list[Progress] = []
        tag_library(cat, tagger, ids[-2:], progress=reports.append)
        tagged = {pid: {n for n, _, _ in cat.tags.of_photo(pid)} for pid in ids}
        assert "dog" in tagged[ids[-2]] and "beach" in tagged[ids[-1]]
        assert not any(tagged[pid] for pid in ids[:-2])
        assert (reports[-1].done, reports[-1].total) == (2, 2)


def test_vocabulary_encoding_and_tagging_report_as_one_stage(tmp_path, tiny_model, monkeypatch):
    """The first tagging with a model encodes the vocabulary first; the "tag" stage's clock covers both."""
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    encode_texts = encoder.encode_texts

    def slow_encode(texts):
        time.sleep(0.3)
        return encode_texts(texts)

    monkeypatch.setattr(encoder, "encode_texts", slow_encode)
    rng = np.random.default_rng(0)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        vectors = rng.standard_normal((20, encoder.embed_dim)).astype(np.float32)
        ids = store_vectors(cat, encoder.model_id, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        reports: list[Progress] = []
        tag_with_vocabulary(cat, encoder, tmp_path / "cache", ids[-5:], progress=reports.append)
    assert {r.stage for r in reports} == {"tag"}
    assert reports[0].message == "encoding the tag vocabulary" and reports[0].done == 0
    assert (reports[-1].done, reports[-1].total) == (5, 5)
    assert reports[-1].elapsed_s >= 0.3  # measured from before the encoding, not restarted after it
    assert reports[-1].setup_s >= 0.3  # ... but the rate counts only the tagging
    assert reports[-1].rate > reports[-1].done / reports[-1].elapsed_s


def test_a_typed_tag_is_cleaned_by_one_function_light_enough_for_the_window():
    """`photosift tag --add/--reject` and the window's tag field store what clean_user_tag makes of a name."""
    import subprocess
    import sys

    import pytest

    from engine.errors import InvalidTagError
    from engine.tagging import clean_user_tag

    assert clean_user_tag("  Beach \t") == "beach" and clean_user_tag("NEW YORK") == "new york"
    for bad in ("   ", "x" * 101, "a\nb"):
        with pytest.raises(InvalidTagError):
            clean_user_tag(bad)
    # the window imports it on the GUI thread: it must not load onnxruntime (engine.encoder) there
    loaded = subprocess.run([sys.executable, "-c", "import sys, engine.tagging; print('onnxruntime' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
