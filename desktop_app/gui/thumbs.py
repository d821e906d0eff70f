"""Thumbnails off the GUI thread: QImage loaded in workers from the engine's disk cache (made on demand
when missing), QPixmap made in the GUI thread, only for rows still visible; stale requests are dropped."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from engine.errors import ImageReadError
from engine.imageio import THUMBNAIL_SIZE, open_photo, save_thumbnail, thumbnail_path


def pil_to_qimage(image) -> QImage:  # PIL.Image.Image, typed loosely to keep PIL out of signatures
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimg = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels; `data` dies with this frame


def _load_image(thumb: Path | None, source: str | bytes) -> QImage:
    """Runs in a worker thread: the cached thumbnail, made from the original when missing."""
    image = QImage()
    if thumb is not None and thumb.is_file():
        image.load(str(thumb))
    if image.isNull():
        try:
            photo = open_photo(source, min_side=THUMBNAIL_SIZE)
            if thumb is not None:
                save_thumbnail(photo.image, thumb)
                image.load(str(thumb))
            if image.isNull():
                small = photo.image.copy()
                small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                image = pil_to_qimage(small)
        except (ImageReadError, OSError):
            image = QImage()
    return image


class ThumbnailLoader(QObject):
    """Workers decode into a queue; a GUI-thread timer turns finished QImages into QPixmaps."""

    pixmap_ready = Signal(int)

    def __init__(self, thumb_dir: Path, parent: QObject | None = None, cache_items: int = 4000) -> None:
        super().__init__(parent)
        self.thumb_dir = Path(thumb_dir)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="photosift-thumbs")
        self.done: queue.SimpleQueue[tuple[int, QImage, int]] = queue.SimpleQueue()
        self.timer = QTimer(self)
        self.timer.setInterval(15)
        self.timer.timeout.connect(self._drain)
        self.cache: OrderedDict[int, QPixmap] = OrderedDict()
        self.cache_items = cache_items
        self.failed: set[int] = set()
        self._pending: set[int] = set()
        self._visible: set[int] = set()
        self._generation = 0
        self._lock = threading.Lock()

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
        self.pool.submit(self._work, photo_id, thumb, source, generation)
        if not self.timer.isActive():
            self.timer.start()

    def set_visible(self, ids: set[int]) -> None:
        with self._lock:
            self._visible = ids

    def reset(self) -> None:
        """A new grid: everything queued for the old one is dropped before it is decoded."""
        with self._lock:
            self._generation += 1
            self._pending.clear()
            self._visible = set()

    def _drain(self) -> None:
        for _ in range(64):  # bounded work per tick keeps the event loop responsive
            try:
                photo_id, image, generation = self.done.get_nowait()
            except queue.Empty:
                with self._lock:
                    if not self._pending:
                        self.timer.stop()
                return
            self.forget(photo_id)
            if generation != self._generation:
                continue
            if image.isNull():
                self.failed.add(photo_id)
                continue
            self.cache[photo_id] = QPixmap.fromImage(image)
            while len(self.cache) > self.cache_items:
                self.cache.popitem(last=False)
            self.pixmap_ready.emit(photo_id)

    def shutdown(self) -> None:
        with self._lock:
            self._generation += 1
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.timer.stop()

    # -- called from workers --------------------------------------------------------------
    def _work(self, photo_id: int, thumb: Path | None, source: str | bytes, generation: int) -> None:
        if not self.still_wanted(photo_id, generation):
            self.forget(photo_id)
            return
        self.done.put((photo_id, _load_image(thumb, source), generation))

    def still_wanted(self, photo_id: int, generation: int) -> bool:
        with self._lock:
            return generation == self._generation and (not self._visible or photo_id in self._visible)

    def forget(self, photo_id: int) -> None:
        with self._lock:
            self._pending.discard(photo_id)
