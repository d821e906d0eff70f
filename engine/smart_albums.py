"""Smart albums' photos found again: each saved query run over the library (after each index, and when the
album is made). Apart from engine.albums so that search, which reads albums, and this, which runs searches,
import each other in one direction only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.errors import QueryError
from engine.search import PhotoSearch, SearchOptions

if TYPE_CHECKING:
    from engine.encoder import ClipEncoder
    from engine.library import Library

log = logging.getLogger(__name__)

SMART_LIMIT = 100_000  # the most photos a smart album holds


def refresh_smart_albums(library: Library, encoder: ClipEncoder, only: str | None = None) -> dict[str, int]:
    """Find the photos of every smart album again (or of the one named `only`); returns name -> photo count.
    A query that no longer runs (a tag or place gone from the library) leaves the album empty, with a warning,
    rather than stopping the index."""
    catalog = library.catalog
    smart = [a for a in catalog.albums.all()
             if a.kind == "smart" and (only is None or a.name.lower() == only.lower())]
    if not smart:
        return {}
    search = PhotoSearch(library, encoder)
    counts: dict[str, int] = {}
    for album in smart:
        try:
            found = search.search(album.query or "", SearchOptions(limit=SMART_LIMIT, one_per_group=False))
            ids = [r.photo.id for r in found]
        except QueryError as e:
            log.warning("smart album %r: its query %r finds nothing now: %s", album.name, album.query, e)
            ids = []
        with catalog.transaction():
            catalog.albums.set_photos(album.id, ids, encoder.model_id)
        counts[album.name] = len(ids)
    return counts
