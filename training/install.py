"""Installing models into the models folder: preparing a registry model (build the starter, download, load
strictly, export), importing a local checkpoint, installing a fine-tuned result, removing a model; model ids
for results and sweeping what a killed run left behind.

Every install is one step for a reader of the models folder: the ONNX export and the torch/ side
(training.torchfolder) are built beside the destination and moved into place together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from engine.errors import ModelFolderError, ModelNotInstalledError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import MANIFEST, ModelFolder, check_model_id, installed_model_ids, open_model, write_json_atomic
from engine.paths import models_dir
from engine.tokenizer import load_tokenizer
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
from training.registry import (
    RegistryEntry,
    RegistryError,
    UnknownModelError,
    builtin_entries,
    editing_user_registry,
    user_entries,
)

if TYPE_CHECKING:
    from torch import nn

    from training.session import TrainResult

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    if entry.kind == "starter":  # from its prebuilt archive when there is one (no torch), else built here
        from training.prebuilt import install_starter

        return install_starter(entry, lambda: _build_starter(entry, progress), progress=progress, cancel=cancel)
    if entry.onnx:  # a published ONNX export: downloaded as it is, no torch (its weights come with fine-tuning)
        from training.onnx_hub import OnnxExportUnavailable, install_onnx_export, torch_path_available

        try:
            return install_onnx_export(entry, progress=progress, cancel=cancel)
        except OnnxExportUnavailable as e:
            if not torch_path_available():
                raise
            log.warning("%s; exporting it from its torch weights instead", e)
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
    # Importing torch takes seconds to half a minute: the build says it has begun before, so that the last
    # stage's report (a scan's count) is not what the window shows meanwhile.
    ProgressClock("build", 0, progress).report(0, "loading torch")
    from training.starter import build_starter  # torch, timm and transformers: only when the starter is built

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

    arch, hf_text = entry.arch, None
    if entry.weights.get("text_tower"):  # a Hugging Face text tower: its config and tokenizer, then the CLIP
        hf_text = _text_tower_files(entry, progress, cancel)
        arch = _with_local_text_tower(entry.arch, hf_text)

    def load() -> nn.Module:
        model = create_open_clip(arch, preprocess, quick_gelu=bool(tag_cfg.get("quick_gelu")))
        refuse_torchscript(path)
        try:
            open_clip.load_checkpoint(model, str(path), strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"weights from {repo} do not fit {entry.arch}: {str(e).splitlines()[0]}") from None
        return model

    model = _timed("load", progress, cancel, f"loading {entry.arch}", load)
    return _install(model, entry.id, arch, source_sha, device, {**info, "pretrained": tag}, progress, cancel,
                    quick_gelu=bool(tag_cfg.get("quick_gelu")), hf_text=hf_text, arch_name=entry.arch)


def _text_tower_files(entry: RegistryEntry, progress: ProgressCallback, cancel: CancelToken | None) -> Path:
    """The folder holding the entry's Hugging Face text tower files (its config and tokenizer: the weights are
    in the CLIP checkpoint), fetched through the same hub download as the weights, into our cache."""
    tower = dict(entry.weights["text_tower"])
    repo, revision = str(tower["hf_hub"]), tower.get("revision")
    folder = None
    for name in tower.get("files") or ("config.json", "tokenizer.json", "tokenizer_config.json"):
        got = hub_download(repo, [name], progress=progress, cancel=cancel, revision=revision)
        if folder is not None and got.parent != folder:
            raise RegistryError(f"the text tower files of {repo} came from two revisions")
        folder = got.parent
    assert folder is not None
    for needed in ("config.json", "tokenizer.json"):
        if not (folder / needed).is_file():
            raise RegistryError(f"{repo} has no {needed}: the text tower of '{entry.id}' cannot be built")
    return folder


def _with_local_text_tower(arch: str, hf_text: Path) -> str:
    """An open_clip architecture like `arch` whose Hugging Face text tower is built from the files in `hf_text`
    (never fetched by transformers from the hub): registered under its own name, which is returned."""
    import tempfile

    import open_clip

    cfg = open_clip.get_model_config(arch)
    if not cfg or not cfg.get("text_cfg", {}).get("hf_model_name"):
        raise RegistryError(f"open_clip architecture '{arch}' has no Hugging Face text tower")
    cfg = json.loads(json.dumps(cfg))
    cfg["text_cfg"]["hf_model_name"] = cfg["text_cfg"]["hf_tokenizer_name"] = str(hf_text)
    name = f"{arch}-local-{hashlib.sha256(str(hf_text).encode()).hexdigest()[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        open_clip.add_model_config(path)
    return name


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
             variants: tuple[str, ...] | None = None, quick_gelu: bool = False,
             hf_text: Path | None = None, arch_name: str | None = None) -> ModelFolder:
    """Export the ONNX folder with the torch weights and their architecture in `torch/`, installed at once;
    `hf_text`: the Hugging Face text tower's files, copied into `torch/` so fine-tuning needs no hub;
    `arch_name`: the architecture's name when `arch` is a local variant of it (engine and manifest say it)."""
    from training.torchfolder import save_open_clip

    variants = variants or export_variants(device)

    def export() -> ModelFolder:
        with quiet_root_warnings():
            return export_installed(model, models_dir() / model_id, variants,
                                    lambda folder: save_open_clip(model, folder, arch, quick_gelu, hf_text, arch_name),
                                    model_id=model_id, model_name=arch_name or arch, tokenizer_arch=arch,
                                    source_sha256=source_sha, info=info)

    return _timed("export", progress, cancel, f"exporting {model_id} ({', '.join(variants)})", export)


def export_installed(model: nn.Module, dest: Path, variants: tuple[str, ...],
                     complete: Callable[[ModelFolder], object], *, info: dict[str, Any],
                     reduced_min_cosine: float | None = None, **export_kw: Any) -> ModelFolder:
    """Export `model` beside `dest`, add its torch/ side, then move the whole folder into place: a model is
    never installed without its torch weights. A reduced-precision variant that fails its parity check is
    dropped (fp32 always works) and the manifest says so. `complete` adds the torch/ side (and any other file)
    to the exported folder before it is moved into place."""
    import tempfile

    from engine.atomic import replace_folder
    from training.export import ExportParityError, ExportSettings, export_model_folder

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.export-"))
    try:
        def export(chosen: tuple[str, ...]) -> ModelFolder:
            bar = {} if reduced_min_cosine is None else {"reduced_min_cosine": reduced_min_cosine}
            return export_model_folder(model, staging / "model", settings=ExportSettings(variants=chosen, **bar),
                                       info={**info, "export_variants": list(chosen)}, **export_kw)

        try:
            folder = export(variants)
        except ExportParityError as e:
            if variants == ("fp32",):
                raise
            log.warning("%s; exporting fp32 only", e)
            info = {**info, "export_note": f"reduced-precision variants dropped: {e}"}
            folder = export(("fp32",))
        complete(folder)
        replace_folder(folder.path, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ModelFolder.load(dest)



def new_model_id(base_id: str, method: str, stamp: str | None = None, root: Path | None = None) -> str:
    """'<base>-ft-<method>-<time>'; with `root`, one that no model (or training in progress) there has yet."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    wanted = check_model_id(f"{base_id}-ft-{method}-{stamp}"[-96:].lstrip("-._+"))
    return wanted if root is None else free_model_id(root, wanted)


STALE_WORK_S = 24 * 3600


def sweep_stale_work(root: Path, older_than_s: float = STALE_WORK_S) -> list[Path]:
    """Remove what a training or export killed midway left in the models folder (`.training-*` checkpoints,
    `.<id>.export-*` half-written models), once it is old enough that no run can still be using it."""
    removed = []
    cutoff = time.time() - older_than_s
    for entry in Path(root).glob(".*"):
        if not entry.is_dir() or not (entry.name.startswith(".training-") or ".export-" in entry.name):
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed.append(entry)
        except OSError as e:  # in use, or already gone: leave it to the next sweep
            log.info("could not remove %s: %s", entry, e)
    if removed:
        log.info("removed %d unfinished training folder(s) from %s", len(removed), root)
    return removed


def free_model_id(root: Path, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ... : the first not taken in `root` (two runs in the same second)."""
    candidate, n = wanted, 1
    while (root / candidate).exists() or (root / f".training-{candidate}").exists():
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate


def install_finetuned(model: nn.Module, base: ModelFolder, result: TrainResult, root: Path,
                      progress: ProgressCallback = ignore_progress) -> ModelFolder:
    """Export the fine-tuned model as a new model folder with its torch weights and the training record."""
    from training.torchfolder import save_finetuned

    clock = ProgressClock("export", 1, progress)
    clock.report(0, f"exporting {result.model_id}")
    out = Path(root) / result.model_id
    if out.exists():  # taken while this one trained: a finished training is never thrown away
        result.model_id = free_model_id(Path(root), result.model_id)
        log.info("model id taken meanwhile; installing as %s", result.model_id)
        out = Path(root) / result.model_id
    info = {"kind": "fine-tuned", "base_model": base.model_id, "method": result.method,
            "data": result.data, "settings": result.settings, "pseudo_captions": result.pseudo,
            "before": _rounded(result.before), "after": _rounded(result.after),
            "stages": [asdict(r) for r in result.stages], "history": result.history[-200:],
            "cancelled": result.cancelled, "train_seconds": round(result.seconds, 1),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "description": result.description,
            "worse_than_base": result.worse, "report": _json_safe(result.report)}
    tok = base.manifest.tokenizer
    # The exporter reads the tokenizer from the base's copy (an absolute path resolves inside the export
    # folder too); the file is then copied in and recorded under its plain name.
    export_tok = replace(tok, file=str((base.path / tok.file).resolve()))

    def complete(folder: ModelFolder) -> None:
        shutil.copyfile(base.path / tok.file, folder.path / Path(tok.file).name)
        manifest = replace(folder.manifest, tokenizer=replace(tok, file=Path(tok.file).name), name=result.name)
        write_json_atomic(folder.path / MANIFEST, manifest.to_json())
        save_finetuned(model, base, folder.path)

    # held to the parity bar its base was exported at (a random test model's is lower than a real model's)
    bar = base.manifest.export.get("reduced_min_cosine")
    folder = export_installed(model, out, variants_like(base), complete,
                              info=json.loads(json.dumps(info, default=_jsonable)),
                              reduced_min_cosine=float(bar) if bar is not None else None,
                              model_id=result.model_id, model_name=base.manifest.arch, tokenizer=export_tok,
                              preprocess=base.preprocess, source_sha256=base.manifest.source_sha256,
                              tokenize=load_tokenizer(base.path, tok))
    clock.report(1, f"installed {result.model_id}")
    return folder


def variants_like(base: ModelFolder) -> tuple[str, ...]:
    """fp32, plus int8 when the base model has it (it passed its parity check), plus fp16 where CUDA runs."""
    from engine.encoder import cuda_usable

    variants = ["fp32"]
    if base.has_variant("int8"):
        variants.append("int8")
    if base.has_variant("fp16") and cuda_usable():
        variants.append("fp16")
    return tuple(variants)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (set, tuple)):
        return list(x)
    return str(x)


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: (round(float(v), 4) if isinstance(v, (int, float, np.floating)) else v) for k, v in d.items()}



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
    with editing_user_registry() as models:
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
        with editing_user_registry() as models:
            models.pop(model_id, None)
    return freed


def rename_model(model_id: str, name: str) -> ModelFolder:
    """Give an installed model a new display name (its id, folder and vectors stay as they are)."""
    from training.results import check_name

    folder = open_model(check_model_id(model_id))
    try:
        cleaned = check_name(name)
    except ValueError as e:
        raise ModelFolderError(str(e)) from None
    write_json_atomic(folder.path / MANIFEST, replace(folder.manifest, name=cleaned).to_json())
    return ModelFolder.load(folder.path)


def _json_safe(value: Any) -> Any:
    """NaN (nothing to measure) as null, numbers rounded; the manifest stays strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 5)
    return value
