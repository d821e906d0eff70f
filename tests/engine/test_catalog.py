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
        cat.put_embeddings("m1", [pid], np.ones((1, 4), np.float32))
        cat.put_embeddings("m2", [pid], np.zeros((1, 8), np.float32))
        assert cat.models_with_embeddings() == {"m1": 1, "m2": 1}
        ids, vecs = cat.embeddings("m2")
        assert ids.tolist() == [pid] and vecs.shape == (1, 8)
        cat.delete_photos([pid])
        assert cat.models_with_embeddings() == {}


def test_user_tags_win_over_zeroshot(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        pid = cat.insert_photo(root_id=root.id, path="/p/a.jpg", raw_path=None, size=1, mtime=1.0, fingerprint="f")
        cat.set_user_tag(pid, "beach")
        cat.reject_tag(pid, "dog")
        cat.put_zeroshot_tags("m", pid, [("beach", 0.3), ("dog", 0.4), ("sunset", 0.35)])
        tags = {n: s for n, s, _ in cat.tags_of(pid)}
        assert tags == {"beach": "user", "sunset": "zeroshot"}
        assert cat.photo_ids_with_tag("dog") == set()
