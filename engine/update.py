"""The library update job: sweep leftovers, scan roots, index what is missing, finish tagging, refresh the
vector index; and `index_library`, the use case "index the library" that `photosift index`, its watcher and
the window's Index (and the window's watcher) all run: the update, then the thumbnail cache kept to its size
and the daily catalog backup.

Everything a killed run left half done is finished here: photos whose transient failure may have passed
are tried again, photos with vectors but without the active model's zero-shot tags are tagged, missing
thumbnails are made, and temp files of killed processes are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.atomic import sweep_stale_temps
from engine.backup import backup_if_due
from engine.catalog import PhotoCatalog
from engine.duplicates import DuplicateReport, update_duplicates
from engine.encoder import ClipEncoder
from engine.faces import (
    FACE_MODEL_ID,
    SETTING_FACES,
    FacesReport,
    faces_enabled,
    faces_installed,
    find_faces,
    require_faces,
)
from engine.imageio import prune_thumbnails, thumbnail_cache_usage
from engine.indexer import (
    IndexReport,
    IndexSettings,
    index_photos,
    make_thumbnails,
    photos_missing_thumbnails,
    sweep_stale_pool_dirs,
)
from engine.jobs import CancelToken, ProgressCallback, ignore_progress
from engine.library import Library
from engine.people import face_index_path, group_faces
from engine.places import PlaceDataError, fill_places
from engine.reports import update_lines, update_plain, update_summary
from engine.scanner import ScanReport, scan
from engine.smart_albums import refresh_smart_albums
from engine.tagging import tag_with_vocabulary
from engine.text_in_photos import TextReport, read_text_in_photos, text_enabled, text_installed, text_model_id
from engine.vectorindex import VectorIndex

log = logging.getLogger(__name__)

THUMB_CACHE_BYTES = 2_000_000_000  # the thumbnail cache's size limit unless the window's settings say otherwise
TYPICAL_THUMBNAIL_BYTES = 20_000  # a 256 px JPEG, for an empty cache's estimate of how many more fit


@dataclass
class UpdateReport:
    scan: ScanReport = field(default_factory=ScanReport)
    index: IndexReport = field(default_factory=IndexReport)
    tags_written: int = 0
    photos_tagged: int = 0  # new photos plus those a killed run left untagged
    thumbnails_made: int = 0  # thumbnails that were missing for indexed photos
    leftovers_removed: int = 0  # temp files and folders of killed runs
    places_named: int = 0  # photos whose GPS position was looked up (new ones, and a catalog from before places)
    duplicates: DuplicateReport = field(default_factory=DuplicateReport)
    faces: FacesReport | None = None  # None: faces are off for this library (or not installed)
    text: TextReport | None = None  # None: reading text is off for this library (or RapidOCR not installed)
    persons_started: int = 0
    thumbnails_pruned: int = 0  # the least recently made, to keep the cache under its size limit
    backup: str | None = None  # the daily catalog backup this run took (None: one less than a day old exists)
    smart_albums: dict[str, int] = field(default_factory=dict)  # smart album -> its photos, found again

    def to_plain(self) -> dict[str, Any]:
        """Builtins only, as `photosift index --json` prints them (engine.reports)."""
        return update_plain(self)

    def summary(self, show: Callable[[str], str] = str) -> str:
        """One line: what changed and what was indexed."""
        return update_summary(self, show)

    def lines(self, show: Callable[[str], str] = str) -> list[str]:
        """Every fact, a line each, each file named."""
        return update_lines(self, show)


def set_faces_setting(catalog: PhotoCatalog, on: bool) -> None:
    """Turn faces on or off for the library; turning them on without the face models installed is refused."""
    if on:
        require_faces()
    catalog.set_setting(SETTING_FACES, "on" if on else "off")


def sweep_leftovers(library: Library) -> int:
    """Delete what killed runs left: stale `.*.<pid>.tmp` files and the decode pool's temp folders."""
    removed = sweep_stale_pool_dirs(library.paths.root / "tmp")
    for folder in (library.paths.root, library.paths.indexes):
        removed += sweep_stale_temps(folder)
    return removed


def update_library(library: Library, encoder: ClipEncoder, *, do_scan: bool = True, do_tag: bool = True,
                   settings: IndexSettings | None = None, progress: ProgressCallback = ignore_progress,
                   cancel: CancelToken | None = None, wait_s: float = 0.0, confirm_deletions: bool = False,
                   repair_thumbnails: bool = False, faces: bool | None = None, text: bool | None = None,
                   thumb_cache_bytes: int | None = None) -> UpdateReport:
    """Bring the library up to date with its folders and the encoder's model.

    `confirm_deletions`: forget photos held as missing after many vanished at once; never those of a drive or
    folder that is not there now (engine.scanner keeps them whatever the flag says).
    `repair_thumbnails`: make thumbnails missing from the cache (the CLI's index; the window makes thumbnails
    when they are shown, so it leaves this off).
    `thumb_cache_bytes`: keep the thumbnail cache under this size (None: no limit); repairing then makes only
    as many as fit, so that a cache at its limit is not filled by one run and pruned by the next.
    `faces`: search new photos for faces and group them into persons; None = the library's setting.
    `text`: read the text in new photos (engine.text_in_photos); None = the library's setting.
    """
    report = UpdateReport()
    catalog = library.catalog
    settings = settings or IndexSettings()
    temp_dir = library.paths.root / "tmp"
    with library.write_lock(wait_s):
        report.leftovers_removed = sweep_leftovers(library)
        if do_scan:
            report.scan = scan(catalog, progress=progress, cancel=cancel, confirm_deletions=confirm_deletions)
        todo = catalog.embeddings.photos_missing(encoder.model_id)
        report.index = index_photos(
            catalog, todo, encoder.model_id, encoder.encode_images, encoder.preprocess_config,
            thumb_dir=library.paths.thumbnails, settings=settings, progress=progress, cancel=cancel,
            temp_dir=temp_dir)
        if do_tag:
            untagged = catalog.tags.photos_missing(encoder.model_id)
            if untagged:
                report.tags_written = tag_with_vocabulary(catalog, encoder, library.paths.indexes, untagged,
                                                          progress=progress, cancel=cancel)
                report.photos_tagged = len(untagged)
        try:
            report.places_named = fill_places(catalog, progress=progress, cancel=cancel)
        except PlaceDataError as e:  # places are a nicety: the photos are indexed and searchable without them
            log.warning("places not named: %s", e)
        if repair_thumbnails:
            missing = photos_missing_thumbnails(catalog, library.paths.thumbnails)
            if missing and thumb_cache_bytes is not None:
                missing = missing[:_thumbnails_that_fit(library, thumb_cache_bytes)]
            if missing:
                report.thumbnails_made = make_thumbnails(missing, library.paths.thumbnails,
                                                         encoder.preprocess_config, settings=settings,
                                                         cancel=cancel, temp_dir=temp_dir)
        if thumb_cache_bytes is not None:
            report.thumbnails_pruned = prune_thumbnails(library.paths.thumbnails, thumb_cache_bytes)
        if faces if faces is not None else (faces_enabled(catalog) and faces_installed()):
            report.faces = find_faces(catalog, catalog.people.photos_missing_faces(FACE_MODEL_ID),
                                      workers=settings.workers, progress=progress, cancel=cancel,
                                      temp_dir=temp_dir)
            report.persons_started = group_faces(
                catalog, FACE_MODEL_ID, index_path=face_index_path(library.paths.indexes, FACE_MODEL_ID),
                progress=progress, cancel=cancel)
        if text if text is not None else (text_enabled(catalog) and text_installed()):
            report.text = read_text_in_photos(catalog, catalog.text.photos_missing(text_model_id()),
                                              progress=progress, cancel=cancel)
        vectors = VectorIndex(catalog, encoder.model_id, library.paths.indexes)
        vectors.refresh(progress, cancel)
        report.duplicates = update_duplicates(catalog, vectors, progress=progress, cancel=cancel)
        if cancel:
            cancel.check()
        report.smart_albums = refresh_smart_albums(library, encoder)
    return report


def _thumbnails_that_fit(library: Library, limit_bytes: int) -> int:
    """How many more thumbnails the cache takes before pruning would delete some (estimated from its own)."""
    files, size = thumbnail_cache_usage(library.paths.thumbnails)
    each = size / files if files else TYPICAL_THUMBNAIL_BYTES
    return max(0, int((limit_bytes * 0.9 - size) // max(each, 1)))  # 0.9: prune_thumbnails' headroom


def index_library(library: Library, encoder: ClipEncoder | Callable[[], ClipEncoder], *,
                  settings: IndexSettings | None = None, progress: ProgressCallback = ignore_progress,
                  cancel: CancelToken | None = None, wait_s: float = 0.0, confirm_deletions: bool = False,
                  tag: bool = True, repair_thumbnails: bool = True,
                  thumb_cache_bytes: int | None = None) -> UpdateReport:
    """Index the library: what `photosift index`, its `--watch` rounds and the window's Index all run.

    The update (scan, vectors, tags, places, faces as the library says, vector index, duplicates), the
    thumbnail cache kept under `thumb_cache_bytes` (None: THUMB_CACHE_BYTES), then the daily catalog backup,
    taken after a run that went through. `encoder`: the model's encoder, or a function that loads it: then the
    folders are scanned first, so that new photos can be shown while the model loads (or downloads), without
    the write lock held. `repair_thumbnails`: make the missing thumbnails (the window leaves it off: it makes
    them when shown).
    """
    scanned: ScanReport | None = None
    if not hasattr(encoder, "model_id"):  # a loader
        with library.write_lock(wait_s):
            scanned = scan(library.catalog, progress=progress, cancel=cancel, confirm_deletions=confirm_deletions)
        encoder = encoder()
    report = update_library(library, encoder, do_scan=scanned is None, do_tag=tag, settings=settings,
                            progress=progress, cancel=cancel, wait_s=wait_s, confirm_deletions=confirm_deletions,
                            repair_thumbnails=repair_thumbnails,
                            thumb_cache_bytes=THUMB_CACHE_BYTES if thumb_cache_bytes is None else thumb_cache_bytes)
    if scanned is not None:
        report.scan = scanned
    backup = backup_if_due(library.catalog)  # the daily safety net
    report.backup = None if backup is None else str(backup)
    return report
