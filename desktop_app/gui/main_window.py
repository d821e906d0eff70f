"""The main window: search bar, folder/tag sidebar, thumbnail grid, details panel, background jobs."""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from PySide6.QtCore import QDate, QModelIndex, QPoint, QSettings, QStringListModel, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateEdit,
    QFileDialog,
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

from desktop_app.background import index_library
from desktop_app.gui.banner import MissingBanner, missing_summary
from desktop_app.gui.dialogs import FailedFilesDialog, PhotoViewer, SettingsDialog
from desktop_app.gui.grid import OfflineRole, PhotoGridModel, PhotoGridView, ScoreRole, offline_root_ids
from desktop_app.gui.panels import DetailsPanel, LibrarySidebar, SidebarData
from desktop_app.gui.people import FaceBoxes, PeoplePanel
from desktop_app.gui.thumbs import ThumbnailLoader
from desktop_app.gui.worker import JobRunner, JobWorker
from engine.catalog import PhotoCatalog
from engine.imageio import is_photo_name
from engine.jobs import CancelToken, Progress, eta_text, stage_label
from engine.library import Library

if TYPE_CHECKING:
    from engine.encoder import ClipEncoder
    from engine.search import SearchFilters, SearchOptions

log = logging.getLogger(__name__)

ANY_DATE = QDate(1800, 1, 1)
MAX_RECENT = 15


class GridRead(NamedTuple):
    ids: list[int]  # the browse grid's photos, in order
    top_id: int  # the highest photo id when they were read: photos added later have higher ids
    counts: dict[str, int]
    offline_roots: set[int]  # roots whose folder is offline or not there now: their photos are marked


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
        self._encoder: ClipEncoder | None = None
        self._encoder_lock = threading.Lock()
        self.index_job: JobWorker | None = None
        self.model_job: JobWorker | None = None  # installing a model and switching the library to it
        self._index_after_switch = False  # indexing was asked for while a model was being prepared
        self.mode = "browse"
        self.folder_filter: str | None = None
        self.tag_filter: str | None = None
        self.person_filter: str | None = None  # a person id as text (People sidebar)
        self.last_query = ""
        self._last_search: tuple[str, Callable[[Any, Any], Any]] | None = None  # what _rerun repeats
        self._counts: dict[str, int] | None = None  # the catalog's counts as last read
        self._status_extra = ""  # what the running job is doing, for the status line
        self._sidebar_generation = 0
        self._grid_generation = 0  # bumped whenever the grid gets new content
        self._grid_top_id = 0  # the highest photo id when the browse grid was read: newer ones are appended
        self._growing = False
        self._index_stage = ""
        self.setWindowTitle("Photosift")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self._build()
        self._shortcuts()
        self.refresh_library()
        _settle_heap()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.loader = ThumbnailLoader(self.lib.paths.thumbnails, self)
        self.grid_model = PhotoGridModel(self.lib.catalog.conn, self.loader, self)
        self.grid = PhotoGridView(self.loader)
        self.grid.setModel(self.grid_model)
        self.grid.set_thumb_size(int(self.settings.value("thumb_size", 160)))
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.doubleClicked.connect(lambda idx: self.open_viewer(idx.row()))
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)
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
        self.search_box.setMinimumWidth(420)
        self.recent = QStringListModel(list(self.settings.value("recent_searches", []) or []))
        completer = QCompleter(self.recent, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search_box.setCompleter(completer)
        bar.addWidget(self.search_box)
        self.sort_box = QComboBox()
        self.sort_box.addItem("Relevance", "relevance")
        self.sort_box.addItem("Date taken", "date")
        self.sort_box.currentIndexChanged.connect(lambda _i: self._rerun())
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
        bar.addWidget(self.size_slider)
        for text, slot in (("Add folder\u2026", self.choose_folder), ("Index", self.start_index),
                           ("Train\u2026", self.open_training), ("Settings\u2026", self.open_settings)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            bar.addAction(action)

        self.sidebar = LibrarySidebar()
        self.sidebar.folder_chosen.connect(self._folder_chosen)
        self.sidebar.tag_chosen.connect(self._tag_chosen)
        self.details = DetailsPanel()
        self.details.find_similar.connect(self.find_similar)
        self.details.tags_changed.connect(lambda _pid: self.sidebar.refresh_tags(self.lib.catalog))
        self.people = PeoplePanel()  # people (issue #17): sidebar section and named boxes on the preview
        self.sidebar.layout().addWidget(self.people, 2)
        self.people.person_chosen.connect(self._person_chosen)
        self.face_boxes = FaceBoxes(self.details.preview)
        self.face_boxes.named.connect(lambda: self.people.refresh(self.lib.catalog))
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

        self.toast = QLabel(self)
        self.toast.setStyleSheet("background: #323232; color: white; padding: 10px 14px; border-radius: 8px;")
        self.toast.setWordWrap(True)
        self.toast.hide()
        self._toast_timer = QTimer(self, singleShot=True, interval=6000)
        self._toast_timer.timeout.connect(self.toast.hide)
        self._grow_timer = QTimer(self, interval=1500)
        self._grow_timer.timeout.connect(self._grow_grid)

    def _date_edit(self, any_text: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setCalendarPopup(True)
        edit.setMinimumDate(ANY_DATE)
        edit.setSpecialValueText(any_text)
        edit.setDate(ANY_DATE)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.dateChanged.connect(lambda _d: self._rerun())
        return edit

    def _welcome(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        title = QLabel("Welcome to Photosift")
        title.setStyleSheet("font-size: 26px; font-weight: 600;")
        text = QLabel("Add a folder of photos. Photosift indexes it on this computer, then you can search it by "
                      "words, find similar photos with one click, and browse by folder, date and tag.\n"
                      "Nothing leaves your machine.")
        text.setWordWrap(True)
        text.setMaximumWidth(560)
        button = QPushButton("Add a photo folder\u2026")
        button.setStyleSheet("font-size: 15px; padding: 10px 24px;")
        button.clicked.connect(self.choose_folder)
        for w in (title, text, button):
            layout.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        return page

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
        self._refresh_sidebar()
        if self.mode == "browse":
            self.load_browse()
        self._update_status()
        self._refresh_banner()

    def _refresh_banner(self) -> None:
        """The missing-photos banner as the catalog has it now (read off the GUI thread)."""
        self._read_catalog("missing photos", missing_summary, self.banner.show_summary)

    def _read_catalog(self, name: str, read: Callable[[PhotoCatalog], Any], on_done: Callable[[Any], None]) -> None:
        """read(catalog) on a worker thread with its own connection; on_done(result) in the GUI thread."""
        path = self.lib.paths.catalog

        def job(_progress, _token: CancelToken) -> Any:
            with PhotoCatalog(path) as catalog:
                return read(catalog)

        def failed(message: str) -> None:
            log.warning("%s: %s", name, message)
            on_done(None)

        self.runner.start(job, name=name, on_done=on_done, on_error=failed)

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

    def _update_status(self, extra: str | None = None, recount: bool = True) -> None:
        """The status line; `recount=False` reuses the last counts (progress reports come often)."""
        if recount or self._counts is None:
            self._counts = self.lib.catalog.counts()
        if extra is not None:
            self._status_extra = extra
        c, extra = self._counts, self._status_extra
        shown = self.grid_model.rowCount()
        noun = "result" if self.mode == "results" else "photo"
        what = f"{shown} {noun}{'' if shown == 1 else 's'}"
        if self.mode == "results":
            what += f" for \u201c{self.last_query}\u201d"
        self.status_label.setText(f"{what}   \u2022   {c['total']} in library, model {self.lib.active_model_id}"
                                  + (f"   \u2022   {extra}" if extra else ""))
        self.failed_button.setText(f"{c['error']} unreadable" if c["error"] else "")
        self.failed_button.setVisible(bool(c["error"]))

    def _browse_query(self, after_id: int | None = None) -> tuple[str, list[object]]:
        """The SQL of the grid in browse mode (current filters, newest first); only ids above `after_id`."""
        clauses: list[str] = []
        params: list[object] = []
        if after_id is not None:
            clauses.append("id > ?")
            params.append(after_id)
        if self.folder_filter:
            clauses.append("(substr(path, 1, ?) = ?)")
            prefix = self.folder_filter.rstrip(os.sep) + os.sep
            params += [len(prefix), prefix]
        if self.tag_filter:
            clauses.append("id IN (SELECT photo_id FROM tags WHERE name = ? AND source != 'rejected')")
            params.append(self.tag_filter)
        if self.person_filter:
            clauses.append("id IN (SELECT photo_id FROM faces WHERE person_id = ?)")
            params.append(int(self.person_filter))
        lo, hi = self._dates()
        if lo:
            clauses.append("substr(taken_at, 1, 10) >= ?")
            params.append(lo.isoformat())
        if hi:
            clauses.append("substr(taken_at, 1, 10) <= ?")
            params.append(hi.isoformat())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        # Browsing has no query to be relevant to: newest first, as photo apps do.
        order = "COALESCE(taken_at, datetime(mtime, 'unixepoch')) DESC, path"
        return f"SELECT id FROM photos {where} ORDER BY {order}", params

    def _read_grid(self, name: str, on_result: Callable[[GridRead | None, bool], None],
                   after_id: int | None = None) -> None:
        """Read the browse grid (only ids above `after_id`), the highest photo id and the counts off the GUI
        thread; on_result(read, current) gets None when the read failed, and current=False when the grid was
        given other content meanwhile. Showing search results, only the counts are read (no ids, top 0)."""
        generation = self._grid_generation
        sql, params = self._browse_query(after_id)
        browsing = self.mode == "browse"

        def read(catalog: PhotoCatalog) -> GridRead:
            offline = offline_root_ids(catalog.roots())
            if not browsing:
                return GridRead([], 0, catalog.counts(), offline)
            top = catalog.conn.execute("SELECT MAX(id) FROM photos").fetchone()[0] or 0  # newer photos: higher ids
            return GridRead([r[0] for r in catalog.conn.execute(sql, params)], top, catalog.counts(), offline)

        def done(result: GridRead | None) -> None:
            if result is not None:
                self.grid_model.set_offline_roots(result.offline_roots)
            on_result(result, generation == self._grid_generation)

        self._read_catalog(name, read, done)

    def load_browse(self) -> None:
        """The grid for the current folder/tag/date filters, read off the GUI thread (~85 ms of SQL at 100k
        photos); a newer request or a search that lands first wins."""
        self.mode = "browse"
        self.back_action.setVisible(bool(self.folder_filter or self.tag_filter or self.person_filter))
        self._grid_generation += 1  # what was on its way for the previous content is dropped

        def show(result: GridRead | None, current: bool) -> None:
            if result is None or not current or self.mode != "browse":
                return
            self._grid_top_id, self._counts = result.top_id, result.counts
            self._show_photos(result.ids)
            self._update_status(recount=False)
            self.browse_loaded.emit(len(result.ids))

        self._read_grid("browse", show)

    def _show_photos_keeping_place(self, ids: list[int]) -> None:
        """Replace the grid's photos but keep the user where they were: the same photo current, and the same
        photo at the top of the view."""
        old = self.grid_model.ids
        current = self.grid.currentIndex()
        current_id = old[current.row()] if current.isValid() and current.row() < len(old) else None
        top = self.grid.indexAt(QPoint(self.grid.spacing() + 2, self.grid.spacing() + 2))
        top_id = old[top.row()] if top.isValid() and top.row() < len(old) else None
        self._show_photos(ids)
        if current_id is None and top_id is None:
            return
        row_of = {pid: row for row, pid in enumerate(ids)}
        if current_id in row_of:
            self.grid.setCurrentIndex(self.grid_model.index(row_of[current_id]))
        if top_id in row_of:
            self.grid.scrollTo(self.grid_model.index(row_of[top_id]), QAbstractItemView.ScrollHint.PositionAtTop)

    def _show_photos(self, ids: list[int], scores: dict[int, float] | None = None,
                     offline: set[int] | None = None) -> None:
        self._grid_generation += 1  # answers to queries made for the previous content are dropped
        self.grid_model.set_photos(ids, scores, offline)

    def _grow_grid(self) -> None:
        """While indexing, new photos appear in the grid without disturbing the user's place: only photos
        newer than the grid are read, off the GUI thread, and appended; the counts come along."""
        if self._growing:
            return
        self._growing = True
        browsing = self.mode == "browse"

        def show(result: GridRead | None, current: bool) -> None:
            self._growing = False
            if result is None:
                return
            self._counts = result.counts
            if browsing and current:
                self.grid_model.append_photos(result.ids)
                self._grid_top_id = max(self._grid_top_id, result.top_id)
            self._update_status(recount=False)

        self._read_grid("grid update", show, after_id=self._grid_top_id)

    def _dates(self):
        lo = self.date_from.date() if self.date_from.date() != ANY_DATE else None
        hi = self.date_to.date() if self.date_to.date() != ANY_DATE else None
        return (lo.toPython() if lo else None, hi.toPython() if hi else None)

    def _filters(self) -> SearchFilters:
        from engine.search import SearchFilters

        lo, hi = self._dates()
        return SearchFilters(self.folder_filter, lo, hi, self.tag_filter, self.person_filter)

    def _folder_chosen(self, folder: str | None) -> None:
        self.folder_filter, self.tag_filter = folder, None
        self._rerun()

    def _person_chosen(self, person: str | None) -> None:
        self.person_filter = person
        self._rerun()

    def _tag_chosen(self, tag: str | None) -> None:
        self.tag_filter = tag
        self._rerun()

    def _rerun(self) -> None:
        """Show the grid again for the current filters: the last search (text, similar or dropped photo) run
        again, or the browse grid."""
        if self.mode == "results" and self._last_search is not None:
            self._run_search(*self._last_search)
        else:
            self.load_browse()

    def back(self) -> None:
        if self.mode == "results" or self.folder_filter or self.tag_filter or self.person_filter:
            self.folder_filter = self.tag_filter = self.person_filter = None
            self.people.clear_choice()
            self.last_query = ""
            self._last_search = None
            self.search_box.clear()
            self.sidebar.folders.setCurrentItem(self.sidebar.folders.topLevelItem(0))
            self.sidebar.tags.clearSelection()
            self.load_browse()

    # -- search ---------------------------------------------------------------------------
    def encoder(self, progress=None) -> ClipEncoder:
        from desktop_app.models_runtime import load_encoder

        with self._encoder_lock:
            wanted = self.lib.active_model_id
            if self._encoder is None or self._encoder.model_id != wanted:
                self._encoder = load_encoder(wanted, str(self.settings.value("device", "auto")), progress or
                                             (lambda _p: None))
            return self._encoder

    def _options(self) -> SearchOptions:
        from engine.search import SearchOptions

        return SearchOptions(limit=500, sort=str(self.sort_box.currentData()), filters=self._filters())

    def _run_search(self, label: str, fn) -> None:
        """fn(PhotoSearch, SearchOptions) -> results, run off the GUI thread on its own connection."""
        options = self._options()
        library_dir = self.library_dir
        self._last_search = (label, fn)

        def job(progress, _token: CancelToken):
            from engine.search import PhotoSearch

            with Library.open(library_dir) as lib:
                results = fn(PhotoSearch(lib, self.encoder(progress)), options)
                return [(r.photo.id, r.score, r.offline) for r in results]

        self.status_label.setText(f"Searching for \u201c{label}\u201d\u2026")
        self.runner.start(job, name="search", on_done=lambda res: self._show_results(label, res),
                          on_error=self._search_failed)

    def _search_failed(self, message: str) -> None:
        self._update_status()
        self.notify(message, error=True)
        self.search_finished.emit(-1)

    def _show_results(self, label: str, results: list[tuple[int, float, bool]]) -> None:
        self.mode = "results"
        self.last_query = label
        self.back_action.setVisible(True)
        self._show_photos([pid for pid, _, _ in results], {pid: score for pid, score, _ in results},
                          {pid for pid, _, offline in results if offline})
        if results:
            self.grid.setCurrentIndex(self.grid_model.index(0))
        self._update_status()
        self.search_finished.emit(len(results))

    def search(self, text: str) -> None:
        text = text.strip()
        if not text:
            self.back()
            return
        self._remember(text)
        self._run_search(text, lambda s, o: s.search(text, o))

    def find_similar(self, photo_id: int) -> None:
        photo = self.lib.catalog.photo(photo_id)
        label = f"like {os.path.basename(photo.path)}" if photo else f"like id:{photo_id}"
        self.last_query = label
        self._run_search(label, lambda s, o: s.similar(photo_id, o))

    def search_image_file(self, path: str) -> None:
        self._run_search(f"like {os.path.basename(path)}",
                         lambda s, o: s.search_vector(s.image_vector(path), o))

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
            self.details.show_photo(None, None)
            return
        pid = self.grid_model.photo_id(current.row())
        photo = self.lib.catalog.photo(pid)
        self.details.show_photo(photo, self.lib.catalog, self.loader.pixmap(pid), current.data(ScoreRole),
                                offline=bool(current.data(OfflineRole)))
        self.face_boxes.show(photo, self.lib.catalog)

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

    # -- folders and indexing -------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str | Path, index: bool = True) -> bool:
        from engine.scanner import root_problem

        folder = os.path.abspath(folder)
        problem = root_problem(folder)
        if problem:
            self.notify(f"Cannot add {folder}: {problem}", error=True)
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
            partial(index_library, confirm_deletions=confirm_deletions), (self.library_dir, device, cache_bytes),
            name="indexing", on_progress=self._index_progress, on_done=self._index_done, on_error=self._index_failed,
            on_cancel=lambda: self._index_ended(None, "Indexing cancelled; finished photos are kept."))

    def _show_progress(self, p: Progress) -> None:
        """A job's report in the status bar: the bar, and stage, count, rate, time left and detail as text."""
        if p.total:
            unit = -(-p.total // 1_000_000_000)  # QProgressBar counts in 32-bit ints: a 3 GB download does not fit
            self.progress.setRange(0, p.total // unit)
            self.progress.setValue(p.done // unit)
        else:
            self.progress.setRange(0, 0)
        eta = eta_text(p.eta_s)
        eta = f", {eta}" if eta else ""
        rate = f" at {p.rate:.1f}/s" if p.rate else ""
        detail = f" ({p.message})" if p.message else ""
        if p.stage == "download" and p.total:  # bytes: say how far in MB
            counted = f"{p.done / 1e6:.0f}/{p.total / 1e6:.0f} MB" + (f" at {p.rate / 1e6:.1f} MB/s" if p.rate else "")
        else:
            counted = f"{p.done}/{p.total}{rate}"
        self._update_status(f"{stage_label(p.stage)} {counted}{eta}{detail}", recount=False)

    def _index_progress(self, p: Progress) -> None:
        self._show_progress(p)
        if p.stage == "scan":
            self._grow_grid()
        elif p.stage != self._index_stage and self._index_stage == "scan":
            self._refresh_sidebar()  # the scan has found every photo: show the folders' real counts now
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
                if browsing and current and result.ids != self.grid_model.ids:
                    self._show_photos_keeping_place(result.ids)  # new photos move from the end to their place
                elif browsing and current:
                    self.grid_model.reload_rows()  # same photos, but the scan may have changed their marks
                if browsing:
                    self._grid_top_id = result.top_id
            self.stack.setCurrentIndex(1 if self.lib.catalog.roots() else 0)
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
        try:
            from training.registry import list_models

            def label(m) -> str:
                size = f", ~{m.size / 1e6:.0f} MB" if m.size else ""
                return m.id if m.installed else f"{m.id}  (download{size})"

            return [(m.id, label(m)) for m in list_models()]
        except ImportError:
            from engine.modelfolder import installed_model_ids

            return [(m, m) for m in sorted({*installed_model_ids(), "starter"})]

    def open_settings(self) -> None:
        note = ("A model that is not installed is downloaded first (progress in the status bar, Cancel stops "
                "it); the library switches once it is ready. Offline, the built-in starter model works, or "
                "import a checkpoint with `photosift models import`.")
        dialog = SettingsDialog(self.settings, self.model_choices(), self.lib.active_model_id, self,
                                offline_note=lambda: note)
        if dialog.exec():
            self.apply_settings(dialog.chosen_model())

    def apply_settings(self, model_id: str) -> None:
        self.grid.set_thumb_size(int(self.settings.value("thumb_size", 160)))
        self.size_slider.setValue(self.grid.iconSize().width())
        if model_id != self.lib.active_model_id:
            self.switch_model(model_id)

    def switch_model(self, model_id: str) -> None:
        """Install `model_id` if needed (a download shows its progress; Cancel stops it), then switch the
        library to it with its tags, in a child process; the library stays as it was until that is done.
        Then the grid, the details and the tags show the new model, and its missing vectors are computed."""
        if self.model_job is not None:
            self.notify("A model is already being prepared; wait for it or cancel it first.")
            return
        if self.index_job is not None:
            self.notify(f"Indexing is running: let it finish or cancel it, then choose {model_id} again.",
                        error=True)
            return
        from desktop_app.models_runtime import switch_model_job

        previous = self.lib.active_model_id
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        self._update_status(f"Preparing model {model_id}\u2026", recount=False)
        self.model_job = self.runner.start_process(
            switch_model_job, (self.library_dir, model_id, str(self.settings.value("device", "auto"))),
            name="model switch", on_progress=self._show_progress, on_done=self._model_switched,
            on_error=lambda message: self._model_switch_ended(
                f"Could not switch to model {model_id}: {message.rstrip('.')}. The library stays on {previous}.",
                error=True),
            on_cancel=lambda: self._model_switch_ended(f"Cancelled; the library stays on model {previous}."))

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
        with self._encoder_lock:
            self._encoder = None
        self._refresh_sidebar()
        current = self.grid.currentIndex()
        self._current_changed(current, current)
        if self.mode == "results":
            self.details.fields["Score"].setText("")  # the previous model's score; the new one comes with the search
        self._rerun()
        missing = result.to_index
        text = f"Switched to model {result.model_id}."
        if missing > 0:
            text += f" Computing its vectors for {missing} photos in the background."
        self._index_after_switch = self._index_after_switch or (missing > 0 and bool(self.lib.catalog.roots()))
        self._model_switch_ended(text, result=result)

    def open_training(self) -> None:
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
        self.runner.shutdown()
        self.loader.shutdown()
        self.lib.close()
        super().closeEvent(event)
