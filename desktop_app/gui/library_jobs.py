"""The window's library jobs: adding folders, indexing in a child process (progress, pause, cancel, photos
appearing as they are found), and choosing a model in Settings (install, then switch; what is on screen is
then shown again for the new model).

A mixin of MainWindow: it drives the window's status bar, grid and browse state.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog

from desktop_app.background import index_library
from desktop_app.gui.dialogs import SettingsDialog
from desktop_app.gui.grid import ScoreRole
from desktop_app.gui.grid_controller import GridRead
from engine.jobs import Progress, progress_text


class LibraryJobs:
    """Mixin of MainWindow: folders, indexing, model choice."""

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder", str(Path.home()))
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
        self.refresh_library()
        if index:
            self.start_index()
        return True

    def start_index(self, confirm_deletions: bool = False) -> None:
        """Scan and index every folder; `confirm_deletions` also forgets the photos held as missing."""
        if self.index_job is not None:
            self.notify("Indexing is already running.")
            return
        if self.model_job is not None:
            self._index_after_switch = True
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
        self._index_stage = ""
        # In a child process: minutes of decoding and inference must not take the GIL or the CPU from the GUI.
        self.index_job = self.runner.start_process(
            partial(index_library, confirm_deletions=confirm_deletions),
            (self.library_dir, device, cache_bytes),
            name="indexing",
            on_progress=self._index_progress,
            on_done=self._index_done,
            on_error=self._index_failed,
            on_cancel=lambda: self._index_ended(None, "Indexing cancelled; finished photos are kept."),
        )

    def _show_progress(self, p: Progress) -> None:
        """A job's report in the status bar: the bar, and stage, count, rate, time left and detail as text."""
        if p.total > 0:
            unit = -(-p.total // 1_000_000_000)  # QProgressBar counts in 32-bit ints: a 3 GB download does not fit
            self.progress.setRange(0, p.total // unit)
            self.progress.setValue(p.done // unit)
        else:  # how much is to do is not known yet: a busy bar, not a full or an empty one
            self.progress.setRange(0, 0)
        self._update_status(progress_text(p), recount=False)

    def _index_progress(self, p: Progress) -> None:
        self._show_progress(p)
        if p.stage == "scan":
            self._grow_grid()
        elif p.stage != self._index_stage and self._index_stage == "scan":
            self._refresh_sidebar()  # the scan has found every photo: show the folders' real counts now
            self._grow_grid()  # and its new photos, committed by now (the scan's own reports come before that)
        self._index_stage = p.stage

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
        self._index_ended(report, text)

    def _index_failed(self, message: str) -> None:
        self._index_ended(None, message, error=True)

    def _index_ended(self, report: Any, message: str, error: bool = False) -> None:
        """Show the library as indexing left it (read off the GUI thread), then tell the user."""
        self.index_job = None
        self._grow_timer.stop()
        self.progress.setVisible(False)
        for w in (self.pause_button, self.cancel_button):
            w.setVisible(False)
        self._status_extra = ""
        browsing = self.mode == "browse"

        def show(result: GridRead | None, current: bool) -> None:
            if result is not None:
                self._counts = result.counts
                if browsing and current and (result.ids != self.grid_model.ids
                                             or (result.stacks or {}) != self.grid_model.stacks):
                    # new photos move to their place, new bursts are stacked
                    self._show_photos_keeping_place(result.ids, result.days, result.stacks)
                elif browsing and current:
                    self.grid_model.days = result.days  # undated photos appended while indexing may have a date now
                    self.grid_model.reload_rows()  # same photos, but the scan may have changed their marks
                if browsing:
                    self._grid_top_id = result.top_id
            self.stack.setCurrentIndex(1 if self.lib.catalog.roots() else 0)
            self._show_date_range()
            self._update_status(recount=result is None)
            self._refresh_banner()
            self.notify(message, error=error)
            self.index_finished.emit(report)

        self._refresh_sidebar(then=lambda: self._read_grid("library refresh", show))

    def toggle_pause(self) -> None:
        if self.index_job is None:
            return
        token = self.index_job.token
        if token.paused:
            token.resume()
            self.pause_button.setText("Pause")
        else:
            token.pause()
            self.pause_button.setText("Resume")

    def cancel_index(self) -> None:
        """The status bar's Cancel: stops indexing, or the download and switch of a model."""
        for job in (self.index_job, self.model_job):
            if job is not None:
                job.token.cancel()

    # -- settings -------------------------------------------------------------------------
    def model_choices(self) -> list[tuple[str, str]]:
        """(id, what Settings says of it) for every model; read here, on the GUI thread (tests, scripts)."""
        from desktop_app.gui.model_list import describe, read_facts

        facts, online = read_facts()
        return [(f.id, describe(f, online, self.lib.active_model_id)) for f in facts]

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.lib.active_model_id, self, runner=self.runner)
        if dialog.exec():
            self.apply_settings(dialog.chosen_model())
        dialog.models.cancel_import()

    def apply_settings(self, model_id: str) -> None:
        self.grid.set_thumb_size(int(self.settings.value("thumb_size", 160)))
        self.size_slider.setValue(self.grid.iconSize().width())
        if model_id != self.lib.active_model_id:
            self.switch_model(model_id)
        elif self.mode == "browse" and self.stacking_bursts() != self._stacks_shown:
            self.load_browse(keep_place=True)  # bursts stacked or unstacked

    def switch_model(self, model_id: str) -> None:
        """Install `model_id` if needed (a download shows its progress; Cancel stops it), then switch the
        library to it with its tags, in a child process; the library stays as it was until that is done.
        Then the grid, the details and the tags show the new model, and its missing vectors are computed."""
        if self.model_job is not None:
            self.notify("A model is already being prepared; wait for it or cancel it first.")
            return
        if self.index_job is not None:
            self.notify(f"Indexing is running: let it finish or cancel it, then choose {model_id} again.", error=True)
            return
        from desktop_app.models_runtime import switch_model_job

        previous = self.lib.active_model_id
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self._update_status(f"Preparing model {model_id}\u2026", recount=False)
        self.model_job = self.runner.start_process(
            switch_model_job,
            (self.library_dir, model_id, str(self.settings.value("device", "auto"))),
            name="model switch",
            on_progress=self._show_progress,
            on_done=self._model_switched,
            on_error=lambda message: self._model_switch_ended(
                f"Could not switch to model {model_id}: {message.rstrip('.')}. The library stays on {previous}.",
                error=True,
            ),
            on_cancel=lambda: self._model_switch_ended(f"Cancelled; the library stays on model {previous}."),
        )

    def _model_switch_ended(self, message: str, error: bool = False, result: Any = None) -> None:
        """The switch job is over (done, failed or cancelled): indexing asked for meanwhile starts now."""
        self.model_job = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._status_extra = ""
        self._update_status()
        self.notify(message, error=error)
        self.model_switched.emit(result)
        if self._index_after_switch:
            self._index_after_switch = False
            self.start_index()

    def _model_switched(self, result: Any) -> None:
        """Everything on screen that came from the previous model is shown again: the search is run again
        (new scores), the current photo's details and the tag list are read again (new zero-shot tags)."""
        self._encoders.forget()
        self._refresh_sidebar()
        current = self.grid.currentIndex()
        self._current_changed(current, current)
        if self.mode == "results":  # the previous model's scores; the new ones come with the search run again
            self.grid_model.scores = {}
            if self.grid_model.ids:
                self.grid_model.dataChanged.emit(
                    self.grid_model.index(0), self.grid_model.index(len(self.grid_model.ids) - 1), [ScoreRole]
                )
            self.details.fields["Score"].setText("")
        self._rerun(keep_place=True)
        missing = result.to_index
        text = f"Switched to model {result.model_id}."
        if missing > 0:
            text += f" Computing its vectors for {missing} photos in the background."
        self._index_after_switch = self._index_after_switch or (missing > 0 and bool(self.lib.catalog.roots()))
        self._model_switch_ended(text, result=result)

    def open_training(self) -> None:
        from desktop_app.extras import training_ready

        if not training_ready(self, "Fine-tuning"):
            return
        from desktop_app.gui.training_dialog import TrainingDialog

        TrainingDialog(self.library_dir, self.lib.active_model_id, self.runner, self.apply_settings, self).exec()
