"""The sidebar's folder, tag, place and people lists for the window's browse state: their counts read off
the GUI thread, the marks that show which filters are on, a click turned into a filter, and places named
once for photos indexed before places existed.

A part of MainWindow: it is given the lists (which the window lays out) and the browse state it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QModelIndex

from desktop_app.browse_state import BrowseState
from desktop_app.gui.albums import AlbumsList
from desktop_app.gui.panels import LibrarySidebar, SidebarData, tree_item
from desktop_app.gui.people import PeoplePanel
from desktop_app.gui.places import PlaceRole, PlacesTree
from desktop_app.gui.worker import JobRunner, read_catalog
from engine.library import Library

log = logging.getLogger(__name__)


class SidebarController:
    def __init__(self, lib: Library, library_dir: Path, runner: JobRunner, state: BrowseState,
                 sidebar: LibrarySidebar, places: PlacesTree, people: PeoplePanel, albums: AlbumsList) -> None:
        self.lib, self.library_dir, self.runner, self.state = lib, library_dir, runner, state
        self.sidebar, self.places, self.people, self.albums = sidebar, places, people, albums
        self._generation = 0
        state.known_names = self.known_names
        # the sidebar clears its tag selection on a folder click
        sidebar.folder_chosen.connect(lambda folder: state.set_folder(folder, keep_tag=False))
        sidebar.tag_chosen.connect(state.set_tag)
        sidebar.uncertain_tag_chosen.connect(lambda tag: state.set_tag(tag, uncertain_too=True))
        sidebar.rendered.connect(self.render_selection)  # a recount keeps marking the filters
        places.place_chosen.connect(state.set_place)
        albums.album_chosen.connect(state.set_album)
        people.person_chosen.connect(self._person_chosen)

    def refresh(self, then: Callable[[], None] | None = None) -> None:
        """Read the lists' counts again (off the GUI thread), then call `then`."""
        self._generation += 1
        generation = self._generation

        def show(data: SidebarData | None) -> None:
            if data is not None and generation == self._generation:
                self.sidebar.show_data(data)
                self.people.refresh(self.lib.catalog)
            if then is not None:
                then()

        read_catalog(self.runner, self.lib.paths.catalog, "sidebar", LibrarySidebar.load, show)

        def show_places(rows) -> None:
            self.places.show_counts(rows, self.state.filters.place)
            self.render_selection()  # the tree keeps its own current item; the filters decide

        read_catalog(self.runner, self.lib.paths.catalog, "places", PlacesTree.load, show_places)
        read_catalog(self.runner, self.lib.paths.catalog, "albums", AlbumsList.load,
                     lambda rows: self.albums.show_albums(rows, self.state.filters.album))

    def known_names(self, candidates: set[str]) -> tuple[set[str], dict[str, str], Callable[[date, date], bool]]:
        """What words of a typed query may name (engine.query.understand_names), asked as the search asks it
        (engine.search.known_names): which of `candidates` name a place of the library (an index seek each),
        the library's named persons, and whether a photo was taken on given days (an index seek)."""
        from engine.search import known_names  # the search module (usearch, image reading) loads after the window

        return known_names(self.lib.catalog, candidates)

    def name_places(self) -> None:
        """Photos indexed before places existed are named once, in a child process (loading the place data
        takes a second of CPU the GUI thread must not lose); new photos are named by each index."""
        if self.lib.catalog.read_only:
            return

        def start(unnamed: int | None) -> None:
            if not unnamed:
                return
            from engine.library import name_library_places

            self.runner.start_process(name_library_places, (self.library_dir,), name="places",
                                      on_done=lambda _n: self.refresh(),
                                      on_error=lambda message: log.warning("places: %s", message))

        # The count reads every photo (~60 ms at 100k): off the GUI thread like the grid's own reads.
        read_catalog(self.runner, self.lib.paths.catalog, "places to name",
                     lambda catalog: catalog.places.count_photos_needing(), start)

    def render_selection(self) -> None:
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
        self.albums.mark(f.album)

    def _person_chosen(self, person: str | None) -> None:
        """The People list gives a person's id: the filter keeps it, the chip shows their name."""
        row = self.lib.catalog.people.person(int(person)) if person and person.isdigit() else None
        self.state.set_person(person, row.name if row is not None and row.name else f"#{person}")
