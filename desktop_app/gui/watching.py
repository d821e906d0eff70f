"""While the window is open, its library's folders are watched: a settled batch of changes starts the same
incremental index the Index button starts (in its child process), so new photos appear, changed ones are
indexed again, deleted ones go, and an unplugged folder goes offline (the scanner's rules), within seconds.

Changes that arrive while an index or a model switch runs are kept and start one more index after it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from engine.watch import FolderWatch

if TYPE_CHECKING:
    from desktop_app.gui.main_window import MainWindow

log = logging.getLogger(__name__)

POLL_MS = 250
ROOTS_EVERY = 8  # polls between re-reads of the library's folders (added or forgotten in the window or the CLI)


class LibraryWatcher(QObject):
    changes_seen = Signal(int)  # paths and folders in a settled batch, just before its index starts

    def __init__(self, window: MainWindow, *, quiet_s: float = 0.5) -> None:
        super().__init__(window)
        self.window = window
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
        roots, ignore = self._roots(), [str(window.lib.paths.root)]
        self._starting = threading.Thread(target=self._start_watch, args=(roots, ignore, quiet_s),
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

    def _roots(self) -> list[str]:
        return [r.path for r in self.window.lib.catalog.roots()]

    def _tick(self) -> None:
        if self.watch is None:  # still being set up, or it could not be
            if not self._starting.is_alive() and self.watch is None:  # again: the thread may set it as it ends
                self.timer.stop()
            return
        self._ticks += 1
        if self._ticks % ROOTS_EVERY == 0:
            self.watch.set_folders(self._roots())
        batch = self.watch.poll()
        if batch:
            log.debug("changes in %s", sorted(batch.paths | batch.folders)[:20])
            self.pending = True
            self.changes_seen.emit(len(batch))
        if self.pending and self.window.index_job is None and self.window.model_job is None \
                and self.watch.folders:  # with no folder in the library, an index would ask for one
            self.pending = False
            self.window.start_index()

    def stop(self) -> None:
        self.timer.stop()
        with self._lock:
            self._stopped = True
            watch, self.watch = self.watch, None
        if watch is not None:
            watch.stop()
