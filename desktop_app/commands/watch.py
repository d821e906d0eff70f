"""`photosift index --watch`: after the index, keep the library up to date with its folders until Ctrl+C.

Each settled batch of file events runs the same use case as `photosift index` (engine.update.index_library:
scan, index, tag, places, vector index, the thumbnail cache kept to its size, the daily backup) with the encoder
loaded once; the scanner's safety rules decide what a change means, so an unplugged drive or a renamed folder
goes offline and nothing of it is forgotten.
"""

from __future__ import annotations

import argparse
import sys
import time

from desktop_app.commands import shown
from engine.encoder import ClipEncoder
from engine.errors import LibraryBusyError, PhotosiftError
from engine.indexer import IndexSettings
from engine.library import Library
from engine.update import index_library
from engine.watch import FolderWatch

BUSY_WAIT_S = 60.0  # a window indexing the same library holds the lock this long at most, usually


def watch_library(lib: Library, encoder: ClipEncoder, args: argparse.Namespace) -> int:
    """Block until Ctrl+C, updating the library after each batch of changes; returns the exit code (0)."""
    settings = IndexSettings(batch_size=args.batch_size, workers=args.workers)
    folders = [r.path for r in lib.catalog.roots()]
    watch = FolderWatch(folders, ignore=[str(lib.paths.root)])
    try:
        watch.start()
        print(f"watching {len(folders)} folder(s) for new, changed and deleted photos; Ctrl+C stops", flush=True)
        while True:
            batch = watch.wait()
            if not batch:
                continue
            try:
                report = index_library(lib, encoder, tag=not args.no_tags, settings=settings,
                                       wait_s=max(args.wait, BUSY_WAIT_S))
            except LibraryBusyError as e:
                print(f"{time.strftime('%H:%M:%S')}  not updated now: {e}; trying again at the next change",
                      file=sys.stderr, flush=True)
                continue
            except PhotosiftError as e:
                print(f"{time.strftime('%H:%M:%S')}  error: {e}", file=sys.stderr, flush=True)
                continue
            print(f"{time.strftime('%H:%M:%S')}  {report.summary(shown)}", flush=True)
            watch.set_folders(r.path for r in lib.catalog.roots())  # `photosift add` may have added one
    except KeyboardInterrupt:
        print("stopped watching", flush=True)
        return 0
    finally:
        watch.stop()
