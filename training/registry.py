"""The model catalogue: which models Photosift knows and which are installed, for `models list` and the window.

Known models come from resources/models.json (the shipped registry) and from the user registry
`<models_dir>/registry.json` (checkpoints the user imported). Any other installed folder (a fine-tuned
result, say) is listed too, under its display name. Installing, importing and removing models is
training.install's job; this module only reads and records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import filelock

from engine.errors import PhotosiftError
from engine.modelfolder import MANIFEST, check_model_id, installed_model_ids, write_json_atomic
from engine.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, models_dir
from resources import RESOURCES
from training.download import folder_bytes

REGISTRY_FILE = RESOURCES / "models.json"
USER_REGISTRY = "registry.json"
KINDS = ("starter", "url", "hf-hub")
REQUIRED_FIELDS = ("id", "kind", "arch", "weights", "licence", "size_bytes", "sha256", "description")


class RegistryError(PhotosiftError):
    """The shipped or the user registry file is unreadable or malformed."""


class UnknownModelError(PhotosiftError):
    """A model id that neither registry knows and that is not installed."""


@dataclass(frozen=True)
class RegistryEntry:
    """One model of resources/models.json."""

    id: str
    kind: str  # starter | url | hf-hub
    arch: str
    weights: dict[str, Any]
    licence: str
    size_bytes: int | None
    sha256: str | None
    description: str
    photos_per_s: float | None = None  # the image tower's rate on the reference machine (see training.model_facts)
    quality: str = ""  # what to expect, for people choosing a model
    title: str = ""  # a name for people ("OpenCLIP ViT-B/32, LAION-2B"); the id stays what commands take
    onnx: dict[str, Any] = field(default_factory=dict)  # a published ONNX export, installed without torch (onnx_hub)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegistryEntry:
        missing = [k for k in REQUIRED_FIELDS if k not in d]
        if missing:
            raise RegistryError(f"model registry entry {d.get('id', '?')!r} lacks {', '.join(missing)}")
        if d["kind"] not in KINDS:
            raise RegistryError(f"model registry entry {d['id']!r} has unknown kind {d['kind']!r}")
        size = d["size_bytes"]
        return cls(check_model_id(str(d["id"])), str(d["kind"]), str(d["arch"]), dict(d["weights"]),
                   str(d["licence"]), int(size) if size is not None else None,
                   str(d["sha256"]).lower() if d["sha256"] else None, str(d["description"]),
                   float(d["photos_per_s"]) if d.get("photos_per_s") else None, str(d.get("quality", "")),
                   str(d.get("title", "")), dict(d.get("onnx") or {}))

    @property
    def source(self) -> str:
        """Where the weights come from, for people: a URL, a hub repository or 'built locally'."""
        if self.kind == "url":
            return str(self.weights["url"])
        if self.kind == "hf-hub":
            return f"hf-hub:{self.weights.get('hf_hub', '')}"
        return "built locally"


@dataclass(frozen=True)
class ModelInfo:
    """What `photosift models list` shows. `size` is bytes on disk when installed, else the download size."""

    id: str
    source: str  # starter | url | hf-hub | import | local
    installed: bool
    size: int | None
    licence: str
    description: str
    arch: str
    path: Path | None = None
    origin: str = ""  # URL, hub repository or checkpoint path
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # display name: the manifest's (a fine-tuned result's "Folders, MCIP, 29 Nov", or renamed)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path) if self.path else None
        return d


# -- registries -------------------------------------------------------------------------------
def builtin_entries(path: Path | None = None) -> dict[str, RegistryEntry]:
    """The shipped registry, in file order."""
    path = path or REGISTRY_FILE
    try:
        data = json.loads(Path(path).read_text())
        entries = [RegistryEntry.from_dict(d) for d in data["models"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"model registry {path} is unreadable: {e}") from e
    return {e.id: e for e in entries}


def user_registry_path() -> Path:
    return models_dir() / USER_REGISTRY


def user_entries() -> dict[str, dict[str, Any]]:
    """Imported checkpoints: id -> {arch, checkpoint, sha256, imported_at, ...}."""
    path = user_registry_path()
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()).get("models", {}))
    except (OSError, ValueError, AttributeError) as e:
        raise RegistryError(f"user model registry {path} is unreadable: {e}; fix or delete it") from e


@contextmanager
def editing_user_registry() -> Iterator[dict[str, dict[str, Any]]]:
    path = user_registry_path()
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    with filelock.FileLock(str(path) + ".lock", timeout=30, mode=PRIVATE_FILE_MODE):
        models = user_entries()
        yield models
        write_json_atomic(path, json.dumps({"format_version": 1, "models": models}, indent=2, sort_keys=True))


def _manifest_dict(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def _name_of(path: Path, model_id: str) -> str:
    return str(_manifest_dict(path).get("name") or model_id)


def list_models() -> list[ModelInfo]:
    """Shipped models first (in registry order), then imported ones, then any other installed folder."""
    root = models_dir()
    out: list[ModelInfo] = []
    for e in builtin_entries().values():
        path = root / e.id
        installed = (path / MANIFEST).is_file()
        out.append(ModelInfo(e.id, e.kind, installed, folder_bytes(path) if installed else e.size_bytes,
                             e.licence, e.description, e.arch, path if installed else None, e.source,
                             name=_name_of(path, e.id)))
    seen = {m.id for m in out}
    for model_id, rec in sorted(user_entries().items()):
        if model_id in seen:
            continue
        path = root / model_id
        installed = (path / MANIFEST).is_file()
        out.append(ModelInfo(model_id, "import", installed, folder_bytes(path) if installed else None,
                             str(rec.get("licence", "")), str(rec.get("description", "")), str(rec.get("arch", "")),
                             path if installed else None, str(rec.get("checkpoint", "")),
                             name=_name_of(path, model_id)))
        seen.add(model_id)
    for model_id in installed_model_ids(root):
        if model_id in seen:
            continue
        path = root / model_id
        manifest = _manifest_dict(path)
        info = manifest.get("info") or {}
        source = "fine-tuned" if info.get("kind") == "fine-tuned" else str(info.get("source", "local"))
        out.append(ModelInfo(model_id, source, True, folder_bytes(path),
                             str(info.get("licence", "")), str(info.get("description", "")),
                             str(manifest.get("arch", "")), path, str(info.get("origin", "")),
                             name=str(manifest.get("name") or model_id)))
    return out


