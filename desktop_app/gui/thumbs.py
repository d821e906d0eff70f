"""Thumbnails off the GUI thread: QImage loaded in workers from the engine's disk cache (made on demand
when missing), QPixmap made in the GUI thread, only for rows still visible; stale requests are dropped."""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict, deque
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
    """Workers decode into a queue; a GUI-thread timer turns finished QImages into QPixmaps.

    Painting only notes what it wants (no thread is woken mid-paint, no future is made per cell); the
    wanted set goes to the workers once the event loop is idle, newest first, and the GUI thread spends at
    most DRAIN_BUDGET_S per tick turning finished images into pixmaps.
    """

    pixmap_ready = Signal(int)
    DRAIN_BUDGET_S = 0.004

    def __init__(self, thumb_dir: Path, parent: QObject | None = None, cache_items: int = 4000,
                 workers: int = 2) -> None:
        super().__init__(parent)
        self.thumb_dir = Path(thumb_dir)
        self.done: queue.SimpleQueue[tuple[int, QImage, int]] = queue.SimpleQueue()
        self.timer = QTimer(self)
        self.timer.setInterval(15)
        self.timer.timeout.connect(self._drain)
        self._kick = QTimer(self, singleShot=True, interval=0)  # hands new requests to the workers when idle
        self._kick.timeout.connect(self._wake_workers)
        self.cache: OrderedDict[int, QPixmap] = OrderedDict()
        self.cache_items = cache_items
        self.failed: set[int] = set()
        self._pending: set[int] = set()
        self._visible: set[int] = set()
        self._generation = 0
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)
        self._todo: deque[tuple[int, str | None, str | bytes, int]] = deque()  # newest at the right
        self._closed = False
        self._workers = [threading.Thread(target=self._work_loop, name=f"photosift-thumbs_{i}", daemon=True)
                         for i in range(workers)]
        self._started = False

    # -- called from the GUI thread -------------------------------------------------------
    def pixmap(self, photo_id: int) -> QPixmap | None:
        pm = self.cache.get(photo_id)
        if pm is not None:
            self.cache.move_to_end(photo_id)
        return pm

    def request(self, photo_id: int, fingerprint: str | None, source: str | bytes) -> None:
        """Note that a cell wants its thumbnail; cheap enough to call from paint for every cell."""
        with self._lock:
            if photo_id in self._pending or photo_id in self.failed or self._closed:
                return
            self._pending.add(photo_id)
            self._todo.append((photo_id, fingerprint, source, self._generation))
        if not self._kick.isActive():
            self._kick.start()

    def _wake_workers(self) -> None:
        if not self._started:
            self._started = True
            for t in self._workers:
                t.start()
        with self._work_ready:
            self._work_ready.notify(len(self._workers))
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
            self._todo.clear()
            self._visible = set()

    def _drain(self) -> None:
        deadline = time.perf_counter() + self.DRAIN_BUDGET_S  # bounded work per tick keeps the loop responsive
        while time.perf_counter() < deadline:
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
        with self._work_ready:
            self._generation += 1
            self._closed = True
            self._todo.clear()
            self._work_ready.notify_all()
        for t in self._workers:
            if t.is_alive():
                t.join()
        self.timer.stop()
        self._kick.stop()

    # -- called from workers --------------------------------------------------------------
    def _next_task(self) -> tuple[int, str | None, str | bytes, int] | None:
        """The newest request still wanted (stale ones are dropped undecoded); None when closing."""
        with self._work_ready:
            while True:
                while not self._todo and not self._closed:
                    self._work_ready.wait()
                if self._closed:
                    return None
                task = self._todo.pop()
                photo_id, _fingerprint, _source, generation = task
                if generation == self._generation and (not self._visible or photo_id in self._visible):
                    return task
                self._pending.discard(photo_id)

    def _work_loop(self) -> None:
        while (task := self._next_task()) is not None:
            photo_id, fingerprint, source, generation = task
            thumb = thumbnail_path(self.thumb_dir, fingerprint) if fingerprint else None
            self.done.put((photo_id, _load_image(thumb, source), generation))

    def forget(self, photo_id: int) -> None:
        with self._lock:
            self._pending.discard(photo_id)
