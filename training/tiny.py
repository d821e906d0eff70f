"""A tiny random open_clip model: fast enough for tests, real enough to exercise export and search."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.modelfolder import ModelFolder
from training.export import ExportSettings, export_model_folder

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_tiny_clip(seed: int = 0) -> torch.nn.Module:
    import open_clip

    torch.manual_seed(seed)
    return open_clip.CLIP(**TINY_CFG).eval()


def export_tiny(out_dir: Path, model_id: str = "tiny", seed: int = 0,
                variants: tuple[str, ...] = ("fp32",)) -> ModelFolder:
    """Installed like a real model: ONNX towers plus torch weights, so it can be fine-tuned too."""
    from training.torchfolder import save_torch_model

    model = build_tiny_clip(seed)
    # Random 64-wide towers quantise worse than trained ones (int8 cosine 0.994 with onnxruntime 1.31.1):
    # the check still runs, at a bar that fits an untrained model.
    settings = ExportSettings(variants=variants, reduced_min_cosine=0.98)
    folder = export_model_folder(model, out_dir, model_id=model_id, settings=settings,
                                 info={"kind": "tiny-random"})
    save_torch_model(model, folder.path / "torch", dict(TINY_CFG), folder.preprocess)
    return folder
