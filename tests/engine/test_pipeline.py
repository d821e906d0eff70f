"""Indexing end to end with the tiny exported model: vectors, metadata, failures, resume."""

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from engine.encoder import ClipEncoder, RuntimeConfig
from engine.errors import Cancelled, LibraryBusyError
from engine.indexer import IndexSettings
from engine.jobs import CancelToken, Progress
from engine.library import Library
from engine.search import PhotoSearch, SearchOptions
from engine.update import update_library
from tests.conftest import write_jpeg


def test_index_real_photos_then_search_by_image(lib, encoder, photo_dir):
    lib.catalog.add_root(str(photo_dir))
    seen: list[Progress] = []
    report = update_library(lib, encoder, progress=seen.append, settings=IndexSettings(batch_size=4, workers=2))
    n = len(list(photo_dir.rglob("*.*")))
    assert report.index.indexed == n - report.scan.copied and lib.catalog.counts()["ok"] == n
    assert lib.catalog.embeddings.models() == {"tiny": n}
    assert any(p.stage == "index" and p.done == p.total for p in seen)
    rocket = lib.catalog.photo_by_path(str(photo_dir / "space" / "rocket.jpg"))
    assert (rocket.width, rocket.height) == (640, 427)
    assert (lib.paths.thumbnails / rocket.fingerprint[:2] / f"{rocket.fingerprint}.jpg").is_file()
    results = PhotoSearch(lib, encoder).search(str(photo_dir / "space" / "rocket.jpg"))
    assert results[0].photo.id == rocket.id and results[0].score > 0.999
    vec = lib.catalog.embeddings.get(rocket.id, "tiny")
    assert vec.dtype == np.float32 and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)


def test_int8_and_fp32_agree(lib, tiny_model, photo_dir):
    img = Image.open(photo_dir / "home" / "coffee.jpg")
    from engine.preprocess import preprocess

    x = preprocess(img, tiny_model.preprocess)
    a = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32")).encode_images(x)
    b = ClipEncoder(tiny_model, RuntimeConfig(device="cpu")).encode_images(x)
    assert ClipEncoder(tiny_model, RuntimeConfig(device="cpu")).variant == "int8"
    assert float((a * b).sum()) > 0.99


def _bad_folder(root):
    write_jpeg(root / "good1.jpg", color=(200, 10, 10))
    write_jpeg(root / "good2.jpg", color=(10, 200, 10))
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("this is a text file with a .jpg name")
    buf = io.BytesIO()
    Image.effect_noise((400, 300), 40).convert("RGB").save(buf, "JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[:3000])
    Image.new("1", (20_000, 20_000)).save(root / "huge.png")
    write_jpeg(root / "vanishes.jpg", color=(1, 2, 3))


def test_bad_inputs_are_reported_and_indexing_goes_on(lib, encoder, tmp_path):
    root = tmp_path / "bad"
    _bad_folder(root)
    lib.catalog.add_root(str(root))
    from engine.scanner import scan

    scan(lib.catalog)
    (root / "vanishes.jpg").unlink()  # deleted between scan and decode
    report = update_library(lib, encoder, do_scan=False, settings=IndexSettings(batch_size=2, workers=2))
    reasons = {os.path.basename(p): r for p, r in report.index.failures}
    assert report.index.indexed == 2
    assert "empty file" in reasons["zero.jpg"]
    assert "not an image" in reasons["text.jpg"]
    assert "corrupt or truncated" in reasons["truncated.jpg"]
    assert "too large: 20000x20000" in reasons["huge.png"]
    assert "disappeared" in reasons["vanishes.jpg"]
    assert {os.path.basename(p.path) for p in lib.catalog.failed()} == set(reasons)
    # failures are not retried on every run, but a fixed file is
    again = update_library(lib, encoder)
    assert again.index.indexed == 0 and again.scan.deleted == 1
    write_jpeg(root / "zero.jpg", color=(9, 9, 9))
    assert update_library(lib, encoder).index.indexed == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_real_permissions(lib, encoder, tmp_path):
    root = tmp_path / "perm"
    p = write_jpeg(root / "locked.jpg")
    p.chmod(0)
    lib.catalog.add_root(str(root))
    report = update_library(lib, encoder)
    assert "permission denied" in report.index.failures[0][1]


def test_unreadable_file_reported(lib, encoder, tmp_path, monkeypatch):
    root = tmp_path / "perm"
    locked = write_jpeg(root / "locked.jpg")
    write_jpeg(root / "fine.jpg", color=(0, 0, 255))
    lib.catalog.add_root(str(root))
    import PIL.Image

    real_open = PIL.Image.open

    def deny(fp, *a, **k):
        if str(fp) == str(locked):
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *a, **k)

    monkeypatch.setattr(PIL.Image, "open", deny)
    report = update_library(lib, encoder, settings=IndexSettings(workers=1))
    assert report.index.indexed == 1
    assert report.index.failures == [(str(locked), "permission denied")]


def test_changed_file_gets_a_new_vector(lib, encoder, tmp_path):
    root = tmp_path / "p"
    path = write_jpeg(root / "a.jpg", color=(255, 0, 0))
    lib.catalog.add_root(str(root))
    update_library(lib, encoder)
    pid = lib.catalog.photo_by_path(str(path)).id
    before = lib.catalog.embeddings.get(pid, "tiny")
    Image.effect_noise((64, 48), 90).convert("RGB").save(path)
    os.utime(path, (2e9, 2e9))
    report = update_library(lib, encoder)
    assert report.scan.changed == 1 and report.index.indexed == 1
    assert float(before @ lib.catalog.embeddings.get(pid, "tiny")) < 0.9999


def test_cancel_keeps_committed_batches(lib, encoder, photo_dir):
    lib.catalog.add_root(str(photo_dir))
    token = CancelToken()

    def cancel_after_first(p: Progress) -> None:
        if p.stage == "index" and p.done >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        update_library(lib, encoder, progress=cancel_after_first, cancel=token,
                       settings=IndexSettings(batch_size=2, workers=1))
    done = lib.catalog.embeddings.models()["tiny"]
    assert 2 <= done < lib.catalog.counts()["total"]
    update_library(lib, encoder)
    assert lib.catalog.embeddings.models()["tiny"] == lib.catalog.counts()["total"]


def test_second_writer_is_refused_clearly(lib, encoder, tmp_path):
    lib.catalog.add_root(str(tmp_path))
    with Library.open(lib.paths.root) as other, other.write_lock(), \
            pytest.raises(LibraryBusyError, match="another Photosift process"):
        update_library(lib, encoder)


def test_models_never_mix(lib, encoder, tiny_model, photo_dir, models_root):
    from training.tiny import export_tiny

    other = export_tiny(models_root / "tiny-b", model_id="tiny-b", seed=1)
    lib.catalog.add_root(str(photo_dir))
    update_library(lib, encoder)
    enc_b = ClipEncoder(other, RuntimeConfig(device="cpu"))
    assert PhotoSearch(lib, enc_b).search("a rocket", SearchOptions(min_z=None)) == []
    update_library(lib, enc_b)
    counts = lib.catalog.embeddings.models()
    assert counts["tiny"] == counts["tiny-b"] == lib.catalog.counts()["total"]
    hits = PhotoSearch(lib, enc_b).search("a rocket", SearchOptions(min_z=None, limit=100, one_per_group=False))
    assert len(hits) == counts["tiny-b"]
    shutil.rmtree(other.path)


def test_decode_workers_are_not_forked_from_the_indexing_process(lib, encoder, photo_dir, monkeypatch):
    """ONNX Runtime's threads run here while photos decode; a fork could copy a held lock into a worker."""
    import engine.indexer

    methods: list[str] = []

    class Recording(engine.indexer.ProcessPoolExecutor):
        def __init__(self, *args, mp_context=None, **kwargs):
            methods.append(mp_context.get_start_method() if mp_context else "default")
            super().__init__(*args, mp_context=mp_context, **kwargs)

    monkeypatch.setattr(engine.indexer, "ProcessPoolExecutor", Recording)
    lib.catalog.add_root(str(photo_dir))
    report = update_library(lib, encoder, settings=IndexSettings(batch_size=4, workers=2))
    assert report.index.indexed > 4 and report.index.failed == 0
    assert methods and all(m in ("forkserver", "spawn") for m in methods)
