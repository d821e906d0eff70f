"""Qt helpers shared by the GUI benchmarks: the main window on a library, running the event loop for a
while or until something happened, and the stall meter.

Kept light (PySide6 and the window, nothing else): gui_startup.py imports it inside the fresh process
whose start-up it times.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # after the platform is chosen
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from desktop_app.gui.main_window import MainWindow

WINDOW_SIZE = (1280, 800)


def application() -> QApplication:
    app = QApplication.instance()
    return app if isinstance(app, QApplication) else QApplication([])


def open_window(library_dir: Path, settings_file: Path) -> MainWindow:
    """The main window on `library_dir`, at the benchmark's size, shown (not yet painted: pump for that)."""
    from desktop_app.gui.main_window import MainWindow

    window = MainWindow(Path(library_dir), QSettings(str(settings_file), QSettings.Format.IniFormat))
    window.resize(*WINDOW_SIZE)
    window.show()
    return window


def pump(seconds: float, until: Callable[[], bool] | None = None, check_ms: int = 2) -> bool:
    """Run the real event loop (timers, paints, queued work) as a running app does, for `seconds` or until
    `until()` is true (checked every `check_ms`). Returns whether `until` became true."""
    application()
    if until is not None and until():
        return True
    loop = QEventLoop()
    met = [False]

    def check() -> None:
        if until is not None and until():
            met[0] = True
            loop.quit()

    deadline = QTimer(singleShot=True, interval=max(0, int(seconds * 1000)))
    deadline.timeout.connect(loop.quit)
    poll = QTimer(interval=check_ms)
    poll.timeout.connect(check)
    deadline.start()
    if until is not None:
        poll.start()
    loop.exec()
    poll.stop()
    deadline.stop()
    return met[0]


class StallMeter:
    """A short QTimer in the GUI thread; a stall is the time between two ticks beyond their interval."""

    def __init__(self, interval_ms: int = 2) -> None:
        self.interval = interval_ms / 1000
        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(max(0.0, now - self.last - self.interval))
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        g = sorted(self.gaps) or [0.0]
        return {"max_ms": g[-1] * 1000, "p99_ms": g[int(0.99 * (len(g) - 1))] * 1000, "ticks": len(g)}
