"""The torch weights of a model that was installed without them, fetched when it is fine-tuned.

The starter from its prebuilt archive (training.prebuilt) and a registry model from its published ONNX export
(training.onnx_hub) carry only what the runtime reads; their manifest's `info.torch_weights` says where the
torch side comes from. Fine-tuning (training.finetune.load_base) calls `ensure_torch_side` first:
  - the starter: rebuilt from the same pip packages (training.starter.build_starter_model) into `torch/`
    beside the ONNX towers, which stay as they are; the rebuilt weights' sha256 is compared with the
    manifest's `source_sha256` (the archive's build) and a difference is logged;
  - a registry model with a torch source (hf-hub, url): installed again the existing way (download the
    weights, load them strictly, export) under the same id, so the folder gets its torch/ side.
Needs `photosift[train]`, as fine-tuning does.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from engine.atomic import atomic_folder
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import ModelFolder
from engine.paths import models_dir
from training.download import exclusive_lock, sha256_of
from training.registry import builtin_entries
from training.torchfolder import TORCH_DIR, has_torch_checkpoint, save_torch_model

log = logging.getLogger(__name__)


def ensure_torch_side(folder: ModelFolder, progress: ProgressCallback = ignore_progress,
                      cancel: CancelToken | None = None, device: str = "auto") -> ModelFolder:
    """`folder` with its torch/ side, fetched or rebuilt where the manifest says how; unchanged otherwise."""
    source = folder.manifest.info.get("torch_weights")
    if has_torch_checkpoint(folder) or not isinstance(source, dict):
        return folder
    with exclusive_lock(folder.path.parent / f".{folder.model_id}.prepare.lock", cancel):
        folder = ModelFolder.load(folder.path)
        if has_torch_checkpoint(folder):  # another process fetched it meanwhile
            return folder
        if source.get("kind") == "starter":
            return _rebuild_starter(folder, progress)
        entry = builtin_entries().get(folder.model_id)
        if entry is None or entry.kind not in ("hf-hub", "url") or folder.path != models_dir() / entry.id:
            return folder
        from training.install import _prepare

        log.info("fetching the torch weights of %s for fine-tuning (%s)", entry.id, entry.source)
        return _prepare(dataclasses.replace(entry, onnx={}), progress, cancel, device)


def _rebuild_starter(folder: ModelFolder, progress: ProgressCallback) -> ModelFolder:
    from training.starter import _quiet, build_starter_model, resolved_model_cfg

    clock = ProgressClock("build", 1, progress)
    clock.report(0, "rebuilding the starter's torch weights for fine-tuning")
    with _quiet():
        model, cfg = build_starter_model()
    saved_cfg = {k: v for k, v in cfg.items() if k not in ("photosift", "preprocess_cfg")}
    hf_source = Path(resolved_model_cfg()["text_cfg"]["hf_model_name"])
    with atomic_folder(folder.path / TORCH_DIR, "build") as work:
        weights = save_torch_model(model, work, saved_cfg, folder.preprocess, cfg["photosift"], hf_source=hf_source)
        sha = sha256_of(weights)
    if folder.manifest.source_sha256 and sha != folder.manifest.source_sha256:
        log.warning("the rebuilt starter weights differ from the archive's build (sha256 %s, archive %s): other "
                    "package versions; fine-tuning starts from the rebuilt ones", sha, folder.manifest.source_sha256)
    clock.report(1, "starter torch weights ready")
    return ModelFolder.load(folder.path)
