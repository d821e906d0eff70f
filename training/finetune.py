"""Fine-tuning a model on the user's own photos: the paper's stage 1, stage 2 (re-alignment) and MCIP.

Methods (PAPER.md):
- stage1: the image tower (its last blocks and its projection) trained with ArcMargin over the classes,
  text tower frozen. Image search improves; text search is left behind.
- 2sft: stage1, then stage 2: image tower frozen (its embeddings precomputed), the last text layers and
  the text projection trained with symmetric InfoNCE between photos and their captions/pseudo-captions.
- mcip: stage 1 with (1 - w) x ArcMargin + w x the multi-caption loss against retrieved pseudo-captions
  (text frozen), which keeps the image embeddings where the text tower expects them. The paper's w is
  0.25; the default here is 0.1 (see TrainSettings.mcip_weight). A photo's own captions and its class
  prompts count among its captions, besides the retrieved ones.
- mcip+realign: mcip, then stage 2.

Settings follow the paper where they carry over (AdamW, weight decay 0.01, cosine decay to 0.1 x lr
without warm-up, gradient clipping 1.0, ArcMargin s=30 m=0.1, proxies at a much higher lr than the tower,
mixed precision on CUDA, checkpoint selection on validation mAP checked often). The learning rates do
not: the paper's 1e-6 is for a whole ViT-L on millions of images; the last two blocks of the starter
model on a few hundred photos for ten epochs need 1e-3 (measured with bench/reproduce_paper.py on a
split of its training photos; see PARTIAL_LRS). The proxies start at the class means of the current
embeddings (the paper starts them at random), so no step is spent pulling them into place.

Speed on a CPU: only the last blocks of the image tower train (`image_blocks`), everything before them is
frozen, so its outputs are computed once per photo for a few augmented views (`views`) and kept (the
"feature bank"); each step then runs only the trainable blocks. This is exact, not an approximation: the
model runs in eval mode (BatchNorm statistics frozen, no dropout), so a frozen prefix gives the same
output every time. Where the tower cannot be cut like that (ViTs) the frozen blocks are simply run without
gradients. On CUDA the whole image tower trains by default.

The result is a new model folder (ONNX fp32, plus int8 where the base model has a working int8 variant
and fp16 where CUDA runs; plus `torch/` so it can be fine-tuned again) whose
manifest `info` holds the data summary, the settings, the history and before/after numbers on the
validation photos. The base model is never changed.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import Cancelled, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import MANIFEST, ModelFolder, PreprocessConfig, check_model_id, open_model, write_json_atomic
from engine.paths import models_dir
from engine.preprocess import normalize, resize_and_crop
from engine.tokenizer import load_tokenizer
from training.captions import (
    CaptionPool,
    PseudoCaptionSettings,
    build_caption_pool,
    class_prompts,
    retrieval_summary,
    retrieve_pseudo_captions,
)
from training.defaults import DEFAULT_METHOD, METHODS
from training.evaluate import average_precision, l2_normalize, load_templates, recall_at_k, zeroshot_accuracy
from training.losses import ArcMarginHead, multi_caption_loss, symmetric_info_nce
from training.torchfolder import TORCH_DIR, has_torch_checkpoint, load_torch_model, save_finetuned
from training.traindata import AugmentSettings, PhotoAugment, TrainingData, eval_pixels, load_images, try_load

log = logging.getLogger(__name__)

CPU_IMAGE_BLOCKS = 2
BANK_FP16_ABOVE_BYTES = 512 * 2**20
BANK_BUDGET_BYTES = 3 * 2**30
USER_CAPTION_SHARE = 0.5  # stage 2: how often a photo's own caption is drawn when it has one


class FineTuneError(PhotosiftError):
    """Fine-tuning cannot start or cannot finish (bad settings, a model without torch weights, ...)."""


@dataclass(frozen=True)
class TrainSettings:
    """Fine-tuning settings; None means "what measured best for this device" (see resolve_settings)."""

    method: str = DEFAULT_METHOD
    epochs: int = 10  # stage 1
    realign_epochs: int = 6  # stage 2
    batch_size: int = 32
    lr: float | None = None  # image tower
    head_lr: float | None = None  # ArcMargin proxies
    text_lr: float | None = None  # stage 2: last text layers + projection
    min_lr_factor: float = 0.1  # cosine decay to lr * this
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    arc_scale: float = 30.0
    arc_margin: float = 0.1
    # loss = (1 - w) * ArcMargin + w * multi-caption. The paper uses 0.25; with the starter model's weak text
    # tower (noisy pseudo-captions) 0.1 kept more of stage 1's retrieval gain (dev split, 5 seeds: mAP 70.1
    # vs 69.1) while text search stayed well above the base (R@10 +7 vs +10 points).
    mcip_weight: float = 0.1
    class_captions: bool = True  # a photo's class prompts count among its own captions
    image_blocks: int | None = None  # last image blocks to train; None: all on CUDA, CPU_IMAGE_BLOCKS on a CPU
    text_layers: int = 2
    views: int = 4  # augmented views per photo kept in the feature bank
    evals_per_epoch: int = 2
    pseudo: PseudoCaptionSettings = field(default_factory=PseudoCaptionSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    device: str = "auto"
    amp: bool = True
    seed: int = 0
    workers: int = 0  # decode threads when photos are decoded every step (no feature bank); 0: automatic

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise FineTuneError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.epochs < 1 or self.batch_size < 2 or self.views < 1:
            raise FineTuneError("epochs must be at least 1, batch size at least 2, views at least 1")

    @property
    def uses_captions(self) -> bool:
        return self.method.startswith("mcip")

    @property
    def realigns(self) -> bool:
        return self.method in ("2sft", "mcip+realign")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pseudo"] = asdict(self.pseudo)
        d["augment"] = asdict(self.augment)
        return d


# Measured with bench/reproduce_paper.py (starter model, last 2 image blocks, Tux Paint): lr 1e-3 beat 2e-4
# and 2e-3; text lr 3e-4 beat 5e-5. When the whole tower trains (the CUDA default) the paper's regime
# applies instead: small learning rates for a pretrained tower (1e-5; proxies 100 x; text 1e-5); these
# are not measured here (no GPU), they follow the paper.
PARTIAL_LRS = {"lr": 1e-3, "head_lr": 2e-2, "text_lr": 3e-4}
WHOLE_TOWER_LRS = {"lr": 1e-5, "head_lr": 1e-3, "text_lr": 1e-5}


def resolve_settings(settings: TrainSettings, device: torch.device) -> TrainSettings:
    """Fill in the automatic choices: image blocks and learning rates for this device."""
    blocks = settings.image_blocks
    if blocks is None and device.type == "cpu":
        blocks = CPU_IMAGE_BLOCKS
    lrs = PARTIAL_LRS if blocks is not None else WHOLE_TOWER_LRS
    return replace(settings, image_blocks=blocks, device=device.type,
                   **{k: getattr(settings, k) if getattr(settings, k) is not None else v for k, v in lrs.items()})


def resolve_device(device: str) -> torch.device:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise FineTuneError("--device cuda was asked for, but torch sees no CUDA device here")
        return torch.device("cuda")
    if device not in ("auto", "cpu"):
        raise FineTuneError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device("cpu")


# ---------------------------------------------------------------------------------------------------------
# Loading and saving torch weights of a model folder


def load_base(base: str | Path | ModelFolder) -> tuple[ModelFolder, nn.Module]:
    """The model folder (by id, folder path or object) and the torch model it was exported from."""
    if isinstance(base, ModelFolder):
        folder = base
    elif isinstance(base, Path) or os.sep in str(base) or (os.altsep and os.altsep in str(base)):
        folder = ModelFolder.load(Path(base).expanduser())
    else:
        folder = open_model(str(base))
    if not has_torch_checkpoint(folder):
        raise FineTuneError(f"model '{folder.model_id}' keeps no torch weights ({TORCH_DIR}/), so it cannot be "
                            "fine-tuned; re-install it with `photosift models import` or `photosift models use`")
    return folder, load_torch_model(folder)


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


# ---------------------------------------------------------------------------------------------------------
# Photos: the feature bank (frozen prefix outputs) or decoding on the fly


def _key(path: str | bytes) -> str:
    return os.fsdecode(path)


class FeatureBank:
    """Frozen-prefix outputs per photo: `views` augmented training views and one evaluation view.

    Valid for one base model and one cut (the prefix never trains); the bench shares one across methods.
    """

    def __init__(self, plan: ImageTowerPlan, cfg: PreprocessConfig, device: torch.device, views: int,
                 augment: AugmentSettings | None = None, seed: int = 0) -> None:
        self.plan = plan
        self.cut = plan.cut
        self.cfg = cfg
        self.device = device
        self.views = views
        self.augment = PhotoAugment(cfg, augment or AugmentSettings())
        self.seed = seed
        self.train_views: dict[str, torch.Tensor] = {}
        self.eval_view: dict[str, torch.Tensor] = {}
        self.unreadable: dict[str, str] = {}  # path -> why: skipped, and left out of the training data
        self.dtype: torch.dtype | None = None

    def _store(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().to("cpu", self.dtype or torch.float32)

    def ensure(self, train_paths: Sequence[str | bytes], eval_paths: Sequence[str | bytes],
               progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
               batch_size: int = 32) -> None:
        """Compute what is missing: training views for `train_paths`, the eval view for both lists."""
        need_train = [p for p in dict.fromkeys(train_paths)
                      if _key(p) not in self.train_views and _key(p) not in self.unreadable]
        need_eval = [p for p in dict.fromkeys([*train_paths, *eval_paths])
                     if _key(p) not in self.eval_view and _key(p) not in self.unreadable]
        todo = list(dict.fromkeys([*need_train, *need_eval]))
        if not todo:
            return
        clock = ProgressClock("prepare", len(todo), progress)
        want_views = {_key(p) for p in need_train}
        if not self.train_views and need_train:
            self._fit_budget(len(need_train), len(todo))
        gen = torch.Generator().manual_seed(self.seed)
        done = 0
        for start in range(0, len(todo), batch_size):
            if cancel is not None:
                cancel.check()
            loaded = [(p, try_load(p, self.cfg)) for p in todo[start:start + batch_size]]
            for p, im in loaded:
                if isinstance(im, str):
                    self.unreadable[_key(p)] = im
            chunk = [p for p, im in loaded if not isinstance(im, str)]
            images = [im for _, im in loaded if not isinstance(im, str)]
            done += len(loaded) - len(chunk)
            if not chunk:
                continue
            pixels = [torch.from_numpy(eval_pixels_from_images(images, self.cfg))]
            owners = [(_key(p), -1) for p in chunk]
            for p, im in zip(chunk, images, strict=True):
                if _key(p) in want_views:
                    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                    pixels.append(torch.from_numpy(self.augment.pixels([im] * self.views)))
                    owners += [(_key(p), v) for v in range(self.views)]
            x = torch.cat(pixels)
            feats = torch.cat([self.plan.prefix(x[i:i + batch_size].to(self.device))
                               for i in range(0, len(x), batch_size)])
            grouped: dict[str, list[torch.Tensor]] = {}
            for (k, v), f in zip(owners, feats, strict=True):
                if v < 0:
                    self.eval_view[k] = self._store(f)
                else:
                    grouped.setdefault(k, []).append(f)
            for k, fs in grouped.items():
                self.train_views[k] = self._store(torch.stack(fs))
            done += len(chunk)
            clock.report(done, "precomputing frozen image features")

    def _fit_budget(self, n_train: int, n_all: int) -> None:
        """Fewer views (and fp16) when the bank would not fit in BANK_BUDGET_BYTES."""
        cfg = self.cfg
        probe = self.plan.prefix(torch.zeros(1, 3, cfg.image_size, cfg.image_size, device=self.device))
        per_view = probe[0].numel() * 4
        total = per_view * (n_train * self.views + n_all)
        self.dtype = torch.float16 if total > BANK_FP16_ABOVE_BYTES else torch.float32
        per_view //= 2 if self.dtype == torch.float16 else 1
        fit = int((BANK_BUDGET_BYTES // per_view - n_all) // max(1, n_train))
        if fit < self.views:
            log.info("feature bank: %d views per photo instead of %d to stay within %d MiB", max(1, fit),
                     self.views, BANK_BUDGET_BYTES >> 20)
            self.views = max(1, fit)

    def train_batch(self, paths: Sequence[str | bytes], views: Sequence[int]) -> torch.Tensor:
        return torch.stack([self.train_views[_key(p)][v % self.views] for p, v in zip(paths, views, strict=True)]
                           ).to(self.device, torch.float32)

    def eval_batch(self, paths: Sequence[str | bytes]) -> torch.Tensor:
        return torch.stack([self.eval_view[_key(p)] for p in paths]).to(self.device, torch.float32)


def eval_pixels_from_images(images: Sequence[Any], cfg: PreprocessConfig) -> np.ndarray:
    return normalize(np.stack([resize_and_crop(im, cfg) for im in images]), cfg)


class DecodedPhotos:
    """No feature bank: photos decoded (and augmented) every time they are needed."""

    def __init__(self, cfg: PreprocessConfig, device: torch.device, augment: AugmentSettings, seed: int,
                 workers: int) -> None:
        self.cfg = cfg
        self.device = device
        self.augment = PhotoAugment(cfg, augment)
        self.seed = seed
        self.workers = workers
        self._images: dict[str, Any] = {}
        self._pool: Any = None

    def _image(self, p: str | bytes) -> Any:
        k = _key(p)
        if k not in self._images:
            if len(self._images) > 512:
                self._images.clear()
            self._images[k] = load_images([p], self.cfg)[0]
        return self._images[k]

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        """Decoding and resizing release the GIL: a few threads keep a GPU fed."""
        if self.workers <= 1 or len(items) < 2:
            return [fn(x) for x in items]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="photosift-decode")
        return list(self._pool.map(fn, items))

    def screen(self, paths: Sequence[str | bytes], progress: ProgressCallback = ignore_progress,
               cancel: CancelToken | None = None, chunk: int = 64) -> dict[str, str]:
        """Decode every photo once: path -> why, for those that cannot be read (the rest are fine to train on)."""
        clock = ProgressClock("prepare", len(paths), progress)
        bad: dict[str, str] = {}
        for start in range(0, len(paths), chunk):
            if cancel is not None:
                cancel.check()
            part = list(paths[start:start + chunk])
            for p, r in zip(part, self._map(lambda p: try_load(p, self.cfg), part), strict=True):
                if isinstance(r, str):
                    bad[_key(p)] = r
            clock.report(start + len(part), "checking that every photo can be read")
        return bad

    def train_batch(self, paths: Sequence[str | bytes], views: Sequence[int]) -> torch.Tensor:
        del views
        images = self._map(self._image, list(paths))
        views_hwc = self._map(self.augment, images)
        return torch.from_numpy(normalize(np.stack(views_hwc), self.cfg)).to(self.device)

    def eval_batch(self, paths: Sequence[str | bytes]) -> torch.Tensor:
        return torch.from_numpy(eval_pixels(list(paths), self.cfg)).to(self.device)


# ---------------------------------------------------------------------------------------------------------
# Evaluation on embeddings


def gallery_map(query: np.ndarray, q_labels: np.ndarray, gallery: np.ndarray, g_labels: np.ndarray,
                same: np.ndarray | None = None) -> tuple[float, float]:
    """(mAP, 1-NN accuracy) of queries against a gallery; `same[i]` is the gallery row of query i (skipped)."""
    sim = l2_normalize(query) @ l2_normalize(gallery).T
    aps, hits = [], []
    for i in range(len(query)):
        mask = np.ones(len(gallery), dtype=bool)
        if same is not None and same[i] >= 0:
            mask[same[i]] = False
        rel = g_labels[mask] == q_labels[i]
        if not rel.any():
            continue
        aps.append(average_precision(sim[i, mask], rel))
        hits.append(bool(g_labels[mask][int(np.argmax(sim[i, mask]))] == q_labels[i]))
    return (float(np.mean(aps)) if aps else float("nan"), float(np.mean(hits)) if hits else float("nan"))


@dataclass
class Split:
    """Photos of one split with labels and captions, as flat arrays (captions: (photo row, text))."""

    paths: list[str | bytes]
    labels: np.ndarray
    captions: list[tuple[int, str]]

    @classmethod
    def of(cls, items: Sequence[Any]) -> Split:
        return cls([it.path for it in items], np.array([it.label for it in items], dtype=np.int64),
                   [(i, c) for i, it in enumerate(items) for c in it.captions])


# ---------------------------------------------------------------------------------------------------------
# The session: one model being fine-tuned on one TrainingData


@dataclass
class StageReport:
    stage: str
    steps: int
    best_step: int
    best_score: float
    start_score: float
    seconds: float
    cancelled: bool = False


@dataclass
class TrainResult:
    model_id: str
    method: str
    folder: ModelFolder | None
    before: dict[str, float]
    after: dict[str, float]
    stages: list[StageReport]
    history: list[dict[str, float]]
    settings: dict[str, Any]
    data: dict[str, Any]
    pseudo: dict[str, Any]
    cancelled: bool
    seconds: float
    model: nn.Module | None = None


class FineTuneSession:
    """Holds the model, the photos' features, the caption pool; runs stages and evaluates.

    `bank` may be shared between sessions on the same base model (the bench does); `pool_cache` maps caption
    text to the base text tower's embedding (valid until a stage 2 changes the text tower).
    """

    def __init__(self, model: nn.Module, folder: ModelFolder, data: TrainingData, settings: TrainSettings, *,
                 bank: FeatureBank | None = None, pool_cache: dict[str, np.ndarray] | None = None,
                 progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                 extra_eval_paths: Sequence[str | bytes] = (), checkpoint_dir: Path | None = None) -> None:
        self.device = resolve_device(settings.device)
        self.settings = settings = resolve_settings(settings, self.device)
        self.model = model.to(self.device).eval()
        self.folder = folder
        self.data = data
        self.progress = progress
        self.cancel = cancel
        self.plan = ImageTowerPlan(self.model, settings.image_blocks)
        self.cfg = folder.preprocess
        self.train = Split.of(data.train)
        self.val = Split.of(data.val)
        self.text = TextEncoder(self.model, folder, self.device)
        self.templates = tuple(load_templates())
        self.history: list[dict[str, float]] = []
        self.step_offset = 0
        self.text_changed = False
        self.pool_cache = pool_cache if pool_cache is not None else {}
        self.amp_dtype = None
        if self.device.type == "cuda" and settings.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if self.plan.cached:
            if bank is None or bank.cut != self.plan.cut:
                bank = FeatureBank(self.plan, self.cfg, self.device, settings.views, settings.augment, settings.seed)
            else:
                bank.plan = self.plan
                bank.device = self.device
            bank.ensure(self.train.paths, [*self.val.paths, *extra_eval_paths], progress, cancel)
            self.photos: FeatureBank | DecodedPhotos = bank
            unreadable = bank.unreadable
        else:
            workers = settings.workers or (min(4, (os.cpu_count() or 2) - 1) if self.device.type == "cuda" else 0)
            self.photos = DecodedPhotos(self.cfg, self.device, settings.augment, settings.seed, workers)
            unreadable = self.photos.screen([*self.train.paths, *self.val.paths], progress, cancel)
        # A photo that cannot be read (corrupt, or changed since it was indexed) is left out and reported;
        # it does not end the training.
        self.data = data = data.without(unreadable)
        if data.unreadable:
            log.info("fine-tuning without %d photo(s) that could not be read", len(data.unreadable))
            self.train, self.val = Split.of(data.train), Split.of(data.val)
        self.bank = bank if self.plan.cached else None
        self.checkpoint_dir = checkpoint_dir
        self._captions: tuple[CaptionPool, np.ndarray, list[np.ndarray], dict[str, Any]] | None = None
        if settings.uses_captions or settings.realigns:
            self.ensure_captions()

    def ensure_captions(self) -> None:
        if self._captions is None:
            self._captions = self._pseudo_captions()

    @property
    def pool(self) -> CaptionPool:
        self.ensure_captions()
        assert self._captions is not None
        return self._captions[0]

    @property
    def pool_emb(self) -> np.ndarray:
        self.ensure_captions()
        assert self._captions is not None
        return self._captions[1]

    @property
    def own(self) -> list[np.ndarray]:
        self.ensure_captions()
        assert self._captions is not None
        return self._captions[2]

    @property
    def pseudo_info(self) -> dict[str, Any]:
        return self._captions[3] if self._captions is not None else {}

    # -- building blocks ------------------------------------------------------------------------------
    def autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def embed(self, paths: Sequence[str | bytes], batch_size: int = 64) -> np.ndarray:
        """Evaluation-view image embeddings (L2-normalised) with the current model."""
        out = []
        with torch.no_grad(), self.plan.stubs(), self.autocast():
            for start in range(0, len(paths), batch_size):
                x = self.photos.eval_batch(paths[start:start + batch_size])
                out.append(F.normalize(self.model.encode_image(x).float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

    def class_embeddings(self) -> np.ndarray:
        prompts = [t.format(c) for c in self.data.class_names for t in self.templates]
        emb = self.text.encode_np(prompts).reshape(len(self.data.class_names), len(self.templates), -1)
        return l2_normalize(l2_normalize(emb).mean(1))

    def pool_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        if self.text_changed:
            return self.text.encode_np(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.pool_cache]
        if missing:
            for t, e in zip(missing, self.text.encode_np(missing), strict=True):
                self.pool_cache[t] = e
        return np.stack([self.pool_cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def _pseudo_captions(self) -> tuple[CaptionPool, np.ndarray, list[np.ndarray], dict[str, Any]]:
        """The caption pool, its (base) embeddings, and each training photo's own + retrieved captions."""
        user = [c for _, c in self.train.captions]
        pool = build_caption_pool(self.data.class_names, user)
        pool_emb = self.pool_embeddings(list(pool.texts))
        index = pool.index()
        own: list[list[int]] = [[] for _ in self.train.paths]
        for row, c in self.train.captions:
            own[row].append(index[" ".join(c.split())])
        class_rows = [[index[p] for p in class_prompts(n, self.templates)] for n in self.data.class_names]
        if self.settings.class_captions:
            for row, label in enumerate(self.train.labels):
                own[row] += class_rows[int(label)]
        image_emb = self.embed(self.train.paths)
        captions, threshold = retrieve_pseudo_captions(image_emb, pool_emb, self.settings.pseudo, own)
        info = {"pool": pool.counts(), **retrieval_summary(captions, threshold)}
        self._class_rows = class_rows
        return pool, pool_emb, captions, info

    def evaluate(self, split: str = "val") -> dict[str, float]:
        """Validation numbers: photos of `split` as queries against train + val, zero-shot, text-to-image."""
        gallery_paths = [*self.train.paths, *self.val.paths]
        gallery = self.embed(gallery_paths)
        g_labels = np.concatenate([self.train.labels, self.val.labels])
        n_train = len(self.train.paths)
        q = gallery[n_train:] if split == "val" else gallery[:n_train]
        q_labels = self.val.labels if split == "val" else self.train.labels
        same = np.arange(len(q)) + (n_train if split == "val" else 0)
        m_ap, nn1 = gallery_map(q, q_labels, gallery, g_labels, same)
        out = {"i2i_map": m_ap, "nn1_acc": nn1}
        caps = self.val.captions if split == "val" else self.train.captions
        cap_emb = self.text.encode_np([c for _, c in caps]) if caps else None
        rows = np.array([r + (n_train if split == "val" else 0) for r, _ in caps], dtype=np.int64)
        zs = zeroshot_accuracy(q, q_labels, self.class_embeddings())
        out["zeroshot_acc"] = zs
        if cap_emb is not None:
            out.update({f"t2i_r{k}": v for k, v in recall_at_k(cap_emb, gallery, rows).items()})
        return out

    def val_map(self) -> float:
        n_train = len(self.train.paths)
        gallery = self.embed([*self.train.paths, *self.val.paths])
        g_labels = np.concatenate([self.train.labels, self.val.labels])
        return gallery_map(gallery[n_train:], self.val.labels, gallery, g_labels,
                           np.arange(len(self.val.paths)) + n_train)[0]

    def val_alignment(self) -> float:
        """Stage 2's selection score: mean of val zero-shot accuracy and val caption R@5 (when there are captions)."""
        m = self.evaluate("val")
        parts = [m["zeroshot_acc"]] + ([m["t2i_r5"]] if "t2i_r5" in m else [])
        return float(np.mean(parts))

    # -- stage 1 ----------------------------------------------------------------------------------------
    def _snapshot(self, params: Sequence[tuple[str, nn.Parameter]],
                  stage: int | None = None) -> dict[str, torch.Tensor]:
        """A copy of the trainable weights; with `stage`, also written to the checkpoint folder (if any)."""
        state = {n: p.detach().clone() for n, p in params}
        if stage is not None and self.checkpoint_dir is not None:
            from safetensors.torch import save_file

            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.checkpoint_dir / f".best-stage{stage}.safetensors.tmp"
            save_file({n: t.detach().cpu().contiguous() for n, t in state.items()}, str(tmp))
            os.replace(tmp, self.checkpoint_dir / f"best-stage{stage}.safetensors")
        return state

    @staticmethod
    def _restore(params: Sequence[tuple[str, nn.Parameter]], state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for n, p in params:
                p.copy_(state[n])

    def _unfreeze(self) -> None:
        """Back to the default (all weights require grad): the exporter traces the plain, not the fast, path."""
        for p in self.model.parameters():
            p.requires_grad_(True)

    def _freeze_all_but(self, params: Sequence[tuple[str, nn.Parameter]]) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        for _, p in params:
            p.requires_grad_(True)

    def _schedule(self, opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
        floor = self.settings.min_lr_factor

        def factor(step: int) -> float:
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def _scaler(self) -> Any:
        enabled = self.amp_dtype == torch.float16
        return torch.amp.GradScaler("cuda", enabled=enabled) if enabled else None

    def _eval_steps(self, steps_per_epoch: int, total: int) -> set[int]:
        every = max(1, steps_per_epoch // max(1, self.settings.evals_per_epoch))
        return set(range(every, total + 1, every)) | {total}

    def _report(self, clock: ProgressClock, step: int, message: str, **metrics: float) -> None:
        clock.report(self.step_offset + step, message, **{k: float(v) for k, v in metrics.items()})

    def run_stage1(self, clock: ProgressClock | None = None) -> StageReport:
        """ArcMargin (+ multi-caption for MCIP) on the image tower's trainable part; text frozen."""
        s = self.settings
        t0 = time.perf_counter()
        rng = np.random.default_rng(s.seed)
        torch.manual_seed(s.seed)
        params = self.plan.trainable
        self._freeze_all_but(params)
        n = len(self.train.paths)
        steps_per_epoch = max(1, n // s.batch_size)
        total = steps_per_epoch * s.epochs
        clock = clock or ProgressClock("train", total, self.progress)
        # Proxies start at the class means of the current embeddings: no random first steps.
        emb = torch.from_numpy(self.embed(self.train.paths))
        means = torch.stack([emb[torch.from_numpy(self.train.labels == c)].mean(0)
                             for c in range(len(self.data.classes))])
        head = ArcMarginHead(len(self.data.classes), emb.shape[1], s.arc_scale, s.arc_margin,
                             init=F.normalize(means, dim=-1)).to(self.device)
        opt = torch.optim.AdamW([{"params": [p for _, p in params], "lr": s.lr},
                                 {"params": list(head.parameters()), "lr": s.head_lr}],
                                weight_decay=s.weight_decay)
        sched = self._schedule(opt, total)
        scaler = self._scaler()
        labels = torch.from_numpy(self.train.labels).to(self.device)
        use_captions = s.uses_captions
        caption_emb = torch.from_numpy(self.pool_emb).to(self.device) if use_captions else None
        start_score = best_score = self.val_map()
        best_state, best_step = self._snapshot(params), 0
        self.history.append({"stage": 1, "step": self.step_offset, "val_map": start_score})
        self._report(clock, 0, "stage 1: starting", val_map=start_score)
        eval_at = self._eval_steps(steps_per_epoch, total)
        views = rng.integers(0, s.views, size=n)
        step, cancelled, loss_avg = 0, False, float("nan")
        try:
            with self.plan.stubs():
                for _epoch in range(s.epochs):
                    order = rng.permutation(n)
                    views = (views + 1) % s.views
                    for b in range(steps_per_epoch):
                        if self.cancel is not None:
                            self.cancel.check()
                        idx = order[b * s.batch_size:(b + 1) * s.batch_size]
                        x = self.photos.train_batch([self.train.paths[i] for i in idx], views[idx].tolist())
                        with self.autocast():
                            out = self.model.encode_image(x).float()
                        y = labels[torch.from_numpy(idx).to(self.device)]
                        loss = head(out, y)
                        if use_captions and caption_emb is not None:
                            cols = np.unique(np.concatenate([self.own[i] for i in idx]))
                            if len(cols):
                                col_of = {c: j for j, c in enumerate(cols.tolist())}
                                targets = torch.zeros(len(idx), len(cols), device=self.device)
                                for r, i in enumerate(idx):
                                    for c in self.own[i].tolist():
                                        targets[r, col_of[c]] = 1.0
                                mc = multi_caption_loss(out, caption_emb[torch.from_numpy(cols).to(self.device)],
                                                        targets, s.arc_scale, s.arc_margin)
                                loss = (1 - s.mcip_weight) * loss + s.mcip_weight * mc
                        self._step(loss, opt, scaler, [[p for _, p in params], list(head.parameters())])
                        sched.step()
                        step += 1
                        loss_avg = loss.item() if math.isnan(loss_avg) else 0.9 * loss_avg + 0.1 * loss.item()
                        if step in eval_at:
                            score = self.val_map()
                            self.history.append({"stage": 1, "step": self.step_offset + step, "loss": loss_avg,
                                                 "val_map": score})
                            if score > best_score:
                                best_score, best_step, best_state = score, step, self._snapshot(params, 1)
                            self._report(clock, step, "stage 1", loss=loss_avg, val_map=score)
                        else:
                            self._report(clock, step, "stage 1", loss=loss_avg)
        except Cancelled:
            cancelled = True
        self._restore(params, best_state)
        self._unfreeze()
        self.step_offset += total
        return StageReport("stage1" if not use_captions else "mcip", step, best_step, best_score, start_score,
                           time.perf_counter() - t0, cancelled)

    def _step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: Any,
              groups: Sequence[Sequence[nn.Parameter]]) -> None:
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        for g in groups:
            torch.nn.utils.clip_grad_norm_(g, self.settings.grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()

    # -- stage 2 ----------------------------------------------------------------------------------------
    def _stage2_captions(self) -> list[list[int]]:
        """Per training photo: pool rows of its own captions (user + class prompts) and pseudo-captions."""
        out = []
        for row in range(len(self.train.paths)):
            rows = list(dict.fromkeys([*self.own[row].tolist(), *self._class_rows[int(self.train.labels[row])]]))
            out.append(rows)
        return out

    def run_stage2(self, clock: ProgressClock | None = None) -> StageReport:
        """Re-alignment: image tower frozen (embeddings precomputed), last text layers + projection trained."""
        s = self.settings
        t0 = time.perf_counter()
        rng = np.random.default_rng(s.seed + 1)
        torch.manual_seed(s.seed + 1)
        n = len(self.train.paths)
        steps_per_epoch = max(1, n // s.batch_size)
        total = steps_per_epoch * s.realign_epochs
        clock = clock or ProgressClock("train", total, self.progress)
        # Image embeddings of every training view, with the (now frozen) image tower.
        image_views = self._train_view_embeddings()
        captions = self._stage2_captions()
        user_rows = {row: [] for row in range(n)}
        index = self.pool.index()
        for row, c in self.train.captions:
            user_rows[row].append(index[" ".join(c.split())])
        params = text_trainable(self.model, s.text_layers)
        if not params:
            raise FineTuneError("found no text layers to re-align in this model")
        self._freeze_all_but(params)
        opt = torch.optim.AdamW([p for _, p in params], lr=s.text_lr, weight_decay=s.weight_decay)
        sched = self._schedule(opt, total)
        scaler = self._scaler()
        scale = float(min(100.0, max(10.0, float(self.model.logit_scale.exp().item()))))
        self.text_changed = True
        start_score = best_score = self.val_alignment()
        best_state, best_step = self._snapshot(params), 0
        # the image tower is frozen at stage 1's best checkpoint (restored), not at its last evaluation
        val_map = max((h["val_map"] for h in self.history if h["stage"] == 1 and "val_map" in h), default=float("nan"))
        self.history.append({"stage": 2, "step": self.step_offset, "val_text": start_score})
        self._report(clock, 0, "stage 2: starting", val_map=val_map, val_text=start_score)
        eval_at = self._eval_steps(steps_per_epoch, total)
        step, cancelled, loss_avg = 0, False, float("nan")
        try:
            for _epoch in range(s.realign_epochs):
                order = rng.permutation(n)
                for b in range(steps_per_epoch):
                    if self.cancel is not None:
                        self.cancel.check()
                    idx = order[b * s.batch_size:(b + 1) * s.batch_size]
                    picked = []
                    for i in idx:
                        mine = user_rows[int(i)]
                        if mine and rng.random() < USER_CAPTION_SHARE:
                            picked.append(int(rng.choice(mine)))
                        else:
                            picked.append(int(rng.choice(captions[int(i)])))
                    texts_rows = list(dict.fromkeys(picked))
                    pos = torch.tensor([[1.0 if c in set(captions[int(i)]) or c == picked[r] else 0.0
                                         for c in texts_rows] for r, i in enumerate(idx)], device=self.device)
                    views = rng.integers(0, image_views.shape[1], size=len(idx))
                    img = image_views[torch.from_numpy(idx), torch.from_numpy(views)].to(self.device)
                    with self.autocast():
                        txt = self.text.encode([self.pool.texts[c] for c in texts_rows], grad=True)
                    loss = symmetric_info_nce(img, txt.float(), scale, pos)
                    self._step(loss, opt, scaler, [[p for _, p in params]])
                    sched.step()
                    step += 1
                    loss_avg = loss.item() if math.isnan(loss_avg) else 0.9 * loss_avg + 0.1 * loss.item()
                    if step in eval_at:
                        score = self.val_alignment()
                        self.history.append({"stage": 2, "step": self.step_offset + step, "loss": loss_avg,
                                             "val_text": score})
                        if score > best_score:
                            best_score, best_step, best_state = score, step, self._snapshot(params, 2)
                        self._report(clock, step, "stage 2", loss=loss_avg, val_map=val_map, val_text=score)
                    else:
                        self._report(clock, step, "stage 2", loss=loss_avg)
        except Cancelled:
            cancelled = True
        self._restore(params, best_state)
        self._unfreeze()
        self.step_offset += total
        return StageReport("realign", step, best_step, best_score, start_score, time.perf_counter() - t0, cancelled)

    def _train_view_embeddings(self) -> torch.Tensor:
        """(N, V, D) embeddings of the training photos' augmented views (one view without a bank)."""
        paths = self.train.paths
        v = self.bank.views if self.bank is not None else 1
        out = []
        with torch.no_grad(), self.plan.stubs(), self.autocast():
            for view in range(v):
                rows = []
                for start in range(0, len(paths), 64):
                    chunk = paths[start:start + 64]
                    x = (self.photos.train_batch(chunk, [view] * len(chunk)) if self.bank is not None
                         else self.photos.eval_batch(chunk))
                    rows.append(F.normalize(self.model.encode_image(x).float(), dim=-1).cpu())
                out.append(torch.cat(rows))
        return torch.stack(out, dim=1)

    def stage_steps(self) -> int:
        s = self.settings
        per_epoch = max(1, len(self.train.paths) // s.batch_size)
        return per_epoch * s.epochs + (per_epoch * s.realign_epochs if s.realigns else 0)


# ---------------------------------------------------------------------------------------------------------
# The whole job


def new_model_id(base_id: str, method: str, stamp: str | None = None, root: Path | None = None) -> str:
    """'<base>-ft-<method>-<time>'; with `root`, one that no model (or training in progress) there has yet."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    wanted = check_model_id(f"{base_id}-ft-{method}-{stamp}"[-96:].lstrip("-._+"))
    return wanted if root is None else free_model_id(root, wanted)


STALE_WORK_S = 24 * 3600


def sweep_stale_work(root: Path, older_than_s: float = STALE_WORK_S) -> list[Path]:
    """Remove what a training or export killed midway left in the models folder (`.training-*` checkpoints,
    `.<id>.export-*` half-written models), once it is old enough that no run can still be using it."""
    removed = []
    cutoff = time.time() - older_than_s
    for entry in Path(root).glob(".*"):
        if not entry.is_dir() or not (entry.name.startswith(".training-") or ".export-" in entry.name):
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed.append(entry)
        except OSError as e:  # in use, or already gone: leave it to the next sweep
            log.info("could not remove %s: %s", entry, e)
    if removed:
        log.info("removed %d unfinished training folder(s) from %s", len(removed), root)
    return removed


def free_model_id(root: Path, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ... : the first not taken in `root` (two runs in the same second)."""
    candidate, n = wanted, 1
    while (root / candidate).exists() or (root / f".training-{candidate}").exists():
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate


def run_method(session: FineTuneSession, clock: ProgressClock | None = None) -> list[StageReport]:
    """The method's stages on one session; stops after the stage that was cancelled."""
    reports = [session.run_stage1(clock)]
    if session.settings.realigns and not reports[-1].cancelled:
        reports.append(session.run_stage2(clock))
    return reports


def train(base: str | Path | ModelFolder, data: TrainingData, method: str | None = None, epochs: int | None = None,
          device: str | None = None, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
          settings: TrainSettings | None = None, models_root: Path | None = None, model_id: str | None = None,
          export: bool = True) -> TrainResult:
    """Fine-tune `base` on `data` and install the result as a new model (the base is kept as it is).

    Cancelling keeps the best checkpoint so far and still produces a model, unless no training step ran.
    """
    settings = settings or TrainSettings()
    changes: dict[str, Any] = {}
    if method is not None:
        changes["method"] = method
    if epochs is not None:
        changes["epochs"] = epochs
        changes["realign_epochs"] = epochs
    if device is not None:
        changes["device"] = device
    settings = replace(settings, **changes)
    t0 = time.perf_counter()
    folder, model = load_base(base)
    root = Path(models_root or models_dir())
    sweep_stale_work(root)
    new_id = model_id or new_model_id(folder.model_id, settings.method, root=root)
    work = root / f".training-{new_id}"
    session = FineTuneSession(model, folder, data, settings, progress=progress, cancel=cancel, checkpoint_dir=work)
    before = session.evaluate("val")
    clock = ProgressClock("train", session.stage_steps(), progress)
    reports = run_method(session, clock)
    cancelled = any(r.cancelled for r in reports)
    if cancelled and sum(r.steps for r in reports) == 0:
        raise Cancelled("cancelled before any training step; no model was made")
    after = session.evaluate("val")
    model = session.model.float().cpu().eval()
    result = TrainResult(new_id, settings.method, None, before, after, reports, session.history,
                         session.settings.to_dict(), session.data.summary(), session.pseudo_info, cancelled,
                         time.perf_counter() - t0, model)
    if export:
        result.folder = install(model, folder, result, root, progress)
    shutil.rmtree(work, ignore_errors=True)  # the best weights now live in the result (and its model folder)
    return result


def install(model: nn.Module, base: ModelFolder, result: TrainResult, root: Path,
            progress: ProgressCallback = ignore_progress) -> ModelFolder:
    """Export the fine-tuned model as a new model folder with its torch weights and the training record."""
    from training.export import ExportParityError, ExportSettings, export_model_folder

    clock = ProgressClock("export", 1, progress)
    clock.report(0, f"exporting {result.model_id}")
    out = Path(root) / result.model_id
    if out.exists():  # taken while this one trained: a finished training is never thrown away
        result.model_id = free_model_id(Path(root), result.model_id)
        log.info("model id taken meanwhile; installing as %s", result.model_id)
        out = Path(root) / result.model_id
    info = {"kind": "fine-tuned", "base_model": base.model_id, "method": result.method,
            "data": result.data, "settings": result.settings, "pseudo_captions": result.pseudo,
            "before": _rounded(result.before), "after": _rounded(result.after),
            "stages": [asdict(r) for r in result.stages], "history": result.history[-200:],
            "cancelled": result.cancelled, "train_seconds": round(result.seconds, 1),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tok = base.manifest.tokenizer
    files_kw = _tokenizer_files_kw(base)
    # Without a way to hand the exporter our tokenizer file, point it at the base's copy (an absolute path
    # resolves inside the export folder too), then copy the file in and record its plain name.
    export_tok = tok if files_kw else replace(tok, file=str((base.path / tok.file).resolve()))

    def export(variants: tuple[str, ...]) -> ModelFolder:
        info["export_variants"] = list(variants)
        return export_model_folder(
            model, out, model_id=result.model_id, model_name=base.manifest.arch, tokenizer=export_tok,
            preprocess=base.preprocess, settings=ExportSettings(variants=variants, **bar),
            source_sha256=base.manifest.source_sha256, info=json.loads(json.dumps(info, default=_jsonable)),
            tokenize=load_tokenizer(base.path, tok), **files_kw)

    variants = export_variants(base)
    # held to the bar its base was exported at (a random test model's is lower than a real model's)
    bar = {k: float(v) for k, v in base.manifest.export.items() if k == "reduced_min_cosine"}
    try:
        folder = export(variants)
    except ExportParityError as e:
        if variants == ("fp32",):
            raise
        # A reduced-precision variant that drifts from fp32 is dropped, never shipped; fp32 always works.
        log.warning("%s; exporting fp32 only", e)
        info["export_note"] = f"reduced-precision variants dropped: {e}"
        folder = export(("fp32",))
    if not files_kw:
        shutil.copyfile(base.path / tok.file, folder.path / Path(tok.file).name)
        manifest = replace(folder.manifest, tokenizer=replace(tok, file=Path(tok.file).name))
        write_json_atomic(folder.path / MANIFEST, manifest.to_json())
    save_finetuned(model, base, folder.path)
    clock.report(1, f"installed {result.model_id}")
    return ModelFolder.load(folder.path)


def export_variants(base: ModelFolder) -> tuple[str, ...]:
    """fp32, plus int8 when the base model has it (it passed its parity check), plus fp16 where CUDA runs."""
    variants = ["fp32"]
    if base.has_variant("int8"):
        variants.append("int8")
    try:
        from engine.encoder import cuda_usable

        if cuda_usable() and base.has_variant("fp16"):
            variants.append("fp16")
    except ImportError:  # pragma: no cover
        pass
    return tuple(variants)


def _tokenizer_files_kw(base: ModelFolder) -> dict[str, Any]:
    """Pass the base's tokenizer files to the exporter when it accepts them."""
    import inspect

    from training.export import export_model_folder

    sig = inspect.signature(export_model_folder)
    files = [base.path / base.manifest.tokenizer.file]
    for name in ("tokenizer_files", "extra_files"):
        if name in sig.parameters:
            return {name: files}
    return {}


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (set, tuple)):
        return list(x)
    return str(x)


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: (round(float(v), 4) if isinstance(v, (int, float, np.floating)) else v) for k, v in d.items()}


def fresh_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)
