"""Torch checkpoints kept beside an exported model, so fine-tuning can start from exactly what was exported.

Layout of `<model folder>/torch/`:
    open_clip_config.json   {"model_cfg": open_clip model config, "preprocess_cfg": {...},
                             "photosift": {"text_proj": {...}}}   (Photosift heads that replace open_clip's)
    weights.safetensors     the full state dict (loaded with strict=True)
    hf_text/                config and tokenizer files of a Hugging Face text tower (when there is one)

Any open_clip architecture can be saved and rebuilt this way; `photosift` lists the modules that Photosift
swaps into it (the starter model's class-anchor text projection).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ModelFolderError
from engine.modelfolder import PreprocessConfig

TORCH_DIR = "torch"
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "weights.safetensors"
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


def torch_dir_of(folder: Path) -> Path:
    folder = Path(folder)
    return folder / TORCH_DIR if (folder / TORCH_DIR / CONFIG_FILE).is_file() else folder


def has_torch_checkpoint(folder: Path) -> bool:
    d = torch_dir_of(folder)
    return (d / CONFIG_FILE).is_file() and (d / WEIGHTS_FILE).is_file()


def save_torch_model(model: nn.Module, torch_dir: Path, model_cfg: dict[str, Any],
                     preprocess: PreprocessConfig, photosift: dict[str, Any] | None = None,
                     hf_source: Path | None = None) -> Path:
    """Write config + weights (+ the HF text tower's config/tokenizer files); returns the weights file."""
    from dataclasses import asdict

    from safetensors.torch import save_file

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
    doc = {"model_cfg": cfg, "preprocess_cfg": asdict(preprocess), "photosift": photosift or {}}
    (torch_dir / CONFIG_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = torch_dir / WEIGHTS_FILE
    save_file(state, str(weights))
    return weights


def load_torch_model(folder_path: Path) -> tuple[nn.Module, PreprocessConfig]:
    """Rebuild the architecture of a model folder's torch checkpoint and load its weights strictly."""
    from safetensors.torch import load_file

    torch_dir = torch_dir_of(Path(folder_path))
    if not has_torch_checkpoint(torch_dir):
        raise ModelFolderError(f"{folder_path} holds no torch checkpoint ({TORCH_DIR}/{CONFIG_FILE} and "
                               f"{WEIGHTS_FILE}); re-create the model to fine-tune it")
    doc = json.loads((torch_dir / CONFIG_FILE).read_text())
    model = build_open_clip(_resolve_hf_paths(doc["model_cfg"], torch_dir))
    apply_photosift_heads(model, doc.get("photosift", {}))
    model.load_state_dict(load_file(str(torch_dir / WEIGHTS_FILE)), strict=True)
    pre = doc.get("preprocess_cfg") or {}
    preprocess = PreprocessConfig.from_dict(pre) if pre else PreprocessConfig()
    return model.eval(), preprocess
