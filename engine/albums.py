"""Albums a person makes: their own (photos put in by hand) and smart ones, saved from any query.

A smart album keeps its query ("beach july 2019 place:Lisbon", "tag:family 2018..2020"); its photos are the
ones that query shows (above its relevance cutoff, every copy apart), found again after each index so that new
photos join it. Both kinds filter the grid and search (`album:NAME`) and label
photos for fine-tuning, beside folders and tags.
"""

from __future__ import annotations

import difflib
import logging

from engine.catalog import AlbumRow, PhotoCatalog
from engine.catalog.tags import clean_tag
from engine.errors import InvalidTagError, PhotosiftError
from engine.query import parse_query

log = logging.getLogger(__name__)


class AlbumError(PhotosiftError):
    """An album that cannot be made, found or changed as asked."""


def clean_album_name(name: str) -> str:
    """An album's name: trimmed, 1-100 printable characters (the rules of a tag's name)."""
    try:
        return clean_tag(name)
    except InvalidTagError as e:
        raise AlbumError(str(e).replace("tag", "album name", 1)) from None


def album_named(catalog: PhotoCatalog, name: str) -> AlbumRow:
    """The album called `name` (any case), or AlbumError naming the nearest ones."""
    found = catalog.albums.named(name.strip())
    if found is not None:
        return found
    names = [a.name for a in catalog.albums.all()]
    near = difflib.get_close_matches(name.strip().lower(), [n.lower() for n in names], n=3, cutoff=0.5)
    by_key = {n.lower(): n for n in names}
    known = (f"nearest: {', '.join(by_key[k] for k in near)}" if near else
             f"albums: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}" if names else "there are none yet")
    raise AlbumError(f"no album is named '{name}' ({known})")


def new_album(catalog: PhotoCatalog, name: str, query: str | None = None) -> AlbumRow:
    """Make an album; with `query`, a smart one (its photos are found by engine.smart_albums)."""
    name = clean_album_name(name)
    if catalog.albums.named(name) is not None:
        raise AlbumError(f"there is already an album named '{catalog.albums.named(name).name}'")  # type: ignore[union-attr]
    if query is not None:
        terms = parse_query(query)  # a query that cannot run is refused now, not at every index
        if any(t.kind == "album" and t.value.lower() == name.lower() for t in terms):
            raise AlbumError(f"the smart album '{name}' cannot be made of its own photos")
    with catalog.transaction():
        catalog.albums.create(name, "smart" if query is not None else "manual", query)
    return catalog.albums.named(name)  # type: ignore[return-value]


def _manual_album(catalog: PhotoCatalog, name: str) -> AlbumRow:
    """The album called `name`, which must be one whose photos are put in by hand."""
    album = album_named(catalog, name)
    if album.kind == "smart":
        raise AlbumError(f"'{album.name}' is a smart album: its photos are those its query finds "
                         f"({album.query}); change the query instead")
    return album


def add_to_album(catalog: PhotoCatalog, name: str, photo_ids: list[int]) -> int:
    """Put photos in a manual album; returns how many were new to it."""
    album = _manual_album(catalog, name)
    with catalog.transaction():
        return catalog.albums.add(album.id, photo_ids)


def remove_from_album(catalog: PhotoCatalog, name: str, photo_ids: list[int]) -> int:
    album = _manual_album(catalog, name)
    with catalog.transaction():
        return catalog.albums.remove(album.id, photo_ids)


def delete_album(catalog: PhotoCatalog, name: str) -> AlbumRow:
    """Delete an album (its photos stay in the library)."""
    album = album_named(catalog, name)
    log.info("deleting album %r (%s, %d photos); the photos stay", album.name, album.kind, album.count)
    with catalog.transaction():
        catalog.albums.delete(album.id)
    return album
