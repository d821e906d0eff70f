"""The starter installed from its prebuilt archive: explicit file, the packaged app's copy, a release URL on
127.0.0.1; refused when wrong; built only when no archive exists and torch is there; no torch on that path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from engine.model_archive import ModelArchiveError, read_sidecar, sidecar_of
from engine.modelfolder import MANIFEST, ModelFolder
from training import install, prebuilt, registry
from training.download import ChecksumError

REPO = Path(__file__).resolve().parents[2]
RUNTIME_ONLY = ("torch", "open_clip", "timm", "transformers", "torchvision", "onnx")


def _pack(folder: Path, out: Path, version: str = "1") -> Path:
    """scripts/build_starter.py --from FOLDER: what a release would publish."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "build_starter.py"), "--from", str(folder),
                        "--out", str(out), "--version", version], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    archive = out / f"photosift-starter-{version}.tar.gz"
    assert str(archive) in r.stdout and archive.is_file() and sidecar_of(archive).is_file()
    return archive


@pytest.fixture(scope="module")
def starter_archive(tiny_model: ModelFolder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test model dressed as the starter (its manifest says "starter"), packed by the script."""
    folder = tmp_path_factory.mktemp("fake-starter") / "starter"
    shutil.copytree(tiny_model.path, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "model_id": "starter"}))
    return _pack(folder, tmp_path_factory.mktemp("release"))


@pytest.fixture
def no_build(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """training.starter replaced: a build is recorded (and fails) instead of running."""
    calls: list[Path] = []

    def build_starter(out_dir, progress):
        calls.append(out_dir)
        raise AssertionError("the starter was built although an archive was there")

    monkeypatch.setitem(sys.modules, "training.starter", types.SimpleNamespace(build_starter=build_starter))
    return calls


def _registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **archive: object) -> None:
    data = json.loads(registry.REGISTRY_FILE.read_text())
    starter = next(m for m in data["models"] if m["id"] == "starter")
    starter["weights"]["archive"] = {"version": "1", "url": None, "sha256": None, **archive}
    (tmp_path / "models.json").write_text(json.dumps(data))
    monkeypatch.setattr(registry, "REGISTRY_FILE", tmp_path / "models.json")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "site"
    root.mkdir()
    handler = partial(type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
                      directory=str(root))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield root, f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        srv.server_close()


def _left_in(models: Path) -> list[str]:
    """What an install left in the models folder, lock files aside."""
    return sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) if models.exists() else []


def test_explicit_archive_installs_the_starter_without_building(starter_archive, own_models_dir, monkeypatch,
                                                                 no_build):
    monkeypatch.setenv(prebuilt.ENV_ARCHIVE, str(starter_archive))
    folder = install.ensure_model("starter")
    assert folder.path == own_models_dir / "starter" and folder.model_id == "starter" and no_build == []
    assert not (folder.path / "torch").exists()
    assert folder.manifest.info["torch_weights"]["kind"] == "starter"
    assert folder.manifest.info["archive"] == "photosift-starter-1.tar.gz"
    assert _left_in(own_models_dir) == ["starter"]


def test_explicit_archive_missing_or_damaged_is_an_error_not_a_build(starter_archive, own_models_dir,
                                                                     monkeypatch, no_build, tmp_path):
    monkeypatch.setenv(prebuilt.ENV_ARCHIVE, str(tmp_path / "nope.tar.gz"))
    with pytest.raises(ModelArchiveError, match="is not a file"):
        install.ensure_model("starter")
    bad = tmp_path / starter_archive.name
    bad.write_bytes(starter_archive.read_bytes()[:-100])  # truncated, its published checksum beside it
    shutil.copyfile(sidecar_of(starter_archive), sidecar_of(bad))
    monkeypatch.setenv(prebuilt.ENV_ARCHIVE, str(bad))
    with pytest.raises(ModelArchiveError) as e:
        install.ensure_model("starter")
    assert "sha256" in str(e.value) and "\n" not in str(e.value)
    assert no_build == [] and _left_in(own_models_dir) == []


def test_the_packaged_apps_copy_is_found_beside_the_executable(starter_archive, own_models_dir, monkeypatch,
                                                                no_build, tmp_path):
    app = tmp_path / "dist" / "Photosift"
    (app / "models").mkdir(parents=True)
    (app / "_internal").mkdir()
    for f in (starter_archive, sidecar_of(starter_archive)):
        shutil.copy(f, app / "models")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "photosift"))
    monkeypatch.setattr(sys, "_MEIPASS", str(app / "_internal"), raising=False)
    assert prebuilt.packaged_model_dirs()[:2] == [app / "models", app / "_internal" / "models"]
    folder = install.ensure_model("starter")
    assert folder.model_id == "starter" and no_build == []
    assert (app / "models" / starter_archive.name).is_file()  # the app's copy is read, never moved


def test_release_url_is_downloaded_checked_and_not_kept(starter_archive, own_models_dir, monkeypatch, no_build,
                                                        served, tmp_path):
    root, base = served
    for f in (starter_archive, sidecar_of(starter_archive)):
        shutil.copy(f, root)
    _registry(monkeypatch, tmp_path, url=f"{base}/{starter_archive.name}")
    seen: list = []
    folder = install.ensure_model("starter", progress=seen.append)
    assert folder.model_id == "starter" and no_build == []
    assert {"download", "verify", "unpack"} <= {p.stage for p in seen}
    cache = Path(os.environ["PHOTOSIFT_CACHE"])
    assert [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("damage", ["pinned-checksum", "truncated"])
def test_release_url_wrong_or_truncated_is_refused_leaving_nothing(starter_archive, own_models_dir, monkeypatch,
                                                                   no_build, served, tmp_path, damage):
    root, base = served
    data = starter_archive.read_bytes()
    shutil.copy(sidecar_of(starter_archive), root)
    if damage == "truncated":  # the server sends a shorter file than the one its checksum describes
        (root / starter_archive.name).write_bytes(data[: len(data) // 2])
        _registry(monkeypatch, tmp_path, url=f"{base}/{starter_archive.name}")
    else:
        (root / starter_archive.name).write_bytes(data)
        _registry(monkeypatch, tmp_path, url=f"{base}/{starter_archive.name}", sha256="ab" * 32)
    with pytest.raises(ChecksumError) as e:
        install.ensure_model("starter")
    assert "\n" not in str(e.value) and "sha256" in str(e.value) and no_build == []
    assert _left_in(own_models_dir) == []
    cache = Path(os.environ["PHOTOSIFT_CACHE"])
    assert [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


def test_no_archive_and_no_torch_is_one_clear_line(own_models_dir, monkeypatch, no_build, tmp_path):
    _registry(monkeypatch, tmp_path)
    monkeypatch.setattr(prebuilt, "RESOURCES", tmp_path / "no-resources")
    monkeypatch.setattr(prebuilt, "can_build_starter", lambda: False)
    with pytest.raises(prebuilt.StarterUnavailableError) as e:
        install.ensure_model("starter")
    assert "\n" not in str(e.value) and prebuilt.ENV_ARCHIVE in str(e.value) and "photosift[train]" in str(e.value)
    assert no_build == [] and _left_in(own_models_dir) == []


def test_without_an_archive_torch_builds_it_as_before(own_models_dir, monkeypatch, tmp_path):
    from training.tiny import export_tiny

    _registry(monkeypatch, tmp_path)
    monkeypatch.setattr(prebuilt, "RESOURCES", tmp_path / "no-resources")
    calls = []

    def build_starter(out_dir, progress):
        calls.append(out_dir)
        return export_tiny(out_dir, model_id="starter")

    monkeypatch.setitem(sys.modules, "training.starter", types.SimpleNamespace(build_starter=build_starter))
    assert install.ensure_model("starter").model_id == "starter" and calls == [own_models_dir / "starter"]


def test_the_runtime_path_to_the_starter_archive_imports_no_torch(starter_archive, tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from desktop_app.models_runtime import load_encoder\n"
        "enc = load_encoder('starter', device='cpu')\n"
        "size = enc.folder.preprocess.image_size\n"
        "assert enc.encode_texts(['a cat', 'a rocket']).shape == (2, enc.embed_dim)\n"
        "assert enc.encode_images(np.zeros((3, 3, size, size), np.float32)).shape == (3, enc.embed_dim)\n"
        f"bad = sorted(m for m in {RUNTIME_ONLY!r} if m in sys.modules)\n"
        "assert not bad, bad\n"
        "print(enc.folder.path)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PHOTOSIFT_MODELS": str(tmp_path / "models"),
           "PHOTOSIFT_CACHE": str(tmp_path / "cache"), prebuilt.ENV_ARCHIVE: str(starter_archive)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "models" / "starter")


@pytest.mark.slow  # 6 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_the_real_starter_archive_round_trip(starter_build, tmp_path, monkeypatch, own_models_dir, no_build):
    """The starter built by training.starter, packed by scripts/build_starter.py, installed from the archive:
    the same towers, the same embeddings, without its torch side."""
    built, _ = starter_build
    archive = _pack(built.path, tmp_path / "release")
    size = archive.stat().st_size
    print(f"starter archive: {size} bytes, sha256 {read_sidecar(archive)}")
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == read_sidecar(archive)
    monkeypatch.setenv(prebuilt.ENV_ARCHIVE, str(archive))
    folder = install.ensure_model("starter")
    assert no_build == [] and not (folder.path / "torch").exists()
    assert folder.manifest.embed_dim == built.manifest.embed_dim
    assert folder.manifest.source_sha256 == built.manifest.source_sha256
    from engine.encoder import ClipEncoder, RuntimeConfig

    texts = ["a cat", "a rocket in space", "a cup of coffee"]
    a = ClipEncoder(built, RuntimeConfig(device="cpu")).encode_texts(texts)
    b = ClipEncoder(folder, RuntimeConfig(device="cpu")).encode_texts(texts)
    assert np.array_equal(a, b)


@pytest.mark.slow  # 12 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_fine_tuning_the_archived_starter_rebuilds_its_torch_side(starter_build, tmp_path, monkeypatch,
                                                                  own_models_dir):
    """The archive has no torch/ side; fine-tuning rebuilds it from the pip packages, the same weights as the
    build the archive was made from (same sha256), the ONNX towers untouched."""
    import torch

    from training.finetune import load_base

    built, _ = starter_build
    monkeypatch.setenv(prebuilt.ENV_ARCHIVE, str(_pack(built.path, tmp_path / "release")))
    folder = install.ensure_model("starter")
    onnx_before = (folder.path / "visual.onnx").read_bytes()
    base, model = load_base("starter")
    assert (base.path / "torch" / "weights.safetensors").is_file()
    assert hashlib.sha256((base.path / "torch" / "weights.safetensors").read_bytes()).hexdigest() == \
        built.manifest.source_sha256
    assert (base.path / "visual.onnx").read_bytes() == onnx_before
    from engine.encoder import ClipEncoder, RuntimeConfig

    enc = ClipEncoder(base, RuntimeConfig(device="cpu"))
    ids = enc.tokenizer(["a cat", "a rocket in space"])
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_text(torch.from_numpy(ids)), dim=-1).numpy()
    assert np.min(np.sum(enc.encode_texts(["a cat", "a rocket in space"]) * ref, axis=1)) > 0.999
