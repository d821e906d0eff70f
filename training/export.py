"""Export an open_clip model into a Photosift model folder, with a torch-vs-ONNX parity check.

The folder holds fp32 towers plus optional int8 (CPU: dynamic quantisation of MatMul/Gemm only) and
fp16 (CUDA) variants, the preprocessing config, the tokenizer files and the manifest. Any variant whose
outputs disagree with torch (fp32) or with fp32 (int8/fp16) below its cosine bar fails the export.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from engine.errors import ModelFolderError
from engine.modelfolder import (
    MANIFEST,
    PREPROCESS,
    Manifest,
    ModelFolder,
    PreprocessConfig,
    TokenizerConfig,
    check_model_id,
    tower_file,
    write_json_atomic,
)

log = logging.getLogger(__name__)

FP32_MIN_COSINE = 0.999
REDUCED_MIN_COSINE = 0.995
PARITY_TEXTS = ("a photo of a dog", "kids on a beach at sunset", "a red car parked in the snow",
                "birthday cake with candles", "mountains", "an old black and white portrait")


class ExportParityError(ModelFolderError):
    """ONNX outputs disagree with the reference beyond the allowed tolerance."""


@dataclass(frozen=True)
class ExportSettings:
    variants: tuple[str, ...] = ("fp32", "int8")
    opset: int = 18
    dynamo: bool = False
    parity_batch: int = 4


class _ImageTower(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


class _TextTower(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(input_ids)


def preprocess_config_of(model: nn.Module) -> PreprocessConfig:
    import open_clip

    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    mode = "squash" if cfg.get("resize_mode") == "squash" else "shortest"
    default = PreprocessConfig()
    return PreprocessConfig(int(size), mode, str(cfg.get("interpolation") or "bicubic"),
                            tuple(cfg.get("mean") or default.mean), tuple(cfg.get("std") or default.std))


def write_tokenizer_files(model_name: str, model: nn.Module, out: Path) -> TokenizerConfig:
    """Copy or save what engine.tokenizer needs, so the runtime never touches open_clip."""
    import open_clip

    tok = open_clip.get_tokenizer(model_name) if model_name else open_clip.tokenizer.SimpleTokenizer()
    ctx = int(getattr(tok, "context_length", 77) or 77)
    if isinstance(tok, open_clip.tokenizer.SimpleTokenizer):
        src = Path(open_clip.tokenizer.default_bpe())
        shutil.copyfile(src, out / src.name)
        return TokenizerConfig("clip_bpe", src.name, ctx, 0)
    if isinstance(tok, open_clip.tokenizer.HFTokenizer):
        return save_hf_tokenizer(tok.tokenizer, out, ctx)
    raise ModelFolderError(f"tokenizer {type(tok).__name__} of {model_name} cannot be exported yet")


def save_hf_tokenizer(hf_tokenizer: Any, out: Path, context_length: int) -> TokenizerConfig:
    hf_tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    pad = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0
    return TokenizerConfig("hf", "tokenizer.json", context_length, int(pad))


def _export_tower(module: nn.Module, example: torch.Tensor, path: Path, input_name: str,
                  settings: ExportSettings) -> None:
    # The TorchScript exporter is deprecated but exports timm/HF towers that torch.export still trips on;
    # its deprecation and tracer warnings say nothing about our model, the parity check does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*advanced indexing.*")
        torch.onnx.export(
            module, (example,), str(path), input_names=[input_name], output_names=["embedding"],
            dynamic_axes={input_name: {0: "batch"}, "embedding": {0: "batch"}}, opset_version=settings.opset,
            dynamo=settings.dynamo)


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float32)


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Convolutions are left alone: quantising them made conv towers slower and less accurate.
    quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)


def convert_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(dst))


def export_model_folder(model: nn.Module, out_dir: Path, *, model_id: str, tokenizer: TokenizerConfig | None = None,
                        model_name: str = "", preprocess: PreprocessConfig | None = None,
                        settings: ExportSettings = ExportSettings(), source_sha256: str = "",
                        info: dict[str, Any] | None = None, tokenize: Any = None) -> ModelFolder:
    """Write a complete model folder atomically (built beside, renamed into place) and return it."""
    check_model_id(model_id)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.export-"))
    try:
        _export_into(model, work, model_id, tokenizer, model_name, preprocess, settings,
                              source_sha256, info or {}, tokenize)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{int(time.time())}")
            out_dir.rename(old)
            work.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ModelFolder.load(out_dir)


def _export_into(model: nn.Module, work: Path, model_id: str, tokenizer: TokenizerConfig | None, model_name: str,
                 preprocess: PreprocessConfig | None, settings: ExportSettings, source_sha256: str,
                 info: dict[str, Any], tokenize: Any) -> ModelFolder:
    from engine.tokenizer import load_tokenizer

    model = model.eval().float().cpu()
    preprocess = preprocess or preprocess_config_of(model)
    tokenizer = tokenizer or write_tokenizer_files(model_name, model, work)
    tok = tokenize or load_tokenizer(work, tokenizer)
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(settings.parity_batch, 3, preprocess.image_size, preprocess.image_size, generator=gen)
    ids = torch.from_numpy(tok(list(PARITY_TEXTS)))
    with torch.no_grad():
        ref_img = model.encode_image(pixels).numpy()
        ref_txt = model.encode_text(ids).numpy()
    embed_dim = int(ref_img.shape[1])
    # Wrappers in eval mode: the exporter leaves the whole module tree in the wrapper's mode afterwards.
    _export_tower(_ImageTower(model).eval(), pixels[:1], work / tower_file("visual", "fp32"), "pixels", settings)
    _export_tower(_TextTower(model).eval(), ids[:1], work / tower_file("textual", "fp32"), "input_ids", settings)
    parity: dict[str, float] = {}
    fp32_out = {}
    for tower, x, ref in (("visual", pixels.numpy(), ref_img), ("textual", ids.numpy(), ref_txt)):
        out = _run(work / tower_file(tower, "fp32"), x)
        parity[f"{tower}.fp32"] = cos = _min_cosine(out, ref)
        if cos < FP32_MIN_COSINE:
            raise ExportParityError(f"{tower} tower: ONNX vs torch cosine {cos:.5f} < {FP32_MIN_COSINE}")
        fp32_out[tower] = (x, out)
    variants = ["fp32"]
    for variant in settings.variants:
        if variant == "fp32":
            continue
        convert = {"int8": quantize_int8, "fp16": convert_fp16}[variant]
        for tower, (x, out) in fp32_out.items():
            dst = work / tower_file(tower, variant)
            convert(work / tower_file(tower, "fp32"), dst)
            parity[f"{tower}.{variant}"] = cos = _min_cosine(_run(dst, x), out)
            if cos < REDUCED_MIN_COSINE:
                raise ExportParityError(f"{tower} tower {variant}: cosine to fp32 {cos:.5f} < {REDUCED_MIN_COSINE}")
        variants.append(variant)
    logit_scale = float(getattr(model, "logit_scale", torch.tensor(np.log(100.0))).exp().item())
    manifest = Manifest(
        model_id=model_id, embed_dim=embed_dim, tokenizer=tokenizer, variants=tuple(variants), arch=model_name,
        source_sha256=source_sha256, logit_scale=logit_scale,
        export={"opset": settings.opset, "dynamo": settings.dynamo, "parity_min_cosine": parity,
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch": torch.__version__},
        info=info)
    write_json_atomic(work / PREPROCESS, _json(preprocess))
    write_json_atomic(work / MANIFEST, manifest.to_json())
    return ModelFolder.load(work)


def _json(cfg: PreprocessConfig) -> str:
    import json
    from dataclasses import asdict

    return json.dumps(asdict(cfg), indent=2)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
