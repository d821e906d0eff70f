"""Duplicate and burst groups: signatures, links, keepers, and incremental grouping through update_library."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from engine.catalog import SCHEMA_VERSION, DuplicateCandidate, PhotoCatalog
from engine.duplicates import (
    CROP_KEY,
    DuplicateSettings,
    choose_keeper,
    crop_similarity,
    link_kind,
    pixel_signature,
    pixel_similarity,
    sharpness,
    update_duplicates,
)
from engine.indexer import IndexSettings
from engine.update import update_library
from engine.vectorindex import VectorIndex

SETTINGS = IndexSettings(batch_size=4, workers=1)


def save_with_exif(
    img: Image.Image, path, *, when: str | None = None, camera: str | None = None, quality: int = 92
) -> None:
    exif = Image.Exif()
    if camera:
        exif[0x0110] = camera
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=quality, exif=exif.tobytes())


def shifted(img: Image.Image, dx: int, gain: float) -> Image.Image:
    w, h = img.size
    frame = img.crop((dx, 0, w - 24 + dx, h))
    return Image.fromarray(np.clip(np.asarray(frame, np.float32) * gain, 0, 255).astype(np.uint8))


@pytest.fixture
def dup_folder(tmp_path, sample_arrays):
    """Exact copy, resized + recompressed copy, a 3-frame burst, and unrelated photos (one of them the other half
    of the same scene, shot by the same camera a second later)."""
    root = tmp_path / "photos"
    root.mkdir()
    chelsea = Image.fromarray(sample_arrays["chelsea"])
    chelsea.save(root / "chelsea.jpg", quality=92)
    shutil.copy(root / "chelsea.jpg", root / "backup-chelsea.jpg")
    chelsea.resize((chelsea.width // 2, chelsea.height // 2), Image.Resampling.LANCZOS).save(
        root / "chelsea-small.jpg", quality=70
    )
    astro = Image.fromarray(sample_arrays["astronaut"])
    for i, (dx, gain) in enumerate(((0, 1.0), (8, 1.1), (16, 0.9))):
        save_with_exif(
            shifted(astro, dx, gain), root / f"burst-{i}.jpg", when=f"2024:05:01 10:00:0{i}", camera="Phone X"
        )
    left, right = astro.crop((0, 0, 256, 512)), astro.crop((256, 0, 512, 512))
    save_with_exif(left, root / "scene-left.jpg", when="2024:05:01 11:00:00", camera="Phone X")
    save_with_exif(right, root / "scene-right.jpg", when="2024:05:01 11:00:01", camera="Phone X")
    for name in ("coffee", "rocket", "camera"):
        Image.fromarray(sample_arrays[name]).save(root / f"{name}.jpg", quality=90)
    return root


def groups_by_name(lib) -> dict[frozenset[str], tuple[str, str]]:
    out = {}
    for g in lib.catalog.duplicates.groups():
        names = frozenset(lib.catalog.photo(pid).path.rsplit("/", 1)[1] for pid, _ in g.members)
        out[names] = (g.kind, lib.catalog.photo(g.keep_id).path.rsplit("/", 1)[1])
    return out


def test_pixel_check_tells_copies_from_other_shots(sample_arrays):
    astro = Image.fromarray(sample_arrays["astronaut"])
    small = astro.resize((128, 128), Image.Resampling.BILINEAR)
    brighter = Image.fromarray(np.clip(np.asarray(astro, np.float32) * 1.2, 0, 255).astype(np.uint8))
    sig = pixel_signature(astro)
    assert pixel_similarity(sig, pixel_signature(small)) > 0.97
    assert pixel_similarity(sig, pixel_signature(brighter)) > 0.97
    assert (
        pixel_similarity(pixel_signature(astro.crop((0, 0, 256, 512))), pixel_signature(astro.crop((256, 0, 512, 512))))
        < 0.5
    )
    moved = pixel_signature(shifted(astro, 16, 1.0)), pixel_signature(shifted(astro, 0, 1.0))
    assert pixel_similarity(*moved, max_shift=2) > pixel_similarity(*moved) and pixel_similarity(*moved, 2) > 0.9
    flat = Image.new("RGB", (40, 30), (90, 90, 90))
    assert pixel_similarity(pixel_signature(flat), pixel_signature(flat.resize((20, 15)))) == 1.0
    assert pixel_similarity(pixel_signature(flat), sig) == 0.0


def _cropped(img: Image.Image, left: float, top: float, right: float, bottom: float, tmp_path, name: str):
    """`img` with these fractions cut off its edges, re-saved as a JPEG at quality 88 and read back."""
    w, h = img.size
    box = (round(w * left), round(h * top), w - round(w * right), h - round(h * bottom))
    img.crop(box).save(tmp_path / name, quality=88)
    return Image.open(tmp_path / name)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "camera"])
def test_a_slightly_cropped_copy_is_a_near_duplicate(sample_arrays, tmp_path, name):
    img = Image.fromarray(sample_arrays[name]).convert("RGB")
    img.save(tmp_path / "orig.jpg", quality=92)
    orig = Image.open(tmp_path / "orig.jpg")
    s = DuplicateSettings()
    a = _cand(1, pixel_sig=pixel_signature(orig), width=orig.width, height=orig.height)
    for cut in ((0.01, 0.01, 0.01, 0.01), (0.015, 0.0, 0.015, 0.0), (0.03, 0.03, 0.0, 0.0), (0.0, 0.0, 0.02, 0.03)):
        crop = _cropped(img, *cut, tmp_path, "crop.jpg")
        b = _cand(2, pixel_sig=pixel_signature(crop), width=crop.width, height=crop.height)
        assert link_kind(a, b, s.near_cosine) == "near", (name, cut)
        assert link_kind(b, a, s.near_cosine) == "near", (name, cut)  # either way round


def test_the_crop_check_needs_sizes_that_fit_a_crop(sample_arrays, tmp_path):
    astro = Image.fromarray(sample_arrays["astronaut"])
    left, right = astro.crop((0, 0, 256, 512)), astro.crop((256, 0, 512, 512))
    sig_l, sig_r = pixel_signature(left), pixel_signature(right)
    # Same size (another shot by the same camera): no crop; a crop of more than near_crop: no crop either.
    assert crop_similarity(sig_l, (256, 512), sig_r, (256, 512), 0.06) == -1.0
    assert crop_similarity(sig_l, (256, 512), sig_r, (230, 500), 0.06) == -1.0
    assert crop_similarity(sig_l, (256, 512), sig_r, (250, 520), 0.06) == -1.0  # wider one way, taller the other
    # Sizes that fit, pictures that do not: far below the bar.
    assert crop_similarity(sig_l, (256, 512), sig_r, (250, 500), 0.06) < 0.5
    a = _cand(1, pixel_sig=sig_l, width=256, height=512)
    assert link_kind(a, _cand(2, pixel_sig=sig_r, width=250, height=500), 1.0) is None


def test_sharpness_prefers_the_focused_frame(sample_arrays):
    from PIL import ImageFilter

    img = Image.fromarray(sample_arrays["camera"])
    assert sharpness(img) > 3 * sharpness(img.filter(ImageFilter.GaussianBlur(3)))


def _cand(pid, **kw) -> DuplicateCandidate:
    base = dict(
        id=pid,
        path=f"/p/{pid}.jpg",
        width=100,
        height=100,
        size=1000,
        taken_at=None,
        camera=None,
        content_hash=f"h{pid}",
        pixel_sig=b"",
        sharpness=10.0,
    )
    base.update(kw)
    return DuplicateCandidate(**base)


def test_keeper_rules_in_order():
    assert choose_keeper([_cand(1), _cand(2, width=200)]) == (2, "largest (200x100)")
    assert choose_keeper([_cand(1, user_tagged=True), _cand(2, width=200)])[0] == 1
    assert choose_keeper([_cand(1), _cand(2, sharpness=30.0)]) == (2, "sharpest")
    assert choose_keeper([_cand(1, size=900), _cand(2, sharpness=10.5)]) == (2, "largest file (least compressed)")
    assert choose_keeper([_cand(1), _cand(2)]) == (1, "identical; the first one added")


def test_keeper_of_identical_copies_looks_like_the_original():
    def pick(*paths, mtimes=None):
        keep, why = choose_keeper([_cand(i, path=p) for i, p in enumerate(paths, 1)], mtimes)
        return paths[keep - 1], why

    assert pick("/p/Copies/IMG_0042.jpg", "/p/Nature/ladybird.jpg")[0] == "/p/Nature/ladybird.jpg"
    assert pick("/p/picos_de_europa (copy).jpg", "/p/picos_de_europa.jpg") == (
        "/p/picos_de_europa.jpg",
        "not named as a copy",
    )
    for copy in ("Copy of x.jpg", "x - Copy.jpg", "x (1).jpg", "x_copy2.jpg", "backup-x.jpg"):
        assert pick(f"/p/{copy}", "/p/x.jpg")[0] == "/p/x.jpg", copy
    assert pick("/p/Backup 2020/x.jpg", "/p/trip/x.jpg") == ("/p/trip/x.jpg", "not in a folder of copies or backups")
    assert pick("/p/DSC01234.JPG", "/p/lighthouse.jpg") == ("/p/lighthouse.jpg", "a descriptive name")
    assert pick("/p/a.jpg", "/p/b.jpg", mtimes={1: 2000.0, 2: 1000.0}) == ("/p/b.jpg", "the oldest file")
    assert pick("/p/a.jpg", "/p/b.jpg", mtimes={1: 1000.5, 2: 1000.0}) == ("/p/a.jpg", "identical; the first one added")
    # only the folders below the one the copies share count: a library kept under "Backups" is no backup
    assert pick("/home/me/Backups/Photos/backup/x.jpg", "/home/me/Backups/Photos/trip/x.jpg") == (
        "/home/me/Backups/Photos/trip/x.jpg", "not in a folder of copies or backups")
    assert pick("/home/me/Backups/Photos/x.jpg", "/home/me/Backups/Photos/Copies/x.jpg")[0] == (
        "/home/me/Backups/Photos/x.jpg")
    # Quality still comes first: a larger "copy" is kept over a smaller original.
    assert choose_keeper([_cand(1, path="/p/x.jpg"), _cand(2, path="/p/x (copy).jpg", width=200)])[0] == 2


def test_exact_copies_keep_the_original_not_the_first_scanned(lib, encoder, tmp_path, sample_arrays):
    root = tmp_path / "p"
    (root / "Copies").mkdir(parents=True)
    (root / "Nature").mkdir()
    Image.fromarray(sample_arrays["coffee"]).save(root / "Nature" / "ladybird.jpg")
    shutil.copy(root / "Nature" / "ladybird.jpg", root / "Copies" / "IMG_0042.jpg")
    Image.fromarray(sample_arrays["rocket"]).save(root / "picos_de_europa.jpg")
    shutil.copy(root / "picos_de_europa.jpg", root / "picos_de_europa (copy).jpg")
    lib.catalog.add_root(str(root))
    update_library(lib, encoder, settings=SETTINGS)
    found = groups_by_name(lib)
    assert found[frozenset({"ladybird.jpg", "IMG_0042.jpg"})][1] == "ladybird.jpg"
    assert found[frozenset({"picos_de_europa.jpg", "picos_de_europa (copy).jpg"})][1] == "picos_de_europa.jpg"


def test_burst_needs_same_camera_and_seconds(sample_arrays):
    sig = pixel_signature(Image.fromarray(sample_arrays["astronaut"]))
    a = _cand(1, pixel_sig=sig, camera="Phone X", taken_at="2024-05-01T10:00:00")
    s = DuplicateSettings()
    cos = (s.near_cosine + s.burst_cosine) / 2  # close enough for a burst only
    assert link_kind(a, _cand(2, pixel_sig=sig, camera="Phone X", taken_at="2024-05-01T10:00:03"), cos) == "burst"
    assert link_kind(a, _cand(2, pixel_sig=sig, camera="Phone Y", taken_at="2024-05-01T10:00:03"), cos) is None
    assert link_kind(a, _cand(2, pixel_sig=sig, camera="Phone X", taken_at="2024-05-01T10:05:00"), cos) is None
    assert link_kind(a, _cand(2, pixel_sig=sig), cos) is None  # no EXIF: never a burst
    assert link_kind(a, _cand(2, pixel_sig=sig), s.near_cosine) == "near"
    assert link_kind(a, _cand(2, pixel_sig=None), 1.0) is None  # no pixel check possible
    assert link_kind(a, _cand(2, content_hash="h1", pixel_sig=None), -1.0) == "exact"


def test_groups_after_indexing_and_incremental_update(lib, encoder, dup_folder, tmp_path):
    lib.catalog.add_root(str(dup_folder))
    report = update_library(lib, encoder, settings=SETTINGS)
    assert report.duplicates.checked == 11
    found = groups_by_name(lib)
    copies, burst = (
        frozenset({"chelsea.jpg", "backup-chelsea.jpg", "chelsea-small.jpg"}),
        frozenset({"burst-0.jpg", "burst-1.jpg", "burst-2.jpg"}),
    )
    assert set(found) == {copies, burst}
    assert found[copies] == ("near", "chelsea.jpg")  # full size; of the two exact copies the one not named "backup"
    assert found[burst][0] == "burst"
    # Nothing new: nothing is searched again.
    index = VectorIndex(lib.catalog, "tiny", lib.paths.indexes)
    assert update_duplicates(lib.catalog, index).checked == 0
    # The user's keeper survives a new copy joining the group; the copy is found without a full re-check.
    group = next(g for g in lib.catalog.duplicates.groups() if g.kind == "near")
    small = lib.catalog.photo_by_path(str(dup_folder / "chelsea-small.jpg"))
    lib.catalog.duplicates.set_keeper(group.id, small.id, "chosen by you")
    shutil.copy(dup_folder / "chelsea.jpg", dup_folder / "again-chelsea.jpg")
    report = update_library(lib, encoder, settings=SETTINGS)
    assert report.duplicates.checked == 1
    found = groups_by_name(lib)
    assert found[frozenset({"chelsea.jpg", "backup-chelsea.jpg", "chelsea-small.jpg", "again-chelsea.jpg"})] == (
        "near",
        "chelsea-small.jpg",
    )
    # A deleted copy leaves its group; a group of one is no group.
    for name in ("backup-chelsea.jpg", "again-chelsea.jpg", "chelsea-small.jpg"):
        (dup_folder / name).unlink()
    update_library(lib, encoder, settings=SETTINGS)
    assert frozenset({"chelsea.jpg"}) not in groups_by_name(lib)
    assert len(groups_by_name(lib)) == 1


def test_exact_copies_only_are_an_exact_group(lib, encoder, tmp_path, sample_arrays):
    root = tmp_path / "p"
    root.mkdir()
    Image.fromarray(sample_arrays["coffee"]).save(root / "a.jpg")
    shutil.copy(root / "a.jpg", root / "b.jpg")
    Image.fromarray(sample_arrays["rocket"]).save(root / "c.jpg")
    lib.catalog.add_root(str(root))
    update_library(lib, encoder, settings=SETTINGS)
    groups = lib.catalog.duplicates.groups()
    assert [(g.kind, len(g.members)) for g in groups] == [("exact", 2)]
    assert groups[0].reason == "identical; the first one added" and all(s == 1.0 for _, s in groups[0].members)


def test_cropped_copies_are_found_in_a_library_checked_before_without_losing_reviews(
    lib, encoder, tmp_path, sample_arrays
):
    root = tmp_path / "p"
    root.mkdir()
    coffee = Image.fromarray(sample_arrays["coffee"])
    coffee.save(root / "coffee.jpg", quality=92)
    w, h = coffee.size
    coffee.crop((round(w * 0.03), round(h * 0.02), w, h)).save(root / "coffee-cropped.jpg", quality=88)
    Image.fromarray(sample_arrays["rocket"]).save(root / "rocket.jpg")
    shutil.copy(root / "rocket.jpg", root / "rocket-2.jpg")
    lib.catalog.add_root(str(root))
    # Checked as a library was before crops were recognised (no crop check: near_crop 0).
    update_library(lib, encoder, settings=SETTINGS)
    index = VectorIndex(lib.catalog, "tiny", lib.paths.indexes)
    lib.catalog.duplicates.reset()
    update_duplicates(lib.catalog, index, DuplicateSettings(near_crop=0.0))
    assert set(groups_by_name(lib)) == {frozenset({"rocket.jpg", "rocket-2.jpg"})}
    exact = lib.catalog.duplicates.groups()[0]
    second = next(pid for pid, _ in exact.members if pid != exact.keep_id)
    lib.catalog.duplicates.set_keeper(exact.id, second, "chosen by you")
    lib.catalog.duplicates.set_reviewed(exact.id)
    # The next update searches every photo once more for crops; the user's choices stay.
    report = update_duplicates(lib.catalog, index)
    assert report.checked == 4 and lib.catalog.get_setting(CROP_KEY)
    found = {frozenset(lib.catalog.photo(pid).path.rsplit("/", 1)[1] for pid, _ in g.members): g
             for g in lib.catalog.duplicates.groups(include_reviewed=True)}
    assert set(found) == {frozenset({"coffee.jpg", "coffee-cropped.jpg"}), frozenset({"rocket.jpg", "rocket-2.jpg"})}
    crop_group = found[frozenset({"coffee.jpg", "coffee-cropped.jpg"})]
    assert crop_group.kind == "near" and lib.catalog.photo(crop_group.keep_id).path.endswith("/coffee.jpg")
    rockets = found[frozenset({"rocket.jpg", "rocket-2.jpg"})]
    assert rockets.keep_id == second and rockets.keep_chosen and rockets.reviewed
    assert update_duplicates(lib.catalog, index).checked == 0  # once only


def test_signatures_are_backfilled_for_photos_indexed_before(lib, encoder, dup_folder):
    lib.catalog.add_root(str(dup_folder))
    update_library(lib, encoder, settings=SETTINGS)
    lib.catalog.conn.execute(
        "UPDATE photos SET content_hash = NULL, pixel_sig = NULL, sharpness = NULL, dup_checked = NULL"
    )
    lib.catalog.conn.execute("DELETE FROM duplicate_groups")
    report = update_duplicates(lib.catalog, VectorIndex(lib.catalog, "tiny", lib.paths.indexes))
    assert report.signatures_made == 11 and report.checked == 11
    assert len(lib.catalog.duplicates.groups()) == 2


def test_version_3_catalog_gains_the_duplicate_tables(tmp_path):
    from engine.catalog import _split_sql
    from engine.catalog_schema import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for m in MIGRATIONS[:3]:
        for statement in _split_sql(m):
            conn.execute(statement)
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, '/p', 0)")
    conn.execute(
        "INSERT INTO photos(id, root_id, path, size, mtime, added_at, status) VALUES (1, 1, '/p/a', 1, 1, 0, 'ok')"
    )
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with PhotoCatalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        cols = {r[1] for r in cat.conn.execute("PRAGMA table_info(photos)")}
        assert {"content_hash", "pixel_sig", "sharpness", "dup_checked"} <= cols
        assert cat.duplicates.groups() == []
