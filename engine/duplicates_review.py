"""The duplicates review's writes, one function per action, shared by `photosift duplicates` and the window's
Duplicates view: choose the photo to keep, keep all of a group, move the others to the system trash and
forget them. Callers decide what to do (and ask the person first); these make it so, each in its own
transaction or under the library's write lock, as the action needs.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.catalog import PhotoCatalog
from engine.library import Library
from engine.trash import TrashItem, TrashResult, move_to_trash

CHOSEN_BY_YOU = "chosen by you"  # the reason shown for a keeper the person chose


def choose_keeper(catalog: PhotoCatalog, group_id: int, photo_id: int) -> None:
    """Make `photo_id` the photo its group keeps, as the person's choice (the next update leaves it)."""
    with catalog.transaction():
        catalog.duplicates.set_keeper(group_id, photo_id, CHOSEN_BY_YOU)


def keep_all(catalog: PhotoCatalog, group_id: int) -> None:
    """"Keep all": the group stays, but is no longer offered for review (`photosift duplicates --all` lists it)."""
    with catalog.transaction():
        catalog.duplicates.set_reviewed(group_id)


def trash_and_forget(library: Library, items: list[TrashItem], *, wait_s: float = 0.0,
                     trash: Callable[[str | bytes], None] | None = None) -> TrashResult:
    """Move the planned `items` (engine.trash.plan, shown to the person and confirmed) to the system trash, each
    logged first, and make the catalog forget what moved; under the library's write lock, so no update runs
    on the photos meanwhile (LibraryBusyError after `wait_s`)."""
    with library.write_lock(wait_s):
        return move_to_trash(library.catalog, library.paths.root, items, trash)
