"""Fine-tuning a model on the user's own photos: the paper's stage 1, stage 2 (re-alignment) and MCIP.

Methods (the paper: "Optimizing CLIP Models for Image Retrieval with Maintained Joint-embedding
Alignment"; docs/fine-tuning.md):
- stage1: the image tower (its last blocks and its projection) trained with ArcMargin over the classes,
  text tower frozen. Image search improves; text search is left behind.
- 2sft: stage1, then stage 2: image tower frozen (its embeddings precomputed), the last text layers and
  the text projection trained with symmetric InfoNCE between photos and their captions/pseudo-captions.
- mcip: stage 1 with (1 - w) x ArcMargin + w x the multi-caption loss against retrieved pseudo-captions
  (text frozen), which keeps the image embeddings where the text tower expects them. The paper's w is
  0.25; the default here is 0.2 (see TrainSettings.mcip_weight). A photo's own captions and its class
  prompts count among its captions, besides the retrieved ones.
- mcip+realign: mcip, then stage 2.

Settings follow the paper where they carry over (AdamW, weight decay 0.01, cosine decay to 0.1 x lr
without warm-up, gradient clipping 1.0, ArcMargin margin 0.1, proxies at a much higher lr than the tower,
mixed precision on CUDA, checkpoint selection on validation mAP checked often). The ArcMargin scale does
not (16, not the paper's 30: see TrainSettings.arc_scale), nor do the learning rates: the paper's 1e-6
is for a whole ViT-L on millions of images; the last two blocks of the starter model on a few hundred
photos for ten epochs need 1e-3 (measured with bench/reproduce_paper.py on a split of its training
photos; see PARTIAL_LRS). The proxies start at the class means of the current
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

This module is the job (load the base, run the method, install the result); the parts live by job:
training.settings (TrainSettings and the per-device choices), training.towers (what trains, text encoding),
training.features (the feature bank, decoded photos), training.session (evaluation and the one training
loop both stages run through) and training.install (installing the result as a model).
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from engine.errors import Cancelled
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import ModelFolder, installed_names, open_model
from engine.paths import models_dir
from training.install import install_finetuned, new_model_id, sweep_stale_work
from training.report import compare, means, snapshot
from training.results import describe, display_name, is_worse
from training.session import FineTuneSession, StageReport, TrainResult
from training.settings import FineTuneError, TrainSettings
from training.torchfolder import TORCH_DIR, has_torch_checkpoint, load_torch_model
from training.traindata import TrainingData

log = logging.getLogger(__name__)

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
    from training.torch_side import ensure_torch_side  # installed without torch: fetch its torch side now

    folder = ensure_torch_side(folder)
    if not has_torch_checkpoint(folder):
        raise FineTuneError(f"model '{folder.model_id}' keeps no torch weights ({TORCH_DIR}/), so it cannot be "
                            "fine-tuned; re-install it with `photosift models import` or `photosift models use`")
    return folder, load_torch_model(folder)


def run_method(session: FineTuneSession, clock: ProgressClock | None = None) -> list[StageReport]:
    """The method's stages on one session; stops after the stage that was cancelled."""
    reports = [session.run_stage1(clock)]
    if session.settings.realigns and not reports[-1].cancelled:
        reports.append(session.run_stage2(clock))
    return reports


def train(base: str | Path | ModelFolder, data: TrainingData, method: str | None = None, epochs: int | None = None,
          device: str | None = None, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
          settings: TrainSettings | None = None, models_root: Path | None = None, model_id: str | None = None,
          export: bool = True, keep_worse: bool = True) -> TrainResult:
    """Fine-tune `base` on `data` and install the result as a new model (the base is kept as it is).

    Cancelling keeps the best checkpoint so far and still produces a model, unless no training step ran.
    A result worse than its base on the held-out photos (`result.worse`) is installed only with `keep_worse`;
    otherwise `result.folder` stays None and nothing is left in the models folder.
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
    # The measure of the base model and the set-up of stage 1 take a while: said when they start, not left
    # under the preparation's full bar until the first training step (the training's own clock starts later).
    ProgressClock("train", session.stage_steps(), progress).report(
        0, "measuring the base model on the held-out photos, then setting up training")
    before_items = snapshot(session)  # on the report photos: they choose nothing
    clock = ProgressClock("train", session.stage_steps(), progress)
    reports = run_method(session, clock)
    cancelled = any(r.cancelled for r in reports)
    if cancelled and sum(r.steps for r in reports) == 0:
        raise Cancelled("cancelled before any training step; no model was made")
    after_items = snapshot(session)
    before, after = means(before_items), means(after_items)
    model = session.model.float().cpu().eval()
    summary = session.data.summary()
    report = compare(before_items, after_items, summary)
    report["mix"] = reports[0].mix
    result = TrainResult(new_id, settings.method, None, before, after, reports, session.history,
                         session.settings.to_dict(), summary, session.pseudo_info, cancelled,
                         time.perf_counter() - t0, model, worse=is_worse(before, after),
                         name=display_name(str(summary.get("source", "")), settings.method,
                                           taken=installed_names(root)),
                         description=describe(folder.model_id, settings.method, summary, before, after),
                         report=report)
    if export and (keep_worse or not result.worse):
        result.folder = install_finetuned(model, folder, result, root, progress)
    shutil.rmtree(work, ignore_errors=True)  # the best weights now live in the result (and its model folder)
    return result


def fresh_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)

