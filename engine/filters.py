"""What narrows the photos shown: folder, dates taken, tag, place. One meaning for the CLI, the window and search.

The SQL for these lives in engine.catalog (PhotoCatalog.filtered_photo_ids); this module is the plain value
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
    tag: str | None = None  # a tag the photo has (any case), unless the user rejected it
    place: str | None = None  # a place name at any level, or "country > region > city" (engine.places)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.folder, self.date_from, self.date_to, self.tag, self.place))
