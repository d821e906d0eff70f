"""Turning a model id into a ready encoder: installed folders are opened, missing ones prepared."""

from __future__ import annotations

from engine.encoder import ClipEncoder, RuntimeConfig
from engine.errors import ModelNotInstalledError
from engine.jobs import ProgressCallback, ignore_progress
from engine.modelfolder import ModelFolder, open_model


def resolve_model(model_id: str, progress: ProgressCallback = ignore_progress) -> ModelFolder:
    try:
        return open_model(model_id)
    except ModelNotInstalledError:
        pass
    try:
        from training.install import ensure_model
    except ImportError:
        ensure_model = None
    if ensure_model is not None:
        return ensure_model(model_id, progress=progress)
    if model_id == "starter":
        from training.starter import build_starter

        from engine.paths import models_dir

        return build_starter(models_dir() / "starter", progress)
    raise ModelNotInstalledError(model_id, f"model '{model_id}' is not installed; see `photosift models list`")


def load_encoder(model_id: str, device: str = "auto", progress: ProgressCallback = ignore_progress) -> ClipEncoder:
    return ClipEncoder(resolve_model(model_id, progress), RuntimeConfig(device=device))
