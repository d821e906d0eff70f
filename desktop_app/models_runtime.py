"""Turning a model id into a ready encoder (installed folders are opened, missing ones prepared), and
switching a library to a model: install first, then switch in one step.

`switch_model_job` is also what the window runs in a child process (no Qt here).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from desktop_app.extras import (
    KINDS_NEEDING_TRAINING,
    TrainingExtraMissing,
    is_training_module,
    require_training,
    training_missing_message,
)
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.errors import DamagedModelError, ModelNotInstalledError, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback, ignore_progress
from engine.library import Library, active_model_of
from engine.modelfolder import ModelFolder, open_model
from engine.reports import as_namespace
from engine.switching import SwitchReport, switch_active_model

SWITCH_WAIT_S = 2.0  # how long a switch waits for another process's update of the library


def resolve_model(model_id: str, progress: ProgressCallback = ignore_progress,
                  cancel: CancelToken | None = None, device: str = "auto") -> ModelFolder:
    try:
        return open_model(model_id)
    except ModelNotInstalledError:
        pass
    from training.install import ensure_model
    from training.registry import builtin_entries

    # A registry model with no ready ONNX form (a published export, the starter's archive) is converted from
    # torch weights: without the training extra, say so before any download.
    entry = builtin_entries().get(model_id)
    if entry is not None and entry.kind in KINDS_NEEDING_TRAINING and not _ready_without_torch(entry):
        require_training(_preparing(model_id, entry.kind))
    try:
        return ensure_model(model_id, progress=progress, cancel=cancel, device=device)
    except ModuleNotFoundError as e:
        if not is_training_module(e.name):
            raise
        raise TrainingExtraMissing(training_missing_message(f"preparing model '{model_id}'")) from None


def _ready_without_torch(entry) -> bool:
    """The model installs as ONNX files: the makers' export, or the starter's archive (the env var's file, the
    packaged app's copy or a release URL; training.prebuilt says why when none of them works)."""
    if entry.onnx:
        return True
    if entry.kind == "starter":
        from training.prebuilt import archive_source

        return archive_source(entry) is not None
    return False


def _preparing(model_id: str, kind: str) -> str:
    if kind == "starter":
        return f"the offline starter model ('{model_id}') is built on this computer from torch weights: that"
    return f"model '{model_id}' is converted on this computer from its torch weights: that"


def load_encoder(model_id: str, device: str = "auto", progress: ProgressCallback = ignore_progress,
                 cancel: CancelToken | None = None) -> ClipEncoder:
    return ClipEncoder(resolve_model(model_id, progress, cancel, device), RuntimeConfig(device=device))


def use_model(library_dir: Path, model_id: str, progress: ProgressCallback = ignore_progress,
              cancel: CancelToken | None = None, device: str = "auto", *, tag: bool = True,
              wait_s: float = SWITCH_WAIT_S) -> tuple[ModelFolder, SwitchReport]:
    """Install `model_id` if needed (download or build, with progress and cancel), open it, then switch the
    library to it with its zero-shot tags (engine.switching). Until the model is installed and loads, the
    library is not touched: a failed, refused or cancelled call leaves it as it was. A damaged model is
    refused (DamagedModelError, naming the file) before anything changes: switch_active_model runs it first."""
    try:
        encoder = load_encoder(model_id, device, progress, cancel)
    except DamagedModelError as e:  # its manifest does not load: say that the library keeps its model
        raise DamagedModelError(e.model_id, e.path, e.reason,
                                f"not switched: the library still uses '{active_model_of(library_dir)}'") from None
    with Library.open(library_dir, create=False) as lib:
        report = switch_active_model(lib, encoder, progress=progress, cancel=cancel, wait_s=wait_s)
    return encoder.folder, report


def switch_model_job(library_dir: Path, model_id: str, device: str, progress: ProgressCallback,
                     token: CancelToken) -> SimpleNamespace:
    """The window's "use this model" job: use_model, returning plain data (unpickling a SwitchReport in the
    window would import onnxruntime there). Offline, the message names the window's ways out, not commands."""
    from training.download import OfflineError

    try:
        folder, report = use_model(library_dir, model_id, progress, token, device)
    except OfflineError as e:
        raise PhotosiftError(f"cannot reach {e.where}; this computer seems to be offline. Offline, choose the "
                             "starter model, or a model you imported (`photosift models import`)") from None
    plain = as_namespace(report)  # model_id, previous, with_vectors, to_index, total, tags_written
    plain.path = str(folder.path)
    return plain
