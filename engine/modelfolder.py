"""The exported-model folder: ONNX towers plus everything needed to run them without torch.

Layout of `<models_dir>/<model_id>/`:
    manifest.json     model id, embed dim, source checkpoint hash, export settings, variants, files
    preprocess.json   image size, resize mode, interpolation, mean, std
    tokenizer.json    Hugging Face tokenizer (kind "hf"), or
    bpe_simple_vocab_16e6.txt.gz  CLIP byte-pair vocabulary (kind "clip_bpe")
    visual.onnx, textual.onnx                (fp32, always present)
    visual.int8.onnx, textual.int8.onnx      (optional, CPU)
    visual.fp16.onnx, textual.fp16.onnx      (optional, CUDA)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import write_text_atomic
from engine.errors import DamagedModelError, ModelFolderError, ModelNotInstalledError
from engine.paths import models_dir

MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
FORMAT_VERSION = 1
VARIANTS = ("fp32", "int8", "fp16")
DEFAULT_MODEL_ID = "starter"  # the offline-built model a library uses until another is chosen
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")  # fullmatch: `$` would let a trailing newline in


def check_model_id(model_id: str) -> str:
    if not _ID_RE.fullmatch(model_id):
        raise ModelFolderError(f"invalid model id {model_id!r}: use letters, digits, '.', '_', '+', '-'")
    return model_id


@dataclass(frozen=True)
class PreprocessConfig:
    image_size: int = 224
    resize_mode: str = "shortest"  # "shortest" (resize + centre crop) or "squash"
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        return cls(int(d["image_size"]), str(d.get("resize_mode", "shortest")),
                   str(d.get("interpolation", "bicubic")), tuple(d["mean"]), tuple(d["std"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TokenizerConfig:
    kind: str  # "clip_bpe" or "hf"
    file: str
    context_length: int = 77
    pad_id: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenizerConfig:
        return cls(str(d["kind"]), str(d["file"]), int(d.get("context_length", 77)), int(d.get("pad_id", 0)))


@dataclass(frozen=True)
class Manifest:
    model_id: str
    embed_dim: int
    tokenizer: TokenizerConfig
    variants: tuple[str, ...] = ("fp32",)
    arch: str = ""
    source_sha256: str = ""
    logit_scale: float = 100.0
    export: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    name: str = ""  # a display name people chose or were given ("Albums, MCIP, 29 Nov"); the id when empty

    def to_json(self) -> str:
        d = asdict(self)
        d["variants"] = list(self.variants)
        return json.dumps(d, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        if int(d.get("format_version", 1)) > FORMAT_VERSION:
            raise ModelFolderError(f"model '{d.get('model_id')}' was exported by a newer Photosift")
        return cls(
            model_id=str(d["model_id"]), embed_dim=int(d["embed_dim"]),
            tokenizer=TokenizerConfig.from_dict(d["tokenizer"]), variants=tuple(d.get("variants", ["fp32"])),
            arch=str(d.get("arch", "")), source_sha256=str(d.get("source_sha256", "")),
            logit_scale=float(d.get("logit_scale", 100.0)), export=dict(d.get("export", {})),
            info=dict(d.get("info", {})), format_version=int(d.get("format_version", FORMAT_VERSION)),
            name=str(d.get("name", "")))


def tower_file(tower: str, variant: str) -> str:
    return f"{tower}.onnx" if variant == "fp32" else f"{tower}.{variant}.onnx"


@dataclass(frozen=True)
class ModelFolder:
    """A validated model folder on disk."""

    path: Path
    manifest: Manifest
    preprocess: PreprocessConfig

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @classmethod
    def load(cls, path: Path) -> ModelFolder:
        path = Path(path)
        try:
            file = path / MANIFEST
            manifest = Manifest.from_dict(json.loads(file.read_text()))
            file = path / PREPROCESS
            preprocess = PreprocessConfig.from_dict(json.loads(file.read_text()))
        except FileNotFoundError as e:
            raise ModelFolderError(f"model folder {path} is incomplete: {Path(e.filename).name} missing") from e
        except ModelFolderError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError) as e:  # AttributeError: JSON that is no object
            raise damaged(path.name, file, f"{type(e).__name__}: {e}") from e
        folder = cls(path, manifest, preprocess)
        for needed in (tower_file("visual", "fp32"), tower_file("textual", "fp32"), manifest.tokenizer.file):
            if not (path / needed).is_file():
                raise ModelFolderError(f"model folder {path} is incomplete: {needed} missing")
        return folder

    def tower_path(self, tower: str, variant: str) -> Path:
        return self.path / tower_file(tower, variant)

    def has_variant(self, variant: str) -> bool:
        return (self.tower_path("visual", variant).is_file()
                and self.tower_path("textual", variant).is_file())


def damaged(model_id: str, path: Path, reason: str) -> DamagedModelError:
    """The one-line refusal for a model file that does not load, with the way back to a working model."""

    if model_id == DEFAULT_MODEL_ID:  # built offline: removing it lets the next use build it again
        advice = (f"rebuild it with `photosift models remove {DEFAULT_MODEL_ID} --force`, then "
                  f"`photosift models use {DEFAULT_MODEL_ID}`")
    else:
        advice = (f"go back with `photosift models use {DEFAULT_MODEL_ID}` (or the model used before; "
                  "`photosift models list`)")
    return DamagedModelError(model_id, path, reason[:200], advice)


def installed_model_ids(root: Path | None = None) -> list[str]:
    root = root or models_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file() and not p.name.startswith("."))


def installed_names(root: Path | None = None) -> set[str]:
    """The display names of the installed models (a model without one goes by its id)."""
    root = root or models_dir()
    names = set()
    for model_id in installed_model_ids(root):
        try:
            names.add(ModelFolder.load(root / model_id).manifest.name or model_id)
        except (ModelFolderError, OSError, ValueError):  # a damaged folder has no name to collide with
            continue
    return names


def open_model(model_id: str, root: Path | None = None) -> ModelFolder:
    check_model_id(model_id)
    path = (root or models_dir()) / model_id
    if not (path / MANIFEST).is_file():
        raise ModelNotInstalledError(model_id)
    return ModelFolder.load(path)


def write_json_atomic(path: Path, text: str) -> None:
    """Write a JSON file through engine.atomic, the one atomic writer (kept here for its many callers)."""
    write_text_atomic(path, text)
