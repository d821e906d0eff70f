import sqlite3

import numpy as np
import pytest

from engine.catalog import SCHEMA_VERSION, PhotoCatalog
from engine.errors import CatalogVersionError


def test_new_catalog_is_wal_and_versioned(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        assert cat.schema_version == SCHEMA_VERSION
        assert cat.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "c.db"
    PhotoCatalog(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CatalogVersionError, match="newer"):
        PhotoCatalog(path)
    assert path.read_bytes() == before


def test_embeddings_are_per_model_and_cascade_with_photo(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/photos")
        pid = cat.insert_photo(root_id=root.id, path="/photos/a.jpg", raw_path=None, size=1, mtime=1.0,
                               fingerprint="f")
        cat.embeddings.put("m1", [pid], np.ones((1, 4), np.float32))
        cat.embeddings.put("m2", [pid], np.zeros((1, 8), np.float32))
        assert cat.embeddings.models() == {"m1": 1, "m2": 1}
        ids, vecs = cat.embeddings.load("m2")
        assert ids.tolist() == [pid] and vecs.shape == (1, 8)
        cat.delete_photos([pid])
        assert cat.embeddings.models() == {}


def test_user_tags_win_over_zeroshot(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        pid = cat.insert_photo(root_id=root.id, path="/p/a.jpg", raw_path=None, size=1, mtime=1.0, fingerprint="f")
        cat.tags.set_user(pid, "beach")
        cat.tags.reject(pid, "dog")
        cat.tags.put_zeroshot("m", pid, [("beach", 0.3), ("dog", 0.4), ("sunset", 0.35)])
        tags = {n: s for n, s, _ in cat.tags.of_photo(pid)}
        assert tags == {"beach": "user", "sunset": "zeroshot"}
        assert cat.tags.photo_ids_with("dog") == set()


def _photo(cat, name):
    root = cat.add_root("/photos")
    return cat.insert_photo(root_id=root.id, path=f"/photos/{name}", raw_path=None, size=1, mtime=1.0,
                            fingerprint=name)


def test_vector_version_tracks_every_change_and_counts_exactly(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        assert cat.conn.execute("PRAGMA page_size").fetchone()[0] == 16384
        a, b = _photo(cat, "a.jpg"), _photo(cat, "b.jpg")
        seen = {cat.embeddings.stamp("m")}
        cat.embeddings.put("m", [a, b], np.ones((2, 4), np.float32))
        assert cat.embeddings.version("m")[1] == 2
        seen.add(cat.embeddings.stamp("m"))
        cat.embeddings.put("m", [a], np.zeros((1, 4), np.float32))  # re-embedded: same count, new stamp
        assert cat.embeddings.version("m")[1] == 2 and cat.embeddings.stamp("m") not in seen
        seen.add(cat.embeddings.stamp("m"))
        c = _photo(cat, "c.jpg")
        assert cat.copy_indexed_state(a, c)
        assert cat.embeddings.version("m")[1] == 3 and cat.embeddings.stamp("m") not in seen
        seen.add(cat.embeddings.stamp("m"))
        cat.delete_photos([b])  # cascades to the vector
        assert cat.embeddings.version("m")[1] == 2 and cat.embeddings.stamp("m") not in seen
        assert cat.embeddings.models() == {"m": 2}
        ids, vecs = cat.embeddings.load("m")
        assert sorted(ids.tolist()) == [a, c] and vecs.shape == (2, 4)
        assert cat.embeddings.delete("m") == 2
        assert cat.embeddings.models() == {} and cat.embeddings.version("m")[1] == 0


def test_version_1_catalog_is_migrated_with_its_vectors_counted(tmp_path):
    from engine.catalog import MIGRATIONS, _split_sql

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in _split_sql(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, '/p', 0)")
    for i in range(1, 4):
        conn.execute("INSERT INTO photos(id, root_id, path, size, mtime, added_at) VALUES (?, 1, ?, 1, 1, 0)",
                     (i, f"/p/{i}.jpg"))
        conn.execute("INSERT INTO embeddings VALUES (?, 'm', ?)", (i, np.ones(4, np.float32).tobytes()))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with PhotoCatalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        assert cat.embeddings.models() == {"m": 3}
        before = cat.embeddings.stamp("m")
        cat.delete_photos([1])
        assert cat.embeddings.models() == {"m": 2} and cat.embeddings.stamp("m") != before


def test_embedding_sample_spreads_over_the_rows(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        ids = [_photo(cat, f"{i}.jpg") for i in range(200)]
        cat.embeddings.put("m", ids, np.arange(800, dtype=np.float32).reshape(200, 4))
        cat.embeddings.put("other", ids, np.zeros((200, 4), np.float32))
        got, vecs = cat.embeddings.sample("m", 20)
        assert 15 <= len(got) <= 20 and len(set(got.tolist())) == len(got)
        assert min(got) <= ids[10] and max(got) >= ids[-10]  # both ends of the library, not just its start
        assert np.array_equal(vecs[:, 0] / 4, [ids.index(int(i)) for i in got])
