"""The main window: search bar with filter chips, folder/tag sidebar, thumbnail grid, details panel.

What is shown is the browse state's (desktop_app.browse_state): the window renders it (search box, chips,
sidebar selection, sort, dates) and, when it changes, fills the grid again (grid_controller). Folders,
indexing and model choice are in library_jobs.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
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
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.browse_state import BrowseState, Mode, Query
from desktop_app.gui.banner import MissingBanner, missing_summary
from desktop_app.gui.chips import FilterChips
from desktop_app.gui.dateedit import LibraryDateEdit
from desktop_app.gui.dialogs import FailedFilesDialog, PhotoViewer, setting_on
from desktop_app.gui.duplicates_view import attach_duplicates_view
from desktop_app.gui.grid import OfflineRole, PhotoGridModel, ScoreRole
from desktop_app.gui.grid_controller import EncoderCache, GridController, GridRead
from desktop_app.gui.gridview import PhotoGridView
from desktop_app.gui.library_jobs import LibraryJobs
from desktop_app.gui.panels import DetailsPanel, LibrarySidebar, SidebarData, tree_item
from desktop_app.gui.people import FaceBoxes, PeoplePanel
from desktop_app.gui.places import PlaceRole, PlacesTree, add_places_section
from desktop_app.gui.tag_undo import UndoNotice
from desktop_app.gui.thumbs import ThumbnailLoader
from desktop_app.gui.watching import LibraryWatcher
from desktop_app.gui.worker import JobRunner, JobWorker
from engine.imageio import is_photo_name
from engine.library import Library

log = logging.getLogger(__name__)

MAX_RECENT = 15

__all__ = ["GridRead", "MainWindow"]


def _settle_heap() -> None:
    """What start-up made (modules, classes, widgets) lives as long as the app: take it out of the cyclic
    GC's sight once, so that a full collection later walks only what was made since. Otherwise one such
    collection, triggered by whatever allocates next, stalls the event loop for tens of milliseconds."""
    if gc.get_freeze_count() == 0:
        gc.freeze()


class MainWindow(GridController, LibraryJobs, QMainWindow):
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
        self._encoders = EncoderCache()
        self.index_job: JobWorker | None = None
        self.model_job: JobWorker | None = None  # installing a model and switching the library to it
        self._index_after_switch = False  # indexing was asked for while a model was being prepared
        self._counts: dict[str, int] | None = None  # the catalog's counts as last read
        self._status_extra = ""  # what the running job is doing, for the status line
        self._sidebar_generation = 0
        self._grid_generation = 0  # bumped whenever the grid gets new content
        self._request = 0  # bumped by each browse read or search asked for: only the latest answer is shown
        self._everything_for: Query | None = None  # the query "Show more" was asked for: shown without the cutoff
        self._grid_top_id = 0  # the highest photo id when the browse grid was read: newer ones are appended
        self._growing = False
        self._expanded_bursts: set[int] = set()  # burst groups the user opened out in the grid
        self._stacks_shown = True  # whether the browse grid was last read with bursts stacked
        self._index_stage = ""
        self.setWindowTitle("Photosift")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
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
        self._name_places()
        if setting_on(self.settings, "watch_folders"):
            self.watcher = LibraryWatcher(self)

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.loader = ThumbnailLoader(self.lib.paths.thumbnails, self)
        self.grid_model = PhotoGridModel(self.lib.catalog, self.loader, self)
        self.grid = PhotoGridView(self.loader)
        self.grid.setModel(self.grid_model)
        self.grid.set_thumb_size(int(self.settings.value("thumb_size", 160)))
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.doubleClicked.connect(lambda idx: self.open_viewer(idx.row()))
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.grid.stack_clicked.connect(self.toggle_burst)
        self.grid.show_more_clicked.connect(self.show_more)
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
        for text, slot in (("Add folder\u2026", self.choose_folder), ("Index", self.start_index),
                           ("Train\u2026", self.open_training), ("Settings\u2026", self.open_settings)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            bar.addAction(action)

        self.sidebar = LibrarySidebar()
        self.sidebar.folder_chosen.connect(self._folder_chosen)
        self.sidebar.tag_chosen.connect(self._tag_chosen)
        self.sidebar.uncertain_tag_chosen.connect(lambda tag: self.state.set_tag(tag, uncertain_too=True))
        self.sidebar.rendered.connect(self._render_sidebar_selection)  # a recount keeps marking the filters
        self.places = add_places_section(self.sidebar)
        self.places.place_chosen.connect(self._place_chosen)
        self.details = DetailsPanel()
        self.details.find_similar.connect(self.find_similar)
        self.loader.pixmap_ready.connect(self._preview_ready)
        self.details.tags_changed.connect(lambda _pid: self.sidebar.refresh_tags(self.lib.catalog))
        self.people = PeoplePanel()  # people (issue #17): sidebar section and named boxes on the preview
        self.sidebar.layout().addWidget(self.people, 2)
        self.people.person_chosen.connect(self._person_chosen)
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
        self.status_label = QLabel()
        sb.addWidget(self.status_label, 1)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        sb.addPermanentWidget(self.progress)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_index)
        self.failed_button = QPushButton()
        self.failed_button.setFlat(True)
        self.failed_button.setStyleSheet("color: #b3261e;")
        self.failed_button.clicked.connect(lambda: FailedFilesDialog(self.lib.catalog, self).exec())
        for w in (self.pause_button, self.cancel_button):
            w.setVisible(False)
            sb.addPermanentWidget(w)
        sb.addPermanentWidget(self.failed_button)
        self.undo_notice = UndoNotice(self.details.undo_stack, self)  # "Rejected tag ... [Undo]", and Ctrl+Z
        sb.addWidget(self.undo_notice)

        self.toast = QLabel(self)
        self.toast.setStyleSheet("background: #323232; color: white; padding: 10px 14px; border-radius: 8px;")
        self.toast.setWordWrap(True)
        self.toast.hide()
        self._toast_timer = QTimer(self, singleShot=True, interval=6000)
        self._toast_timer.timeout.connect(self.toast.hide)
        self._grow_timer = QTimer(self, interval=1500)
        self._grow_timer.timeout.connect(self._grow_grid)

    def _date_edit(self, any_text: str) -> LibraryDateEdit:
        edit = LibraryDateEdit(any_text, opens_at_end=any_text.startswith("To"))
        edit.dateChanged.connect(lambda _d: self.state.set_dates(*self._dates()))
        return edit

    def _welcome(self) -> QWidget:
        from desktop_app.gui.welcome import WelcomePage

        self.welcome = WelcomePage()
        self.welcome.index_now.connect(self.choose_folder)
        self.welcome.download.connect(self._download_then_add_folder)
        return self.welcome

    def _download_then_add_folder(self, model_id: str) -> None:
        """First run, "Download and use": the download starts, and indexing waits for the switch."""
        self.switch_model(model_id)
        self.choose_folder()

    def _shortcuts(self) -> None:
        for keys, slot in ((QKeySequence.StandardKey.Find, self.search_box.setFocus),
                           (QKeySequence.StandardKey.Open, self.choose_folder),
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
        self._refresh_sidebar()
        if self.mode == "browse":
            self.load_browse()
        self._update_status()
        self._refresh_banner()

    def _show_date_range(self) -> None:
        """The date pickers open on the library's first and last day (two index lookups)."""
        taken = self.lib.catalog.taken_range()
        for edit in (self.date_from, self.date_to):
            edit.set_library_range(taken)

    def _refresh_banner(self) -> None:
        """The missing-photos banner as the catalog has it now (read off the GUI thread)."""
        self._read_catalog("missing photos", missing_summary, self.banner.show_summary)

    def _refresh_sidebar(self, then: Callable[[], None] | None = None) -> None:
        self._sidebar_generation += 1
        generation = self._sidebar_generation

        def show(data: SidebarData | None) -> None:
            if data is not None and generation == self._sidebar_generation:
                self.sidebar.show_data(data)
                self.people.refresh(self.lib.catalog)
            if then is not None:
                then()

        self._read_catalog("sidebar", LibrarySidebar.load, show)

        def show_places(rows) -> None:
            self.places.show_counts(rows)
            self._render_sidebar_selection()  # the tree keeps its own current item; the filters decide

        self._read_catalog("places", PlacesTree.load, show_places)

    def _name_places(self) -> None:
        """Photos indexed before places existed are named once, in a child process (loading the place data
        takes a second of CPU the GUI thread must not lose); new photos are named by each index."""
        if self.lib.catalog.read_only:
            return

        def start(unnamed: int | None) -> None:
            if not unnamed:
                return
            from engine.places import name_library_places

            self.runner.start_process(name_library_places, (self.library_dir,), name="places",
                                      on_done=lambda _n: self._refresh_sidebar(),
                                      on_error=lambda message: log.warning("places: %s", message))

        # The count reads every photo (~60 ms at 100k): off the GUI thread like the grid's own reads.
        self._read_catalog("places to name", lambda catalog: catalog.count_photos_needing_place(), start)

    def _update_status(self, extra: str | None = None, recount: bool = True) -> None:
        """The status line; `recount=False` reuses the last counts (progress reports come often)."""
        if recount or self._counts is None:
            self._counts = self.lib.catalog.counts()
        if extra is not None:
            self._status_extra = extra
        c, extra = self._counts, self._status_extra
        shown = self.grid_model.photos_in_rows(0, self.grid_model.rowCount())
        noun = "result" if self.mode == "results" else "photo"
        what = f"{shown} {noun}{'' if shown == 1 else 's'}"
        bursts = self.grid_model.stacked_bursts()
        if bursts:
            what += f" ({bursts} burst{'' if bursts == 1 else 's'} stacked)"
        if self.mode == "results":
            what += f" for \u201c{self.last_query}\u201d"
        self.status_label.setText(f"{what}   \u2022   {c['total']} in library, model {self.lib.active_model_id}"
                                  + (f"   \u2022   {extra}" if extra else ""))
        self.failed_button.setText(f"{c['error']} unreadable" if c["error"] else "")
        self.failed_button.setVisible(bool(c["error"]))

    # -- the browse state ------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """"browse" (the library, filtered) or "results" (a search)."""
        return "browse" if self.state.mode is Mode.BROWSE else "results"

    @property
    def last_query(self) -> str:
        return self.state.query.label

    def _state_changed(self, _fields: frozenset[str]) -> None:
        """Render the state, then fill the grid for it."""
        self._render_state()
        self._rerun()

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
        self._render_sidebar_selection()

    def _render_sidebar_selection(self) -> None:
        """The sidebar marks exactly what the filters choose; nothing stays marked once its chip is gone, and
        a recount does not lose a mark (the lists keep no choice of their own)."""
        f = self.state.filters
        self.sidebar.mark(f.folder, f.tag, f.tag_uncertain_too)
        place = tree_item(self.places, lambda it: f.place is not None and it.data(0, PlaceRole) == f.place)
        if place is not None:
            self.places.setCurrentItem(place)
        else:
            self.places.setCurrentIndex(QModelIndex())
            self.places.clearSelection()
        if not f.person:
            self.people.clear_choice()

    def _dates(self) -> tuple[date | None, date | None]:
        return self.date_from.chosen(), self.date_to.chosen()

    def _folder_chosen(self, folder: str | None) -> None:
        self.state.set_folder(folder, keep_tag=False)  # the sidebar clears its tag selection on a folder click

    def _tag_chosen(self, tag: str | None) -> None:
        self.state.set_tag(tag)

    def _place_chosen(self, place: str | None) -> None:
        self.state.set_place(place)

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
            self.load_browse(keep_place=True)

    def _person_chosen(self, person: str | None) -> None:
        """The People list gives a person's id: the filter keeps it, the chip shows their name."""
        row = self.lib.catalog.person(int(person)) if person and person.isdigit() else None
        self.state.set_person(person, row.name if row is not None and row.name else f"#{person}")

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
        self._everything_for = None  # a search asked for again has the relevance cutoff again
        if query.mode is Mode.TEXT:
            self._remember(text)
        if query.mode is Mode.SIMILAR and query.photo_id is not None:
            self.find_similar(query.photo_id)
        elif query == self.state.query:
            self._rerun()  # Enter again: search again (the library may have changed)
        else:
            self.state.set_query(query)

    def find_similar(self, photo_id: int) -> None:
        photo = self.lib.catalog.photo(photo_id)
        query = Query.similar(photo_id, os.path.basename(photo.path) if photo else "")
        self._everything_for = None
        if query == self.state.query:
            self._rerun()
        else:
            self.state.set_query(query)

    def search_image_file(self, path: str) -> None:
        self._everything_for = None
        self.state.set_query(Query.image(path))

    def _similar_to_current(self) -> None:
        row = self.grid.currentIndex().row()
        if row >= 0:
            self.find_similar(self.grid_model.photo_id(row))

    def _remember(self, text: str) -> None:
        items = [text, *[s for s in self.recent.stringList() if s != text]][:MAX_RECENT]
        self.recent.setStringList(items)
        self.settings.setValue("recent_searches", items)

    # -- selection, viewer, context menu ---------------------------------------------------
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
            viewer = PhotoViewer(self.lib.catalog, self.grid_model.ids, row, self)
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
        mark = self.grid_model.stacks.get(pid)
        if mark is not None:
            menu.addAction(f"Show all {mark.size} frames of this burst" if mark.position is None
                           else "Stack this burst again", lambda: self.toggle_burst(pid))
        menu.exec(self.grid.viewport().mapToGlobal(pos))

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
