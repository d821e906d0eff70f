"""What the grid shows, for the window's browse state: the browse grid read off the GUI thread, and searches
(text, similar photo, image file) run off the GUI thread, each on its own catalog connection.

A part of MainWindow that owns the grid's content: it reads the browse state, fills the grid model, writes
the status line, and says what it did by its signals. Every request for new grid content gets a number; an
answer that arrives after a newer request (a search still running when the user went back to "All photos", a
browse read overtaken by a search) is dropped, so the grid never shows something the browse state no longer
asks for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QAbstractItemView

from desktop_app.browse_state import BrowseState, Mode, Query
from desktop_app.gui.dialogs import setting_on
from desktop_app.gui.grid import PhotoGridModel, ScoreRole, offline_root_ids
from desktop_app.gui.gridview import PhotoGridView, results_beyond_cutoff
from desktop_app.gui.stacks import StackMark, stack_bursts
from desktop_app.gui.status_line import StatusLine
from desktop_app.gui.timeline import read_alongside
from desktop_app.gui.worker import JobRunner, read_catalog
from engine.catalog import PhotoCatalog
from engine.jobs import CancelToken, ProgressCallback, ignore_progress
from engine.library import Library

if TYPE_CHECKING:
    from engine.encoder import ClipEncoder
    from engine.search import PhotoSearch, SearchOptions, SearchResult

SEARCH_LIMIT = 500


class Shown(NamedTuple):
    """A search result as the grid needs it (plain data, made on the search thread)."""

    id: int
    score: float
    offline: bool
    group: int | None = None  # the group of copies it stands for
    copies: tuple[tuple[int, float], ...] = ()  # (photo id, score) of the group's other photos
    text_match: bool = False  # first because the text read in it holds the query's words


class GridRead(NamedTuple):
    ids: list[int]  # the browse grid's photos, in order
    top_id: int  # the highest photo id when they were read: photos added later have higher ids
    counts: dict[str, int]
    offline_roots: set[int]  # roots whose folder is offline or not there now: their photos are marked
    days: list[tuple[str | None, int]] | None = None  # photos per day in the grid's order: the timeline
    stacks: dict[int, StackMark] | None = None  # bursts stacked in the grid: its cells that stand for bursts


class EncoderCache:
    """One loaded encoder, shared by the GUI thread and search threads; Qt-free. The caller says which model
    and device: a worker thread must not read the GUI thread's catalog connection or QSettings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoder: ClipEncoder | None = None
        self._key: tuple[str, str] | None = None

    def get(self, model_id: str, device: str, progress: ProgressCallback = ignore_progress) -> ClipEncoder:
        from desktop_app.models_runtime import load_encoder

        with self._lock:
            if self._encoder is None or self._key != (model_id, device):
                self._encoder = load_encoder(model_id, device, progress)
                self._key = (model_id, device)
            return self._encoder

    def forget(self) -> None:
        with self._lock:
            self._encoder, self._key = None, None


def run_query(search: PhotoSearch, query: Query, options: SearchOptions) -> list[SearchResult]:
    """The search a query stands for (Mode.BROWSE is no search)."""
    if query.mode is Mode.TEXT:
        return search.search(query.text, options)
    if query.mode is Mode.SIMILAR:
        assert query.photo_id is not None
        return search.similar(query.photo_id, options)
    if query.mode is Mode.IMAGE:
        return search.search_vector(search.image_vector(query.text), options)
    raise ValueError("browsing is not a search")


class GridController(QObject):
    """Fills the grid as the browse state asks."""

    browse_loaded = Signal(int)  # number of photos in the grid
    search_finished = Signal(int)  # number of results, -1 when the search failed
    content_replaced = Signal()  # the grid has new content: the current photo's details are shown again

    def __init__(self, lib: Library, library_dir: Path, state: BrowseState, settings: QSettings, runner: JobRunner,
                 grid: PhotoGridView, grid_model: PhotoGridModel, status: StatusLine,
                 notify: Callable[..., None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lib, self.library_dir, self.state, self.settings, self.runner = lib, library_dir, state, settings, runner
        self.grid, self.grid_model, self.status, self.notify = grid, grid_model, status, notify
        self._encoders = EncoderCache()
        self._grid_generation = 0  # bumped whenever the grid gets new content
        self._request = 0  # bumped by each browse read or search asked for: only the latest answer is shown
        self._everything_for: Query | None = None  # the query "Show more" was asked for: shown without the cutoff
        self._grid_top_id = 0  # the highest photo id when the browse grid was read: newer ones are appended
        self._growing = False
        self._expanded_bursts: set[int] = set()  # burst groups the user opened out in the grid
        self._stacks_shown = True  # whether the browse grid was last read with bursts stacked
        self._expanded_copies: set[int] = set()  # groups of copies the user opened out among search results
        self._last_results: tuple | None = None  # the search results shown: re-shown when copies open or close

    @property
    def browsing(self) -> bool:
        return self.state.mode is Mode.BROWSE

    # -- off-thread reads -------------------------------------------------------------------
    def _read_grid(
        self, name: str, on_result: Callable[[GridRead | None, bool], None], after_id: int | None = None
    ) -> None:
        """Read the browse grid (only ids above `after_id`), the highest photo id and the counts off the GUI
        thread; on_result(read, current) gets None when the read failed, and current=False when the grid was
        given other content meanwhile. Showing search results, only the counts are read (no ids, top 0)."""
        generation = self._grid_generation
        filters = self.state.filters
        browsing = self.browsing
        stacking = self.stacking_bursts() and after_id is None  # photos appended while indexing stay unstacked
        if browsing and after_id is None:
            self._stacks_shown = stacking
        expanded = frozenset(self._expanded_bursts)

        def timeline(catalog: PhotoCatalog) -> list[tuple[str | None, int]]:
            return catalog.browse.timeline_days(filters)

        def read(catalog: PhotoCatalog) -> GridRead:
            offline = offline_root_ids(catalog.roots())
            if not browsing:
                return GridRead([], 0, catalog.counts(), offline)
            # The timeline's day counts are read meanwhile on a second connection (not for appended photos).
            with read_alongside(catalog.path, timeline if after_id is None else None) as days:
                top = catalog.browse.max_photo_id()  # read first: a photo added meanwhile is found by the next read
                # Browsing has no query to be relevant to: newest first, undated last, as the timeline's sections.
                ids = catalog.browse.filtered_photo_ids(filters, after_id=after_id, order="timeline")
                grid = GridRead(ids, top, catalog.counts(), offline)
            grid = grid._replace(days=days.result())
            if stacking:
                ids, day_counts, marks = stack_bursts(grid.ids, grid.days, catalog.duplicates.burst_members(), expanded)
                grid = grid._replace(ids=ids, days=day_counts, stacks=marks)
            return grid

        def done(result: GridRead | None) -> None:
            if result is not None:
                self.grid_model.set_offline_roots(result.offline_roots)
            on_result(result, generation == self._grid_generation)

        read_catalog(self.runner, self.lib.paths.catalog, name, read, done)

    # -- browsing ---------------------------------------------------------------------------
    def stacking_bursts(self) -> bool:
        return setting_on(self.settings, "stack_bursts")

    def restack(self) -> None:
        """The setting "stack bursts" may have changed: the browse grid is read again if it did."""
        if self.browsing and self.stacking_bursts() != self._stacks_shown:
            self.load_browse(keep_place=True)

    def toggle_burst(self, photo_id: int) -> None:
        """Expand the burst (or, among search results, the copies) this cell stands for, or stack it again; the
        view stays where it is."""
        mark = self.grid_model.stacks.get(photo_id)
        if mark is None:
            return
        if not self.browsing:
            self._expanded_copies ^= {mark.group_id}
            if self._last_results is not None:
                self._show_results(*self._last_results, keep_place=True)
            return
        self._expanded_bursts ^= {mark.group_id}
        self.load_browse(keep_place=True)

    def load_browse(self, keep_place: bool = False) -> None:
        """The grid for the current filters, read off the GUI thread (~85 ms of SQL at 100k photos); a newer
        request or a search that lands first wins. `keep_place`: the same view read again (after a model
        switch): the current photo and the scroll position stay."""
        self._request += 1
        request = self._request
        self._grid_generation += 1  # what was on its way for the previous content is dropped

        def show(result: GridRead | None, current: bool) -> None:
            if result is None or not current or request != self._request or not self.browsing:
                return
            self._grid_top_id, self.status.counts = result.top_id, result.counts
            if keep_place:
                self._show_photos_keeping_place(result.ids, result.days, result.stacks)
            else:
                self._show_photos(result.ids, days=result.days, stacks=result.stacks)
            self.status.show(recount=False)
            self.browse_loaded.emit(len(result.ids))

        self._read_grid("browse", show)

    def _show_photos_keeping_place(self, ids: list[int], days: list[tuple[str | None, int]] | None = None,
                                   stacks: dict[int, StackMark] | None = None, **shown: Any) -> None:
        """Replace the grid's photos but keep the user where they were: the same photo current, and the same
        photo at the top of the view (or the stack it went into, when its burst was stacked)."""
        old = self.grid_model.ids
        old_stacks = self.grid_model.stacks
        current = self.grid.currentIndex()
        current_id = old[current.row()] if current.isValid() and current.row() < len(old) else None
        top = self.grid.top_index()
        scrolled = self.grid.verticalScrollBar().value() > 0  # at the top, the newest photos stay in sight
        top_id = old[top.row()] if scrolled and top.isValid() and top.row() < len(old) else None
        self._show_photos(ids, days=days, stacks=stacks, **shown)
        if current_id is None and top_id is None:
            return
        row_of = dict(zip(ids, range(len(ids)), strict=True))
        stacked_as = {m.group_id: pid for pid, m in (stacks or {}).items() if m.position is None}

        def row(pid: int | None) -> int | None:
            if pid in row_of:
                return row_of[pid]
            mark = old_stacks.get(pid) if pid is not None else None
            return row_of.get(stacked_as.get(mark.group_id, -1)) if mark is not None else None

        if (r := row(current_id)) is not None:
            self.grid.setCurrentIndex(self.grid_model.index(r))
        if (r := row(top_id)) is not None:
            self.grid.scrollTo(self.grid_model.index(r), QAbstractItemView.ScrollHint.PositionAtTop)

    def _show_photos(
        self,
        ids: list[int],
        scores: dict[int, float] | None = None,
        offline: set[int] | None = None,
        days: list[tuple[str | None, int]] | None = None,
        cut: int | None = None,
        more: bool = False,
        stacks: dict[int, StackMark] | None = None,
    ) -> None:
        self._grid_generation += 1  # answers to queries made for the previous content are dropped
        self.grid.set_show_more(more)
        self.grid_model.set_photos(ids, scores, offline, days, cut, stacks)
        # A model reset does not tell the selection model: without this the details panel would go on
        # showing the photo (and score) of the previous content.
        self.content_replaced.emit()

    def grow(self) -> None:
        """While indexing, new photos appear in the grid without disturbing the user's place: only photos
        newer than the grid are read, off the GUI thread, and appended; the counts come along."""
        if self._growing:
            return
        self._growing = True
        browsing = self.browsing

        def show(result: GridRead | None, current: bool) -> None:
            self._growing = False
            if result is None:
                return
            self.status.counts = result.counts
            if browsing and current and self.browsing:
                self.grid_model.append_photos(result.ids)
                self._grid_top_id = max(self._grid_top_id, result.top_id)
            self.status.show(recount=False)

        self._read_grid("grid update", show, after_id=self._grid_top_id)

    def show_as_indexed(self, then: Callable[[GridRead | None], None]) -> None:
        """After indexing, the browse grid as the catalog has it now (read off the GUI thread): new photos move
        to their place and new bursts are stacked, the user's place kept; then(read), None when it failed."""
        browsing = self.browsing

        def show(result: GridRead | None, current: bool) -> None:
            if result is not None:
                self.status.counts = result.counts
                if browsing and current and (result.ids != self.grid_model.ids
                                             or (result.stacks or {}) != self.grid_model.stacks):
                    # new photos move to their place, new bursts are stacked
                    self._show_photos_keeping_place(result.ids, result.days, result.stacks)
                elif browsing and current:
                    self.grid_model.set_days(result.days)  # undated photos appended while indexing may have a date now
                    self.grid_model.reload_rows()  # same photos, but the scan may have changed their marks
                if browsing:
                    self._grid_top_id = result.top_id
            then(result)

        self._read_grid("library refresh", show)

    def rerun(self, keep_place: bool = False) -> None:
        """Show the grid again for the browse state: its search (text, similar or dropped photo) run again, or
        the browse grid."""
        if self.browsing:
            self.load_browse(keep_place)
        else:
            self._run_search(self.state.query)

    def show_query(self, query: Query, again: bool = True) -> None:
        """Show what `query` finds, with the relevance cutoff; `again`: the query shown now, asked for again, is
        searched again (the library may have changed)."""
        self._everything_for = None  # a search asked for again has the relevance cutoff again
        if again and query == self.state.query:
            self.rerun()
        else:
            self.state.set_query(query)

    def model_changed(self) -> None:
        """The library uses another model: its encoder is loaded for the next search, the scores on screen
        (the previous model's) are dropped, and the grid is shown again, the user's place kept."""
        self._encoders.forget()
        if not self.browsing:  # the new scores come with the search run again
            self.grid_model.scores = {}
            if self.grid_model.ids:
                self.grid_model.dataChanged.emit(
                    self.grid_model.index(0), self.grid_model.index(len(self.grid_model.ids) - 1), [ScoreRole]
                )
        self.rerun(keep_place=True)

    # -- searching --------------------------------------------------------------------------
    def encoder(self, progress=None) -> ClipEncoder:
        """The active model's encoder (GUI thread: reads the window's catalog and settings)."""
        return self._encoders.get(self.lib.active_model_id, self._device(), progress or ignore_progress)

    def _device(self) -> str:
        return str(self.settings.value("device", "auto"))

    def options(self, everything: bool = False) -> SearchOptions:
        """The search options for the browse state; `everything`: no relevance cutoff, as the CLI's --all."""
        from engine.search import DEFAULT_MIN_Z, SearchOptions

        return SearchOptions(limit=SEARCH_LIMIT, sort=self.state.sort, filters=self.state.filters,
                             min_z=None if everything else DEFAULT_MIN_Z)

    def show_more(self) -> None:
        """The "Show more" row: the same search again without the relevance cutoff (the CLI's --all)."""
        if not self.browsing:
            self._everything_for = self.state.query
            self._run_search(self.state.query)

    def _run_search(self, query: Query) -> None:
        """Run `query` off the GUI thread on its own library connection. What the thread needs from the GUI
        side (options, device) is read here and passed in; the model is the one its connection says. Once
        "Show more" was asked for a query, it stays without the cutoff when its filters or sort change."""
        everything = query == self._everything_for
        options, device, library_dir = self.options(everything), self._device(), Path(self.library_dir)
        encoders = self._encoders
        self._request += 1
        request = self._request

        def job(progress, _token: CancelToken):
            from engine.search import PhotoSearch

            with Library.open(library_dir) as lib:
                encoder = encoders.get(lib.active_model_id, device, progress)
                search = PhotoSearch(lib, encoder)
                results = run_query(search, query, options)
                cut, more = results_beyond_cutoff(lambda o: run_query(search, query, o), options, len(results))
                return [Shown(r.photo.id, r.score, r.offline, r.group, r.copies, r.text_match) for r in results], \
                    cut, more

        def done(answer: tuple[list[Shown], int | None, bool]) -> None:
            if request == self._request and query == self.state.query:
                self._expanded_copies.clear()
                self._show_results(query, *answer)

        def failed(message: str) -> None:
            if request == self._request:
                self._search_failed(message)

        self.status.searching(query.label)
        self.runner.start(job, name="search", on_done=done, on_error=failed)

    def _search_failed(self, message: str) -> None:
        # The grid empties rather than keep what the previous query found: the search box names this query.
        self._show_photos([])
        self.status.show()
        self.notify(message, error=True)
        self.search_finished.emit(-1)

    def _show_results(self, query: Query, results: list[Shown], cut: int | None = None, more: bool = False,
                      keep_place: bool = False) -> None:
        """The results in the grid; a result standing for a group of copies is one cell with a badge (its copies
        follow it, numbered, once the badge is clicked)."""
        self._last_results = (query, results, cut, more)
        ids: list[int] = []
        scores: dict[int, float] = {}
        marks: dict[int, StackMark] = {}
        cut_row = None
        for n, r in enumerate(results):
            if n == cut:
                cut_row = len(ids)  # the "below the cutoff" header moves down by the copies opened before it
            ids.append(r.id)
            scores[r.id] = r.score
            if r.group is None or not r.copies:
                continue
            size = 1 + len(r.copies)
            if r.group in self._expanded_copies:
                marks[r.id] = StackMark(r.group, size, 1, "copies")
                for k, (pid, score) in enumerate(r.copies, 2):
                    ids.append(pid)
                    scores[pid] = score
                    marks[pid] = StackMark(r.group, size, k, "copies")
            else:
                marks[r.id] = StackMark(r.group, size, None, "copies")
        offline = {r.id for r in results if r.offline}
        cut = len(ids) if cut is not None and cut_row is None else cut_row
        if keep_place:
            self._show_photos_keeping_place(ids, stacks=marks, scores=scores, offline=offline, cut=cut, more=more)
            self.grid_model.text_matches = {r.id for r in results if r.text_match}
            return
        self._show_photos(ids, scores, offline, cut=cut, more=more, stacks=marks)
        self.grid_model.text_matches = {r.id for r in results if r.text_match}
        if results:
            self.grid.setCurrentIndex(self.grid_model.index(0))
        self.status.show()
        self.search_finished.emit(len(results))
