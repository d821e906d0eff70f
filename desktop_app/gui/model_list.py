"""The models to choose from, with the facts to choose by (size, speed on this computer, a quality note,
whether a download can work now), for Settings; and "Import a checkpoint..." that installs a local
open_clip checkpoint in a child process (the same import as `photosift models import`), with progress.

The facts are read off the GUI thread (a 0.2 s CPU timing, a folder walk, and for each download host a
connection attempt of at most 1.5 s): the list shows the models at once and fills in the facts after.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.worker import JobRunner

ModelIdRole = Qt.ItemDataRole.UserRole + 20
ARCH_CHOICES = ("ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336-quickgelu", "ViT-H-14", "MobileCLIP2-S0",
                "RN50")
CHECKPOINTS = "open_clip checkpoints (*.safetensors *.pt *.pth *.bin);;All files (*)"


def read_facts(_progress: Any = None, _token: Any = None) -> tuple[list[Any], dict[str, bool]]:
    """(model facts, download host -> reachable now); a job for JobRunner.start."""
    from training.model_facts import can_reach, model_facts

    facts = model_facts()
    online = {f.where: can_reach(f.where) for f in facts if f.downloads and f.where}
    return facts, online


def offline_text(facts: list[Any], online: dict[str, bool]) -> str:
    """One line saying that downloads cannot work now, or '' when they can (or there are none)."""
    hosts = {f.where for f in facts if f.downloads and f.where}
    if hosts and not any(online.get(h, True) for h in hosts):
        return ("This computer seems to be offline: downloading a model needs the internet, so the models "
                "to download cannot be chosen now. The built-in starter model works offline, and so does "
                "importing a checkpoint you already have.")
    return ""


def cannot_download_now(f: Any, online: dict[str, bool]) -> bool:
    """A model that needs a download from a host that cannot be reached now: choosing it could only fail."""
    return bool(f.downloads and not online.get(f.where, True))


def describe(f: Any, online: dict[str, bool], active: str = "") -> str:
    """Two lines for one model: name and facts, then the quality note."""
    head = f.name if f.name == f.id else f"{f.name} ({f.id})"
    if f.id == active:
        head += "  \u2014 in use"
    size = f.size_text()
    facts = [size[:1].upper() + size[1:], f.speed_text()]
    if cannot_download_now(f, online):
        facts.append("cannot download now: offline")
    return "\n".join((head, "  \u2022  ".join(facts), f.quality))


def _rich(text: str) -> str:
    """describe()'s three lines as rich text: the name bold, the quality note in italics."""
    head, facts, quality = (html.escape(line) for line in text.split("\n", 2))
    return f"<b>{head}</b><br>{facts}<br><i>{quality}</i>"  # no colour of its own: readable when selected


def import_checkpoint_job(path: str, arch: str, model_id: str | None, device: str, progress: Any,
                          token: Any) -> dict[str, str]:
    """`photosift models import`'s install, in a child process for the window; plain data back."""
    from training.install import import_checkpoint

    folder = import_checkpoint(path, arch, model_id, progress=progress, cancel=token, device=device)
    return {"model_id": folder.model_id, "arch": folder.manifest.arch, "path": str(folder.path)}


class ModelChooser(QWidget):
    """The model list with facts, an offline note, and Import a checkpoint..."""

    facts_shown = Signal()
    imported = Signal(str)  # model id
    import_failed = Signal(str)

    def __init__(self, runner: JobRunner | None, active: str, device: str = "auto",
                 parent: QWidget | None = None, read: Callable[..., Any] = read_facts) -> None:
        super().__init__(parent)
        self.runner, self.active, self.device, self._read = runner, active, device, read
        self.import_job: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.offline_note = QLabel()
        self.offline_note.setWordWrap(True)
        self.offline_note.setStyleSheet("background: #fff4ce; color: #5c4400; padding: 6px; border-radius: 4px;")
        self.offline_note.hide()
        layout.addWidget(self.offline_note)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setSpacing(2)
        self.list.setMinimumHeight(260)
        layout.addWidget(self.list, 1)
        self.note = QLabel("A model that is not installed is downloaded when you press OK (progress in the status "
                           "bar; Cancel stops it); the library switches once it is ready. Speeds are estimates for "
                           "this computer from the project's benchmarks and a quick timing of its CPU.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #666;")
        layout.addWidget(self.note)
        row = QHBoxLayout()
        self.import_button = QPushButton("Import a checkpoint\u2026")
        self.import_button.setToolTip("Install an open_clip checkpoint you already have (.safetensors, .pt, .pth)")
        self.import_button.clicked.connect(self.choose_checkpoint)
        self.import_button.setEnabled(runner is not None)
        row.addWidget(self.import_button)
        self.import_progress = QProgressBar()
        self.import_progress.hide()
        self.import_status = QLabel()
        self.import_status.setWordWrap(True)
        row.addWidget(self.import_progress, 1)
        layout.addLayout(row)
        layout.addWidget(self.import_status)
        self.facts: list[Any] = []
        self.online: dict[str, bool] = {}
        self.reload()

    # -- the list ------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        if self.runner is None:
            self.show_facts(self._read(), select)
            return
        self.runner.start(self._read, name="model facts", on_done=lambda r: self.show_facts(r, select),
                          on_error=lambda message: self.import_status.setText(f"Could not list the models: {message}"))

    def show_facts(self, result: tuple[list[Any], dict[str, bool]], select: str | None = None) -> None:
        keep = select or self.chosen_model() or self.active
        self.facts, self.online = result
        if any(f.id == keep and cannot_download_now(f, self.online) for f in self.facts):
            keep = self.active
        self.list.clear()
        width = max(self.list.viewport().width(), 560) - 12
        for f in self.facts:
            it = QListWidgetItem()
            it.setData(ModelIdRole, f.id)
            it.setData(Qt.ItemDataRole.AccessibleTextRole, describe(f, self.online, self.active))
            self.list.addItem(it)
            label = QLabel(_rich(describe(f, self.online, self.active)))
            label.setWordWrap(True)
            label.setContentsMargins(6, 4, 6, 4)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            it.setSizeHint(QSize(width, label.heightForWidth(width) + 4))
            self.list.setItemWidget(it, label)
            if cannot_download_now(f, self.online):
                # not choosable: OK would start a download that cannot work (the line above says why)
                it.setFlags(it.flags() & ~(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable))
                label.setEnabled(False)
            elif f.id == keep:
                self.list.setCurrentItem(it)
        note = offline_text(self.facts, self.online)
        self.offline_note.setText(note)
        self.offline_note.setVisible(bool(note))
        self.facts_shown.emit()

    def chosen_model(self) -> str | None:
        item = self.list.currentItem()
        return str(item.data(ModelIdRole)) if item is not None else None

    def labels(self) -> dict[str, str]:
        items = (self.list.item(i) for i in range(self.list.count()))
        return {str(it.data(ModelIdRole)): str(it.data(Qt.ItemDataRole.AccessibleTextRole)) for it in items}

    # -- import --------------------------------------------------------------------------
    def choose_checkpoint(self) -> None:
        from desktop_app.extras import training_ready

        if not training_ready(self, "Importing a checkpoint"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import an open_clip checkpoint", str(Path.home()), CHECKPOINTS)
        if not path:
            return
        arch, ok = QInputDialog.getItem(self, "Architecture", f"Which open_clip architecture is "
                                        f"{os.path.basename(path)}? (or type one, or a model config .json)",
                                        list(ARCH_CHOICES), 0, True)
        if ok and arch.strip():
            self.start_import(path, arch.strip())

    def start_import(self, path: str, arch: str, model_id: str | None = None) -> None:
        if self.runner is None or self.import_job is not None:
            return
        self.import_button.setEnabled(False)
        self.import_progress.setRange(0, 0)
        self.import_progress.show()
        self.import_status.setText(f"Importing {os.path.basename(path)} as {arch}\u2026")
        self.import_job = self.runner.start_process(
            import_checkpoint_job, (path, arch, model_id, self.device), name="import checkpoint",
            on_progress=self._import_progress, on_done=self._import_done, on_error=self._import_error,
            on_cancel=lambda: self._import_ended("Import cancelled; nothing was installed."))

    def _import_progress(self, p: Any) -> None:
        from engine.jobs import stage_label

        if p.total:
            self.import_progress.setRange(0, 1000)
            self.import_progress.setValue(int(1000 * p.done / p.total))
        self.import_status.setText(f"{stage_label(p.stage)}" + (f" ({p.message})" if p.message else ""))

    def _import_done(self, result: dict[str, str]) -> None:
        self._import_ended(f"Installed \u201c{result['model_id']}\u201d ({result['arch']}). Select it and press OK "
                           "to use it.")
        self.reload(select=result["model_id"])
        self.imported.emit(result["model_id"])

    def _import_error(self, message: str) -> None:
        self._import_ended(f"Could not import: {message}", error=True)
        self.import_failed.emit(message)

    def _import_ended(self, text: str, error: bool = False) -> None:
        self.import_job = None
        self.import_progress.hide()
        self.import_button.setEnabled(True)
        self.import_status.setText(text)
        self.import_status.setStyleSheet("color: #8c1d18;" if error else "")

    def cancel_import(self) -> None:
        if self.import_job is not None:
            self.import_job.token.cancel()
