"""A copy is decided on the whole content, and a photo edited and renamed is still the same photo (issue 24,
item 7): whole-file fingerprints, old catalogs' partial fingerprints, device and inode on each photo row."""

import io
import os
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from engine.catalog import MIGRATIONS, SCHEMA_VERSION, PhotoCatalog, _split_sql
from engine.imageio import fingerprint, is_legacy_fingerprint, legacy_fingerprint, thumbnail_path
from engine.indexer import IndexSettings
from engine.scanner import scan
from engine.update import update_library

CHUNK = 64 * 1024


@pytest.fixture
def cat(tmp_path):
    with PhotoCatalog(tmp_path / "lib" / "c.db") as c:
        yield c


def _png_twins(folder):
    """Two different PNGs of the same size (64-128 KiB) whose first 64 KiB are identical: stored (level 0)
    noise, the second with its last rows changed."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (180, 180, 3), dtype=np.uint8)
    b = a.copy()
    b[-20:] = 255 - b[-20:]
    paths = []
    for name, pixels in (("a.png", a), ("b.png", b)):
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / name, compress_level=0)
        paths.append(folder / name)
    one, two = (p.read_bytes() for p in paths)
    assert len(one) == len(two) and CHUNK < len(one) < 2 * CHUNK and one[:CHUNK] == two[:CHUNK] and one != two
    return paths


def test_fingerprint_reads_the_whole_file(tmp_path):
    a, b = _png_twins(tmp_path)
    assert legacy_fingerprint(a, a.stat().st_size) == legacy_fingerprint(b, b.stat().st_size)  # the old blind spot
    assert fingerprint(a) != fingerprint(b)
    big = bytearray(os.urandom(3 * (1 << 20) + 17))  # several 1 MiB chunks; one byte differs in the middle
    (tmp_path / "x.jpg").write_bytes(big)
    big[len(big) // 2] ^= 1
    (tmp_path / "y.jpg").write_bytes(big)
    assert fingerprint(tmp_path / "x.jpg") != fingerprint(tmp_path / "y.jpg")
    import hashlib
    assert fingerprint(tmp_path / "y.jpg") == hashlib.sha256(bytes(big)).hexdigest()
    assert not is_legacy_fingerprint(fingerprint(a)) and is_legacy_fingerprint(legacy_fingerprint(a, 1))


def test_same_start_pngs_are_not_copies(cat, tmp_path):
    a, b = _png_twins(tmp_path / "p")
    shutil.move(b, tmp_path / "b.png")  # b comes in after a was indexed
    cat.add_root(str(tmp_path / "p"))
    scan(cat)
    pa = cat.photo_by_path(str(a))
    cat.record_decoded(pa.id, {"width": 180, "height": 180})
    cat.embeddings.put("m", [pa.id], np.full((1, 4), 0.5, np.float32))
    shutil.move(tmp_path / "b.png", b)
    r = scan(cat)
    assert (r.new, r.copied) == (1, 0)
    pb = cat.photo_by_path(str(b))
    assert pb.status == "pending" and cat.embeddings.get(pb.id, "m") is None
    assert pb.fingerprint != pa.fingerprint  # and so not one thumbnail for both
    assert thumbnail_path(tmp_path, pb.fingerprint) != thumbnail_path(tmp_path, pa.fingerprint)


def _old_catalog(path, root, files):
    """A catalog as Photosift wrote it before whole-file fingerprints and file ids: each photo with its old
    fingerprint, a vector and one with a user tag."""
    before = next(i for i, m in enumerate(MIGRATIONS) if "ADD COLUMN ino" in m)
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:before]:
        for statement in _split_sql(migration):
            conn.execute(statement)
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, ?, 0)", (str(root),))
    for i, f in enumerate(files, start=1):
        st = f.stat()
        conn.execute("INSERT INTO photos(id, root_id, path, size, mtime, fingerprint, added_at, status) "
                     "VALUES (?, 1, ?, ?, ?, ?, 0, 'ok')",
                     (i, str(f), st.st_size, st.st_mtime, legacy_fingerprint(f, st.st_size)))
        conn.execute("INSERT INTO embeddings VALUES (?, 'm', ?)", (i, np.ones(4, np.float32).tobytes()))
    conn.execute("INSERT INTO tags(photo_id, name, source, score) VALUES (1, 'holiday', 'user', 1.0)")
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()


def test_old_catalog_is_neither_changed_en_masse_nor_matched_wrongly(tmp_path):
    root = tmp_path / "p"
    a, b = _png_twins(root)
    shutil.move(b, tmp_path / "b.png")
    others = []
    for i in range(3):
        others.append(root / f"{i}.jpg")
        Image.fromarray(np.full((40, 60, 3), i * 50, np.uint8)).save(others[-1], quality=90)
    _old_catalog(tmp_path / "old.db", root, [a, *others])
    with PhotoCatalog(tmp_path / "old.db") as cat:
        assert cat.schema_version == SCHEMA_VERSION
        old_fps = {p.id: p.fingerprint for p in cat.photos_of_root(1)}
        assert all(is_legacy_fingerprint(fp) for fp in old_fps.values())
        r = scan(cat)
        assert (r.unchanged, r.changed, r.new, r.deleted) == (4, 0, 0, 0)
        photos = cat.photos_of_root(1)
        assert {p.id: p.fingerprint for p in photos} == old_fps  # kept: thumbnails and face decisions still match
        assert all((p.dev, p.ino) == (os.stat(p.path).st_dev, os.stat(p.path).st_ino) for p in photos)
        assert all(p.status == "ok" and cat.embeddings.get(p.id, "m") is not None for p in photos)

        # moved to another folder as a new file (another inode): found by its old fingerprint
        (root / "2024").mkdir()
        shutil.copy2(a, root / "2024" / "a.png")
        a.unlink()
        r = scan(cat)
        assert (r.moved, r.new, r.deleted) == (1, 0, 0)
        moved = cat.photo_by_path(str(root / "2024" / "a.png"))
        assert moved.id == 1 and moved.fingerprint == old_fps[1] and ("holiday", "user", 1.0) in cat.tags.of_photo(1)

        # a different PNG with the same old fingerprint is a new photo, not a copy of the old row
        shutil.move(tmp_path / "b.png", root / "b.png")
        r = scan(cat)
        assert (r.new, r.copied, r.moved) == (1, 0, 0)
        twin = cat.photo_by_path(str(root / "b.png"))
        assert twin.status == "pending" and not is_legacy_fingerprint(twin.fingerprint)
        assert cat.embeddings.get(twin.id, "m") is None


def _jpeg(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=90)
    return path


def _rewrite_in_place(path, image):
    """Save over the file through the same inode, the way an editor that writes in place does."""
    data = io.BytesIO()
    image.save(data, "JPEG", quality=85)
    ino = os.stat(path).st_ino
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data.getvalue())
    assert os.stat(path).st_ino == ino


def _indexed_photo_tagged_cat(lib, encoder, tmp_path, sample_arrays):
    """A library of two indexed photos, the cat one (IMG_0042.jpg) tagged "cat" by the user: (root, its path, id)."""
    root = tmp_path / "p"
    photo = _jpeg(root / "IMG_0042.jpg", sample_arrays["chelsea"])
    _jpeg(root / "other.jpg", sample_arrays["coffee"])
    lib.catalog.add_root(str(root))
    update_library(lib, encoder, settings=IndexSettings(workers=0))
    pid = lib.catalog.photo_by_path(str(photo)).id
    lib.catalog.tags.set_user(pid, "cat")
    return root, photo, pid


def test_photo_edited_and_renamed_keeps_its_id_and_tags(lib, encoder, tmp_path, sample_arrays):
    root, photo, pid = _indexed_photo_tagged_cat(lib, encoder, tmp_path, sample_arrays)
    old = lib.catalog.photo(pid)
    with Image.open(photo) as im:
        edited = ImageEnhance.Brightness(im.convert("RGB")).enhance(1.3)
    _rewrite_in_place(photo, edited.crop((4, 4, edited.width - 4, edited.height - 4)))
    os.rename(photo, root / "chelsea the cat.jpg")
    r = scan(lib.catalog)
    assert (r.moved, r.changed, r.new, r.deleted, r.held) == (1, 1, 0, 0, 0)
    now = lib.catalog.photo_by_path(str(root / "chelsea the cat.jpg"))
    assert now.id == pid and ("cat", "user", 1.0) in lib.catalog.tags.of_photo(pid)
    assert now.fingerprint != old.fingerprint and now.status == "pending" and now.size != old.size
    assert lib.catalog.missing_photos() == []
    report = update_library(lib, encoder, settings=IndexSettings(workers=0))  # its vectors are computed again
    assert report.index.indexed == 1 and lib.catalog.embeddings.get(pid, encoder.model_id) is not None


def test_same_inode_with_another_picture_is_not_the_photo(lib, encoder, tmp_path, sample_arrays):
    """What a freed inode given to an unrelated new file looks like to a scan: the old photo's tags must not
    move onto it."""
    root, photo, pid = _indexed_photo_tagged_cat(lib, encoder, tmp_path, sample_arrays)
    _rewrite_in_place(photo, Image.fromarray(sample_arrays["rocket"]))
    os.rename(photo, root / "launch.jpg")
    r = scan(lib.catalog)
    assert (r.moved, r.new, r.held) == (0, 1, 1)
    assert lib.catalog.photo_by_path(str(root / "launch.jpg")).id != pid
    assert [p.id for p in lib.catalog.missing_photos()] == [pid]  # kept, tags and all, until confirmed
    assert lib.catalog.tags.of_photo(lib.catalog.photo_by_path(str(root / "launch.jpg")).id) == []
