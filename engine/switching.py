"""Switching a library's active model as one step: the active model and the zero-shot tags change together.

Zero-shot tags belong to the model that made them; after a switch, tags of the previous model would show
(and filter) until someone re-tagged. So the switch re-tags every photo that has vectors of the new model
from those stored vectors (a matrix product per chunk: seconds, no photo is read), drops the zero-shot tags
of photos that have none yet (indexing tags them as it computes their vectors), and sets the active model,
all in ONE catalog transaction under the library's write lock. Cancelled or failed, nothing changed. User
tags and rejections are never touched. The caller loads the new model first (install it, open its
encoder): a library is only ever switched to a model that is there, and that works: before anything
changes, both of its towers and its tokenizer are loaded and run on a tiny input (ClipEncoder.check), so a
damaged model file is refused with the library as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.encoder import ClipEncoder
from engine.errors import DamagedModelError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.library import Library
from engine.tagging import FIT_SAMPLE, ZeroShotTagger, load_templates, load_vocabulary

CHUNK = 4096


@dataclass(frozen=True)
class SwitchReport:
    model_id: str
    previous: str
    with_vectors: int  # photos that have vectors of the new model
    to_index: int  # readable photos that have none yet: indexing computes them
    total: int  # photos in the library
    tags_written: int


def switch_active_model(library: Library, encoder: ClipEncoder, *, tag: bool = True,
                        progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                        wait_s: float = 0.0) -> SwitchReport:
    """Make `encoder`'s model the library's active one, its zero-shot tags with it (see the module doc).

    `tag=False` only drops the previous model's zero-shot tags. Raises DamagedModelError for a model whose
    files do not load or run, LibraryBusyError when another
    process updates the library for longer than wait_s, Cancelled when `cancel` is set; either way the
    library is as it was."""
    catalog = library.catalog
    model_id = encoder.model_id
    try:
        encoder.check()  # before the library is touched
    except DamagedModelError as e:
        raise DamagedModelError(e.model_id, e.path, e.reason,
                                f"not switched: the library still uses '{library.active_model_id}'") from None
    with library.write_lock(wait_s):
        with_vectors = catalog.embeddings.version(model_id)[1]
        clock = ProgressClock("tag", with_vectors if tag else 0, progress)
        tagger = None
        if tag and with_vectors:
            clock.report(0, "encoding the tag vocabulary")
            tagger = ZeroShotTagger(encoder, load_vocabulary(), load_templates(), library.paths.indexes)
            tagger.fit(catalog.embeddings.sample(model_id, FIT_SAMPLE)[1])
            clock.setup_done()
        previous = library.active_model_id
        written = done = 0
        with catalog.transaction():
            library.set_active_model(model_id)
            catalog.tags.clear_zeroshot()
            if tagger is not None:
                for ids, vectors in catalog.embeddings.chunks(model_id, CHUNK):
                    if cancel is not None:
                        cancel.check()
                    for pid, tags in zip(ids, tagger.assign(vectors), strict=True):
                        catalog.tags.put_zeroshot(model_id, int(pid), tags)
                        written += len(tags)
                    done += len(ids)
                    clock.report(done)
        counts = catalog.counts()  # vectors exist only for photos read fine ('ok'); 'pending' ones are to index
        to_index = max(0, counts["ok"] + counts["pending"] - with_vectors)
        return SwitchReport(model_id, previous, with_vectors, to_index, counts["total"], written)
