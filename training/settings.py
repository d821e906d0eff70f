"""Fine-tuning settings: what a run is asked to do, and the choices filled in per device."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from engine.errors import PhotosiftError
from training.captions import (
    PseudoCaptionSettings,
)
from training.defaults import DEFAULT_METHOD, METHODS
from training.traindata import AugmentSettings

log = logging.getLogger(__name__)



CPU_IMAGE_BLOCKS = 2


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
    # The paper's s=30 made tight album clusters that pulled photos of albums it never saw along (other albums
    # -3.2 mAP on the test splits). A softer 16 gained more on the trained albums and cost the others less,
    # paired on 32 dev splits (bench/tune_finetune.py; docs/fine-tuning.md). Softer losses transfer better (Kornblith et
    # al. 2021, "Why do better loss functions lead to less transferable features?"). It scales MCIP too.
    arc_scale: float = 16.0
    arc_margin: float = 0.1
    # loss = (1 - w) * ArcMargin + w * multi-caption. The paper uses 0.25. At ArcMargin scale 30, 0.1 kept more
    # of stage 1's gain; at scale 16, 0.2 against 0.1 on two sets of 16 fresh dev splits: library albums +0.3 /
    # +0.3 mAP, other albums +0.7 / +0.3, text R@10 +0.8 / +1.3 (docs/fine-tuning.md).
    mcip_weight: float = 0.2
    # WiSE-FT (Wortsman et al. 2022): after stage 1 the trained image weights are mixed with the base's,
    # base + wise x (fine-tuned - base); None picks the mix on the choose photos. 1.0: no mixing.
    wise: float | None = None
    # The choose rule's standard error: "photo" (photos as independent) or "album" (clustered by album); album
    # measured no different on 16 dev splits (docs/fine-tuning.md), so photo stays.
    choose_se: str = "photo"
    # stage 1 adds distill x (1 - cos(embedding, base model's embedding)) of the batch's photos: a pull toward
    # the base model's features (feature distillation, L2-SP's idea in function space). 0: off.
    distill: float = 0.0
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
        if self.choose_se not in ("photo", "album"):
            raise FineTuneError(f"choose_se must be photo or album, not {self.choose_se!r}")
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


