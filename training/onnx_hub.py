"""Registry models installed from ONNX exports published on a Hugging Face hub: no torch, no export here.

A registry entry may carry an `onnx` source besides its torch weights:

    "onnx": {"hf_hub": "immich-app/ViT-B-32__laion2b-s34b-b79k", "revision": "main", "layout": "immich",
             "sha256": {"visual/model.onnx": "<hex>", ...}}        # sha256 optional, per file

Layout "immich" is how Immich publishes its CLIP models: `config.json` (the open_clip model config:
embed_dim, text_cfg.context_length), `visual/model.onnx` (input "image", N x 3 x H x W float32, output the
normalised embedding), `visual/preprocess_cfg.json` (open_clip's size, mean, std, interpolation,
resize_mode), `textual/model.onnx` (input "text", int32 token ids padded to the context length) and
`textual/tokenizer.json` with `textual/tokenizer_config.json` (its pad token). These are mapped onto
Photosift's model folder (engine.modelfolder): visual.onnx, textual.onnx, tokenizer.json (kind "hf"),
preprocess.json and a manifest whose `info.torch_weights` says where fine-tuning gets the torch weights
(the entry's own torch source: fetched only when the model is fine-tuned).

Each file is checked by sha256: the registry's where it pins one, else the sha256 the hub publishes for
LFS files (`/api/models/<repo>/revision/<rev>?blobs=true`); small non-LFS files (JSON) are checked against
the git blob id the same answer gives. The revision is resolved to a commit first, so all files come from
one version. Files are fetched with training.download.download (resume, progress, retries); the hub is
`HF_ENDPOINT` (default https://huggingface.co), or the source's own `endpoint`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from engine.atomic import atomic_folder, write_text_atomic
from engine.errors import ModelFolderError
from engine.jobs import CancelToken, ProgressCallback, ignore_progress
from engine.modelfolder import MANIFEST, PREPROCESS, Manifest, ModelFolder, TokenizerConfig
from engine.paths import download_cache_dir, models_dir
from training.download import ChecksumError, DownloadError, OfflineError, download
from training.registry import RegistryEntry, RegistryError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
LAYOUTS: dict[str, dict[str, str]] = {
    "immich": {
        "config": "config.json",
        "visual": "visual/model.onnx",
        "preprocess": "visual/preprocess_cfg.json",
        "textual": "textual/model.onnx",
        "tokenizer": "textual/tokenizer.json",
        "tokenizer_config": "textual/tokenizer_config.json",
    },
}
_INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "lanczos")


class OnnxExportUnavailable(DownloadError):
    """The hub answers, but has no such repository, revision or file: the torch path may still work."""


def torch_path_available() -> bool:
    """True when the torch way of installing a registry model (download the weights, export) can run here."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "open_clip"))


def hub_endpoint(source: dict[str, Any] | None = None) -> str:
    return str((source or {}).get("endpoint") or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def install_onnx_export(entry: RegistryEntry, *, progress: ProgressCallback = ignore_progress,
                        cancel: CancelToken | None = None, dest: Path | None = None) -> ModelFolder:
    """Download `entry`'s ONNX export (each file checked) and install it as a model folder at `dest`."""
    src = entry.onnx
    repo = str(src.get("hf_hub", "")).strip("/")
    layout = LAYOUTS.get(str(src.get("layout", "immich")))
    if not repo or layout is None:
        raise RegistryError(f"model '{entry.id}' has an onnx source without a hub repository or a known layout")
    dest = Path(dest) if dest is not None else models_dir() / entry.id
    endpoint = hub_endpoint(src)
    pinned = {str(k): str(v).lower() for k, v in dict(src.get("sha256") or {}).items()}
    commit, published = _repo_files(endpoint, repo, str(src.get("revision") or "main"), cancel)
    staging = download_cache_dir() / "onnx" / f"{repo.replace('/', '--')}--{commit[:40]}"
    got: dict[str, Path] = {}
    try:
        for role, name in layout.items():
            if name not in published:
                raise OnnxExportUnavailable(f"the hub repository {repo} has no {name} (an ONNX export in the "
                                    f"'{src.get('layout', 'immich')}' layout was expected)")
            got[role] = _fetch(endpoint, repo, commit, name, pinned.get(name), published[name], staging,
                               progress, cancel)
        with atomic_folder(dest, "onnx") as work:
            _assemble(work, entry, got, origin=f"{endpoint}/{repo}@{commit}")
    except (ChecksumError, ModelFolderError):
        shutil.rmtree(staging, ignore_errors=True)  # refused: nothing of it is kept
        raise
    # Installed: the copies in the cache are not needed. A download that failed otherwise (offline, cut off,
    # cancelled) keeps its files and parts, and the next try resumes it.
    shutil.rmtree(staging, ignore_errors=True)
    return ModelFolder.load(dest)


def _repo_files(endpoint: str, repo: str, revision: str,
                cancel: CancelToken | None) -> tuple[str, dict[str, dict[str, Any]]]:
    """(commit, {file name: {"size", "sha256" (LFS files), "blob" (git blob id)}}) from the hub's API."""
    url = f"{endpoint}/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true"
    with tempfile.TemporaryDirectory(prefix="photosift-hub-") as tmp:
        try:
            path = download(url, Path(tmp) / "info.json", cancel=cancel)
        except (OfflineError, ChecksumError):
            raise
        except DownloadError as e:  # HTTP 404 and the like: no such repository or revision
            raise OnnxExportUnavailable(f"the ONNX export {repo}@{revision} is not available: {e}") from None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            commit = str(doc["sha"])
            files = {}
            for s in doc["siblings"]:
                lfs = s.get("lfs") or {}
                files[str(s["rfilename"])] = {"size": s.get("size", lfs.get("size")), "sha256": lfs.get("sha256"),
                                              "blob": s.get("blobId")}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise DownloadError(f"the hub's description of {repo} is unreadable ({type(e).__name__}: {e})") from None
    if not commit.isalnum():
        raise DownloadError(f"the hub gave {repo} an odd commit id {commit!r}")
    return commit, files


def _fetch(endpoint: str, repo: str, commit: str, name: str, pinned: str | None, published: dict[str, Any],
           staging: Path, progress: ProgressCallback, cancel: CancelToken | None) -> Path:
    url = f"{endpoint}/{repo}/resolve/{commit}/{urllib.parse.quote(name)}"
    sha = pinned or published.get("sha256")
    if sha and pinned and published.get("sha256") and pinned != str(published["sha256"]).lower():
        raise ChecksumError(f"{repo}/{name}: the hub publishes sha256 {published['sha256']}, "
                            f"the registry pins {pinned}")
    if not sha and not published.get("blob"):
        raise DownloadError(f"{repo}/{name} has no published checksum; refusing to install it unchecked")
    path = download(url, staging / name, sha256=sha, progress=progress, cancel=cancel)
    if not sha:  # a small file kept in git, not LFS: its git blob id is the checksum
        data = path.read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
        if blob != str(published["blob"]).lower():
            path.unlink(missing_ok=True)
            raise ChecksumError(f"{repo}/{name} has git blob id {blob}, the hub publishes {published['blob']}")
    return path


def _assemble(work: Path, entry: RegistryEntry, got: dict[str, Path], origin: str) -> None:
    """Photosift's model folder from the downloaded files (moved, not copied, where one file system allows)."""
    try:
        config = json.loads(got["config"].read_text(encoding="utf-8"))
        pre = json.loads(got["preprocess"].read_text(encoding="utf-8"))
        tok_cfg = json.loads(got["tokenizer_config"].read_text(encoding="utf-8"))
        embed_dim = int(config["embed_dim"])
        context_length = int((config.get("text_cfg") or {}).get("context_length", 77))
        size = pre["size"]
        image_size = int(size[0] if isinstance(size, list) else size)
        interpolation = str(pre.get("interpolation", "bicubic"))
        resize_mode = str(pre.get("resize_mode", "shortest"))
        preprocess = {"image_size": image_size, "resize_mode": resize_mode, "interpolation": interpolation,
                      "mean": [float(x) for x in pre["mean"]], "std": [float(x) for x in pre["std"]]}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise ModelFolderError(f"the ONNX export of '{entry.id}' has an unreadable config ({e})") from None
    if interpolation not in _INTERPOLATIONS or resize_mode not in ("shortest", "squash"):
        raise ModelFolderError(f"the ONNX export of '{entry.id}' asks for {interpolation} / {resize_mode} "
                               "preprocessing, which Photosift does not do")
    shutil.move(got["visual"], work / "visual.onnx")
    shutil.move(got["textual"], work / "textual.onnx")
    shutil.copyfile(got["tokenizer"], work / "tokenizer.json")
    tokenizer = TokenizerConfig("hf", "tokenizer.json", context_length, _pad_id(work / "tokenizer.json", tok_cfg))
    info = {"source": "onnx", "origin": origin, "licence": entry.licence, "description": entry.description,
            "onnx_layout": "immich",
            # fine-tuning needs the torch weights: they come from the entry's own source, fetched only then
            "torch_weights": {"kind": entry.kind, "origin": entry.source, "arch": entry.arch,
                              "pretrained": entry.weights.get("pretrained", ""),
                              "note": "not downloaded: fetched when this model is fine-tuned"}}
    manifest = Manifest(model_id=entry.id, embed_dim=embed_dim, tokenizer=tokenizer, variants=("fp32",),
                        arch=entry.arch, source_sha256=entry.sha256 or "",
                        export={"by": "published ONNX export", "text_seq": "fixed"}, info=info)
    write_text_atomic(work / PREPROCESS, json.dumps(preprocess, indent=2))
    write_text_atomic(work / MANIFEST, manifest.to_json())
    ModelFolder.load(work)


def _pad_id(tokenizer_json: Path, tok_cfg: dict[str, Any]) -> int:
    """The id of the tokenizer config's pad token (as Immich pads), 0 when it names none."""
    pad = tok_cfg.get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    if not pad:
        return 0
    from tokenizers import Tokenizer

    pad_id = Tokenizer.from_file(str(tokenizer_json)).token_to_id(str(pad))
    return int(pad_id) if pad_id is not None else 0
