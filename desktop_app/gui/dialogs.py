"""Dialogs: the photo viewer, the list of unreadable files, and the settings."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeyEvent, QPixmap
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


class PhotoDecoder(QObject):
    """Decodes the viewer's photo at screen size off the GUI thread, as the grid's ThumbnailLoader does for
    thumbnails: worker threads make a QImage, a GUI-thread timer hands it over. Only the newest request
    counts: the answer to an older one is dropped, and one asked for while a large photo still decodes is
    decoded beside it by a second worker (a decode cannot be stopped), never queued behind it."""

    decoded = Signal(int, QImage, str)  # the request's number, the photo (null when unreadable), why not
    WORKERS = 2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._wanted: tuple[int, str | bytes, int] | None = None  # the newest request not yet being decoded
        self._working = 0  # worker threads decoding; each ends when nothing more is wanted
        self._request = 0
        self._done: queue.SimpleQueue[tuple[int, QImage, str]] = queue.SimpleQueue()
        self._timer = QTimer(self, interval=15)
        self._timer.timeout.connect(self._drain)

    def request(self, source: str | bytes, min_side: int) -> int:
        """Decode `source` at the resolution `min_side` needs (a JPEG is decoded at a reduced scale); returns
        the request's number, which its answer carries."""
        with self._lock:
            self._request += 1
            self._wanted = (self._request, source, min_side)
            if self._working < self.WORKERS:
                self._working += 1
                threading.Thread(target=self._work, name="photosift-viewer", daemon=True).start()
        self._timer.start()
        return self._request

    def shutdown(self) -> None:
        """Nothing more is wanted; a decode under way ends unseen."""
        with self._lock:
            self._wanted = None
            self._request += 1
        self._timer.stop()

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._wanted is None:
                    self._working -= 1
                    return
                (number, source, min_side), self._wanted = self._wanted, None
            try:
                image, error = pil_to_qimage(open_photo(source, min_side=min_side).image), ""
            except (ImageReadError, OSError) as e:
                image, error = QImage(), str(e)
            except BaseException:
                with self._lock:
                    self._working -= 1
                raise
            self._done.put((number, image, error))

    def _drain(self) -> None:
        while True:
            try:
                number, image, error = self._done.get_nowait()
            except queue.Empty:
                return
            if number == self._request:  # an older request's photo is not shown
                self._timer.stop()
                self.decoded.emit(number, image, error)


class PhotoViewer(QDialog):
    """The photo large, EXIF-rotated, never above 100% (a small photo is not blown up into a blur);
    Left/Right for previous/next, F or F11 for full screen, Esc leaves full screen or closes, Space closes.

    The photo is decoded off the GUI thread (PhotoDecoder); meanwhile the viewer shows its thumbnail
    (`placeholder(photo_id)`, the grid's cache) at the photo's size, or nothing, and says it is loading."""

    def __init__(self, catalog: PhotoCatalog, ids: list[int], row: int, parent: QWidget | None = None,
                 placeholder: Callable[[int], QPixmap | None] | None = None) -> None:
        super().__init__(parent)
        self.catalog, self.ids, self.row = catalog, ids, row
        self.placeholder = placeholder or (lambda _photo_id: None)
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
        self._photo_size: QSize | None = None  # the photo's own size, while its thumbnail stands in for it
        self.loading = False  # the photo is being decoded
        self._request = 0
        self._decoder = PhotoDecoder(self)
        self._decoder.decoded.connect(self._decoded)
        self.show_row(row)

    def show_row(self, row: int) -> None:
        self.row = max(0, min(row, len(self.ids) - 1))
        photo = self.catalog.photo(self.ids[self.row])
        if photo is None:  # forgotten meanwhile: the photo on its way, or shown, is another one
            self._request, self.loading, self._pixmap = 0, False, QPixmap()
            self._caption("no longer in the library")
            self._fit()
            return
        screen = self.screen().size() if self.screen() else self.size()
        self._request = self._decoder.request(photo.fs_path, max(screen.width(), screen.height(), 1200))
        self.loading = True
        self._pixmap = self.placeholder(photo.id) or QPixmap()
        self._photo_size = _oriented_size(photo.width, photo.height, photo.orientation)
        self._name = os.path.basename(photo.path)
        self._caption(f"{self._name}   \u2022   loading\u2026")
        self._fit()

    def _decoded(self, request: int, image: QImage, error: str) -> None:
        if request != self._request:  # the user has moved on: not this photo
            return
        self.loading, self._photo_size = False, None
        self._pixmap = QPixmap() if image.isNull() else QPixmap.fromImage(image)
        self._caption(f"{self._name}: {error}" if error else self._name)
        self._fit()

    def _caption(self, text: str) -> None:
        self.caption.setText(f"{text}   ({self.row + 1} of {len(self.ids)})   \u2022   F: full screen")

    def done(self, result: int) -> None:
        self._decoder.shutdown()
        super().done(result)

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
        size = self._photo_size or self._pixmap.size()  # a thumbnail is shown as large as its photo will be
        if size.width() > room.width() or size.height() > room.height():
            size = size.scaled(room, Qt.AspectRatioMode.KeepAspectRatio)
        if size == self._pixmap.size():
            shown = QPixmap(self._pixmap)  # fits: at 100%, one photo pixel per screen pixel
        else:
            shown = self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
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


def _oriented_size(width: int | None, height: int | None, orientation: int | None) -> QSize | None:
    """A photo's size as shown (EXIF orientations 5 to 8 turn it a quarter), None when not known."""
    if not width or not height:
        return None
    return QSize(height, width) if orientation in (5, 6, 7, 8) else QSize(width, height)


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
                 runner: JobRunner | None = None, read_text: bool | None = False) -> None:
        """`read_text`: whether the library reads text in photos (None: RapidOCR is not installed)."""
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
        self.read_text = QCheckBox("Read the text in photos (signs, menus, documents) so search finds it")
        self.read_text.setChecked(bool(read_text))
        self.read_text.setToolTip("Every photo is read once, when indexing; that takes about 15 times as long as "
                                  "indexing it. Search with plain words, or text:\"...\" for the text alone.")
        if read_text is None:
            from desktop_app.extras import text_reader_hint

            self.read_text.setEnabled(False)
            self.read_text.setText(self.read_text.text() + " (not installed)")
            self.read_text.setToolTip(f"Needs RapidOCR and its models (about 110 MB); {text_reader_hint()}")
        form.addRow("Text in photos", self.read_text)
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
