"""The starter model installed from its prebuilt archive, without torch.

`scripts/build_starter.py` (needs `photosift[train]`) builds the starter once and packs it into
`photosift-starter-<version>.tar.gz` with a `.sha256` beside it (engine.model_archive). At run time the
starter is installed from the first of:
  1. an explicit archive: the environment variable PHOTOSIFT_STARTER_ARCHIVE (or the `archive` argument);
  2. the packaged app's own copy (`packaged_model_dirs`);
  3. the release URL of the registry entry (resources/models.json, `weights.archive.url`), downloaded with
     resume, progress and a sha256 check (training.download);
  4. only when none is available and torch is installed: the build on this computer, as before.
Nothing here imports torch: this module is on the runtime path of a runtime-only install.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.jobs import CancelToken, ProgressCallback, ignore_progress
from engine.model_archive import ModelArchiveError, archive_name, install_model_archive, parse_sidecar, read_sidecar
from engine.modelfolder import ModelFolder
from engine.paths import models_dir
from resources import RESOURCES
from training.download import DownloadError, OfflineError, clear_cached, download
from training.registry import RegistryEntry

log = logging.getLogger(__name__)

ENV_ARCHIVE = "PHOTOSIFT_STARTER_ARCHIVE"
PACKAGED_DIR = "models"
BUILD_MODULES = ("torch", "open_clip", "timm", "transformers")  # what building the starter imports


class StarterUnavailableError(DownloadError):
    """No starter archive could be found or fetched, and this install cannot build the starter (no torch)."""


@dataclass(frozen=True)
class StarterArchive:
    """The registry's facts about the starter archive: `weights.archive` of the starter entry."""

    version: str
    url: str | None = None
    sha256: str | None = None

    @property
    def file_name(self) -> str:
        return archive_name("starter", self.version)


def archive_spec(entry: RegistryEntry) -> StarterArchive | None:
    spec = entry.weights.get("archive")
    if not isinstance(spec, dict) or not spec.get("version"):
        return None
    return StarterArchive(str(spec["version"]), str(spec["url"]) if spec.get("url") else None,
                          str(spec["sha256"]).lower() if spec.get("sha256") else None)


def packaged_model_dirs() -> list[Path]:
    """The folders in which a packaged Photosift ships model archives, in the order they are searched.

    For whoever packages the app: put `photosift-starter-<version>.tar.gz` (the version is the starter
    entry's `weights.archive.version` in resources/models.json) and its `.sha256` in a `models/` folder that
    ends up at one of these places, and the first run installs the starter from it, offline and without torch:
      - a frozen app (PyInstaller and the like set `sys.frozen`): `models/` beside the executable
        (`dist/Photosift/models/` of a one-folder build), then `models/` in PyInstaller's data folder
        `sys._MEIPASS` (`_internal/models/` of a one-folder build, e.g. `--add-data "models:models"`, or the
        unpack folder of a one-file build), then `<App>.app/Contents/Resources/models/` of a macOS bundle;
      - any install: `resources/models/` inside the installed `resources` package (package data).
    Folders that do not exist are listed too (callers look for the file); duplicates are dropped.
    """
    dirs: list[Path] = []
    if getattr(sys, "frozen", False):
        exe_dir = Path(sys.executable).resolve().parent
        dirs.append(exe_dir / PACKAGED_DIR)
        meipass = getattr(sys, "_MEIPASS", None)
        if meipass:
            dirs.append(Path(meipass) / PACKAGED_DIR)
        if exe_dir.name == "MacOS" and exe_dir.parent.name == "Contents":
            dirs.append(exe_dir.parent / "Resources" / PACKAGED_DIR)
    dirs.append(RESOURCES / PACKAGED_DIR)
    return list(dict.fromkeys(dirs))


def archive_source(entry: RegistryEntry) -> str | None:
    """Where `install_starter` would take the starter's archive from (nothing is read or fetched): the
    env var's file, the packaged app's copy or the release URL; None when there is no archive to take."""
    if os.environ.get(ENV_ARCHIVE):
        return os.environ[ENV_ARCHIVE]
    spec = archive_spec(entry)
    if spec is None:
        return None
    for folder in packaged_model_dirs():
        if (folder / spec.file_name).is_file():
            return str(folder / spec.file_name)
    return spec.url


def can_build_starter() -> bool:
    """True when the modules the starter build needs are installed (looked up, never imported)."""
    return all(importlib.util.find_spec(name) is not None for name in BUILD_MODULES)


def install_starter(entry: RegistryEntry, build: Callable[[], ModelFolder], *,
                    progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                    archive: Path | None = None, dest: Path | None = None) -> ModelFolder:
    """Install the starter from an archive (explicit, packaged, release URL, in that order), else `build()` it.

    An explicit archive that is missing or refused is an error, never a silent fallback. A packaged copy or
    a downloaded one is checked the same way (sha256 first, then the members).
    """
    dest = Path(dest) if dest is not None else models_dir() / entry.id
    explicit = archive or (Path(os.environ[ENV_ARCHIVE]).expanduser() if os.environ.get(ENV_ARCHIVE) else None)
    if explicit is not None:
        if not explicit.is_file():
            raise ModelArchiveError(f"the starter archive {explicit} ({ENV_ARCHIVE}) is not a file")
        log.info("installing the starter model from %s", explicit)
        return install_model_archive(explicit, dest, sha256=read_sidecar(explicit), model_id=entry.id,
                                     progress=progress, cancel=cancel)
    spec = archive_spec(entry)
    if spec is not None:
        for folder in packaged_model_dirs():
            packaged = folder / spec.file_name
            if packaged.is_file():
                log.info("installing the starter model from the app's copy %s", packaged)
                sha = spec.sha256 or read_sidecar(packaged)
                return install_model_archive(packaged, dest, sha256=sha, model_id=entry.id, progress=progress,
                                             cancel=cancel)
        if spec.url:
            try:
                return _install_from_url(entry, spec, dest, progress, cancel)
            except OfflineError:
                if not can_build_starter():
                    raise
                log.warning("cannot download the starter archive; building the starter on this computer")
    if can_build_starter():
        return build()
    raise StarterUnavailableError(
        "the starter model is not installed and this Photosift cannot build it (that needs "
        "`pip install 'photosift[train]'`): no starter archive was found. Set "
        f"{ENV_ARCHIVE} to a {spec.file_name if spec else 'photosift-starter-<version>.tar.gz'} "
        "(with its .sha256 beside it), or choose a model to download with `photosift models use`")


def _install_from_url(entry: RegistryEntry, spec: StarterArchive, dest: Path, progress: ProgressCallback,
                      cancel: CancelToken | None) -> ModelFolder:
    assert spec.url is not None
    sha = spec.sha256 or _fetch_sidecar(spec.url, cancel)
    log.info("downloading the starter model from %s", spec.url)
    path = download(spec.url, sha256=sha, progress=progress, cancel=cancel)
    try:
        return install_model_archive(path, dest, sha256=sha, model_id=entry.id, progress=progress, cancel=cancel)
    finally:
        clear_cached(spec.url)  # installed or refused: the archive is not kept twice (or kept bad)


def _fetch_sidecar(url: str, cancel: CancelToken | None) -> str:
    """The sha256 published beside a release archive (`<url>.sha256`)."""
    with tempfile.TemporaryDirectory(prefix="photosift-sha-") as tmp:
        path = download(f"{url}.sha256", Path(tmp) / "archive.sha256", cancel=cancel)
        return parse_sidecar(path.read_text(encoding="ascii", errors="replace")[:4096], f"{url}.sha256")
