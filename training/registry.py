"""The model registry: which models Photosift knows, which are installed, and preparing one on demand.

Known models come from resources/models.json (the shipped registry) and from the user registry
`<models_dir>/registry.json` (checkpoints the user imported). Any other installed folder (a fine-tuned
model, say) is listed too. Preparing a model means building the offline starter, or fetching weights,
loading them into their open_clip architecture with strict=True, exporting the ONNX model folder and
keeping the torch weights beside it in `torch/` (training.torchfolder) so fine-tuning can reload them.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import filelock

from engine.errors import ModelFolderError, ModelNotInstalledError, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import MANIFEST, ModelFolder, check_model_id, installed_model_ids, open_model, write_json_atomic
from engine.paths import models_dir
from resources import RESOURCES
from training.checkpoint_files import (
    CheckpointError,
    create_open_clip,
    load_checkpoint_state,
    load_open_clip,
    quiet_root_warnings,
    refuse_torchscript,
    resolve_arch,
)
from training.download import (
    ChecksumError,
    clear_cached,
    download,
    exclusive_lock,
    folder_bytes,
    hub_download,
    sha256_of,
)

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)
T = TypeVar("T")

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
                   str(d["sha256"]).lower() if d["sha256"] else None, str(d["description"]))

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
def _editing_user_registry() -> Iterator[dict[str, dict[str, Any]]]:
    path = user_registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path) + ".lock", timeout=30):
        models = user_entries()
        yield models
        write_json_atomic(path, json.dumps({"format_version": 1, "models": models}, indent=2, sort_keys=True))


def _manifest_dict(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def list_models() -> list[ModelInfo]:
    """Shipped models first (in registry order), then imported ones, then any other installed folder."""
    root = models_dir()
    out: list[ModelInfo] = []
    for e in builtin_entries().values():
        path = root / e.id
        installed = (path / MANIFEST).is_file()
        out.append(ModelInfo(e.id, e.kind, installed, folder_bytes(path) if installed else e.size_bytes,
                             e.licence, e.description, e.arch, path if installed else None, e.source))
    seen = {m.id for m in out}
    for model_id, rec in sorted(user_entries().items()):
        if model_id in seen:
            continue
        path = root / model_id
        installed = (path / MANIFEST).is_file()
        out.append(ModelInfo(model_id, "import", installed, folder_bytes(path) if installed else None,
                             str(rec.get("licence", "")), str(rec.get("description", "")), str(rec.get("arch", "")),
                             path if installed else None, str(rec.get("checkpoint", ""))))
        seen.add(model_id)
    for model_id in installed_model_ids(root):
        if model_id in seen:
            continue
        path = root / model_id
        manifest = _manifest_dict(path)
        info = manifest.get("info") or {}
        out.append(ModelInfo(model_id, str(info.get("source", "local")), True, folder_bytes(path),
                             str(info.get("licence", "")), str(info.get("description", "")),
                             str(manifest.get("arch", "")), path, str(info.get("origin", ""))))
    return out


# -- preparing models ------------------------------------------------------------------------
def export_variants(device: str = "auto") -> tuple[str, ...]:
    """fp32 and int8 always; fp16 as well where CUDA will run it."""
    if device == "cuda":
        cuda = True
    elif device == "cpu":
        cuda = False
    else:
        from engine.encoder import cuda_usable

        cuda = cuda_usable()
    return ("fp32", "int8", "fp16") if cuda else ("fp32", "int8")


def ensure_model(model_id: str, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                 device: str = "auto") -> ModelFolder:
    """The installed folder of `model_id`, building or downloading and exporting it first if needed."""
    check_model_id(model_id)
    entries = builtin_entries()
    try:
        return open_model(model_id)
    except ModelNotInstalledError:
        pass
    except ModelFolderError as e:
        if model_id not in entries:
            raise
        log.warning("%s; preparing it again", e)
    if model_id in entries:
        with exclusive_lock(models_dir() / f".{model_id}.prepare.lock", cancel):
            try:  # another process may have prepared it while this one waited
                return open_model(model_id)
            except (ModelNotInstalledError, ModelFolderError):
                return _prepare(entries[model_id], progress, cancel, device)
    imported = user_entries().get(model_id)
    if imported is not None:
        raise ModelNotInstalledError(model_id, (
            f"imported model '{model_id}' is missing from {models_dir()}; import it again with "
            f"`photosift models import {imported.get('checkpoint', 'PATH')} --arch {imported.get('arch', 'ARCH')} "
            f"--id {model_id}`"))
    known = ", ".join(dict.fromkeys([*entries, *sorted(user_entries()), *installed_model_ids()]))
    raise UnknownModelError(f"unknown model '{model_id}' (known: {known}); `photosift models list` shows them all")


def _prepare(entry: RegistryEntry, progress: ProgressCallback, cancel: CancelToken | None,
             device: str) -> ModelFolder:
    if entry.kind == "starter":
        return _build_starter(entry, progress)
    info = {"source": entry.kind, "origin": entry.source, "licence": entry.licence, "description": entry.description}
    if entry.kind == "url":
        url = str(entry.weights["url"])
        path = download(url, sha256=entry.sha256, progress=progress, cancel=cancel)
        source_sha = entry.sha256 or sha256_of(path, progress, cancel)
        model = _timed("load", progress, cancel, f"loading {entry.arch}",
                       lambda: load_open_clip(entry.arch, load_checkpoint_state(path)))
        folder = _install(model, entry.id, entry.arch, source_sha, device, info, progress, cancel)
        clear_cached(url)  # the weights now live in the model folder's torch/ copy
        return folder
    return _prepare_hub(entry, info, progress, cancel, device)


def _build_starter(entry: RegistryEntry, progress: ProgressCallback) -> ModelFolder:
    try:
        from training.starter import build_starter
    except ModuleNotFoundError as e:
        if e.name != "training.starter":
            raise
        raise ModelNotInstalledError(entry.id, "the starter model cannot be built: training.starter is missing "
                                     "from this installation") from None
    return build_starter(models_dir() / entry.id, progress)


def _prepare_hub(entry: RegistryEntry, info: dict[str, Any], progress: ProgressCallback,
                 cancel: CancelToken | None, device: str) -> ModelFolder:
    import open_clip
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    tag = str(entry.weights.get("pretrained", ""))
    tag_cfg = (open_clip.get_pretrained_cfg(entry.arch, tag) if tag else {}) or {}
    repo = str(entry.weights.get("hf_hub") or tag_cfg.get("hf_hub", "")).strip("/")
    if not repo:
        raise RegistryError(f"model '{entry.id}' names no Hugging Face repository")
    files = list(entry.weights.get("files") or [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME])
    path = hub_download(repo, files, progress=progress, cancel=cancel, revision=entry.weights.get("revision"))
    source_sha = sha256_of(path, progress, cancel)
    if entry.sha256 and source_sha != entry.sha256:
        raise ChecksumError(f"{path} from {repo} has sha256 {source_sha}, expected {entry.sha256}")
    preprocess = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if tag_cfg.get(k)}

    def load() -> nn.Module:
        model = create_open_clip(entry.arch, preprocess, quick_gelu=bool(tag_cfg.get("quick_gelu")))
        refuse_torchscript(path)
        try:
            open_clip.load_checkpoint(model, str(path), strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"weights from {repo} do not fit {entry.arch}: {str(e).splitlines()[0]}") from None
        return model

    model = _timed("load", progress, cancel, f"loading {entry.arch}", load)
    return _install(model, entry.id, entry.arch, source_sha, device, {**info, "pretrained": tag}, progress, cancel,
                    quick_gelu=bool(tag_cfg.get("quick_gelu")))


def _timed(stage: str, progress: ProgressCallback, cancel: CancelToken | None, message: str,
           work: Callable[[], T]) -> T:
    if cancel is not None:
        cancel.check()
    clock = ProgressClock(stage, 1, progress)
    clock.report(0, message)
    result = work()
    clock.report(1, message)
    return result


def _install(model: nn.Module, model_id: str, arch: str, source_sha: str, device: str, info: dict[str, Any],
             progress: ProgressCallback, cancel: CancelToken | None,
             variants: tuple[str, ...] | None = None, quick_gelu: bool = False) -> ModelFolder:
    """Export the ONNX folder with the torch weights and their architecture in `torch/`, installed at once."""
    from training.torchfolder import save_open_clip

    variants = variants or export_variants(device)

    def export() -> ModelFolder:
        with quiet_root_warnings():
            return export_installed(model, models_dir() / model_id, variants,
                                    lambda folder: save_open_clip(model, folder, arch, quick_gelu),
                                    model_id=model_id, model_name=arch, source_sha256=source_sha, info=info)

    return _timed("export", progress, cancel, f"exporting {model_id} ({', '.join(variants)})", export)


def export_installed(model: nn.Module, dest: Path, variants: tuple[str, ...],
                     write_torch: Callable[[ModelFolder], object], *, info: dict[str, Any],
                     **export_kw: Any) -> ModelFolder:
    """Export `model` beside `dest`, add its torch/ side, then move the whole folder into place: a model is
    never installed without its torch weights. A reduced-precision variant that fails its parity check is
    dropped (fp32 always works) and the manifest says so."""
    import tempfile

    from engine.atomic import replace_folder
    from training.export import ExportParityError, ExportSettings, export_model_folder

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.export-"))
    try:
        def export(chosen: tuple[str, ...]) -> ModelFolder:
            return export_model_folder(model, staging / "model", settings=ExportSettings(variants=chosen),
                                       info={**info, "export_variants": list(chosen)}, **export_kw)

        try:
            folder = export(variants)
        except ExportParityError as e:
            if variants == ("fp32",):
                raise
            log.warning("%s; exporting fp32 only", e)
            info = {**info, "export_note": f"reduced-precision variants dropped: {e}"}
            folder = export(("fp32",))
        write_torch(folder)
        replace_folder(folder.path, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ModelFolder.load(dest)


# -- import and removal ------------------------------------------------------------------------
def _id_from(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", path.stem).strip("-._+").lower()[:100]
    return slug or "imported"


def import_checkpoint(path: Path | str, arch: str, model_id: str | None = None, *,
                      progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                      device: str = "auto", variants: tuple[str, ...] | None = None) -> ModelFolder:
    """Install a local checkpoint of an open_clip architecture as model `model_id` and record it."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    arch = resolve_arch(arch)
    model_id = check_model_id(model_id or _id_from(path))
    if model_id in builtin_entries():
        raise CheckpointError(f"'{model_id}' is a built-in model's id; choose another with --id")
    imported = user_entries()
    if (models_dir() / model_id / MANIFEST).is_file() and model_id not in imported:
        raise CheckpointError(f"a model '{model_id}' is already installed; choose another id with --id "
                              f"or remove it first with `photosift models remove {model_id}`")
    source_sha = sha256_of(path, progress, cancel)
    model = _timed("load", progress, cancel, f"loading {path.name} as {arch}",
                   lambda: load_open_clip(arch, load_checkpoint_state(path)))
    description = f"imported from {path.name}"
    info = {"source": "import", "origin": str(path), "licence": "", "description": description}
    folder = _install(model, model_id, arch, source_sha, device, info, progress, cancel, variants)
    with _editing_user_registry() as models:
        models[model_id] = {"arch": arch, "checkpoint": str(path), "sha256": source_sha, "licence": "",
                            "description": description, "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return folder


def remove_model(model_id: str) -> int:
    """Delete an installed model folder (never a library's vectors); returns the bytes freed."""
    check_model_id(model_id)
    path = models_dir() / model_id
    imported = model_id in user_entries()
    if not path.exists() and not imported:
        raise ModelNotInstalledError(model_id)
    freed = 0
    if path.exists():
        freed = folder_bytes(path)
        doomed = path.with_name(f".{model_id}.removing-{int(time.time() * 1000)}")
        path.rename(doomed)  # never leave a half-deleted folder that looks installed
        shutil.rmtree(doomed, ignore_errors=True)
    if imported:
        with _editing_user_registry() as models:
            models.pop(model_id, None)
    return freed
