"""The one adapter between engine/training jobs and Qt: run a job on a worker thread, relay its
Progress and its result to the GUI thread, and cancel or pause it through a CancelToken.

Workers never touch Qt: they put events on a queue that a GUI-thread timer drains. (Emitting Qt signals
from worker threads corrupted reference counts in PySide6 6.12 — see tests/app/test_qt_threads.py.)
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from engine.errors import Cancelled, PhotosiftError
from engine.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

Job = Callable[[Callable[[Progress], None], CancelToken], Any]
DRAIN_MS = 30


class JobWorker:
    """One job on its own daemon thread; callbacks run in the GUI thread."""

    def __init__(self, job: Job, name: str, on_progress: Callable[[Progress], None] | None,
                 on_done: Callable[[Any], None] | None, on_error: Callable[[str], None] | None,
                 on_cancel: Callable[[], None] | None) -> None:
        self.job, self.name = job, name
        self.token = CancelToken()
        self.callbacks = {"progress": on_progress, "done": on_done, "error": on_error, "cancel": on_cancel}
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=f"photosift-{name}", daemon=True)
        self.ended = False

    def _run(self) -> None:
        try:
            result = self.job(lambda p: self.events.put(("progress", p)), self.token)
        except Cancelled:
            self.events.put(("cancel", None))
        except PhotosiftError as e:
            self.events.put(("error", str(e)))
        except Exception as e:  # noqa: BLE001 - shown as a notification, never as a crash
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self.events.put(("error", f"{self.name} failed: {type(e).__name__}: {e}"))
        else:
            self.events.put(("done", result))

    def drain(self) -> None:
        """Deliver, in order, what the job reported since the last tick (every report: a training plot
        needs each metric), then its end."""
        end: tuple[str, Any] | None = None
        while end is None:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                break
            if kind != "progress":
                end = (kind, payload)
            elif self.callbacks["progress"]:
                self.callbacks["progress"](payload)
        if end is not None:
            self.ended = True
            kind, payload = end
            callback = self.callbacks[kind]
            if callback is not None:
                callback() if kind == "cancel" else callback(payload)


class JobRunner(QObject):
    """Starts jobs and pumps their events into the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.running: list[JobWorker] = []
        self.timer = QTimer(self)
        self.timer.setInterval(DRAIN_MS)
        self.timer.timeout.connect(self._drain)

    def start(self, job: Job, *, name: str = "job", on_progress: Callable[[Progress], None] | None = None,
              on_done: Callable[[Any], None] | None = None, on_error: Callable[[str], None] | None = None,
              on_cancel: Callable[[], None] | None = None) -> JobWorker:
        worker = JobWorker(job, name, on_progress, on_done, on_error, on_cancel)
        self.running.append(worker)
        worker.thread.start()
        self.timer.start()
        return worker

    def _drain(self) -> None:
        for worker in list(self.running):
            worker.drain()
            if worker.ended:
                self.running.remove(worker)
        if not self.running:
            self.timer.stop()

    def shutdown(self, wait_s: float = 5.0) -> None:
        for w in self.running:
            w.token.cancel()
        for w in self.running:
            w.thread.join(wait_s)
        self.timer.stop()
