"""Image and text encoders on ONNX Runtime: CUDA when present, CPU otherwise.

The variant is chosen per device (fp16 on CUDA, int8 on CPU, fp32 as the fallback) unless asked for.
Outputs are L2-normalised float32 rows. ONNX Runtime comes from engine.onnx_runtime, which turns its
telemetry off before the native module loads: nothing leaves the machine. A text tower whose input has a
dynamic sequence axis gets ids trimmed to the batch's longest text; one with a fixed length (folders
exported before) gets them padded.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.errors import DamagedModelError, PhotosiftError
from engine.modelfolder import ModelFolder, damaged
from engine.onnx_runtime import disable_telemetry, ort
from engine.tokenizer import Tokenizer, load_tokenizer

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


@dataclass(frozen=True)
class RuntimeConfig:
    device: str = "auto"  # auto | cpu | cuda
    variant: str = "auto"  # auto | fp32 | int8 | fp16
    threads: int = 0  # 0: one per physical core, as onnxruntime decides
    tensorrt: bool = False


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


def choose_providers(device: str, tensorrt: bool = False) -> list[str]:
    wanted = [p for p in PREFERRED_PROVIDERS if tensorrt or p != "TensorrtExecutionProvider"]
    if device == "cpu":
        wanted = ["CPUExecutionProvider"]
    have = set(available_providers())
    return [p for p in wanted if p in have] or ["CPUExecutionProvider"]


def cuda_usable() -> bool:
    """True only when CUDA is offered and an NVIDIA driver is present to run it."""
    if "CUDAExecutionProvider" not in available_providers():
        return False
    import ctypes

    try:
        ctypes.CDLL("nvcuda.dll" if os.name == "nt" else "libcuda.so.1")
        return True
    except OSError:
        return False


def choose_variant(folder: ModelFolder, on_cuda: bool, asked: str = "auto") -> str:
    if asked != "auto":
        return asked if folder.has_variant(asked) else "fp32"
    for v in (("fp16", "fp32") if on_cuda else ("int8", "fp32")):
        if folder.has_variant(v):
            return v
    return "fp32"


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class _Tower:
    def __init__(self, path: str, providers: list[str], threads: int) -> None:
        disable_telemetry()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Spinning threads steal the cores that decode workers need while indexing.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(path, sess_options=opts, providers=providers)
        self.input = self.session.get_inputs()[0]
        self.output = self.session.get_outputs()[0].name
        # onnxruntime gives a named (str) or unknown (None) dim for a dynamic axis, an int for a fixed one.
        self.dynamic_seq = len(self.input.shape) > 1 and not isinstance(self.input.shape[1], int)
        self.half = "float16" in self.input.type
        # Published exports (Immich's) take int32 token ids and a fixed batch of one: fed as they expect.
        self.int32 = "int32" in self.input.type
        self.one_row = len(self.input.shape) > 0 and self.input.shape[0] == 1
        self.on_cuda = self.session.get_providers()[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.one_row and len(x) > 1:
            return np.concatenate([self.run(x[i:i + 1]) for i in range(len(x))])
        if self.half and x.dtype == np.float32:
            x = x.astype(np.float16)
        if self.int32 and x.dtype == np.int64:
            x = x.astype(np.int32)
        if self.on_cuda:
            binding = self.session.io_binding()
            binding.bind_cpu_input(self.input.name, x)
            binding.bind_output(self.output)
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]
        return self.session.run([self.output], {self.input.name: x})[0]


class ClipEncoder:
    """Both towers of one model folder; sessions are created on first use."""

    def __init__(self, folder: ModelFolder, runtime: RuntimeConfig = RuntimeConfig()) -> None:
        self.folder = folder
        self.runtime = runtime
        on_cuda = runtime.device != "cpu" and cuda_usable()
        self.providers = choose_providers("cuda" if on_cuda else "cpu", runtime.tensorrt)
        self.variant = choose_variant(folder, on_cuda, runtime.variant)
        self.preprocess_config = folder.preprocess

    @property
    def model_id(self) -> str:
        return self.folder.model_id

    @property
    def embed_dim(self) -> int:
        return self.folder.manifest.embed_dim

    @cached_property
    def visual(self) -> _Tower:
        return self._open_tower("visual")

    @cached_property
    def textual(self) -> _Tower:
        return self._open_tower("textual")

    @cached_property
    def tokenizer(self) -> Tokenizer:
        try:
            return load_tokenizer(self.folder.path, self.folder.manifest.tokenizer)
        except PhotosiftError:
            raise
        except Exception as e:  # a damaged vocabulary fails in gzip, json or the tokenizers library alike
            raise damaged_model(self.folder, self.folder.path / self.folder.manifest.tokenizer.file, e) from e

    def _open_tower(self, tower: str) -> _Tower:
        path = self.folder.tower_path(tower, self.variant)
        try:
            return _Tower(str(path), self.providers, self.runtime.threads)
        except Exception as e:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only
            raise damaged_model(self.folder, path, e) from e

    def check(self) -> None:
        """Open both towers and the tokenizer and encode one blank image and one word, as search and
        indexing will: a damaged or inconsistent model folder raises ModelFolderError naming the file.
        Run before anything is switched to this model (engine.switching)."""
        size = self.preprocess_config.image_size
        for tower, encode in (("visual", lambda: self.encode_images(np.zeros((1, 3, size, size), np.float32))),
                              ("textual", lambda: self.encode_texts(["a photo"]))):
            path = self.folder.tower_path(tower, self.variant)
            try:
                out = encode()
            except PhotosiftError:
                raise
            except Exception as e:
                raise damaged_model(self.folder, path, e) from e
            if out.shape != (1, self.embed_dim):
                raise damaged_model(self.folder, path, ValueError(
                    f"it gives vectors of shape {out.shape}, the manifest says {self.embed_dim}-d"))
            if not np.isfinite(out).all():
                raise damaged_model(self.folder, path, ValueError("it gives vectors that are not finite numbers"))

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 model input to (N, D) normalised embeddings."""
        return _l2(self.visual.run(pixels))

    def encode_texts(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        trim = self.textual.dynamic_seq
        out = [self.textual.run(self.tokenizer(texts[i:i + batch_size], trim=trim))
               for i in range(0, len(texts), batch_size)]
        return _l2(np.concatenate(out)) if out else np.zeros((0, self.embed_dim), np.float32)


def damaged_model(folder: ModelFolder, path: Path, cause: BaseException) -> DamagedModelError:
    """The one-line refusal for a model file that does not load or run (onnxruntime's words, shortened)."""
    reason = " ".join(str(cause).replace(str(path), path.name).split())
    return damaged(folder.model_id, path, re.sub(r"^\[ONNXRuntimeError\] : \d+ : ", "", reason) or type(cause).__name__)
