"""Derived files (thumbnails, vector indexes, the tag vocabulary cache) are written by one atomic helper,
and a damaged one is rebuilt, never fatal."""

import os
import subprocess
import sys

import numpy as np
import pytest

import engine.vectorindex as vi
from engine.atomic import atomic_file, sweep_stale_temps, temp_path_for, write_text_atomic
from engine.catalog import PhotoCatalog
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.tagging import tag_with_vocabulary
from tests.conftest import store_vectors


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "sub" / "a.json"
    write_text_atomic(dest, "old")
    with pytest.raises(RuntimeError), atomic_file(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert dest.read_text() == "old"
    assert os.listdir(dest.parent) == ["a.json"]


def test_stale_temp_files_of_dead_processes_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f".tiny.usearch.{dead_pid}.tmp"  # the name the old vector index saver left behind
    left.write_bytes(b"x")
    left2 = tmp_path / f".tags.npy.{dead_pid}-3.tmp"
    left2.write_bytes(b"x")
    mine = temp_path_for(tmp_path / "tiny.usearch")
    mine.write_bytes(b"x")
    (tmp_path / "tiny.usearch").write_bytes(b"keep")
    assert sweep_stale_temps(tmp_path) == 2
    assert sorted(os.listdir(tmp_path)) == sorted([mine.name, "tiny.usearch"])


def test_truncated_tag_vocabulary_cache_is_rebuilt(tmp_path, tiny_model):
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    cache = tmp_path / "indexes"
    rng = np.random.default_rng(0)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        vectors = rng.standard_normal((20, encoder.embed_dim)).astype(np.float32)
        ids = store_vectors(cat, encoder.model_id, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        tag_with_vocabulary(cat, encoder, cache, ids)
        (npy,) = cache.glob("tags-*.npy")
        good = npy.read_bytes()
        npy.write_bytes(good[: len(good) // 3])  # what a kill or a full disk used to leave
        tag_with_vocabulary(cat, encoder, cache, ids)
        assert npy.read_bytes() == good
        assert [p.name for p in cache.iterdir()] == [npy.name]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_vector_index_file_is_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        ids = store_vectors(cat, "m", vectors)
        vi.VectorIndex(cat, "m", tmp_path / "idx").refresh()
        path = tmp_path / "idx" / "m.usearch"
        data = path.read_bytes()
        path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b""}[damage])
        index = vi.VectorIndex(cat, "m", tmp_path / "idx")
        hits = index.search(vectors[7], 3)
        assert int(hits.ids[0]) == ids[7]
        assert index.is_current()
