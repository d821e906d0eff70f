"""Zero-shot tags carry a confidence, uncertain ones are counted apart, and a tag edit can be undone exactly."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from engine.catalog import MIGRATIONS, PhotoCatalog, TagRow, _split_sql
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.tag_confidence import CONFIDENT
from engine.tagging import TagEntry, ZeroShotTagger, tag_library
from tests.conftest import store_vectors


def test_zero_shot_tags_are_stored_with_the_models_confidence(tmp_path, tiny_model):
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    vocabulary = [TagEntry(name, name, "test") for name in ("dog", "beach", "cake", "snow", "car", "tree")]
    tagger = ZeroShotTagger(encoder, vocabulary, ["a photo of {}"])
    rng = np.random.default_rng(0)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        vectors = rng.standard_normal((60, encoder.embed_dim)).astype(np.float32)
        vectors[-1] = tagger.text[0] * 10  # exactly "dog"
        ids = store_vectors(cat, encoder.model_id, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        tag_library(cat, tagger, ids[-1:])
        row = cat.tags.row(ids[-1], "dog")
        assert row is not None and row.source == "zeroshot" and row.model_id == encoder.model_id
        scores = tagger.text @ tagger.text[0]
        probs = np.exp((scores - scores.max()) * tiny_model.manifest.logit_scale)
        assert row.confidence == pytest.approx(float(probs[0] / probs.sum()), rel=1e-4)


def test_tags_are_counted_as_sure_or_uncertain(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        ids = store_vectors(cat, "m", np.eye(4, dtype=np.float32))
        cat.tags.put_zeroshot("m", ids[0], [("watermelon", 0.2, 0.01), ("frog", 0.3, 0.99)])
        cat.tags.put_zeroshot("m", ids[1], [("watermelon", 0.2, 0.02), ("frog", 0.25, 0.1)])
        cat.tags.put_zeroshot("m", ids[2], [("whale", 0.2, 0.05), ("old", 0.2)])  # no confidence: as before
        cat.tags.set_user(ids[3], "whale")
        cat.tags.put_zeroshot("m", ids[3], [("frog", 0.2, 0.03)])
        cat.tags.reject(ids[3], "frog")
        counts = cat.tags.counts_by_confidence(CONFIDENT)
        assert counts == {"watermelon": (0, 2), "whale": (1, 2), "frog": (1, 2), "old": (1, 1)}
        assert [t.name for t in cat.tags.with_confidence(ids[0])] == ["frog", "watermelon"]
        assert cat.tags.with_confidence(ids[0])[1].uncertain(CONFIDENT)
        assert not TagRow("whale", "user", 1.0, None, None).uncertain(CONFIDENT)


def test_a_rejected_tag_is_put_back_exactly(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        ids = store_vectors(cat, "m", np.eye(2, dtype=np.float32))
        cat.tags.put_zeroshot("m", ids[0], [("cat", 0.27, 0.8)])
        before = cat.tags.row(ids[0], "cat")
        tagged_model = cat.photo(ids[0]).tagged_model
        cat.tags.reject(ids[0], "cat")
        assert cat.tags.row(ids[0], "cat").source == "rejected"
        cat.tags.restore(ids[0], "cat", before)
        assert cat.tags.row(ids[0], "cat") == before == TagRow("cat", "zeroshot", 0.27, "m", 0.8)
        assert cat.photo(ids[0]).tagged_model == tagged_model
        cat.tags.reject(ids[0], "dog")  # a tag the photo did not have: undone, it has none again
        cat.tags.restore(ids[0], "dog", None)
        assert cat.tags.row(ids[0], "dog") is None


def test_tags_written_before_confidences_are_made_again_by_the_next_index(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    before = next(i for i, m in enumerate(MIGRATIONS) if "ADD COLUMN confidence" in m)  # the schema without it
    for migration in MIGRATIONS[:before]:
        for statement in _split_sql(migration):
            conn.execute(statement)
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, '/p', 0)")
    conn.execute("INSERT INTO photos(id, root_id, path, size, mtime, added_at, status, tagged_model) "
                 "VALUES (1, 1, '/p/1.jpg', 1, 1, 0, 'ok', 'm')")
    conn.execute("INSERT INTO embeddings VALUES (1, 'm', ?)", (np.ones(4, np.float32).tobytes(),))
    conn.execute("INSERT INTO tags VALUES (1, 'cat', 'zeroshot', 0.3, 'm')")
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()
    with PhotoCatalog(path) as cat:
        assert cat.tags.row(1, "cat") == TagRow("cat", "zeroshot", 0.3, "m", None)  # kept, counted as before
        assert cat.tags.photos_missing("m") == [1]  # the next index tags it again, with a confidence


def test_a_tag_filter_lets_through_exactly_the_photos_its_count_says(tmp_path):
    """The sidebar counts a tag's photos that have it for sure; the filter (CLI `search --tag`, the window's
    tag chip) returns those photos, not the ones where the model is unsure of it (issue #24, item 17)."""
    from engine.filters import SearchFilters

    with PhotoCatalog(tmp_path / "c.db") as cat:
        ids = store_vectors(cat, "m", np.eye(6, dtype=np.float32))
        cat.tags.put_zeroshot("m", ids[0], [("frog", 0.3, 0.99)])
        cat.tags.put_zeroshot("m", ids[1], [("frog", 0.2, 0.004)])  # "<1%": shown as uncertain
        cat.tags.put_zeroshot("m", ids[2], [("frog", 0.2, CONFIDENT)])  # on the line: sure
        cat.tags.put_zeroshot("m", ids[3], [("frog", 0.2)])  # written before confidences were kept: sure
        cat.tags.set_user(ids[4], "Frog")
        cat.tags.put_zeroshot("m", ids[5], [("frog", 0.2, 0.9)])
        cat.tags.reject(ids[5], "frog")
        sure, total = cat.tags.counts_by_confidence(CONFIDENT)["frog"]
        shown = set(cat.browse.filtered_photo_ids(SearchFilters(tag="FROG")))
        assert shown == {ids[0], ids[2], ids[3], ids[4]} and len(shown) == sure
        panel = {i for i in ids for r in cat.tags.with_confidence(i)  # the details panel's rule
                 if r.name.lower() == "frog" and not r.uncertain(CONFIDENT)}
        assert panel == shown
        everything = set(cat.browse.filtered_photo_ids(SearchFilters(tag="frog", tag_uncertain_too=True)))
        assert everything == shown | {ids[1]} and len(everything) == total
        assert cat.browse.timeline_days(SearchFilters(tag="frog")) == [(None, sure)]
