"""The one adapter between engine/training jobs and Qt: run a job on a worker thread, relay its
Progress and result as signals (delivered in the GUI thread), and cancel or pause it through a CancelToken."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import Cancelled, PhotosiftError
from engine.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

Job = Callable[[Callable[[Progress], None], CancelToken], Any]


class JobSignals(QObject):
    progress = Signal(object)  # Progress
    finished = Signal(object)  # the job's return value
    failed = Signal(str)  # a message for people
    cancelled = Signal()


class JobWorker(QRunnable):
    def __init__(self, job: Job, name: str = "job") -> None:
        super().__init__()
        self.job = job
        self.name = name
        self.token = CancelToken()
        self.signals = JobSignals()
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self.job(self.signals.progress.emit, self.token)
        except Cancelled:
            self.signals.cancelled.emit()
        except PhotosiftError as e:
            self.signals.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - shown as a notification, never as a crash
            log.error("%s failed:\n%s", self.name, traceback.format_exc())
            self.signals.failed.emit(f"{self.name} failed: {type(e).__name__}: {e}")
        else:
            self.signals.finished.emit(result)


class JobRunner(QObject):
    """Starts jobs on a private pool and keeps them alive until they end."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self.running: set[JobWorker] = set()

    def start(self, job: Job, *, name: str = "job", on_progress: Callable[[Progress], None] | None = None,
              on_done: Callable[[Any], None] | None = None, on_error: Callable[[str], None] | None = None,
              on_cancel: Callable[[], None] | None = None) -> JobWorker:
        worker = JobWorker(job, name)
        if on_progress:
            worker.signals.progress.connect(on_progress)
        if on_done:
            worker.signals.finished.connect(on_done)
        if on_error:
            worker.signals.failed.connect(on_error)
        if on_cancel:
            worker.signals.cancelled.connect(on_cancel)
        for sig in (worker.signals.finished, worker.signals.failed, worker.signals.cancelled):
            sig.connect(lambda *_a, w=worker: self.running.discard(w))
        self.running.add(worker)
        self.pool.start(worker)
        return worker

    def shutdown(self, wait_ms: int = 5000) -> None:
        for w in list(self.running):
            w.token.cancel()
        self.pool.waitForDone(wait_ms)
