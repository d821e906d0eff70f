"""The window's library jobs: adding folders, indexing in a child process (progress, pause, cancel, photos
appearing as they are found), and switching the library to the model chosen in Settings (install, then
switch; what is on screen is then shown again for the new model).

A part of MainWindow. It owns the status bar's progress bar and its Pause and Cancel buttons; which job runs
is kept in a Qt-free JobState. What it needs of the window comes in as callables (notify, refresh the library
or the sidebar, show the library's pages as indexing left them), and what it did goes out as signals.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QProgressBar, QPushButton, QWidget

from desktop_app.background import index_library
from desktop_app.gui.grid_controller import GridController, GridRead
from desktop_app.gui.status_line import StatusLine
from desktop_app.gui.worker import JobRunner
from desktop_app.job_state import IndexAnswer, JobState, SwitchAnswer
from engine.jobs import Progress, progress_text
from engine.library import Library


class LibraryJobs(QObject):
    """Folders, indexing, model switches."""

    index_finished = Signal(object)  # UpdateReport, or None when cancelled / failed
    model_switched = Signal(object)  # the switch's plain report, or None when it failed or was cancelled
    model_changed = Signal()  # the library uses another model: what came from the previous one is read again

    def __init__(self, window: QWidget, lib: Library, library_dir: Path, settings: QSettings, runner: JobRunner,
                 jobs: JobState, grid: GridController, status: StatusLine, *, notify: Callable[..., None],
                 refresh_library: Callable[[], None], refresh_sidebar: Callable[..., None],
                 show_library: Callable[[], None]) -> None:
        """`window`: the dialogs' parent; `refresh_sidebar(then=None)` reads the sidebar's counts again, then
        calls `then`; `show_library()` shows the window's pages and date range as the catalog has them."""
        super().__init__(window)
        self.window, self.lib, self.library_dir, self.settings, self.runner = window, lib, library_dir, settings, runner
        self.jobs, self.grid, self.status = jobs, grid, status
        self.notify, self._refresh_library, self._refresh_sidebar = notify, refresh_library, refresh_sidebar
        self._show_library = show_library
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.jobs.cancel)  # stops indexing, or the download and switch of a model
        for w in (self.pause_button, self.cancel_button):
            w.setVisible(False)
        self._grow_timer = QTimer(self, interval=1500)
        self._grow_timer.timeout.connect(self.grid.grow)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a photo folder", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str | Path, index: bool = True) -> bool:
        from engine.errors import FolderOverlapError
        from engine.folders import refuse_overlaps
        from engine.scanner import root_problem

        folder = os.path.abspath(folder)
        problem = root_problem(folder)
        if problem:
            self.notify(f"Cannot add {folder}: {problem}", error=True)
            return False
        try:  # the same rule as `photosift add`: a folder known by another name would list every photo twice
            refuse_overlaps([Path(folder)], [r.path for r in self.lib.catalog.roots()], self.lib.paths.root)
        except FolderOverlapError as e:
            self.notify(str(e)[0].upper() + str(e)[1:], error=True)
            return False
        self.lib.catalog.add_root(folder)
        self._refresh_library()
        if index:
            self.start_index()
        return True

    def start_index(self, confirm_deletions: bool = False) -> None:
        """Scan and index every folder; `confirm_deletions` also forgets the photos held as missing."""
        answer = self.jobs.ask_index()
        if answer is IndexAnswer.RUNNING:
            self.notify("Indexing is already running.")
            return
        if answer is IndexAnswer.AFTER_SWITCH:
            self.notify("A model is being prepared; indexing starts once the library has switched to it.")
            return
        if not self.lib.catalog.roots():
            self.choose_folder()
            return
        cache_bytes = int(self.settings.value("thumb_cache_mb", 2000)) * 1_000_000
        device = str(self.settings.value("device", "auto"))
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        for w in (self.pause_button, self.cancel_button):
            w.setVisible(True)
        self.pause_button.setText("Pause")
        self._grow_timer.start()
        # In a child process: minutes of decoding and inference must not take the GIL or the CPU from the GUI.
        self.jobs.index_started(self.runner.start_process(
            partial(index_library, confirm_deletions=confirm_deletions),
            (self.library_dir, device, cache_bytes),
            name="indexing",
            on_progress=self.index_progress,
            on_done=self._index_done,
            on_error=self._index_failed,
            on_cancel=lambda: self.index_ended(None, "Indexing cancelled; finished photos are kept."),
        ))

    def show_progress(self, p: Progress) -> None:
        """A job's report in the status bar: the bar, and stage, count, rate, time left and detail as text."""
        if p.total > 0:
            unit = -(-p.total // 1_000_000_000)  # QProgressBar counts in 32-bit ints: a 3 GB download does not fit
            self.progress.setRange(0, p.total // unit)
            self.progress.setValue(p.done // unit)
        else:  # how much is to do is not known yet: a busy bar, not a full or an empty one
            self.progress.setRange(0, 0)
        self.status.show(progress_text(p), recount=False)

    def index_progress(self, p: Progress) -> None:
        """Indexing's report: shown, and the grid grows with the photos the scan finds."""
        self.show_progress(p)
        if self.jobs.stage_reached(p.stage):
            self._refresh_sidebar()  # the scan has found every photo: show the folders' real counts now
            self.grid.grow()  # and its new photos, committed by now (the scan's own reports come before that)
        elif p.stage == "scan":
            self.grid.grow()

    def _index_done(self, report: Any) -> None:
        i = report.index
        text = f"Indexed {i.indexed} photos"
        if i.failed:
            text += f"; {i.failed} could not be read (see \u201cunreadable\u201d)"
        if report.scan.offline_roots:
            text += f"; offline: {', '.join(report.scan.offline_roots)}"
        if report.scan.held:
            text += f"; {report.scan.held} vanished photos are kept (see the banner above the grid)"
        if report.scan.deleted:
            text += f"; forgot {report.scan.deleted} photos that are gone"
        self.index_ended(report, text)

    def _index_failed(self, message: str) -> None:
        self.index_ended(None, message, error=True)

    def index_ended(self, report: Any, message: str, error: bool = False) -> None:
        """Show the library as indexing left it (read off the GUI thread), then tell the user."""
        self.jobs.index_ended()
        self._grow_timer.stop()
        self.progress.setVisible(False)
        for w in (self.pause_button, self.cancel_button):
            w.setVisible(False)
        self.status.extra = ""

        def shown(result: GridRead | None) -> None:
            self._show_library()
            self.status.show(recount=result is None)
            self.notify(message, error=error)
            self.index_finished.emit(report)

        self._refresh_sidebar(then=lambda: self.grid.show_as_indexed(shown))

    def toggle_pause(self) -> None:
        paused = self.jobs.toggle_pause()
        if paused is not None:
            self.pause_button.setText("Resume" if paused else "Pause")

    # -- models -----------------------------------------------------------------------------
    def model_choices(self) -> list[tuple[str, str]]:
        """(id, what Settings says of it) for every model; read here, on the GUI thread (tests, scripts)."""
        from desktop_app.gui.model_list import describe, read_facts

        facts, online = read_facts()
        return [(f.id, describe(f, online, self.lib.active_model_id)) for f in facts]

    def switch_model(self, model_id: str) -> None:
        """Install `model_id` if needed (a download shows its progress; Cancel stops it), then switch the
        library to it with its tags, in a child process; the library stays as it was until that is done.
        Then the grid, the details and the tags show the new model, and its missing vectors are computed."""
        answer = self.jobs.ask_switch()
        if answer is SwitchAnswer.SWITCHING:
            self.notify("A model is already being prepared; wait for it or cancel it first.")
            return
        if answer is SwitchAnswer.INDEXING:
            self.notify(f"Indexing is running: let it finish or cancel it, then choose {model_id} again.", error=True)
            return
        from desktop_app.models_runtime import switch_model_job

        previous = self.lib.active_model_id
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self.status.show(f"Preparing model {model_id}\u2026", recount=False)
        self.jobs.switch_started(self.runner.start_process(
            switch_model_job,
            (self.library_dir, model_id, str(self.settings.value("device", "auto"))),
            name="model switch",
            on_progress=self.show_progress,
            on_done=self._model_switched,
            on_error=lambda message: self._model_switch_ended(
                f"Could not switch to model {model_id}: {message.rstrip('.')}. The library stays on {previous}.",
                error=True,
            ),
            on_cancel=lambda: self._model_switch_ended(f"Cancelled; the library stays on model {previous}."),
        ))

    def _model_switch_ended(self, message: str, error: bool = False, result: Any = None) -> None:
        """The switch job is over (done, failed or cancelled): indexing asked for meanwhile starts now."""
        index_waits = self.jobs.switch_ended()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.status.extra = ""
        self.status.show()
        self.notify(message, error=error)
        self.model_switched.emit(result)
        if index_waits:
            self.start_index()

    def _model_switched(self, result: Any) -> None:
        """Everything on screen that came from the previous model is shown again: the current photo's details
        and the tag list are read again (new zero-shot tags), the search is run again (new scores)."""
        self.model_changed.emit()
        self.grid.model_changed()
        missing = result.to_index
        text = f"Switched to model {result.model_id}."
        if missing > 0:
            text += f" Computing its vectors for {missing} photos in the background."
        self.jobs.switched(missing, bool(self.lib.catalog.roots()))
        self._model_switch_ended(text, result=result)
