"""Which parts of an open_clip model train: the image tower's trainable tail, the cut before it, and the
text layers of stage 2; and text encoding with the engine's tokenizer (what the exported model will use)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.modelfolder import ModelFolder
from engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)



# ---------------------------------------------------------------------------------------------------------
# Which parts train: the image tower's trainable tail and how to cut off its frozen prefix


def _get_module(root: nn.Module, dotted: str) -> nn.Module:
    mod = root
    for part in dotted.split("."):
        mod = mod._modules[part]  # type: ignore[assignment]
    return mod


def _set_module(root: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, name = dotted.rpartition(".")
    parent = _get_module(root, parent_name) if parent_name else root
    parent._modules[name] = module


def _sequential_units(visual: nn.Module) -> list[str] | None:
    """Module paths (under model.visual) that run strictly one after another at the start of the tower.

    Known: timm EfficientNet/MobileNet-style trunks (conv_stem, bn1, blocks[stage][block], then the head).
    """
    trunk = getattr(visual, "trunk", None)
    if trunk is None or not all(hasattr(trunk, a) for a in ("conv_stem", "bn1", "blocks")):
        return None
    if getattr(trunk, "grad_checkpointing", False):
        return None
    units = ["trunk.conv_stem", "trunk.bn1"]
    for i, stage in enumerate(trunk.blocks):
        if isinstance(stage, nn.Sequential):
            units += [f"trunk.blocks.{i}.{j}" for j in range(len(stage))]
        else:
            units.append(f"trunk.blocks.{i}")
    return units


def _block_list(root: nn.Module) -> tuple[str, int] | None:
    """The longest list of repeated blocks under `root`: (its dotted path, length)."""
    best: tuple[str, int] | None = None
    for name, mod in root.named_modules():
        if isinstance(mod, (nn.ModuleList, nn.Sequential)) and len(mod) > 1:
            kinds = {type(m) for m in mod}
            if len(kinds) == 1 and (best is None or len(mod) > best[1]):
                best = (name, len(mod))
    return best


_EMBEDDING_PREFIXES = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "patch_dropout",
                       "trunk.patch_embed", "trunk.cls_token", "trunk.pos_embed", "trunk.reg_token", "trunk.norm_pre",
                       "trunk.stem", "trunk.conv_stem", "trunk.bn1")


class ImageTowerPlan:
    """The trainable tail of `model.visual`, and (when the tower allows) a frozen prefix cut off by stubs."""

    def __init__(self, model: nn.Module, blocks: int | None) -> None:
        self.model = model
        visual = model.visual
        self.units = _sequential_units(visual) if blocks is not None else None
        self.cut: str | None = None
        self.stubbed: list[str] = []
        frozen_prefixes: tuple[str, ...] = ()
        if blocks is not None and self.units is not None:
            n = max(1, min(blocks, len(self.units) - 2))
            self.stubbed = self.units[:-n]
            self.cut = self.stubbed[-1]
            frozen_prefixes = tuple(self.stubbed)
        elif blocks is not None:
            found = _block_list(visual)
            if found is not None:
                path, length = found
                n = max(1, min(blocks, length))
                frozen_prefixes = (*_EMBEDDING_PREFIXES, *(f"{path}.{i}" for i in range(length - n)))
        self.trainable: list[tuple[str, nn.Parameter]] = []
        for name, p in visual.named_parameters():
            if not any(name == f or name.startswith(f + ".") for f in frozen_prefixes):
                self.trainable.append((f"visual.{name}", p))

    @property
    def cached(self) -> bool:
        return self.cut is not None

    def describe(self) -> str:
        n = sum(p.numel() for _, p in self.trainable)
        where = f"after {self.cut} (prefix features precomputed)" if self.cut else "whole tower or its last blocks"
        return f"{len(self.trainable)} image tensors ({n / 1e6:.2f} M weights) train, {where}"

    @contextmanager
    def stubs(self) -> Iterator[None]:
        """Within: model.visual takes the prefix's output as its input (frozen prefix replaced by Identity)."""
        if not self.cached:
            yield
            return
        visual = self.model.visual
        saved = {name: _get_module(visual, name) for name in self.stubbed}
        try:
            for name in self.stubbed:
                _set_module(visual, name, nn.Identity())
            yield
        finally:
            for name, mod in saved.items():
                _set_module(visual, name, mod)

    def prefix(self, pixels: torch.Tensor) -> torch.Tensor:
        """The frozen prefix's output for model input pixels (the forward stops at the cut)."""
        assert self.cut is not None
        box: dict[str, torch.Tensor] = {}

        class _Stop(Exception):
            pass

        def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            box["out"] = out
            raise _Stop

        handle = _get_module(self.model.visual, self.cut).register_forward_hook(hook)
        try:
            with torch.no_grad():
                self.model.visual(pixels)
        except _Stop:
            pass
        finally:
            handle.remove()
        return box["out"]


def text_trainable(model: nn.Module, layers: int) -> list[tuple[str, nn.Parameter]]:
    """The last `layers` blocks of the text tower plus what follows them (final norm, pooler, projection)."""
    if hasattr(model, "text") and isinstance(model.text, nn.Module):
        root, prefix = model.text, "text."
        params = list(root.named_parameters())
    else:  # open_clip.CLIP keeps its text tower at the top level
        root, prefix = model, ""
        params = [(n, p) for n, p in model.named_parameters()
                  if not n.startswith("visual.") and n not in ("logit_scale", "logit_bias")]
    found = _block_list(root.transformer if hasattr(root, "transformer") else root)
    base = "transformer." if hasattr(root, "transformer") else ""
    keep: list[tuple[str, nn.Parameter]] = []
    tail = ("proj", "pooler", "ln_final", "text_projection", "final_layer_norm")
    if found is not None:
        path, length = found
        chosen = tuple(f"{base}{path}.{i}." for i in range(max(0, length - layers), length))
        keep += [(prefix + n, p) for n, p in params if n.startswith(chosen)]
    keep += [(prefix + n, p) for n, p in params if n.split(".")[0] in tail]
    return keep


# ---------------------------------------------------------------------------------------------------------
# Text encoding with the engine's tokenizer


class TextEncoder:
    def __init__(self, model: nn.Module, folder: ModelFolder, device: torch.device) -> None:
        self.model = model
        self.tokenize = load_tokenizer(folder.path, folder.manifest.tokenizer)
        self.pad_id = folder.manifest.tokenizer.pad_id
        self.device = device
        try:
            from open_clip.hf_model import HFTextEncoder

            self.trim = isinstance(getattr(model, "text", None), HFTextEncoder)
        except ImportError:  # pragma: no cover - open_clip without transformers support
            self.trim = False

    def tokens(self, texts: Sequence[str]) -> torch.Tensor:
        ids = self.tokenize(list(texts))
        if self.trim and ids.size:  # trailing padding changes nothing for a masked HF encoder; skip it
            used = np.flatnonzero((ids != self.pad_id).any(0))
            ids = ids[:, : int(used.max()) + 1 if len(used) else 1]
        return torch.from_numpy(ids).to(self.device)

    def encode(self, texts: Sequence[str], grad: bool = False, batch_size: int = 256) -> torch.Tensor:
        out = []
        ctx = nullcontext() if grad else torch.no_grad()
        with ctx:
            for start in range(0, len(texts), batch_size):
                out.append(F.normalize(self.model.encode_text(self.tokens(texts[start:start + batch_size])).float(),
                                       dim=-1))
        if not out:
            return torch.zeros(0, 1, device=self.device)
        return torch.cat(out)

    def encode_np(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts).cpu().numpy()


