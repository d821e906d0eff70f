"""Reading a checkpoint file a user or a download hands us into an open_clip model, safely.

Only safetensors, or pickles through torch.load(weights_only=True); TorchScript archives are refused before
anything in them runs. The weights must fit the named open_clip architecture exactly (strict=True), and a
mismatch says which keys did not fit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import PhotosiftError

if TYPE_CHECKING:
    import torch
    from torch import nn

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


class CheckpointError(PhotosiftError):
    """A checkpoint could not be read, is refused, or does not fit the open_clip architecture it was given."""


# Root-logger warnings of open_clip and onnxruntime that say nothing to a Photosift user: a model is
# created without weights (ours get them next); quantisation without a pre-processing pass.
_NOISE = ("No pretrained weights loaded", "consider to run pre-processing before quantization")


@contextmanager
def quiet_root_warnings() -> Iterator[None]:
    def drop(record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in _NOISE)

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def resolve_arch(arch: str) -> str:
    """An open_clip architecture name; a model config .json is registered with open_clip first."""
    import open_clip

    candidate = Path(arch).expanduser()
    if arch.endswith(".json") and candidate.is_file():
        open_clip.add_model_config(candidate)
        arch = candidate.stem
    if arch not in open_clip.list_models():
        raise CheckpointError(
            f"unknown open_clip architecture '{arch}': use a name from open_clip.list_models() (for example "
            "ViT-B-32, ViT-L-14-336-quickgelu, MobileCLIP2-S0) or the path of a model config .json")
    return arch


def create_open_clip(arch: str, preprocess: dict[str, Any] | None = None, quick_gelu: bool = False) -> nn.Module:
    """An untrained open_clip model of `arch` (no tower weights are fetched), ready for a state dict."""
    import open_clip

    with quiet_root_warnings():
        return open_clip.create_model(arch, force_preprocess_cfg=preprocess or None, force_quick_gelu=quick_gelu,
                                      pretrained_image=False, pretrained_text=False)


def load_open_clip(arch: str, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """`arch` with `state` loaded by load_state_dict(strict=True); a mismatch says what did not fit."""
    model = create_open_clip(arch)
    ours = model.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    reshaped = [k for k in ours if k in state and tuple(state[k].shape) != tuple(ours[k].shape)]
    if missing or unexpected or reshaped:
        raise CheckpointError(f"the weights do not fit open_clip architecture '{arch}': "
                              + "; ".join(_examples(label, keys, state, ours) for label, keys in
                                          (("missing", missing), ("unexpected", unexpected),
                                           ("of another shape", reshaped)) if keys)
                              + ". Check --arch.")
    model.load_state_dict(dict(state), strict=True)
    return model.eval()


def _examples(label: str, keys: list[str], state: Mapping[str, Any], ours: Mapping[str, Any]) -> str:
    def show(k: str) -> str:
        if k in state and k in ours:
            return f"{k} {tuple(state[k].shape)} vs {tuple(ours[k].shape)}"
        return k

    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"{len(keys)} {label} ({', '.join(show(k) for k in keys[:3])}{more})"


def load_checkpoint_state(path: Path) -> dict[str, torch.Tensor]:
    """The model state dict in a .safetensors/.pt/.pth/.bin/.ckpt file, read without running anything in it.

    Accepts plain state dicts, training checkpoints ({'state_dict': ...}, {'model': ...}) and 'module.' /
    '_orig_mod.' key prefixes. Only safetensors, or pickles through torch.load(weights_only=True), which
    refuses code; TorchScript archives (OpenAI's original .pt files) are refused before they are opened as
    such, since loading one runs the code it carries (its __setstate__ methods).
    """
    import pickle

    import torch
    from safetensors import SafetensorError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"{path.name}: unsupported checkpoint type; use one of {', '.join(CHECKPOINT_SUFFIXES)}")
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            refuse_torchscript(path)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError, SafetensorError) as e:
        raise CheckpointError(f"{path.name} could not be read as weights (damaged, or not a checkpoint): "
                              f"{str(e).splitlines()[0][:300]}") from None
    return _unwrap_state(obj, path.name)


def refuse_torchscript(path: Path) -> None:
    """Raise CheckpointError when `path` is a TorchScript archive (a zip with constants.pkl or code/), judged
    from the zip's table of contents alone."""
    if is_torchscript(path):
        raise CheckpointError(
            f"{Path(path).name} is a TorchScript archive: loading one runs the code inside it, so Photosift does "
            "not open it. Import the same weights as a plain state dict (.safetensors, or a .pt saved with "
            "torch.save(model.state_dict())), or use the registry's download of this model")


def is_torchscript(path: Path) -> bool:
    import zipfile

    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    # torch.save archives hold <root>/data.pkl, data/, version, byteorder; torch.jit.save adds constants.pkl
    # and code/ (the TorchScript source that loading compiles and runs)
    return any(n.rsplit("/", 1)[-1] == "constants.pkl" or n.split("/", 1)[-1].startswith("code/") for n in names)


def _unwrap_state(obj: Any, name: str) -> dict[str, torch.Tensor]:
    import torch

    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{name} holds no state dict")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{name} is not a state dict: {', '.join(map(str, bad[:3]))} are not tensors")
    out = {}
    for k, v in obj.items():
        for prefix in ("module.", "_orig_mod."):
            k = k.removeprefix(prefix)
        out[k] = v
    return out


