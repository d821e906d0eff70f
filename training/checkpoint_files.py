"""Reading a checkpoint file a user or a download hands us into an open_clip model, safely.

Only safetensors, or pickles through torch.load(weights_only=True); TorchScript archives are refused before
anything in them runs. The weights must fit the named open_clip architecture exactly (strict=True), and a
mismatch says which keys did not fit.
"""

from __future__ import annotations

import logging
import re
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
    such, since loading one runs the code it carries (its __setstate__ methods); so is a file whose contents
    declare far more bytes than it has (refuse_oversized).
    """
    from safetensors import SafetensorError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"{path.name}: unsupported checkpoint type; use one of {', '.join(CHECKPOINT_SUFFIXES)}")
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    if suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        except (RuntimeError, ValueError, OSError, SafetensorError) as e:
            raise CheckpointError(f"{path.name} could not be read as weights (damaged, or not a checkpoint): "
                                  f"{str(e).splitlines()[0][:300]}") from None
    else:
        obj = read_torch_file(path)
    return _unwrap_state(obj, path.name)


def read_torch_file(path: Path) -> Any:
    """What a torch.save file holds, through torch.load(weights_only=True) (plain tensors and containers),
    after the checks that need no unpickling: TorchScript and contents far larger than the file are refused
    before torch reads them. Every failure is a CheckpointError of one line."""
    import pickle

    import torch

    try:
        refuse_oversized(path)
        refuse_torchscript(path)
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e):
            raise CheckpointError(f"{path.name} could not be read as weights (damaged, or not a checkpoint): "
                                  f"{str(e).splitlines()[0][:300]}") from None
        # torch's words here advise loading again with weights_only=False (or allowlisting what it asks
        # for): never for a file from elsewhere, so only the name of what it asks for, or the bare reason
        asked = re.search(r"GLOBAL ([\w.]+)", str(e))
        if asked:
            raise CheckpointError(f"{path.name} is refused: it asks for {asked.group(1)}, and Photosift never runs "
                                  "code from a checkpoint. Import the weights as .safetensors, or as a plain state "
                                  "dict saved with torch.save(model.state_dict())") from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|Check the documentation|$)", str(e), re.S)
        raise CheckpointError(f"{path.name} could not be read as weights (damaged, or not a checkpoint): "
                              f"{' '.join(reason.group(1).split())[:200] if reason else 'not a plain state dict'}"
                              ) from None
    except (RuntimeError, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path.name} could not be read as weights (damaged, or not a checkpoint): "
                              f"{str(e).splitlines()[0][:300]}") from None


# torch.save stores the records of its zip archive uncompressed, and weights hardly compress: a checkpoint
# whose contents declare several times the bytes of the file is a zip bomb (2 MB of zeros inflate to GBs).
MAX_INFLATION = 4
INFLATION_SLACK = 1 << 20  # small files: their fixed records count for little
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a torch.save file in the old (pre-zip) format
_ELEMENT_BYTES = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2,
                  "Char": 1, "Byte": 1, "Bool": 1, "ComplexDouble": 16, "ComplexFloat": 8, "QInt32": 4}


def refuse_oversized(path: Path) -> None:
    """Raise CheckpointError when what `path` declares it holds is far more than its size, judged from the zip's
    table of contents (or, for the old pickle format, the tensor sizes its pickle names) before torch reads
    it: torch allocates what a record or storage declares, so a 2 MB file could take gigabytes of memory
    before anything refused it."""
    import zipfile

    size = path.stat().st_size
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                declared = sum(info.file_size for info in z.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return  # torch's own reading says what is wrong with it
        allowed = MAX_INFLATION * size + INFLATION_SLACK
    else:
        declared, allowed = _legacy_declared_bytes(path, size), size  # its tensors' bytes follow the pickles
    if declared > allowed:
        raise CheckpointError(f"{path.name} is refused: its contents declare {declared:,} bytes in a file of "
                              f"{size:,} bytes (made to exhaust memory, or damaged)")


class _Stub:
    """Stands for every class and function a pickle names, so that reading it imports and runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def _legacy_declared_bytes(path: Path, size: int) -> int:
    """The bytes of the tensors an old-format torch.save file declares (0 when it is not one): its pickle is
    read with every class a stub, so nothing in it is imported or run."""
    import pickle

    storages: dict[Any, int] = {}

    class Reader(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            return type(name, (_Stub,), {})

        def persistent_load(self, pid: Any) -> Any:
            if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
                kind = getattr(pid[1], "__name__", "").removesuffix("Storage")
                numel = pid[4] if isinstance(pid[4], int) else 0
                storages[pid[2]] = max(0, numel) * _ELEMENT_BYTES.get(kind, 1)
            return _Stub()

    with open(path, "rb") as f:
        try:
            if Reader(f).load() != _LEGACY_MAGIC:
                return 0
            for _ in range(3):  # the protocol version, system info, then the object with its storages
                Reader(f).load()
        except Exception:  # noqa: BLE001 -- what this reading cannot follow, torch's own reading reports
            pass
    return sum(storages.values())


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


