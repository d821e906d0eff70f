"""The torch/ side of a model folder: one writer, and a reader for both layouts found on users' disks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.errors import ModelFolderError
from tests.training.conftest import register_tiny_arch
from training.tiny import build_tiny_clip, export_tiny
from training.torchfolder import (
    CONFIG_FILE,
    HF_TEXT_DIR,
    TORCH_DIR,
    WEIGHTS_FILE,
    has_torch_checkpoint,
    load_torch_model,
    read_spec,
    save_finetuned,
)

TINY_ARCH = "photosift-test-tiny-layout"


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> str:
    register_tiny_arch(tmp_path_factory.mktemp("arch"), TINY_ARCH)
    return TINY_ARCH


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    x, ids = torch.randn(2, 3, 64, 64), torch.randint(1, 1000, (2, 77))
    with torch.no_grad():
        torch.testing.assert_close(a.encode_image(x), b.encode_image(x))
        torch.testing.assert_close(a.encode_text(ids), b.encode_text(ids))


def _legacy_folder(root: Path, arch: str, model: torch.nn.Module, safetensors: bool = True) -> Path:
    """A model folder as `models import` and downloads wrote it before: open_clip's local-dir layout."""
    import open_clip
    from safetensors.torch import save_file

    folder = export_tiny(root, model_id=root.name)
    torch_dir = folder.path / TORCH_DIR
    for p in torch_dir.iterdir():
        p.unlink()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    name = "open_clip_model.safetensors" if safetensors else "open_clip_pytorch_model.bin"
    if safetensors:
        save_file(state, str(torch_dir / name))
    else:
        torch.save(state, torch_dir / name)
    config = {"arch": arch, "model_cfg": open_clip.get_model_config(arch),
              "preprocess_cfg": {"size": [64, 64], "mode": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3,
                                 "interpolation": "bicubic", "resize_mode": "shortest"}, "weights": name}
    (torch_dir / CONFIG_FILE).write_text(json.dumps(config))
    return folder.path


@pytest.mark.parametrize("safetensors", [True, False])
def test_the_layout_imports_and_downloads_used_to_write_still_loads(tiny_arch, tmp_path, safetensors):
    model = build_tiny_clip(seed=4)
    path = _legacy_folder(tmp_path / "old-import", tiny_arch, model, safetensors)
    assert has_torch_checkpoint(path)
    spec = read_spec(path)
    assert spec.legacy and spec.arch == tiny_arch and spec.preprocess.image_size == 64
    _same(load_torch_model(path), model)


def test_the_layout_written_today_loads(tmp_path):
    model = build_tiny_clip(seed=6)
    folder = export_tiny(tmp_path / "today", model_id="today", seed=6)
    assert (folder.path / TORCH_DIR / WEIGHTS_FILE).is_file() and not read_spec(folder).legacy
    _same(load_torch_model(folder), model)


def test_a_fine_tuned_copy_of_an_old_layout_base_is_written_in_todays_layout(tiny_arch, tmp_path):
    base = _legacy_folder(tmp_path / "old-base", tiny_arch, build_tiny_clip(seed=1))
    tuned = build_tiny_clip(seed=2)
    out = tmp_path / "tuned"
    out.mkdir()
    save_finetuned(tuned, base, out)
    assert sorted(p.name for p in (out / TORCH_DIR).iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert not read_spec(out).legacy and read_spec(out).arch == tiny_arch
    _same(load_torch_model(out), tuned)


def test_a_fine_tuned_copy_keeps_the_bases_hf_text_files(tmp_path):
    base = export_tiny(tmp_path / "base", model_id="base")
    (base.path / TORCH_DIR / HF_TEXT_DIR).mkdir()
    (base.path / TORCH_DIR / HF_TEXT_DIR / "config.json").write_text("{}")
    out = tmp_path / "tuned"
    out.mkdir()
    save_finetuned(build_tiny_clip(seed=9), base, out)
    assert (out / TORCH_DIR / HF_TEXT_DIR / "config.json").read_text() == "{}"
    assert read_spec(out).preprocess == base.preprocess


def test_damaged_or_missing_weights_are_one_line_model_folder_errors(tmp_path):
    folder = export_tiny(tmp_path / "hurt", model_id="hurt")
    weights = folder.path / TORCH_DIR / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelFolderError, match=r"damaged.*re-install") as e:
        load_torch_model(folder)
    assert "\n" not in str(e.value)
    weights.unlink()
    assert not has_torch_checkpoint(folder)
    with pytest.raises(ModelFolderError, match="no weights"):
        load_torch_model(folder)
    with pytest.raises(ModelFolderError, match="keeps no torch weights"):
        load_torch_model(tmp_path / "nothing-here")


def test_weights_that_do_not_fit_the_config_are_one_line(tmp_path):
    from safetensors.torch import save_file

    folder = export_tiny(tmp_path / "odd", model_id="odd")
    save_file({"x": torch.zeros(2)}, str(folder.path / TORCH_DIR / WEIGHTS_FILE))
    with pytest.raises(ModelFolderError, match="do not fit its config"):
        load_torch_model(folder)
