"""The one adapter between engine/training jobs and Qt: run a job on a worker thread or in a child
process, relay its Progress and its result to the GUI thread, and cancel or pause it through a CancelToken.

Workers never touch Qt: they put events on a queue that a GUI-thread timer drains. (Emitting Qt signals
from worker threads corrupted reference counts in PySide6 6.12 — see tests/app/test_qt_threads.py.)
Long CPU-heavy jobs (indexing) run in a child process (desktop_app.background) so that they take neither
the GIL nor the CPU from the GUI thread; short ones (a search) run on a thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer

from desktop_app.background import Job, child_main, run_job
from engine.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

DRAIN_MS = 30

ProgressSlot = Callable[[Progress], None] | None


class JobWorker:
    """One job on its own daemon thread; callbacks run in the GUI thread."""

    def __init__(self, job: Job, name: str, on_progress: ProgressSlot, on_done: Callable[[Any], None] | None,
                 on_error: Callable[[str], None] | None, on_cancel: Callable[[], None] | None) -> None:
        self.job, self.name = job, name
        self.token: CancelToken | RemoteToken = CancelToken()
        self.callbacks = {"progress": on_progress, "done": on_done, "error": on_error, "cancel": on_cancel}
        self.events: Any = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=f"photosift-{name}", daemon=True)
        self.ended = False

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        run_job(self.job, self.name, self.events, self.token)  # type: ignore[arg-type]

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
            self._end(*end)

    def _end(self, kind: str, payload: Any) -> None:
        self.ended = True
        callback = self.callbacks[kind]
        if callback is not None:
            callback() if kind == "cancel" else callback(payload)


class RemoteToken:
    """The GUI's handle on a child process's CancelToken: the same calls, sent down a pipe."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cancelled = False
        self._paused = False

    def _send(self, command: str) -> None:
        try:
            self._conn.send(command)
        except OSError:  # the child has ended already
            pass

    def cancel(self) -> None:
        self._cancelled, self._paused = True, False
        self._send("cancel")

    def pause(self) -> None:
        self._paused = True
        self._send("pause")

    def resume(self) -> None:
        self._paused = False
        self._send("resume")

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def paused(self) -> bool:
        return self._paused


class ProcessJobWorker(JobWorker):
    """One job in a child process (spawned: a fresh interpreter, no Qt); callbacks run in the GUI thread.

    `target(*args, progress, token)` must be a module-level function of a Qt-free module."""

    def __init__(self, target: Callable[..., Any], args: tuple[Any, ...], name: str, on_progress: ProgressSlot,
                 on_done: Callable[[Any], None] | None, on_error: Callable[[str], None] | None,
                 on_cancel: Callable[[], None] | None) -> None:
        super().__init__(lambda _p, _t: None, name, on_progress, on_done, on_error, on_cancel)
        ctx = multiprocessing.get_context("spawn")
        self.events = ctx.Queue()
        ours, theirs = ctx.Pipe()
        self._theirs = theirs
        self.token = RemoteToken(ours)
        self.process = ctx.Process(target=child_main, args=(target, args, name, self.events, theirs),
                                   name=f"photosift-{name}")

    def start(self) -> None:
        self.process.start()
        self._theirs.close()  # the child holds its end; when the window goes, the child sees the pipe close

    def join(self, timeout: float) -> None:
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(1.0)

    def drain(self) -> None:
        exited = not self.process.is_alive()  # looked at first: if it had exited, all it sent is readable now
        super().drain()
        if exited and not self.ended:
            self._end("error", f"{self.name} stopped unexpectedly (exit code {self.process.exitcode})")

    @property
    def exiting(self) -> bool:
        """Ended but not yet gone (is_alive() reaps it without waiting once it is)."""
        return self.process.is_alive()


class JobRunner(QObject):
    """Starts jobs and pumps their events into the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.running: list[JobWorker] = []
        self.exiting: list[ProcessJobWorker] = []  # child processes that reported their end, not yet reaped
        self.timer = QTimer(self)
        self.timer.setInterval(DRAIN_MS)
        self.timer.timeout.connect(self._drain)

    def start(self, job: Job, *, name: str = "job", on_progress: ProgressSlot = None,
              on_done: Callable[[Any], None] | None = None, on_error: Callable[[str], None] | None = None,
              on_cancel: Callable[[], None] | None = None) -> JobWorker:
        """Run job(progress, token) on a thread."""
        return self._run(JobWorker(job, name, on_progress, on_done, on_error, on_cancel))

    def start_process(self, target: Callable[..., Any], args: tuple[Any, ...], *, name: str = "job",
                      on_progress: ProgressSlot = None, on_done: Callable[[Any], None] | None = None,
                      on_error: Callable[[str], None] | None = None,
                      on_cancel: Callable[[], None] | None = None) -> JobWorker:
        """Run target(*args, progress, token) in a child process; args, reports and result are pickled."""
        return self._run(ProcessJobWorker(target, args, name, on_progress, on_done, on_error, on_cancel))

    def _run(self, worker: JobWorker) -> JobWorker:
        self.running.append(worker)
        worker.start()
        self.timer.start()
        return worker

    def _drain(self) -> None:
        for worker in list(self.running):
            worker.drain()
            if worker.ended:
                self.running.remove(worker)
                if isinstance(worker, ProcessJobWorker):
                    self.exiting.append(worker)
        self.exiting = [w for w in self.exiting if w.exiting]  # never join here: that would block the GUI
        if not self.running and not self.exiting:
            self.timer.stop()

    def shutdown(self, wait_s: float = 5.0) -> None:
        for w in self.running:
            w.token.cancel()
        for w in [*self.running, *self.exiting]:
            w.join(wait_s)
        self.timer.stop()


def read_catalog(runner: JobRunner, catalog_path: Path, name: str, read: Callable[[Any], Any],
                 on_done: Callable[[Any], None]) -> None:
    """read(catalog) on a worker thread with its own PhotoCatalog connection; on_done(result) in the GUI
    thread (None when the read failed)."""
    from engine.catalog import PhotoCatalog

    def job(_progress, _token: CancelToken) -> Any:
        with PhotoCatalog(catalog_path) as catalog:
            return read(catalog)

    def failed(message: str) -> None:
        log.warning("%s: %s", name, message)
        on_done(None)

    runner.start(job, name=name, on_done=on_done, on_error=failed)
