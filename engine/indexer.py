"""The indexing pipeline: decode in worker processes, overlapped with batched ONNX inference.

Photos and their vectors are committed together per batch, so a run killed at any moment loses at most
the batch in flight, and the next run simply continues with what is still missing.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.catalog import Photo, PhotoCatalog
from engine.errors import ImageReadError
from engine.imageio import THUMBNAIL_SIZE, open_photo, save_thumbnail, thumbnail_path
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import PreprocessConfig
from engine.preprocess import normalize, resize_and_crop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeTask:
    photo_id: int
    path: str | bytes
    fingerprint: str | None


@dataclass(frozen=True)
class Decoded:
    photo_id: int
    pixels: np.ndarray | None  # (S, S, 3) uint8, or None on failure
    meta: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class IndexSettings:
    batch_size: int = 32
    workers: int = 0  # decode processes; 0 = one per CPU core
    prefetch_batches: int = 3


@dataclass
class IndexReport:
    indexed: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds_decode_wait: float = 0.0
    seconds_encode: float = 0.0
    seconds_commit: float = 0.0


_IN_TASK = threading.Lock()  # held by a decode worker while it works on a photo


def _exit_with_parent() -> None:
    """Decode worker initializer: when the indexing process dies (kill -9, crash), the worker follows it.

    Otherwise it would wait for work forever: nothing else tells it its parent is gone. It finishes the
    photo in hand first, so no half-written thumbnail is left behind.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        with _IN_TASK:
            os._exit(0)

    threading.Thread(target=watch, name="photosift-parent-watch", daemon=True).start()


def decode_for_index(task: DecodeTask, cfg: PreprocessConfig, thumb_dir: str | None) -> Decoded:
    """Runs in a worker process: one file to model pixels, metadata and a cached thumbnail."""
    with _IN_TASK:
        return _decode_for_index(task, cfg, thumb_dir)


def _decode_for_index(task: DecodeTask, cfg: PreprocessConfig, thumb_dir: str | None) -> Decoded:
    try:
        photo = open_photo(task.path, min_side=max(cfg.image_size, THUMBNAIL_SIZE))
        if thumb_dir and task.fingerprint:
            dest = thumbnail_path(Path(thumb_dir), task.fingerprint)
            if not dest.exists():
                save_thumbnail(photo.image, dest)
        return Decoded(task.photo_id, resize_and_crop(photo.image, cfg), photo.meta)
    except ImageReadError as e:
        return Decoded(task.photo_id, None, {}, str(e))
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the library
        return Decoded(task.photo_id, None, {}, f"could not read: {type(e).__name__}: {e}")


def _worker_context() -> multiprocessing.context.BaseContext:
    """Decode workers start from a clean server process, never by forking this one.

    By the time photos are decoded this process runs ONNX Runtime's thread pool (and, in the app, more
    threads): forking a threaded process can leave a lock held forever in the child, and Python 3.12+
    warns about it. The fork server imports the decoding code and the program's main module once, so
    each worker starts without importing them again (0.3 s less per `photosift index`). Windows has
    only spawn.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", __name__])
    return ctx


def _decode_stream(tasks: list[DecodeTask], cfg: PreprocessConfig, thumb_dir: str | None,
                   settings: IndexSettings) -> Iterator[Decoded]:
    """Decoded photos in order, with a bounded number in flight so memory stays flat."""
    workers = settings.workers or os.cpu_count() or 1
    # Even one worker runs in its own process: decoding then overlaps with inference in this one.
    if len(tasks) < 4:
        for t in tasks:
            yield decode_for_index(t, cfg, thumb_dir)
        return
    window = settings.batch_size * settings.prefetch_batches
    with ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context(),
                             initializer=_exit_with_parent) as pool:
        inflight: deque[Future[Decoded]] = deque()
        it = iter(tasks)
        try:
            for t in it:
                inflight.append(pool.submit(decode_for_index, t, cfg, thumb_dir))
                if len(inflight) >= window:
                    yield inflight.popleft().result()
            while inflight:
                yield inflight.popleft().result()
        finally:
            for f in inflight:
                f.cancel()


def index_photos(catalog: PhotoCatalog, photos: list[Photo], model_id: str,
                 encode_images: Callable[[np.ndarray], np.ndarray], cfg: PreprocessConfig, *,
                 thumb_dir: Path | None = None, settings: IndexSettings = IndexSettings(),
                 on_batch: Callable[[list[int], np.ndarray], None] | None = None,
                 progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None) -> IndexReport:
    """Compute and store vectors for `photos`; per-file failures are recorded and skipped."""
    import time

    report = IndexReport()
    clock = ProgressClock("index", len(photos), progress)
    paths = {p.id: p.path for p in photos}
    tasks = [DecodeTask(p.id, p.fs_path, p.fingerprint) for p in photos]
    batch: list[Decoded] = []
    failures: list[Decoded] = []
    done = 0

    def flush() -> None:
        nonlocal batch, failures, done
        t0 = time.perf_counter()
        vectors = encode_images(normalize(np.stack([d.pixels for d in batch]), cfg)) if batch else None
        t1 = time.perf_counter()
        with catalog.transaction():
            if vectors is not None:
                catalog.put_embeddings(model_id, [d.photo_id for d in batch], vectors)
                for d in batch:
                    catalog.record_decoded(d.photo_id, d.meta)
            for d in failures:
                catalog.record_error(d.photo_id, d.error or "unknown error")
        if vectors is not None and on_batch is not None:
            on_batch([d.photo_id for d in batch], vectors)
        report.seconds_encode += t1 - t0
        report.seconds_commit += time.perf_counter() - t1
        report.indexed += len(batch)
        report.failed += len(failures)
        report.failures.extend((paths[d.photo_id], d.error or "") for d in failures)
        done += len(batch) + len(failures)
        batch, failures = [], []
        clock.report(done, failed=report.failed)

    stream = _decode_stream(tasks, cfg, str(thumb_dir) if thumb_dir else None, settings)
    t_wait = time.perf_counter()
    for decoded in stream:
        report.seconds_decode_wait += time.perf_counter() - t_wait
        (batch if decoded.pixels is not None else failures).append(decoded)
        if len(batch) >= settings.batch_size or len(failures) >= settings.batch_size:
            flush()
            if cancel:
                cancel.check()
        t_wait = time.perf_counter()
    if batch or failures:
        flush()
    return report
