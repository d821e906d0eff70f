"""What narrows the photos shown: folder, dates taken, tag, place, person. One meaning for the CLI, the window
and search.

The SQL for these lives in engine.catalog (catalog.browse.filtered_photo_ids); this module is the plain value
the application builds and the catalog reads, so that the window and `photosift search` cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class SearchFilters:
    folder: str | None = None  # a folder: the photos in it and below it (the folder itself as a path matches too)
    date_from: date | None = None  # taken on or after this day
    date_to: date | None = None  # taken on or before this day
    tag: str | None = None  # a tag the photo has for sure (any case; engine.tag_confidence), not one it rejected
    place: str | None = None  # a place name at any level, or "country > region > city" (engine.places)
    person: str | None = None  # a person's name (or id): only photos with their face (engine.people)
    without_persons: tuple[str, ...] = ()  # persons whose photos are left out (`- person:Bob`)
    tag_uncertain_too: bool = False  # with `tag`: photos where the model is unsure of it count too
    album: str | None = None  # an album's name (any case): the photos in it (engine.albums)
    text: tuple[str, ...] = ()  # words read in the photo, each anywhere in its text (engine.text_in_photos)

    @property
    def active(self) -> bool:
        fields = (self.folder, self.date_from, self.date_to, self.tag, self.place, self.person, self.album)
        return any(v is not None for v in fields) or bool(self.without_persons) or bool(self.text)
