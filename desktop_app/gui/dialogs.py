"""Dialogs: the photo viewer, the list of unreadable files, and the settings."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.model_list import ModelChooser
from desktop_app.gui.thumbs import pil_to_qimage
from desktop_app.gui.worker import JobRunner
from engine.catalog import PhotoCatalog
from engine.errors import ImageReadError
from engine.imageio import open_photo


class PhotoViewer(QDialog):
    """The photo large, EXIF-rotated, never above 100% (a small photo is not blown up into a blur);
    Left/Right for previous/next, F or F11 for full screen, Esc leaves full screen or closes, Space closes."""

    def __init__(self, catalog: PhotoCatalog, ids: list[int], row: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog, self.ids, self.row = catalog, ids, row
        self.setWindowTitle("Photosift viewer")
        self.resize(1100, 760)
        self.setStyleSheet("background: #111; color: #ddd;")
        layout = QVBoxLayout(self)
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(1, 1)  # the label follows the window; the pixmap never dictates its size
        self.caption = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)
        self._pixmap = QPixmap()
        self.show_row(row)

    def show_row(self, row: int) -> None:
        self.row = max(0, min(row, len(self.ids) - 1))
        photo = self.catalog.photo(self.ids[self.row])
        if photo is None:
            return
        try:
            screen = self.screen().size() if self.screen() else self.size()
            decoded = open_photo(photo.fs_path, min_side=max(screen.width(), screen.height(), 1200))
            self._pixmap = QPixmap.fromImage(pil_to_qimage(decoded.image))
            text = os.path.basename(photo.path)
        except ImageReadError as e:
            self._pixmap = QPixmap()
            text = f"{os.path.basename(photo.path)}: {e}"
        self.caption.setText(f"{text}   ({self.row + 1} of {len(self.ids)})   \u2022   F: full screen")
        self._fit()

    def shown_size(self) -> tuple[int, int]:
        """The photo's size on screen in device pixels (0, 0 when none)."""
        pm = self.image.pixmap()
        return (0, 0) if pm is None or pm.isNull() else (pm.width(), pm.height())

    def _fit(self) -> None:
        if self._pixmap.isNull():
            self.image.setPixmap(QPixmap())
            return
        ratio = self.devicePixelRatioF()
        room = self.image.size() * ratio
        if self._pixmap.width() <= room.width() and self._pixmap.height() <= room.height():
            shown = QPixmap(self._pixmap)  # fits: at 100%, one photo pixel per screen pixel
        else:
            shown = self._pixmap.scaled(room, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation)
        shown.setDevicePixelRatio(ratio)
        self.image.setPixmap(shown)

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._fit()

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.show_row(self.row + 1)
        elif e.key() in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.show_row(self.row - 1)
        elif e.key() in (Qt.Key.Key_F, Qt.Key.Key_F11):
            self.toggle_full_screen()
        elif e.key() == Qt.Key.Key_Escape and self.isFullScreen():
            self.showNormal()
        elif e.key() in (Qt.Key.Key_Space, Qt.Key.Key_Escape):
            self.accept()
        else:
            super().keyPressEvent(e)


class FailedFilesDialog(QDialog):
    def __init__(self, catalog: PhotoCatalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files that could not be read")
        self.resize(760, 380)
        failed = catalog.failed()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{len(failed)} file(s) were skipped. They stay in your folders untouched; "
                                "fix or replace them and index again."))
        self.table = QTableWidget(len(failed), 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        for r, p in enumerate(failed):
            self.table.setItem(r, 0, QTableWidgetItem(p.path))
            self.table.setItem(r, 1, QTableWidgetItem(p.error or ""))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 420)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def setting_on(settings: QSettings, key: str, default: bool = True) -> bool:
    """A yes/no setting (QSettings keeps them as "true"/"false" text in the ini file)."""
    return str(settings.value(key, "true" if default else "false")).lower() == "true"


class SettingsDialog(QDialog):
    """Model (with size, speed on this computer and a quality note for each, and Import a checkpoint...),
    device, thumbnail size and cache limit, kept in QSettings."""

    def __init__(self, settings: QSettings, active_model: str, parent: QWidget | None = None,
                 runner: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Photosift settings")
        self.resize(720, 640)
        form = QFormLayout(self)
        self.models = ModelChooser(runner, active_model, str(settings.value("device", "auto")), self)
        form.addRow("Model", self.models)
        self.device = QComboBox()
        for label, value in (("Automatic (GPU when available)", "auto"), ("CPU", "cpu"), ("GPU (CUDA)", "cuda")):
            self.device.addItem(label, value)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.value("device", "auto"))))
        form.addRow("Device", self.device)
        self.thumb = QSpinBox(minimum=64, maximum=320, singleStep=16, suffix=" px")
        self.thumb.setValue(int(settings.value("thumb_size", 160)))
        form.addRow("Thumbnail size", self.thumb)
        self.cache = QSpinBox(minimum=100, maximum=100_000, singleStep=100, suffix=" MB")
        self.cache.setValue(int(settings.value("thumb_cache_mb", 2000)))
        form.addRow("Thumbnail cache limit", self.cache)
        self.stack_bursts = QCheckBox("Show each burst as one photo (click its badge to see every frame)")
        self.stack_bursts.setChecked(setting_on(settings, "stack_bursts"))
        form.addRow("Bursts", self.stack_bursts)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._active = active_model

    def chosen_model(self) -> str:
        return self.models.chosen_model() or self._active

    def accept(self) -> None:
        self.settings.setValue("device", self.device.currentData())
        self.settings.setValue("thumb_size", self.thumb.value())
        self.settings.setValue("thumb_cache_mb", self.cache.value())
        self.settings.setValue("stack_bursts", "true" if self.stack_bursts.isChecked() else "false")
        super().accept()
