"""Export an open_clip model into a Photosift model folder, with a torch-vs-ONNX parity check.

The folder holds fp32 towers plus optional int8 (CPU: dynamic quantisation of MatMul/Gemm only) and
fp16 (CUDA) variants, the preprocessing config, the tokenizer files and the manifest. Any variant whose
outputs disagree with torch (fp32) or with fp32 (int8/fp16) below its cosine bar fails the export.

Text towers get a dynamic sequence axis where padding provably changes nothing (a causal CLIP text
transformer pooled at or before the end-of-text token, or a Hugging Face encoder that masks its padding),
so the engine runs a query's own length instead of the full context. The parity check then compares ONNX
on padded, trimmed and single short inputs with torch on padded inputs. Other text towers keep a fixed
context-length input.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.atomic import atomic_folder
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
from engine.onnx_runtime import disable_telemetry, ort

log = logging.getLogger(__name__)

FP32_MIN_COSINE = 0.999
REDUCED_MIN_COSINE = 0.995
PARITY_TEXTS = ("a photo of a dog", "kids on a beach at sunset", "a red car parked in the snow",
                "birthday cake with candles", "mountains", "an old black and white portrait",
                "a long exposure photograph of a busy city street at night, with red and white light trails "
                "from the cars, tall glass buildings and people waiting under umbrellas at the crossing")


class ExportParityError(ModelFolderError):
    """ONNX outputs disagree with the reference beyond the allowed tolerance."""


@dataclass(frozen=True)
class ExportSettings:
    variants: tuple[str, ...] = ("fp32", "int8")
    opset: int = 18
    dynamo: bool = False
    parity_batch: int = 4
    # fp16/int8 towers against the fp32 export; trained CLIPs reach >= 0.9998 (int8 ViT-B-32)
    reduced_min_cosine: float = REDUCED_MIN_COSINE


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


class _CausalTextTower(nn.Module):
    """open_clip's causal text transformer (CLIP.encode_text / TextTransformer.forward) for ids of any length.

    open_clip adds the whole positional embedding and the whole causal mask, so it only runs at the full
    context length; here both are sliced to the input's length. With a causal mask, a token never sees the
    ones after it, so the pooled token (the end-of-text one for "argmax"/"eos" pooling) is the same whether
    the padding behind it is there or not. nn.MultiheadAttention is written out (same weights, same maths):
    traced through torch's own attention, the sequence length ends up a constant in the ONNX graph.
    """

    def __init__(self, text: nn.Module, pool_type: str, eos_id: int | None) -> None:
        super().__init__()
        self.token_embedding = text.token_embedding
        self.positional_embedding = text.positional_embedding
        self.transformer = text.transformer
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.register_buffer("attn_mask", text.attn_mask, persistent=False)
        self.pool_type = pool_type
        self.eos_id = eos_id

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        n = input_ids.shape[1]
        cast_dtype = self.transformer.get_cast_dtype()
        x = self.token_embedding(input_ids).to(cast_dtype) + self.positional_embedding[:n].to(cast_dtype)
        mask = self.attn_mask[:n, :n].to(cast_dtype)
        for block in self.transformer.resblocks:
            x = _block_forward(block, x, mask)
        x = text_global_pool(self.ln_final(x), input_ids, self.pool_type, eos_token_id=self.eos_id)
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x if self.text_projection is None else x @ self.text_projection


def _plain_attention(block: nn.Module) -> bool:
    """An open_clip ResidualAttentionBlock doing plain batch-first self-attention with nn.MultiheadAttention."""
    attn = getattr(block, "attn", None)
    return (type(block).__name__ == "ResidualAttentionBlock" and isinstance(attn, nn.MultiheadAttention)
            and attn.batch_first and attn._qkv_same_embed_dim and attn.in_proj_weight is not None
            and attn.bias_k is None and not attn.add_zero_attn)


def _block_forward(block: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ResidualAttentionBlock.forward for self-attention, with the attention written out."""
    if not _plain_attention(block):
        return block(x, attn_mask=mask)
    x = x + block.ls_1(_self_attention(block.attn, block.ln_1(x), mask))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _self_attention(attn: nn.MultiheadAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """nn.MultiheadAttention(x, x, x, attn_mask=mask) in eval mode, (B, N, D) in and out."""
    heads, width = attn.num_heads, attn.embed_dim
    head_dim = width // heads
    qkv = nn.functional.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = (t.reshape(x.shape[0], -1, heads, head_dim).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
    weights = torch.softmax((q * head_dim ** -0.5) @ k.transpose(-1, -2) + mask, dim=-1)
    return attn.out_proj((weights @ v).transpose(1, 2).reshape(x.shape[0], -1, width))


# Pooling that reads only tokens at or before the end-of-text token (which a causal mask keeps from seeing
# the padding behind it), and Hugging Face poolers that ignore masked-out padding.
_CAUSAL_POOLS = ("argmax", "eos", "first")
_HF_POOLERS = ("MeanPooler", "ClsPooler", "ClsLastHiddenStatePooler")


def text_tower_for_export(model: nn.Module) -> tuple[nn.Module, bool]:
    """The text wrapper to export and whether its sequence axis can be dynamic (padding changes nothing)."""
    from open_clip.transformer import TextTransformer

    text = getattr(model, "text", None)
    if text is not None and type(text).__name__ == "HFTextEncoder":
        # HFTextEncoder builds its attention mask from the pad id inside the graph, so trailing padding is
        # masked out wherever it stops; the pooler must ignore masked tokens too.
        return _TextTower(model), type(getattr(text, "pooler", None)).__name__ in _HF_POOLERS
    if isinstance(text, TextTransformer):
        if text.cls_emb is None and not text.use_pad_mask and _causal(text, text.pool_type):
            return _CausalTextTower(text, text.pool_type, text.eos_id), True
        return _TextTower(model), False
    pool = getattr(model, "text_pool_type", "argmax")
    if text is None and _causal(model, pool):  # open_clip.CLIP keeps the text tower's modules on itself
        return _CausalTextTower(model, pool, getattr(model, "text_eos_id", None)), True
    return _TextTower(model), False


def _causal(text: nn.Module, pool: str) -> bool:
    parts = ("token_embedding", "positional_embedding", "attn_mask", "transformer", "ln_final", "text_projection")
    return (all(hasattr(text, a) for a in parts) and text.attn_mask is not None and pool in _CAUSAL_POOLS
            and getattr(text.transformer, "batch_first", False) and hasattr(text.transformer, "resblocks"))


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
                  settings: ExportSettings, dynamic_seq: bool = False) -> None:
    # The TorchScript exporter is deprecated but exports timm/HF towers that torch.export still trips on;
    # its deprecation and tracer warnings say nothing about our model, the parity check does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*advanced indexing.*")
        torch.onnx.export(
            module, (example,), str(path), input_names=[input_name], output_names=["embedding"],
            dynamic_axes={input_name: {0: "batch", 1: "seq"} if dynamic_seq else {0: "batch"},
                          "embedding": {0: "batch"}}, opset_version=settings.opset,
            dynamo=settings.dynamo)


def _run(path: Path, xs: list[np.ndarray]) -> list[np.ndarray]:
    disable_telemetry()  # the parity check's sessions too: nothing leaves the machine
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in sess.get_outputs()]
    if outputs != ["embedding"]:
        raise ModelFolderError(f"{path.name} has outputs {outputs}; the engine expects one named 'embedding'")
    name = sess.get_inputs()[0].name
    return [sess.run(outputs, {name: x})[0].astype(np.float32) for x in xs]


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Convolutions are left alone: quantising them made conv towers slower and less accurate.
    with _random_uuids_in_onnx():
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)


@contextmanager
def _random_uuids_in_onnx() -> Iterator[None]:
    """The quantizer saves a temp copy through onnx, which names its files with uuid.uuid1(): the network
    card's MAC address in a file name, read by libuuid through an AF_INET socket (scripts/no_network_check.py
    saw it). Random uuids name them as well."""
    import onnx.external_data_helper as helper

    real = helper.uuid
    helper.uuid = SimpleNamespace(uuid1=uuid.uuid4)
    try:
        yield
    finally:
        helper.uuid = real


def convert_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(dst))


def export_model_folder(model: nn.Module, out_dir: Path, *, model_id: str, tokenizer: TokenizerConfig | None = None,
                        model_name: str = "", preprocess: PreprocessConfig | None = None,
                        settings: ExportSettings = ExportSettings(), source_sha256: str = "",
                        info: dict[str, Any] | None = None, tokenize: Any = None,
                        tokenizer_arch: str = "") -> ModelFolder:
    """Write a complete model folder atomically (built beside, renamed into place) and return it.
    `tokenizer_arch`: the open_clip architecture whose tokenizer to save, when not `model_name`'s (a variant
    of it registered with a local Hugging Face text tower)."""
    check_model_id(model_id)
    out_dir = Path(out_dir)
    with atomic_folder(out_dir, "export") as work:
        if tokenizer is None and tokenizer_arch:
            tokenizer = write_tokenizer_files(tokenizer_arch, model, work)
        _export_into(model, work, model_id, tokenizer, model_name, preprocess, settings, source_sha256, info or {},
                     tokenize)
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
    texts = list(PARITY_TEXTS)
    ids = tok(texts)
    with torch.no_grad():
        ref_img = model.encode_image(pixels).numpy()
        ref_txt = model.encode_text(torch.from_numpy(ids)).numpy()
    embed_dim = int(ref_img.shape[1])
    text_tower, dynamic_seq = text_tower_for_export(model)
    # Padded to the context length always; with a dynamic axis also trimmed to the longest text and one
    # short text alone, each against torch on the padded ids: trimming must change nothing.
    text_inputs = [(ids, ref_txt)]
    example = ids[:1]
    if dynamic_seq:
        short = min(range(len(texts)), key=lambda i: len(texts[i]))
        trimmed = tok(texts, trim=True)
        text_inputs += [(trimmed, ref_txt), (tok(texts[short:short + 1], trim=True), ref_txt[short:short + 1])]
        example = trimmed[:1]
    # Wrappers in eval mode: the exporter leaves the whole module tree in the wrapper's mode afterwards.
    _export_tower(_ImageTower(model).eval(), pixels[:1], work / tower_file("visual", "fp32"), "pixels", settings)
    _export_tower(text_tower.eval(), torch.from_numpy(example), work / tower_file("textual", "fp32"), "input_ids",
                  settings, dynamic_seq=dynamic_seq)
    parity: dict[str, float] = {}
    fp32_out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for tower, xs, refs in (("visual", [pixels.numpy()], [ref_img]),
                            ("textual", [x for x, _ in text_inputs], [r for _, r in text_inputs])):
        outs = _run(work / tower_file(tower, "fp32"), xs)
        parity[f"{tower}.fp32"] = cos = min(_min_cosine(o, r) for o, r in zip(outs, refs, strict=True))
        if cos < FP32_MIN_COSINE:
            raise ExportParityError(f"{tower} tower: ONNX vs torch cosine {cos:.5f} < {FP32_MIN_COSINE}")
        fp32_out[tower] = (xs, outs)
    variants = ["fp32"]
    for variant in settings.variants:
        if variant == "fp32":
            continue
        convert = {"int8": quantize_int8, "fp16": convert_fp16}[variant]
        for tower, (xs, outs) in fp32_out.items():
            dst = work / tower_file(tower, variant)
            convert(work / tower_file(tower, "fp32"), dst)
            parity[f"{tower}.{variant}"] = cos = min(
                _min_cosine(o, r) for o, r in zip(_run(dst, xs), outs, strict=True))
            if cos < settings.reduced_min_cosine:
                raise ExportParityError(
                    f"{tower} tower {variant}: cosine to fp32 {cos:.5f} < {settings.reduced_min_cosine}")
        variants.append(variant)
    logit_scale = float(getattr(model, "logit_scale", torch.tensor(np.log(100.0))).exp().item())
    manifest = Manifest(
        model_id=model_id, embed_dim=embed_dim, tokenizer=tokenizer, variants=tuple(variants), arch=model_name,
        source_sha256=source_sha256, logit_scale=logit_scale,
        export={"opset": settings.opset, "dynamo": settings.dynamo, "parity_min_cosine": parity,
                "reduced_min_cosine": settings.reduced_min_cosine,
                "text_seq": "dynamic" if dynamic_seq else "fixed",
                "text_parity_lengths": [int(x.shape[1]) for x, _ in text_inputs],
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
