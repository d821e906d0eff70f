"""The main window: search bar with filter chips, folder/tag sidebar, thumbnail grid, details panel.

What is shown is the browse state's (desktop_app.browse_state): the window renders it (search box, chips,
sidebar selection, sort, dates) and, when it changes, has its grid controller fill the grid again
(grid_controller). Folders, indexing and model switches are its library jobs (library_jobs), whose state is
a Qt-free JobState (desktop_app.job_state); the status line is status_line. The window owns these parts,
hands each what it reads and drives, and listens to their signals.
"""

from __future__ import annotations

import gc
import os
from datetime import date
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSettings, QStringListModel, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.browse_state import BrowseState, Mode, Query
from desktop_app.gui.albums import add_albums_section, album_menu
from desktop_app.gui.banner import MissingBanner, missing_summary
from desktop_app.gui.chips import FilterChips
from desktop_app.gui.dateedit import LibraryDateEdit
from desktop_app.gui.dialogs import FailedFilesDialog, PhotoViewer, SettingsDialog, setting_on
from desktop_app.gui.duplicates_view import attach_duplicates_view
from desktop_app.gui.grid import OfflineRole, PhotoGridModel, ScoreRole
from desktop_app.gui.grid_controller import GridController
from desktop_app.gui.gridview import PhotoGridView
from desktop_app.gui.library_jobs import LibraryJobs
from desktop_app.gui.panels import DetailsPanel, LibrarySidebar
from desktop_app.gui.people import FaceBoxes, PeoplePanel
from desktop_app.gui.places import add_places_section
from desktop_app.gui.sidebar_controller import SidebarController
from desktop_app.gui.status_line import StatusLine
from desktop_app.gui.tag_undo import UndoNotice
from desktop_app.gui.thumbs import ThumbnailLoader
from desktop_app.gui.watching import LibraryWatcher
from desktop_app.gui.worker import JobRunner, read_catalog
from desktop_app.job_state import JobState
from engine.imageio import is_photo_name
from engine.library import Library

MAX_RECENT = 15

__all__ = ["MainWindow"]


def _settle_heap() -> None:
    """What start-up made (modules, classes, widgets) lives as long as the app: take it out of the cyclic
    GC's sight once, so that a full collection later walks only what was made since. Otherwise one such
    collection, triggered by whatever allocates next, stalls the event loop for tens of milliseconds."""
    if gc.get_freeze_count() == 0:
        gc.freeze()


class MainWindow(QMainWindow):
    index_finished = Signal(object)  # UpdateReport, or None when cancelled / failed
    model_switched = Signal(object)  # the switch's plain report, or None when it failed or was cancelled
    search_finished = Signal(int)  # number of results
    browse_loaded = Signal(int)  # number of photos in the grid

    def __init__(self, library_dir: Path, settings: QSettings | None = None) -> None:
        super().__init__()
        self.library_dir = Path(library_dir)
        self.lib = Library.open(self.library_dir)
        self.settings = settings or QSettings("Photosift", "Photosift")
        self.runner = JobRunner(self)
        self.state = BrowseState()  # what is shown; the window renders it (see _state_changed)
        self.job_state = JobState()  # which long job runs (indexing, a model switch)
        self.setWindowTitle("Photosift")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self._parts()
        self._build()
        self.duplicates = attach_duplicates_view(self)
        self._shortcuts()
        self.state.changed.connect(self._state_changed)
        self.watcher: LibraryWatcher | None = None
        self._background_started = False
        # Naming places and watching folders wait for the grid (or 3 s): on a 100k library they cost ~170 ms
        # of the GUI thread (the watchdog import and its watches, a count over every photo) before it showed.
        # A second after it, so that the first screen of thumbnails is painted first.
        self.browse_loaded.connect(lambda _n: QTimer.singleShot(1000, self._start_background))
        QTimer.singleShot(3000, self._start_background)
        self.refresh_library()
        _settle_heap()

    def _start_background(self, *_args) -> None:
        if self._background_started:
            return
        self._background_started = True
        self.sidebar_controller.name_places()
        if setting_on(self.settings, "watch_folders"):
            self.watcher = LibraryWatcher(lambda: [r.path for r in self.lib.catalog.roots()], self.job_state.busy,
                                          ignore=[str(self.lib.paths.root)], parent=self)
            self.watcher.index_wanted.connect(self.start_index)

    # -- parts and layout -----------------------------------------------------------------
    def _parts(self) -> None:
        """The grid and the sidebar, and the parts that drive them: the sidebar controller, the status line, the
        grid controller, the library jobs."""
        self.loader = ThumbnailLoader(self.lib.paths.thumbnails, self)
        self.grid_model = PhotoGridModel(self.lib.catalog, self.loader, self)
        self.grid = PhotoGridView(self.loader)
        self.sidebar = LibrarySidebar()
        self.albums = add_albums_section(self.sidebar)
        self.places = add_places_section(self.sidebar)
        self.people = PeoplePanel()  # people (issue #17): sidebar section and named boxes on the preview
        self.sidebar.layout().addWidget(self.people, 2)
        self.sidebar_controller = SidebarController(self.lib, self.library_dir, self.runner, self.state, self.sidebar,
                                                    self.places, self.people, self.albums)
        self.status_label, self.failed_button = QLabel(), QPushButton()
        self.status_line = StatusLine(self.lib, self.state, self.grid_model, self.status_label, self.failed_button)
        self.grid_controller = GridController(self.lib, self.library_dir, self.state, self.settings, self.runner,
                                              self.grid, self.grid_model, self.status_line, self.notify, self)
        self.grid_controller.browse_loaded.connect(self.browse_loaded)
        self.grid_controller.search_finished.connect(self.search_finished)
        self.grid_controller.content_replaced.connect(self._show_current)
        self.library_jobs = jobs = LibraryJobs(
            self, self.lib, self.library_dir, self.settings, self.runner, self.job_state, self.grid_controller,
            self.status_line, notify=self.notify, refresh_library=self.refresh_library,
            refresh_sidebar=self.sidebar_controller.refresh, show_library=self._show_library)
        jobs.index_finished.connect(self.index_finished)
        jobs.model_switched.connect(self.model_switched)
        jobs.model_changed.connect(self._model_changed)
        self.progress, self.pause_button, self.cancel_button = jobs.progress, jobs.pause_button, jobs.cancel_button

    def _build(self) -> None:
        self.grid.setModel(self.grid_model)
        self.grid.set_thumb_size(int(self.settings.value("thumb_size", 160)))
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.doubleClicked.connect(lambda idx: self.open_viewer(idx.row()))
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.grid.stack_clicked.connect(self.grid_controller.toggle_burst)
        self.grid.show_more_clicked.connect(self.grid_controller.show_more)
        self.grid.installEventFilter(self)

        bar = QToolBar("Search")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.back_button = QPushButton("\u2190 All photos")
        self.back_button.clicked.connect(self.back)
        self.back_action = bar.addWidget(self.back_button)
        self.back_action.setVisible(False)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText('Search: "kids on a beach at sunset", beach - people, or drop a photo here')
        self.search_box.setClearButtonEnabled(True)
        self.search_box.returnPressed.connect(lambda: self.search(self.search_box.text()))
        self.search_box.setMinimumWidth(280)  # with a chip or two beside it, Index/Train/Settings still fit at 1280 px
        self.recent = QStringListModel(list(self.settings.value("recent_searches", []) or []))
        completer = QCompleter(self.recent, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search_box.setCompleter(completer)
        self.chips = FilterChips()  # every active filter, removable: none narrows the results unseen
        self.chips.remove_requested.connect(self.state.remove_filter)
        search_row = QWidget()  # the box and its chips in one toolbar item, so the chips can come and go
        row = QHBoxLayout(search_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.search_box)
        row.addWidget(self.chips)
        bar.addWidget(search_row)
        self.sort_box = QComboBox()
        self.sort_box.addItem("Relevance", "relevance")
        self.sort_box.addItem("Date taken", "date")
        self.sort_box.currentIndexChanged.connect(lambda _i: self.state.set_sort(self.sort_box.currentData()))
        bar.addWidget(QLabel("  Sort "))
        bar.addWidget(self.sort_box)
        self.date_from, self.date_to = self._date_edit("From: any"), self._date_edit("To: any")
        bar.addWidget(QLabel("  Taken "))
        bar.addWidget(self.date_from)
        bar.addWidget(self.date_to)
        bar.addSeparator()
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(80, 256)
        self.size_slider.setValue(self.grid.iconSize().width())
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self.grid.set_thumb_size)
        self.size_slider.valueChanged.connect(lambda v: self.settings.setValue("thumb_size", v))  # Settings shows it
        bar.addWidget(self.size_slider)
        for text, slot in (("Add folder\u2026", self.library_jobs.choose_folder), ("Index", self.start_index),
                           ("Train\u2026", self.open_training), ("Settings\u2026", self.open_settings)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            bar.addAction(action)

        self.details = DetailsPanel()
        self.details.find_similar.connect(self.find_similar)
        self.loader.pixmap_ready.connect(self._preview_ready)
        self.details.tags_changed.connect(lambda _pid: self.sidebar.refresh_tags(self.lib.catalog))
        self.people.faces_wanted.connect(self.find_faces)
        self.face_boxes = FaceBoxes(self.details.preview)
        self.face_boxes.named.connect(self._faces_changed)
        self.split = QSplitter()
        self.split.addWidget(self.sidebar)
        self.banner = MissingBanner()
        self.banner.forget_requested.connect(lambda: self.start_index(confirm_deletions=True))
        middle = QWidget()
        column = QVBoxLayout(middle)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.banner)
        column.addWidget(self.grid, 1)
        self.split.addWidget(middle)
        self.split.addWidget(self.details)
        self.split.setSizes([240, 760, 300])
        self.split.setStretchFactor(1, 1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self._welcome())
        self.stack.addWidget(self.split)
        self.setCentralWidget(self.stack)

        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        self.failed_button.setFlat(True)
        self.failed_button.setStyleSheet("color: #b3261e;")
        self.failed_button.clicked.connect(lambda: FailedFilesDialog(self.lib.catalog, self).exec())
        for w in (self.progress, self.pause_button, self.cancel_button, self.failed_button):
            sb.addPermanentWidget(w)
        self.undo_notice = UndoNotice(self.details.undo_stack, self)  # "Rejected tag ... [Undo]", and Ctrl+Z
        sb.addWidget(self.undo_notice)

        self.toast = QLabel(self)
        self.toast.setStyleSheet("background: #323232; color: white; padding: 10px 14px; border-radius: 8px;")
        self.toast.setWordWrap(True)
        self.toast.hide()
        self._toast_timer = QTimer(self, singleShot=True, interval=6000)
        self._toast_timer.timeout.connect(self.toast.hide)

    def _date_edit(self, any_text: str) -> LibraryDateEdit:
        edit = LibraryDateEdit(any_text, opens_at_end=any_text.startswith("To"))
        edit.dateChanged.connect(lambda _d: self.state.set_dates(*self._dates()))
        return edit

    def _welcome(self) -> QWidget:
        from desktop_app.gui.welcome import WelcomePage

        self.welcome = WelcomePage()
        self.welcome.index_now.connect(self.library_jobs.choose_folder)
        self.welcome.download.connect(self._download_then_add_folder)
        return self.welcome

    def _download_then_add_folder(self, model_id: str) -> None:
        """First run, "Download and use": the download starts, and indexing waits for the switch."""
        self.switch_model(model_id)
        self.library_jobs.choose_folder()

    def _shortcuts(self) -> None:
        for keys, slot in ((QKeySequence.StandardKey.Find, self.search_box.setFocus),
                           (QKeySequence.StandardKey.Open, self.library_jobs.choose_folder),
                           (QKeySequence("Esc"), self.back),
                           (QKeySequence("Ctrl+Shift+F"), self._similar_to_current),
                           (QKeySequence("Ctrl+Q"), self.close)):  # StandardKey.Quit is empty on some platforms
            QShortcut(keys, self, activated=slot)

    def eventFilter(self, obj, event) -> bool:
        from PySide6.QtCore import QEvent

        if obj is self.grid and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            row = self.grid.currentIndex().row()
            if key == Qt.Key.Key_Space and row >= 0:
                self.open_viewer(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and row >= 0:
                self.open_file(self.grid_model.photo_id(row))
                return True
            if key == Qt.Key.Key_S and not event.modifiers() and row >= 0:
                self._similar_to_current()
                return True
        return super().eventFilter(obj, event)

    # -- library state --------------------------------------------------------------------
    def refresh_library(self) -> None:
        """Show the library as the catalog has it now: the grid at once, the sidebar when its counts (a few
        hundred milliseconds of SQL on a big library) have been read off the GUI thread."""
        has_roots = bool(self.lib.catalog.roots())
        self.stack.setCurrentIndex(1 if has_roots else 0)
        self._show_date_range()
        if not has_roots and not self.welcome.facts:
            self.welcome.load(self.runner)
        self.sidebar_controller.refresh()
        if self.mode == "browse":
            self.grid_controller.load_browse()
        self.status_line.show()
        self._refresh_banner()

    def _show_library(self) -> None:
        """After indexing: the grid's page or the welcome page, the date range, the missing-photos banner."""
        self.stack.setCurrentIndex(1 if self.lib.catalog.roots() else 0)
        self._show_date_range()
        self._refresh_banner()

    def _show_date_range(self) -> None:
        """The date pickers open on the library's first and last day (two index lookups)."""
        taken = self.lib.catalog.browse.taken_range()
        for edit in (self.date_from, self.date_to):
            edit.set_library_range(taken)

    def _refresh_banner(self) -> None:
        """The missing-photos banner as the catalog has it now (read off the GUI thread)."""
        read_catalog(self.runner, self.lib.paths.catalog, "missing photos", missing_summary, self.banner.show_summary)

    # -- the browse state ------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """"browse" (the library, filtered) or "results" (a search)."""
        return "browse" if self.state.mode is Mode.BROWSE else "results"

    def _state_changed(self, _fields: frozenset[str]) -> None:
        """Render the state, then fill the grid for it."""
        self._render_state()
        self.grid_controller.rerun()

    def _render_state(self) -> None:
        """The widgets that show the state say what it is: the search box shows the query shown (after Find
        similar, `similar:ID`), the chips the filters, the sidebar, sort and dates their part."""
        st = self.state
        if self.search_box.text() != st.query.box_text:
            self.search_box.setText(st.query.box_text)
        self.search_box.setToolTip(st.query.label)
        self.chips.show_chips(st.chips())
        self.back_action.setVisible(st.mode is not Mode.BROWSE or st.filters.active)
        f = st.filters
        for edit, day in ((self.date_from, f.date_from), (self.date_to, f.date_to)):
            edit.set_chosen(day)
        if self.sort_box.currentData() != st.sort:
            self.sort_box.blockSignals(True)
            self.sort_box.setCurrentIndex(max(0, self.sort_box.findData(st.sort)))
            self.sort_box.blockSignals(False)
        self.sidebar_controller.render_selection()

    def _dates(self) -> tuple[date | None, date | None]:
        return self.date_from.chosen(), self.date_to.chosen()

    def find_faces(self) -> None:
        """The People section's "Find faces": faces on for this library (as `index --faces`), then index."""
        from engine.errors import PhotosiftError
        from engine.update import set_faces_setting

        try:
            set_faces_setting(self.lib.catalog, True)
        except PhotosiftError as e:
            self.notify(str(e), error=True)
            return
        self.people.refresh(self.lib.catalog)
        self.start_index()

    def _faces_changed(self) -> None:
        """A face was named or moved on the preview: the People list recounts, and a grid filtered by a
        person is read again (the photo may have left or joined them)."""
        self.people.refresh(self.lib.catalog)
        if self.state.filters.person and self.mode == "browse":
            self.grid_controller.load_browse(keep_place=True)

    def back(self) -> None:
        """"All photos": no query, no filters, nothing selected."""
        if self.state.mode is not Mode.BROWSE or self.state.filters.active:
            self.state.show_all()

    def search(self, text: str) -> None:
        """The search box's text: a query, `similar:ID`, or nothing for all photos (filters stay)."""
        text = text.strip()
        if not text:
            self.back()
            return
        query = Query.typed(text)
        if query.mode is Mode.TEXT:
            self._remember(text)
        if query.mode is Mode.SIMILAR and query.photo_id is not None:
            self.find_similar(query.photo_id)
        else:
            self.grid_controller.show_query(query)  # Enter again: search again (the library may have changed)

    def find_similar(self, photo_id: int) -> None:
        photo = self.lib.catalog.photo(photo_id)
        self.grid_controller.show_query(Query.similar(photo_id, os.path.basename(photo.path) if photo else ""))

    def search_image_file(self, path: str) -> None:
        self.grid_controller.show_query(Query.image(path), again=False)

    def _similar_to_current(self) -> None:
        row = self.grid.currentIndex().row()
        if row >= 0:
            self.find_similar(self.grid_model.photo_id(row))

    def _remember(self, text: str) -> None:
        items = [text, *[s for s in self.recent.stringList() if s != text]][:MAX_RECENT]
        self.recent.setStringList(items)
        self.settings.setValue("recent_searches", items)

    # -- selection, viewer, context menu ---------------------------------------------------
    def _show_current(self) -> None:
        """The details panel and face boxes read the current photo again (new grid content, a new model)."""
        self._current_changed(self.grid.currentIndex(), self.grid.currentIndex())

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.state.select(None)
            self.details.show_photo(None, None)
            return
        pid = self.grid_model.photo_id(current.row())
        self.state.select(pid)
        photo = self.lib.catalog.photo(pid)
        self.details.show_photo(photo, self.lib.catalog, self.loader.pixmap(pid), current.data(ScoreRole),
                                offline=bool(current.data(OfflineRole)))
        self.face_boxes.show(photo, self.lib.catalog)

    def _preview_ready(self, photo_id: int) -> None:
        """The details panel shows its photo's preview once the thumbnail is loaded, not a stale placeholder."""
        if self.details.photo is not None and self.details.photo.id == photo_id:
            current = self.grid.currentIndex()
            if current.isValid() and self.grid_model.photo_id(current.row()) == photo_id:
                self._current_changed(current, current)

    def open_viewer(self, row: int) -> None:
        if 0 <= row < self.grid_model.rowCount():
            viewer = PhotoViewer(self.lib.catalog, self.grid_model.ids, row, self, placeholder=self.loader.pixmap)
            viewer.exec()
            self.grid.setCurrentIndex(self.grid_model.index(viewer.row))

    def open_file(self, photo_id: int) -> None:
        photo = self.lib.catalog.photo(photo_id)
        if photo:
            QDesktopServices.openUrl(QUrl.fromLocalFile(photo.path))

    def _context_menu(self, pos) -> None:
        idx = self.grid.indexAt(pos)
        if not idx.isValid():
            return
        pid = self.grid_model.photo_id(idx.row())
        photo = self.lib.catalog.photo(pid)
        if photo is None:
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_file(pid))
        menu.addAction("Show in file manager",
                       lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(photo.path))))
        menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(photo.path))
        menu.addSeparator()
        menu.addAction("Find similar", lambda: self.find_similar(pid))
        chosen = sorted({self.grid_model.photo_id(i.row()) for i in self.grid.selectionModel().selectedIndexes()})
        menu.addMenu(album_menu(self, self.lib.catalog, chosen if pid in chosen else [pid], self.state.filters.album,
                                self._albums_changed))
        mark = self.grid_model.stacks.get(pid)
        if mark is not None:
            what = ("frames of this burst", "burst") if self.grid_controller.browsing else ("copies", "copies")
            menu.addAction(f"Show all {mark.size} {what[0]}" if mark.position is None
                           else f"Stack these {what[1]} again" if what[1] == "copies" else "Stack this burst again",
                           lambda: self.grid_controller.toggle_burst(pid))
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def _albums_changed(self, message: str) -> None:
        """Photos went into or out of an album: its count in the sidebar, and the grid when it shows the album."""
        self.notify(message)
        self.sidebar_controller.refresh()
        if self.state.filters.album is not None:
            self.grid_controller.rerun(keep_place=True)
        else:  # the details panel names the current photo's albums
            current = self.grid.currentIndex()
            if current.isValid():
                self._current_changed(current, current)

    # -- drag and drop --------------------------------------------------------------------
    def _dropped_image(self, event) -> str | None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and is_photo_name(url.toLocalFile()):
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event) -> None:
        if self._dropped_image(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = self._dropped_image(event)
        if path:
            event.acceptProposedAction()
            self.search_image_file(path)

    # -- the library jobs, and the dialogs that start them ----------------------------------
    def add_folder(self, folder: str | Path, index: bool = True) -> bool:
        return self.library_jobs.add_folder(folder, index)

    def start_index(self, confirm_deletions: bool = False) -> None:
        self.library_jobs.start_index(confirm_deletions)

    def switch_model(self, model_id: str) -> None:
        self.library_jobs.switch_model(model_id)

    def _model_changed(self) -> None:
        """The library switched models: the tag list and the current photo's details (zero-shot tags) are read
        again; a score on screen is the previous model's and goes (the grid's go with its search run again)."""
        self.sidebar_controller.refresh()
        self._show_current()
        if self.mode == "results":
            self.details.fields["Score"].setText("")

    def open_settings(self) -> None:
        from engine.text_in_photos import text_enabled, text_installed

        reading = text_enabled(self.lib.catalog) if text_installed() else None
        dialog = SettingsDialog(self.settings, self.lib.active_model_id, self, runner=self.runner, read_text=reading)
        if dialog.exec():
            self.apply_settings(dialog.chosen_model())
            if reading is not None and dialog.read_text.isChecked() != reading:
                self.set_read_text(dialog.read_text.isChecked())
        dialog.models.cancel_import()

    def set_read_text(self, on: bool) -> None:
        """Text in photos on or off for this library (as `index --text`); on, the library is indexed to read it."""
        from engine.errors import PhotosiftError
        from engine.text_in_photos import set_text_setting

        try:
            set_text_setting(self.lib.catalog, on)
        except PhotosiftError as e:
            self.notify(str(e), error=True)
            return
        if on:
            self.start_index()

    def apply_settings(self, model_id: str) -> None:
        """Settings' OK, or training's "use the new model": the thumbnail size, the model, stacked bursts."""
        self.grid.set_thumb_size(int(self.settings.value("thumb_size", 160)))
        self.size_slider.setValue(self.grid.iconSize().width())
        if model_id != self.lib.active_model_id:
            self.switch_model(model_id)
        else:
            self.grid_controller.restack()

    def open_training(self) -> None:
        from desktop_app.extras import training_ready

        if not training_ready(self, "Fine-tuning"):
            return
        from desktop_app.gui.training_dialog import TrainingDialog

        TrainingDialog(self.library_dir, self.lib.active_model_id, self.runner, self.apply_settings, self).exec()

    # -- notifications --------------------------------------------------------------------
    def notify(self, text: str, error: bool = False) -> None:
        self.toast.setText(text)
        self.toast.setStyleSheet(("background: #8c1d18;" if error else "background: #323232;")
                                 + " color: white; padding: 10px 14px; border-radius: 8px;")
        self.toast.setMaximumWidth(520)
        self.toast.adjustSize()
        self.toast.move(self.width() - self.toast.width() - 24, self.height() - self.toast.height() - 48)
        self.toast.show()
        self.toast.raise_()
        self._toast_timer.start()

    def closeEvent(self, event) -> None:
        self._background_started = True  # a deferred start still pending must not touch the closed library
        if self.watcher is not None:
            self.watcher.stop()
        self.runner.shutdown()
        self.loader.shutdown()
        self.duplicates.shutdown()
        self.lib.close()
        super().closeEvent(event)
