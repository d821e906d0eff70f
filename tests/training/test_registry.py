"""The model registry: the shipped list, importing a checkpoint, preparing a registry model, removing one."""

from __future__ import annotations

import functools
import hashlib
import json
import socket
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelNotInstalledError
from engine.modelfolder import open_model
from tests.training.conftest import register_tiny_arch
from training import install, registry
from training.download import OfflineError, hub_download
from training.tiny import TINY_CFG, build_tiny_clip
from training.torchfolder import load_torch_model

TINY_ARCH = "photosift-test-tiny"


pytestmark = pytest.mark.usefixtures("own_models_dir")  # imports and removals stay in this test


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return register_tiny_arch(tmp_path_factory.mktemp("arch"), TINY_ARCH)


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A training-style checkpoint: wrapped in 'state_dict', keys prefixed by DataParallel's 'module.'."""
    state = {f"module.{k}": v for k, v in build_tiny_clip(seed=3).state_dict().items()}
    path = tmp_path / "My Tiny CLIP.pt"
    torch.save({"epoch": 2, "name": "run", "state_dict": state}, path)
    return path


def test_shipped_registry_is_complete():
    import open_clip

    data = json.loads(registry.REGISTRY_FILE.read_text())
    assert data["default"] == "starter"
    for raw in data["models"]:
        assert set(registry.REQUIRED_FIELDS) <= set(raw), raw["id"]
    entries = registry.builtin_entries()
    assert {"starter", "vit-b-32-laion2b", "mcip-vit-l-14-336"} <= set(entries)
    assert any(e.arch.startswith("MobileCLIP") for e in entries.values())
    for e in entries.values():
        assert e.licence and e.description and (e.size_bytes or 0) > 0
        assert e.sha256 is None or len(e.sha256) == 64
        if e.kind != "starter":
            assert e.arch in open_clip.list_models(), e.arch
        if e.kind == "hf-hub":
            assert e.weights["pretrained"] in open_clip.list_pretrained_tags_by_model(e.arch)
            assert e.weights["hf_hub"]
    mcip = entries["mcip-vit-l-14-336"]
    assert mcip.kind == "url" and mcip.weights["url"].startswith("https://") and mcip.weights["url"].endswith(".pth")
    assert open_clip.get_model_config(mcip.arch)["quick_gelu"]  # OpenAI base weights use QuickGELU


def test_import_checkpoint_installs_records_and_reloads(tiny_arch, tiny_checkpoint, own_models_dir):
    folder = install.import_checkpoint(tiny_checkpoint, TINY_ARCH, "my-tiny", device="cpu", variants=("fp32",))
    assert folder.path == own_models_dir / "my-tiny" and folder.manifest.embed_dim == TINY_CFG["embed_dim"]
    assert folder.manifest.source_sha256 == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert install.ensure_model("my-tiny").path == folder.path
    assert open_model("my-tiny").model_id == "my-tiny"

    info = {m.id: m for m in registry.list_models()}["my-tiny"]
    assert info.source == "import" and info.installed and info.arch == TINY_ARCH and info.size > 0
    recorded = json.loads((own_models_dir / "registry.json").read_text())["models"]["my-tiny"]
    assert recorded["checkpoint"] == str(tiny_checkpoint) and recorded["arch"] == TINY_ARCH

    config = json.loads((folder.path / "torch" / "open_clip_config.json").read_text())
    assert config["arch"] == TINY_ARCH and config["model_cfg"]["embed_dim"] == TINY_CFG["embed_dim"]
    assert (folder.path / "torch" / "weights.safetensors").is_file()  # the one layout fine-tuning reads
    reloaded = load_torch_model(folder)
    original = build_tiny_clip(seed=3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(reloaded.encode_image(x), original.encode_image(x))

    from engine.encoder import ClipEncoder, RuntimeConfig

    enc = ClipEncoder(folder, RuntimeConfig(device="cpu"))
    with torch.no_grad():
        ref = torch.nn.functional.normalize(original.encode_image(x), dim=-1).numpy()
    assert np.allclose(enc.encode_images(x.numpy()), ref, atol=1e-4)


def test_import_accepts_safetensors_and_a_config_path(tiny_arch, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "Holiday_Finetune v2.safetensors"
    save_file(build_tiny_clip(seed=1).state_dict(), str(path))
    folder = install.import_checkpoint(path, str(tiny_arch), device="cpu", variants=("fp32",))
    assert folder.model_id == "holiday_finetune-v2" and folder.manifest.arch == TINY_ARCH


def test_import_refuses_what_does_not_fit(tiny_arch, tiny_checkpoint, tmp_path):
    import open_clip

    other = tmp_path / "photosift-test-tiny-wide.json"
    other.write_text(json.dumps({**TINY_CFG, "embed_dim": 16}))
    open_clip.add_model_config(other)
    with pytest.raises(install.CheckpointError, match=r"of another shape.*Check --arch"):
        install.import_checkpoint(tiny_checkpoint, other.stem, device="cpu", variants=("fp32",))
    with pytest.raises(install.CheckpointError, match="unknown open_clip architecture"):
        install.import_checkpoint(tiny_checkpoint, "No-Such-Arch", device="cpu")
    with pytest.raises(install.CheckpointError, match="built-in model"):
        install.import_checkpoint(tiny_checkpoint, TINY_ARCH, "starter", device="cpu")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(install.CheckpointError, match="could not be read"):
        install.import_checkpoint(junk, TINY_ARCH, device="cpu")
    torch.save({"state_dict": {"a": 1}}, tmp_path / "odd.pt")
    with pytest.raises(install.CheckpointError, match="not a state dict"):
        install.import_checkpoint(tmp_path / "odd.pt", TINY_ARCH, device="cpu")


def test_url_model_is_fetched_loaded_strictly_and_exported(tiny_arch, tmp_path, monkeypatch):
    weights = tmp_path / "weights.pth"
    torch.save(build_tiny_clip(seed=5).state_dict(), weights)
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    reg = {"models": [{"id": "url-tiny", "kind": "url", "arch": TINY_ARCH, "weights": {"url": weights.as_uri()},
                       "licence": "MIT", "size_bytes": weights.stat().st_size, "sha256": sha,
                       "description": "a tiny model behind a URL"}]}
    (tmp_path / "models.json").write_text(json.dumps(reg))
    monkeypatch.setattr(registry, "REGISTRY_FILE", tmp_path / "models.json")
    stages: list[str] = []
    folder = install.ensure_model("url-tiny", progress=lambda p: stages.append(p.stage), device="cpu")
    assert folder.manifest.source_sha256 == sha and "fp32" in folder.manifest.variants
    # int8 is kept when it passes its parity check; a random tiny model may not, and is then installed fp32 only
    assert ("int8" in folder.manifest.variants) != ("export_note" in folder.manifest.info)
    assert folder.manifest.info["source"] == "url" and folder.manifest.info["licence"] == "MIT"
    assert {"verify", "load", "export"} <= set(stages)
    assert weights.exists()  # a local source is used in place, never deleted
    assert [m.id for m in registry.list_models() if m.installed] == ["url-tiny"]


def test_hub_model_offline_is_the_offline_error(monkeypatch, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setattr(install, "hub_download", functools.partial(hub_download, endpoint=f"http://127.0.0.1:{port}"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # its ONNX export is tried first
    with pytest.raises(OfflineError, match="starter"):
        install.ensure_model("vit-b-32-laion2b", device="cpu")


def test_starter_is_built_by_training_starter(monkeypatch, own_models_dir):
    from training.tiny import export_tiny

    calls = []

    def build_starter(out_dir, progress):
        calls.append(out_dir)
        return export_tiny(out_dir, model_id="starter")

    monkeypatch.setitem(sys.modules, "training.starter", types.SimpleNamespace(build_starter=build_starter))
    folder = install.ensure_model("starter")
    assert calls == [own_models_dir / "starter"] and folder.model_id == "starter"
    assert install.ensure_model("starter").path == folder.path and len(calls) == 1  # installed: not rebuilt


def test_remove_model_and_unknown_ids(tiny_arch, tiny_checkpoint, own_models_dir):
    install.import_checkpoint(tiny_checkpoint, TINY_ARCH, "gone-soon", device="cpu", variants=("fp32",))
    assert install.remove_model("gone-soon") > 0
    assert not (own_models_dir / "gone-soon").exists()
    assert "gone-soon" not in registry.user_entries()
    assert "gone-soon" not in [m.id for m in registry.list_models()]
    with pytest.raises(registry.UnknownModelError, match="models list"):
        install.ensure_model("gone-soon")
    with pytest.raises(ModelNotInstalledError):
        install.remove_model("gone-soon")


def test_imported_model_whose_folder_vanished_says_how_to_reimport(tiny_arch, tiny_checkpoint, own_models_dir):
    import shutil

    install.import_checkpoint(tiny_checkpoint, TINY_ARCH, "lost", device="cpu", variants=("fp32",))
    shutil.rmtree(own_models_dir / "lost")
    with pytest.raises(ModelNotInstalledError, match=r"photosift models import .* --arch photosift-test-tiny"):
        install.ensure_model("lost")
