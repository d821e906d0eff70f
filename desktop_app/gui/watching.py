"""While the window is open, its library's folders are watched: a settled batch of changes starts the same
incremental index the Index button starts (in its child process), so new photos appear, changed ones are
indexed again, deleted ones go, and an unplugged folder goes offline (the scanner's rules), within seconds.

Changes that arrive while an index or a model switch runs are kept and start one more index after it.
The watcher knows nothing of the window: it is given the library's folders, whether the window is busy, and
says when an index is wanted (`index_wanted`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from engine.watch import FolderWatch

log = logging.getLogger(__name__)

POLL_MS = 250
ROOTS_EVERY = 8  # polls between re-reads of the library's folders (added or forgotten in the window or the CLI)


class LibraryWatcher(QObject):
    changes_seen = Signal(int)  # paths and folders in a settled batch, just before its index starts
    index_wanted = Signal()  # a settled batch, and nothing is running: start the incremental index

    def __init__(self, folders: Callable[[], list[str]], busy: Callable[[], bool], *, ignore: list[str],
                 quiet_s: float = 0.5, parent: QObject | None = None) -> None:
        """`folders()`: the library's folders now (read again every few polls); `busy()`: an index or a model
        switch runs; `ignore`: folders whose changes are ours (the library's own folder)."""
        super().__init__(parent)
        self._folders, self._busy = folders, busy
        self.pending = False  # a batch settled while an index was running: index once more after it
        self._ticks = 0
        self.watch: FolderWatch | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        # Watches are set up on a thread of their own: watchdog adds one per folder, walking every root,
        # which on a large library would stall the window (~25 ms here for the import and a few folders).
        self._starting = threading.Thread(target=self._start_watch, args=(folders(), list(ignore), quiet_s),
                                          name="photosift-watch-start", daemon=True)
        self._starting.start()

    def _start_watch(self, roots: list[str], ignore: list[str], quiet_s: float) -> None:
        try:
            watch = FolderWatch(roots, quiet_s=quiet_s, ignore=ignore).start()
        except OSError as e:  # no inotify instances left, or the like: the Index button still works
            log.warning("cannot watch the library's folders: %s", e)
            return
        with self._lock:
            if not self._stopped:
                self.watch = watch
                return
        watch.stop()  # the window closed meanwhile

    def _tick(self) -> None:
        if self.watch is None:  # still being set up, or it could not be
            if not self._starting.is_alive() and self.watch is None:  # again: the thread may set it as it ends
                self.timer.stop()
            return
        self._ticks += 1
        if self._ticks % ROOTS_EVERY == 0:
            self.watch.set_folders(self._folders())
        batch = self.watch.poll()
        if batch:
            log.debug("changes in %s", sorted(batch.paths | batch.folders)[:20])
            self.pending = True
            self.changes_seen.emit(len(batch))
        if self.pending and not self._busy() and self.watch.folders:  # with no folder, an index would ask for one
            self.pending = False
            self.index_wanted.emit()

    def stop(self) -> None:
        self.timer.stop()
        with self._lock:
            self._stopped = True
            watch, self.watch = self.watch, None
        if watch is not None:
            watch.stop()
