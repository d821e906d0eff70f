"""The torch side of a model folder: the only module that writes or reads `<model folder>/torch/`.

Fine-tuning starts from exactly what was exported, so every installed model keeps its torch weights and
architecture beside the ONNX towers. The starter build, `models import`, registry downloads, the
fine-tune install and the GPU check all write through `save_torch_model` / `save_finetuned`, and
everything that needs the torch model back calls `load_torch_model`.

Layout written today (`torch/`):
    open_clip_config.json   {"model_cfg": open_clip model config, "preprocess_cfg": PreprocessConfig,
                             "photosift": {"text_proj": {...}}, "arch": name (informative)}
    weights.safetensors     the full state dict (loaded with strict=True)
    hf_text/                config and tokenizer files of a Hugging Face text tower (when there is one)

Layout that imports and downloads wrote before (still read, never written): open_clip's own `local-dir:`
format, `open_clip_config.json` = {"arch", "model_cfg", "preprocess_cfg" (open_clip's keys), "weights"}
with the weights in `open_clip_model.safetensors` (or `open_clip_pytorch_model.bin`, read with
torch.load(weights_only=True)).

Any open_clip architecture can be saved and rebuilt this way; `photosift` lists the modules that Photosift
swaps into it (the starter model's class-anchor text projection).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from copy import deepcopy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.atomic import atomic_folder
from engine.errors import ModelFolderError
from engine.modelfolder import MANIFEST, PREPROCESS, ModelFolder, PreprocessConfig, write_json_atomic

TORCH_DIR = "torch"
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "weights.safetensors"
LEGACY_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HF_TEXT_DIR = "hf_text"
HF_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class ClassAnchorProjection(nn.Module):
    """Text features -> a soft choice among anchor concepts -> the image-space direction of each concept.

    forward(x) = softmax(normalize(x) @ anchors.T / T) @ targets. `anchors` are text embeddings of the
    concepts, `targets` their directions in the image embedding space, T a learnable temperature.
    """

    def __init__(self, in_dim: int, n_anchors: int, out_dim: int, temperature: float = 0.05) -> None:
        super().__init__()
        self.anchors = nn.Parameter(torch.zeros(n_anchors, in_dim))
        self.targets = nn.Parameter(torch.zeros(n_anchors, out_dim))
        self.log_inv_temperature = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.log_inv_temperature.detach()))

    def anchor_weights(self, x: torch.Tensor) -> torch.Tensor:
        logits = F.normalize(x, dim=-1) @ self.anchors.T
        return torch.softmax(logits * self.log_inv_temperature.exp(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.anchor_weights(x) @ self.targets


def _build_text_proj(spec: dict[str, Any]) -> nn.Module:
    kind = spec.get("type")
    if kind == "class_anchor":
        return ClassAnchorProjection(int(spec["in_dim"]), int(spec["anchors"]), int(spec["out_dim"]),
                                     float(spec.get("temperature", 0.05)))
    raise ModelFolderError(f"unknown text projection type {kind!r} in checkpoint config")


def apply_photosift_heads(model: nn.Module, spec: dict[str, Any]) -> nn.Module:
    """Swap the modules named in the config's `photosift` section into a freshly built open_clip model."""
    if "text_proj" in spec:
        text = getattr(model, "text", None)
        if not isinstance(getattr(text, "proj", None), nn.Module):
            raise ModelFolderError("a Photosift text projection needs a Hugging Face text tower (text.proj)")
        text.proj = _build_text_proj(spec["text_proj"])  # type: ignore[union-attr]
    return model


def build_open_clip(model_cfg: dict[str, Any]) -> nn.Module:
    """An open_clip model from its config, with random weights (no download, no pretrained towers)."""
    import open_clip

    cfg = deepcopy(model_cfg)
    cfg.pop("preprocess_cfg", None)
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    if "timm_model_name" in vision:
        vision["timm_model_pretrained"] = False
    is_hf = bool(text.get("hf_model_name"))
    if is_hf:
        text["hf_model_pretrained"] = False
    custom_text = bool(cfg.pop("custom_text", False)) or is_hf
    if "multimodal_cfg" in cfg:
        return open_clip.CoCa(**cfg)
    if custom_text:
        return open_clip.CustomTextCLIP(**cfg)
    return open_clip.CLIP(**cfg)


def _resolve_hf_paths(model_cfg: dict[str, Any], base: Path) -> dict[str, Any]:
    cfg = deepcopy(model_cfg)
    text = cfg.get("text_cfg", {})
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text.get(key)
        if value and not os.path.isabs(value) and (base / value).is_dir():
            text[key] = str(base / value)
    return cfg


@dataclass(frozen=True)
class TorchSpec:
    """What a folder's torch/ side says, whichever layout wrote it."""

    torch_dir: Path
    model_cfg: dict[str, Any]
    preprocess: PreprocessConfig
    photosift: dict[str, Any]
    weights: Path
    arch: str = ""
    legacy: bool = False


def _folder_path(folder: ModelFolder | Path | str) -> Path:
    return Path(folder.path if isinstance(folder, ModelFolder) else folder)


def torch_dir_of(folder: ModelFolder | Path | str) -> Path:
    """`folder/torch` for a model folder; `folder` itself when it is already a torch/ directory."""
    path = _folder_path(folder)
    return path / TORCH_DIR if (path / TORCH_DIR).is_dir() or not (path / CONFIG_FILE).is_file() else path


def _weights_in(torch_dir: Path, doc: dict[str, Any] | None = None) -> Path | None:
    names = [WEIGHTS_FILE]
    if doc and isinstance(doc.get("weights"), str) and doc["weights"] in LEGACY_WEIGHTS:
        names.append(doc["weights"])
    names.extend(LEGACY_WEIGHTS)
    return next((torch_dir / n for n in names if (torch_dir / n).is_file()), None)


def has_torch_checkpoint(folder: ModelFolder | Path | str) -> bool:
    """True when the folder keeps a torch config and weights, in either layout."""
    d = torch_dir_of(folder)
    return (d / CONFIG_FILE).is_file() and _weights_in(d) is not None


def read_spec(folder: ModelFolder | Path | str) -> TorchSpec:
    """The torch/ side of `folder` in today's terms; raises ModelFolderError (one line) if it has none."""
    path = _folder_path(folder)
    torch_dir = torch_dir_of(path)
    if not (torch_dir / CONFIG_FILE).is_file():
        raise ModelFolderError(f"model folder {path} keeps no torch weights ({TORCH_DIR}/{CONFIG_FILE}), so it "
                               "cannot be fine-tuned; re-install it (`photosift models import` or `models use`)")
    try:
        doc = json.loads((torch_dir / CONFIG_FILE).read_text())
        model_cfg = dict(doc["model_cfg"] or {})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFolderError(f"{torch_dir / CONFIG_FILE} is unreadable ({e}); re-install the model") from None
    weights = _weights_in(torch_dir, doc)
    if weights is None:
        raise ModelFolderError(f"model folder {path} keeps a torch config but no weights in {TORCH_DIR}/; "
                               "re-install the model")
    legacy = weights.name != WEIGHTS_FILE
    if legacy:
        return _legacy_spec(path, torch_dir, doc, model_cfg, weights)
    pre = doc.get("preprocess_cfg") or {}
    preprocess = PreprocessConfig.from_dict(pre) if "image_size" in pre else _folder_preprocess(path)
    return TorchSpec(torch_dir, model_cfg, preprocess, dict(doc.get("photosift") or {}), weights,
                     str(doc.get("arch", "")))


def _legacy_spec(path: Path, torch_dir: Path, doc: dict[str, Any], model_cfg: dict[str, Any],
                 weights: Path) -> TorchSpec:
    """open_clip's local-dir layout, as `models import` and downloads wrote it before."""
    arch = str(doc.get("arch", ""))
    if not model_cfg and arch:
        import open_clip

        model_cfg = dict(open_clip.get_model_config(arch) or {})
    if not model_cfg:
        raise ModelFolderError(f"{torch_dir / CONFIG_FILE} names no model config; re-install the model")
    # Downloads forced QuickGELU from their pretrained tag without saying so in model_cfg: ask the tag again.
    tag = str(_manifest_info(path).get("pretrained", ""))
    if tag and arch and "quick_gelu" not in model_cfg:
        import open_clip

        if (open_clip.get_pretrained_cfg(arch, tag) or {}).get("quick_gelu"):
            model_cfg["quick_gelu"] = True
    return TorchSpec(torch_dir, model_cfg, _folder_preprocess(path), {}, weights, arch, legacy=True)


def _manifest_info(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((path / MANIFEST).read_text()).get("info") or {})
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _folder_preprocess(path: Path) -> PreprocessConfig:
    try:
        return PreprocessConfig.from_dict(json.loads((path / PREPROCESS).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return PreprocessConfig()


def _state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    # clone: tensors that share memory (tied weights) cannot be saved to safetensors as views of one another
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def _write(torch_dir: Path, model: nn.Module, model_cfg: dict[str, Any], preprocess: PreprocessConfig,
           photosift: dict[str, Any] | None, arch: str) -> Path:
    from safetensors.torch import save_file

    doc = {"model_cfg": model_cfg, "preprocess_cfg": asdict(preprocess), "photosift": photosift or {}}
    if arch:
        doc["arch"] = arch
    write_json_atomic(torch_dir / CONFIG_FILE, json.dumps(doc, indent=2, sort_keys=True, default=list))
    weights = torch_dir / WEIGHTS_FILE
    save_file(_state_of(model), str(weights))
    return weights


def save_torch_model(model: nn.Module, torch_dir: Path, model_cfg: dict[str, Any],
                     preprocess: PreprocessConfig, photosift: dict[str, Any] | None = None,
                     hf_source: Path | None = None, arch: str = "") -> Path:
    """Write config + weights (+ the HF text tower's config/tokenizer files) into `torch_dir`; returns the
    weights file. `torch_dir` is a staging or new folder: callers install it atomically."""
    torch_dir = Path(torch_dir)
    torch_dir.mkdir(parents=True, exist_ok=True)
    cfg = deepcopy(model_cfg)
    if hf_source is not None:
        hf_dir = torch_dir / HF_TEXT_DIR
        hf_dir.mkdir(exist_ok=True)
        for name in HF_FILES:
            if (Path(hf_source) / name).is_file():
                shutil.copyfile(Path(hf_source) / name, hf_dir / name)
        cfg["text_cfg"]["hf_model_name"] = HF_TEXT_DIR
        cfg["text_cfg"]["hf_tokenizer_name"] = HF_TEXT_DIR
    return _write(torch_dir, model, cfg, preprocess, photosift, arch)


def save_open_clip(model: nn.Module, folder: ModelFolder, arch: str, quick_gelu: bool = False,
                   hf_source: Path | None = None, arch_name: str | None = None) -> Path:
    """`folder/torch/` for a model of a registered open_clip architecture (an import or a download);
    `hf_source`: the folder of its Hugging Face text tower's config and tokenizer, copied in beside it;
    `arch_name`: the architecture's name to record when `arch` is a local variant of it."""
    import open_clip

    model_cfg = deepcopy(open_clip.get_model_config(arch))
    if not model_cfg:
        raise ModelFolderError(f"open_clip knows no architecture '{arch}'")
    if quick_gelu:
        model_cfg["quick_gelu"] = True
    dest = folder.path / TORCH_DIR
    with atomic_folder(dest, "build") as work:
        if hf_source is not None:
            (work / HF_TEXT_DIR).mkdir()
            for name in HF_FILES:
                if (Path(hf_source) / name).is_file():
                    shutil.copyfile(Path(hf_source) / name, work / HF_TEXT_DIR / name)
            model_cfg["text_cfg"]["hf_model_name"] = model_cfg["text_cfg"]["hf_tokenizer_name"] = HF_TEXT_DIR
        _write(work, model, model_cfg, folder.preprocess, None, arch_name or arch)
    return dest


def save_finetuned(model: nn.Module, base: ModelFolder | Path, out_folder: Path) -> Path:
    """`out_folder/torch/` for a fine-tuned `model`: the base's architecture (either layout) and its HF text
    files, our weights, always in today's layout."""
    spec = read_spec(base)
    dest = Path(out_folder) / TORCH_DIR
    with atomic_folder(dest, "build") as work:
        if (spec.torch_dir / HF_TEXT_DIR).is_dir():
            shutil.copytree(spec.torch_dir / HF_TEXT_DIR, work / HF_TEXT_DIR)
        _write(work, model, spec.model_cfg, spec.preprocess, spec.photosift, spec.arch)
    return dest


def _load_weights(weights: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from training.checkpoint_files import CheckpointError, read_torch_file

    try:
        if weights.suffix == ".safetensors":
            return load_file(str(weights))
        state = read_torch_file(weights)  # the same checks as an import: this folder may have been copied in
    except CheckpointError as e:
        raise ModelFolderError(f"the torch weights {weights} cannot be used ({e}); re-install the model") from None
    except (OSError, RuntimeError, ValueError, SafetensorError) as e:
        raise ModelFolderError(f"the torch weights {weights} are damaged ({str(e).splitlines()[0][:200]}); "
                               "re-install the model") from None
    if not isinstance(state, dict):
        raise ModelFolderError(f"the torch weights {weights} hold no state dict; re-install the model")
    return state


def load_torch_model(folder: ModelFolder | Path | str) -> nn.Module:
    """The torch model an installed folder was exported from (for fine-tuning), in eval mode on the CPU.

    Rebuilds the architecture from the config (no download, no pretrained towers) and loads the weights
    with strict=True; reads both layouts (see the module docstring)."""
    spec = read_spec(folder)
    model = build_open_clip(_resolve_hf_paths(spec.model_cfg, spec.torch_dir))
    apply_photosift_heads(model, spec.photosift)
    state = _load_weights(spec.weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelFolderError(f"the torch weights in {spec.torch_dir} do not fit its config "
                               f"({str(e).splitlines()[0][:200]}); re-install the model") from None
    return model.float().eval()
