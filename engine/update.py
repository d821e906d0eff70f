"""The library update job: sweep leftovers, scan roots, index what is missing, finish tagging, refresh the
vector index.

Everything a killed run left half done is finished here: photos whose transient failure may have passed
are tried again, photos with vectors but without the active model's zero-shot tags are tagged, missing
thumbnails are made, and temp files of killed processes are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.atomic import sweep_stale_temps
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
from engine.scanner import ScanReport, scan
from engine.tagging import tag_with_vocabulary
from engine.vectorindex import VectorIndex

log = logging.getLogger(__name__)


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
    persons_started: int = 0


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
                   repair_thumbnails: bool = False, faces: bool | None = None) -> UpdateReport:
    """Bring the library up to date with its folders and the encoder's model.

    `confirm_deletions`: forget photos that vanished many at once (held by the scan as possibly unplugged).
    `repair_thumbnails`: make thumbnails missing from the cache (the CLI's index; the window prunes its cache
    to a size limit and makes thumbnails when they are shown, so it leaves this off).
    `faces`: search new photos for faces and group them into persons; None = the library's setting.
    """
    report = UpdateReport()
    catalog = library.catalog
    settings = settings or IndexSettings()
    temp_dir = library.paths.root / "tmp"
    with library.write_lock(wait_s):
        report.leftovers_removed = sweep_leftovers(library)
        if do_scan:
            report.scan = scan(catalog, progress=progress, cancel=cancel, confirm_deletions=confirm_deletions)
        todo = catalog.photos_missing_embedding(encoder.model_id)
        report.index = index_photos(
            catalog, todo, encoder.model_id, encoder.encode_images, encoder.preprocess_config,
            thumb_dir=library.paths.thumbnails, settings=settings, progress=progress, cancel=cancel,
            temp_dir=temp_dir)
        if do_tag:
            untagged = catalog.photos_missing_tags(encoder.model_id)
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
            if missing:
                report.thumbnails_made = make_thumbnails(missing, library.paths.thumbnails,
                                                         encoder.preprocess_config, settings=settings,
                                                         cancel=cancel, temp_dir=temp_dir)
        if faces if faces is not None else (faces_enabled(catalog) and faces_installed()):
            report.faces = find_faces(catalog, catalog.photos_missing_faces(FACE_MODEL_ID),
                                      workers=settings.workers, progress=progress, cancel=cancel,
                                      temp_dir=temp_dir)
            report.persons_started = group_faces(
                catalog, FACE_MODEL_ID, index_path=face_index_path(library.paths.indexes, FACE_MODEL_ID),
                progress=progress, cancel=cancel)
        vectors = VectorIndex(catalog, encoder.model_id, library.paths.indexes)
        vectors.refresh(progress, cancel)
        report.duplicates = update_duplicates(catalog, vectors, progress=progress, cancel=cancel)
    return report
