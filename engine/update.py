"""The library update job: scan roots, index what is missing, tag new photos, refresh the vector index."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.encoder import ClipEncoder
from engine.indexer import IndexReport, IndexSettings, index_photos
from engine.jobs import CancelToken, ProgressCallback, ignore_progress
from engine.library import Library
from engine.scanner import ScanReport, scan
from engine.tagging import tag_with_vocabulary
from engine.vectorindex import VectorIndex


@dataclass
class UpdateReport:
    scan: ScanReport = field(default_factory=ScanReport)
    index: IndexReport = field(default_factory=IndexReport)
    tags_written: int = 0


def update_library(library: Library, encoder: ClipEncoder, *, do_scan: bool = True, do_tag: bool = True,
                   settings: IndexSettings | None = None, progress: ProgressCallback = ignore_progress,
                   cancel: CancelToken | None = None, wait_s: float = 0.0) -> UpdateReport:
    report = UpdateReport()
    catalog = library.catalog
    with library.write_lock(wait_s):
        if do_scan:
            report.scan = scan(catalog, progress=progress, cancel=cancel)
        todo = catalog.photos_missing_embedding(encoder.model_id)
        new_ids: list[int] = []
        report.index = index_photos(
            catalog, todo, encoder.model_id, encoder.encode_images, encoder.preprocess_config,
            thumb_dir=library.paths.thumbnails, settings=settings or IndexSettings(),
            on_batch=lambda ids, _vecs: new_ids.extend(ids), progress=progress, cancel=cancel)
        if do_tag and new_ids:
            report.tags_written = tag_with_vocabulary(catalog, encoder, library.paths.indexes, new_ids,
                                                      progress=progress, cancel=cancel)
        VectorIndex(catalog, encoder.model_id, library.paths.indexes).refresh(progress, cancel)
    return report
