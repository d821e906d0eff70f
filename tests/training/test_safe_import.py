"""`models import` never runs code from a checkpoint: TorchScript archives are refused before they are opened
as such, pickles go through torch.load(weights_only=True), and a damaged file is one clear line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from desktop_app.cli import main
from training.checkpoint_files import CheckpointError, is_torchscript, load_checkpoint_state
from training.tiny import TINY_CFG, build_tiny_clip


class _WritesAFile(torch.nn.Module):
    """A TorchScript module whose __setstate__, run by torch.jit.load, creates the file named in its state."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))
        self.target = target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, str, bool]:
        return (self.w, self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, str, bool]) -> None:
        self.w = torch.from_file(state[1], True, 2, dtype=torch.float32) + state[0]  # maps (creates) the file
        self.target = state[1]
        self.training = state[2]


pytestmark = pytest.mark.usefixtures("own_models_dir")  # imports and removals stay in this test


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[Path, Path]:
    target = tmp_path / "written-by-the-archive"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script/save are deprecated: only the attacker uses them
        torch.jit.save(torch.jit.script(_WritesAFile(str(target))), str(tmp_path / "evil.pt"))
    assert not target.exists()
    return tmp_path / "evil.pt", target


def test_the_crafted_archive_really_writes_a_file_when_loaded_by_torchscript(crafted, tmp_path):
    """The attack works: what the next tests refuse would have run."""
    path, target = crafted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path))
    assert target.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt"])
def test_torchscript_is_refused_before_anything_in_it_runs(crafted, tmp_path, suffix):
    path, target = crafted
    renamed = path.rename(path.with_suffix(suffix))
    assert is_torchscript(renamed)
    with pytest.raises(CheckpointError, match="TorchScript archive") as e:
        load_checkpoint_state(renamed)
    assert "\n" not in str(e.value) and not target.exists()


def test_models_import_of_a_torchscript_archive_is_one_line_and_installs_nothing(crafted, tmp_path, capsys,
                                                                                own_models_dir):
    path, target = crafted
    arch = tmp_path / "photosift-test-tiny-safe.json"
    arch.write_text(json.dumps(TINY_CFG))
    assert main(["models", "import", str(path), "--arch", str(arch), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "TorchScript archive" in err and "Traceback" not in err
    assert not target.exists() and not (own_models_dir / "evil").exists()


def test_a_plain_state_dict_is_not_taken_for_torchscript(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(build_tiny_clip().state_dict(), path)
    assert not is_torchscript(path) and load_checkpoint_state(path)


@pytest.mark.parametrize("name", ["cut.pt", "cut.safetensors"])
def test_a_damaged_weights_file_is_one_clear_line(tmp_path, capsys, name):
    from safetensors.torch import save_file

    whole = tmp_path / f"whole{Path(name).suffix}"
    state = build_tiny_clip().state_dict()
    if name.endswith(".pt"):
        torch.save(state, whole)
    else:
        save_file(state, str(whole))
    cut = tmp_path / name
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="could not be read as weights") as e:
        load_checkpoint_state(cut)
    assert "\n" not in str(e.value)
    arch = tmp_path / "photosift-test-tiny-cut.json"
    arch.write_text(json.dumps(TINY_CFG))
    assert main(["models", "import", str(cut), "--arch", str(arch), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "could not be read as weights" in err


def test_the_export_parity_check_turns_onnxruntime_telemetry_off_first(tmp_path, onnx_session_events):
    from training.tiny import export_tiny

    export_tiny(tmp_path / "m")
    assert onnx_session_events[:2] == ["telemetry off", "session"]
