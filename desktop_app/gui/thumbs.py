"""Thumbnails off the GUI thread: QImage loaded in workers from the engine's disk cache (made on demand
when missing), QPixmap made in the GUI thread, only for rows still visible; stale requests are dropped."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from engine.errors import ImageReadError
from engine.imageio import THUMBNAIL_SIZE, open_photo, save_thumbnail, thumbnail_path


def pil_to_qimage(image) -> QImage:  # PIL.Image.Image, typed loosely to keep PIL out of signatures
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimg = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels; `data` dies with this frame


class _Load(QRunnable):
    def __init__(self, loader: ThumbnailLoader, photo_id: int, thumb: Path | None, source: str | bytes,
                 generation: int) -> None:
        super().__init__()
        self.loader, self.photo_id, self.thumb, self.source, self.generation = (
            loader, photo_id, thumb, source, generation)

    def run(self) -> None:
        if not self.loader.still_wanted(self.photo_id, self.generation):
            self.loader.forget(self.photo_id)
            return
        image = QImage()
        if self.thumb is not None and self.thumb.is_file():
            image.load(str(self.thumb))
        if image.isNull():
            try:
                photo = open_photo(self.source, min_side=THUMBNAIL_SIZE)
                if self.thumb is not None:
                    save_thumbnail(photo.image, self.thumb)
                    image.load(str(self.thumb))
                if image.isNull():
                    small = photo.image.copy()
                    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                    image = pil_to_qimage(small)
            except (ImageReadError, OSError):
                image = QImage()
        self.loader.loaded.emit(self.photo_id, image, self.generation)


class ThumbnailLoader(QObject):
    loaded = Signal(int, QImage, int)  # photo id, image (null when unreadable), generation
    pixmap_ready = Signal(int)

    def __init__(self, thumb_dir: Path, parent: QObject | None = None, cache_items: int = 4000) -> None:
        super().__init__(parent)
        self.thumb_dir = Path(thumb_dir)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.cache: OrderedDict[int, QPixmap] = OrderedDict()
        self.cache_items = cache_items
        self.failed: set[int] = set()
        self._pending: set[int] = set()
        self._visible: set[int] = set()
        self._generation = 0
        self._lock = threading.Lock()
        self.loaded.connect(self._on_loaded)

    # -- called from the GUI thread -------------------------------------------------------
    def pixmap(self, photo_id: int) -> QPixmap | None:
        pm = self.cache.get(photo_id)
        if pm is not None:
            self.cache.move_to_end(photo_id)
        return pm

    def request(self, photo_id: int, fingerprint: str | None, source: str | bytes) -> None:
        with self._lock:
            if photo_id in self._pending or photo_id in self.failed:
                return
            self._pending.add(photo_id)
            generation = self._generation
        thumb = thumbnail_path(self.thumb_dir, fingerprint) if fingerprint else None
        self.pool.start(_Load(self, photo_id, thumb, source, generation))

    def set_visible(self, ids: set[int]) -> None:
        with self._lock:
            self._visible = ids

    def reset(self) -> None:
        """A new grid: everything queued for the old one is dropped before it is decoded."""
        with self._lock:
            self._generation += 1
            self._pending.clear()
            self._visible = set()
        self.pool.clear()

    def _on_loaded(self, photo_id: int, image: QImage, generation: int) -> None:
        self.forget(photo_id)
        if generation != self._generation:
            return
        if image.isNull():
            self.failed.add(photo_id)
            return
        self.cache[photo_id] = QPixmap.fromImage(image)
        while len(self.cache) > self.cache_items:
            self.cache.popitem(last=False)
        self.pixmap_ready.emit(photo_id)

    # -- called from workers --------------------------------------------------------------
    def still_wanted(self, photo_id: int, generation: int) -> bool:
        with self._lock:
            return generation == self._generation and (not self._visible or photo_id in self._visible)

    def forget(self, photo_id: int) -> None:
        with self._lock:
            self._pending.discard(photo_id)
