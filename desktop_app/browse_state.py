"""What the window shows, as a plain object without Qt (napari's ViewerModel): the query and its mode
(browse, text search, photos similar to a photo, search by an image file), the filters, the sort and the
selected photo.

The window renders it and controllers change it; nothing that decides what is on screen lives only in a
widget, so every active filter can be shown (and removed) and the search box can always say what is shown.
Listeners are plain callables (`state.changed.connect(fn)`), called synchronously in the caller's thread:
the GUI thread, since only the window and its controllers change the state.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any

from engine.errors import QueryError
from engine.filters import SearchFilters
from engine.query import FILTER_KINDS, Term, filter_label, name_candidates, parse_query, understand_names

SIMILAR_PREFIX = "similar:"
_SIMILAR = re.compile(r"^similar:(\d{1,18})\Z")
SORTS = ("relevance", "date")


class Event:
    """A minimal signal: connect callables, emit calls them in order."""

    def __init__(self) -> None:
        self._listeners: list[Callable[..., Any]] = []

    def connect(self, listener: Callable[..., Any]) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Callable[..., Any]) -> None:
        self._listeners.remove(listener)

    def emit(self, *args: Any) -> None:
        for listener in list(self._listeners):
            listener(*args)


class Mode(StrEnum):
    BROWSE = "browse"  # the library (or what the filters leave of it), newest first
    TEXT = "text"  # a typed query: words, image paths, id:N, with + and -
    SIMILAR = "similar"  # photos like one of the library's photos
    IMAGE = "image"  # photos like an image file (dropped onto the window)


@dataclass(frozen=True)
class Query:
    mode: Mode = Mode.BROWSE
    text: str = ""  # TEXT: the query as typed; IMAGE: the file's path
    photo_id: int | None = None  # SIMILAR: the photo
    name: str = ""  # SIMILAR, IMAGE: the file name, for people

    @classmethod
    def typed(cls, text: str) -> Query:
        """What the user typed into the search box: `similar:N` asks for photos like photo N, nothing for
        the whole library, anything else is a search query."""
        text = text.strip()
        if not text:
            return cls()
        m = _SIMILAR.match(text)
        if m:
            return cls(Mode.SIMILAR, photo_id=int(m.group(1)), name=f"id:{m.group(1)}")
        return cls(Mode.TEXT, text=text)

    @classmethod
    def similar(cls, photo_id: int, name: str = "") -> Query:
        return cls(Mode.SIMILAR, photo_id=photo_id, name=name or f"id:{photo_id}")

    @classmethod
    def image(cls, path: str) -> Query:
        return cls(Mode.IMAGE, text=path, name=os.path.basename(path))

    @property
    def box_text(self) -> str:
        """What the search box shows for this query; typing it in again gives the same results."""
        if self.mode is Mode.TEXT:
            return self.text
        if self.mode is Mode.SIMILAR:
            return f"{SIMILAR_PREFIX}{self.photo_id}"
        if self.mode is Mode.IMAGE:  # an image term of the query syntax; quoted so that " - " stays in the name
            return f'"{self.text}"' if any(c.isspace() for c in self.text) else self.text
        return ""

    @property
    def label(self) -> str:
        """How the status line names it."""
        if self.mode is Mode.TEXT:
            return self.text
        if self.mode in (Mode.SIMILAR, Mode.IMAGE):
            return f"like {self.name}"
        return ""


@dataclass(frozen=True)
class Chip:
    """One active filter as the window shows it; removing it is `state.remove_filter(key)`."""

    key: str  # "folder" | "tag" | "place" | "person" | "album" | "from" | "to", or "query:N" (read from the query)
    label: str
    tooltip: str = ""


class BrowseState:
    """Query, filters, sort and selection of the window.

    Events: `changed(fields)` after the query, the filters or the sort changed (fields: the names that did;
    what is shown must be read again); `selection_changed(photo_id | None)`.
    """

    def __init__(self) -> None:
        self._query = Query()
        self._filters = SearchFilters()
        self._sort = "relevance"
        self._selection: int | None = None
        self._person_label: str | None = None
        self.changed = Event()
        self.selection_changed = Event()
        # the library's place names (keys) and persons (key -> name), for words of a query that name them
        self.known_names: Callable[[set[str]], tuple[set[str], dict[str, str], Callable[[date, date], bool]]] | None \
            = None

    # -- reading ----------------------------------------------------------------------------
    @property
    def query(self) -> Query:
        return self._query

    @property
    def mode(self) -> Mode:
        return self._query.mode

    @property
    def filters(self) -> SearchFilters:
        return self._filters

    @property
    def sort(self) -> str:
        return self._sort

    @property
    def selection(self) -> int | None:
        return self._selection

    def chips(self) -> list[Chip]:
        """Every active filter, in the order the window shows them."""
        f = self._filters
        out: list[Chip] = []
        if f.folder:
            out.append(Chip("folder", f"Folder: {os.path.basename(f.folder.rstrip('/')) or f.folder}", f.folder))
        if f.tag and f.tag_uncertain_too:
            out.append(Chip("tag", f"Tag: {f.tag} (uncertain too)",
                            "photos where the model is unsure of this tag are shown too"))
        elif f.tag:
            out.append(Chip("tag", f"Tag: {f.tag}"))
        if f.place:
            out.append(Chip("place", f"Place: {f.place.split('>')[-1].strip()}", f.place))
        if f.person:
            out.append(Chip("person", f"Person: {self._person_label or f.person}"))
        if f.album:
            out.append(Chip("album", f"Album: {f.album}"))
        if f.date_from:
            out.append(Chip("from", f"From {f.date_from.isoformat()}"))
        if f.date_to:
            out.append(Chip("to", f"To {f.date_to.isoformat()}"))
        return out + self._query_chips()

    def _query_chips(self) -> list[Chip]:
        """The filters read from a typed query ("beach july 2019 tag:family"): shown as chips too, so the user
        sees how the words were understood; removing one gives its words back to the search."""
        terms = self._query_filter_terms()
        return [Chip(f"query:{i}", filter_label(t), f"read from your search: {t.words.strip()}; remove it to search "
                     "for the words instead") for i, t in enumerate(terms)]

    def _query_filter_terms(self) -> list[Term]:
        if self._query.mode is not Mode.TEXT:
            return []
        try:
            terms = parse_query(self._query.text)
            if self.known_names is not None:
                terms = understand_names(terms, *self.known_names(name_candidates(terms)))
        except QueryError:
            return []  # the search itself says what is wrong with the query
        return [t for t in terms if t.kind in FILTER_KINDS or (t.kind == "person" and t.weight > 0)]

    # -- changing ---------------------------------------------------------------------------
    def _update(
        self, *, query: Query | None = None, filters: SearchFilters | None = None, sort: str | None = None
    ) -> None:
        fields: set[str] = set()
        if query is not None and query != self._query:
            self._query = query
            fields.add("query")
        if filters is not None and filters != self._filters:
            self._filters = filters
            fields.add("filters")
        if sort is not None and sort != self._sort:
            self._sort = sort
            fields.add("sort")
        if fields:
            self.changed.emit(frozenset(fields))

    def set_query(self, query: Query) -> None:
        self._update(query=query)

    def search_text(self, text: str) -> None:
        """The search box's text was entered."""
        self._update(query=Query.typed(text))

    def set_folder(self, folder: str | None, *, keep_tag: bool = True) -> None:
        """`keep_tag=False`: the folder replaces the tag filter too (a click in the sidebar's folder tree)."""
        tag = self._filters.tag if keep_tag else None
        uncertain = self._filters.tag_uncertain_too and tag is not None
        self._update(filters=replace(self._filters, folder=folder or None, tag=tag, tag_uncertain_too=uncertain))

    def set_tag(self, tag: str | None, *, uncertain_too: bool = False) -> None:
        """`uncertain_too`: photos where the model is unsure of the tag count too (the sidebar's uncertain tags)."""
        self._update(filters=replace(self._filters, tag=tag or None, tag_uncertain_too=bool(tag) and uncertain_too))

    def set_place(self, place: str | None) -> None:
        """A place spec (engine.places): one name at any level, or "country > region > city"."""
        self._update(filters=replace(self._filters, place=place or None))

    def set_person(self, person: str | None, label: str | None = None) -> None:
        """A person's id (or name: engine.people.persons_matching); `label`: what their chip calls them (a
        name given later does not change which person the filter means)."""
        self._person_label = label
        self._update(filters=replace(self._filters, person=person or None))

    def set_album(self, album: str | None) -> None:
        self._update(filters=replace(self._filters, album=album or None))

    def set_dates(self, date_from: date | None, date_to: date | None) -> None:
        self._update(filters=replace(self._filters, date_from=date_from, date_to=date_to))

    def remove_filter(self, key: str) -> None:
        if key.startswith("query:"):  # a filter read from the query: its words go back to the search, quoted
            terms = self._query_filter_terms()
            index = int(key.partition(":")[2]) if key.partition(":")[2].isdigit() else -1
            if not 0 <= index < len(terms):
                raise ValueError(f"no filter {key!r} in the query")
            term = terms[index]
            words = term.words.strip()
            name = words.partition(":")[2].strip().strip('"') if ":" in words else words
            text = self._query.text.replace(words, f'"{name}"' if name else "", 1)
            self._update(query=Query.typed(" ".join(text.split())))
            return
        fields = {"folder": "folder", "tag": "tag", "place": "place", "person": "person", "album": "album",
                  "from": "date_from",
                  "to": "date_to"}
        if key not in fields:
            raise ValueError(f"no filter {key!r}; one of {', '.join(fields)}")
        more = {"tag_uncertain_too": False} if key == "tag" else {}
        self._update(filters=replace(self._filters, **{fields[key]: None}, **more))

    def set_sort(self, sort: str) -> None:
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}; one of {', '.join(SORTS)}")
        self._update(sort=sort)

    def show_all(self) -> None:
        """ "All photos": no query, no filters, nothing selected, in one change."""
        self.select(None)
        self._update(query=Query(), filters=SearchFilters())

    def select(self, photo_id: int | None) -> None:
        if photo_id != self._selection:
            self._selection = photo_id
            self.selection_changed.emit(photo_id)
