"""The indexing pipeline: decode in worker processes, overlapped with batched ONNX inference.

Photos and their vectors are committed together per batch, so a run killed at any moment loses at most
the batch in flight, and the next run simply continues with what is still missing.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import pid_alive
from engine.catalog import PERMANENT, TRANSIENT, Photo, PhotoCatalog
from engine.duplicates import photo_signature
from engine.errors import ImageReadError, TransientReadError
from engine.imageio import THUMBNAIL_SIZE, DecodedPhoto, is_transient, open_photo, save_thumbnail, thumbnail_path
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress, ordered_map
from engine.modelfolder import PreprocessConfig
from engine.paths import PRIVATE_DIR_MODE
from engine.preprocess import normalize, resize_and_crop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeTask:
    photo_id: int
    path: str | bytes
    fingerprint: str | None
    thumbnail_only: bool = False  # only (re)make the cached thumbnail


@dataclass(frozen=True)
class Decoded:
    photo_id: int
    pixels: np.ndarray | None  # (S, S, 3) uint8, or None on failure
    meta: dict[str, Any]
    error: str | None = None
    error_kind: str = PERMANENT


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
    failed_transient: int = 0  # of `failed`: retried by the next index
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
        photo = open_photo(task.path, min_side=THUMBNAIL_SIZE if task.thumbnail_only
                           else max(cfg.image_size, THUMBNAIL_SIZE))
    except TransientReadError as e:
        return Decoded(task.photo_id, None, {}, str(e), TRANSIENT)
    except ImageReadError as e:
        return Decoded(task.photo_id, None, {}, str(e), PERMANENT)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the library
        return Decoded(task.photo_id, None, {}, f"could not read: {type(e).__name__}: {e}", PERMANENT)
    try:
        if thumb_dir and task.fingerprint:
            dest = thumbnail_path(Path(thumb_dir), task.fingerprint)
            if not dest.exists():
                save_thumbnail(photo.image, dest)
        if task.thumbnail_only:
            return Decoded(task.photo_id, None, {})
        return Decoded(task.photo_id, resize_and_crop(photo.image, cfg), {**photo.meta, **_signature(task, photo)})
    except OSError as e:  # the thumbnail cache's disk (full, read-only): not the photo's fault
        kind = TRANSIENT if is_transient(e) else PERMANENT
        return Decoded(task.photo_id, None, {}, f"could not save its thumbnail: {e.strerror or e}", kind)
    except Exception as e:  # noqa: BLE001 - one bad file must never stop the library
        return Decoded(task.photo_id, None, {}, f"could not read: {type(e).__name__}: {e}", PERMANENT)


def _signature(task: DecodeTask, photo: DecodedPhoto) -> dict[str, Any]:
    """Content hash, pixel signature and focus measure (engine.duplicates), while the file is at hand; a file
    that vanished since its decode only loses them (the duplicate check backfills what is missing)."""
    try:
        return photo_signature(task.path, photo.image)
    except OSError:
        return {}


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


# The fork server's socket is <base>/<pid>/pymp-XXXXXXXX/listener-XXXXXXXX, and AF_UNIX paths end at 107 bytes.
POOL_SOCKET_ROOM = 44


def pool_temp_root(base: Path) -> Path | None:
    """Where the decode pool's temp folders go: `base`, or when that is too deep for a socket path a short
    folder in the system temp dir; None when no place is short enough (multiprocessing's default then)."""
    user = os.getuid() if hasattr(os, "getuid") else 0
    for candidate in (Path(base), Path(tempfile.gettempdir()) / f"photosift-pool-{user}",
                      Path("/tmp") / f"photosift-pool-{user}"):
        if len(os.fsencode(str(candidate))) + POOL_SOCKET_ROOM <= 107:
            return candidate
    return None


def use_pool_temp_dir(base: Path) -> None:
    """Give this process's multiprocessing temp folder (the fork server's socket) a home of our own.

    multiprocessing makes a `pymp-*` folder in the system temp dir and deletes it at a normal exit; a kill -9
    leaves it there forever. Here it is made inside `<base>/<pid>/`, which `sweep_stale_pool_dirs` deletes at
    the next start once that pid is dead. A process that already has its temp folder keeps it.
    """
    top = pool_temp_root(base)
    if top is None:
        return
    own = top / str(os.getpid())
    try:
        top.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        own.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    except OSError:
        return  # a read-only library: multiprocessing's default place still works
    saved = tempfile.tempdir
    tempfile.tempdir = str(own)
    try:
        multiprocessing.util.get_temp_dir()
    finally:
        tempfile.tempdir = saved
    # Runs after multiprocessing removed its pymp-* folder at exit (lower priority runs later).
    multiprocessing.util.Finalize(None, _remove_empty, args=(str(own),), exitpriority=-101)


def _remove_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass


def sweep_stale_pool_dirs(base: Path) -> int:
    """Delete the pool temp folders (`<base>/<pid>/`) of processes that are gone; returns how many."""
    removed = 0
    for root in {Path(base), pool_temp_root(Path(base)) or Path(base)}:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            if entry.name.isdigit() and entry.is_dir(follow_symlinks=False) and not pid_alive(int(entry.name)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
    return removed


def _decode_stream(tasks: list[DecodeTask], cfg: PreprocessConfig, thumb_dir: str | None,
                   settings: IndexSettings, temp_dir: Path | None = None) -> Iterator[Decoded]:
    """Decoded photos in order, with a bounded number in flight so memory stays flat."""
    workers = settings.workers or os.cpu_count() or 1
    # Even one worker runs in its own process: decoding then overlaps with inference in this one.
    if len(tasks) < 4:
        for t in tasks:
            yield decode_for_index(t, cfg, thumb_dir)
        return
    if temp_dir is not None:
        use_pool_temp_dir(temp_dir)
    window = settings.batch_size * settings.prefetch_batches
    yield from ordered_pool_map(partial(decode_for_index, cfg=cfg, thumb_dir=thumb_dir), tasks, workers, window)


def ordered_pool_map(fn: Callable[[Any], Any], tasks: list, workers: int, window: int) -> Iterator[Any]:
    """fn(task) for each task in worker processes, yielded in task order with at most `window` in flight (a
    bounded memory whatever the number of tasks). The workers exit with this process."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context(),
                             initializer=_exit_with_parent) as pool:
        yield from ordered_map(pool, fn, tasks, window)


def index_photos(catalog: PhotoCatalog, photos: list[Photo], model_id: str,
                 encode_images: Callable[[np.ndarray], np.ndarray], cfg: PreprocessConfig, *,
                 thumb_dir: Path | None = None, settings: IndexSettings = IndexSettings(),
                 on_batch: Callable[[list[int], np.ndarray], None] | None = None,
                 progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                 temp_dir: Path | None = None) -> IndexReport:
    """Compute and store vectors for `photos`; per-file failures are recorded (with their kind) and skipped.

    `temp_dir`: where the decode pool keeps its temp folder (see use_pool_temp_dir).
    """
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
                catalog.embeddings.put(model_id, [d.photo_id for d in batch], vectors)
                for d in batch:
                    catalog.record_decoded(d.photo_id, d.meta)
                catalog.duplicates.put_signatures(
                    (d.photo_id, d.meta["content_hash"], d.meta["pixel_sig"], d.meta["sharpness"])
                    for d in batch if "content_hash" in d.meta)
            for d in failures:
                catalog.record_error(d.photo_id, d.error or "unknown error", d.error_kind)
        if vectors is not None and on_batch is not None:
            on_batch([d.photo_id for d in batch], vectors)
        report.seconds_encode += t1 - t0
        report.seconds_commit += time.perf_counter() - t1
        report.indexed += len(batch)
        report.failed += len(failures)
        report.failed_transient += sum(d.error_kind == TRANSIENT for d in failures)
        report.failures.extend((paths[d.photo_id], d.error or "") for d in failures)
        done += len(batch) + len(failures)
        batch, failures = [], []
        clock.report(done, failed=report.failed)

    stream = _decode_stream(tasks, cfg, str(thumb_dir) if thumb_dir else None, settings, temp_dir)
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


def photos_missing_thumbnails(catalog: PhotoCatalog, thumb_dir: Path) -> list[Photo]:
    """Indexed photos (of online roots) whose cached thumbnail is not on disk."""
    have: set[str] = set()
    for sub in Path(thumb_dir).glob("??"):
        try:
            with os.scandir(sub) as it:
                have.update(e.name[:-4] for e in it if e.name.endswith(".jpg"))
        except OSError:
            continue
    offline = {r.id for r in catalog.roots() if r.state == "offline"}
    return [p for p in catalog.photos_with_status("ok")
            if p.fingerprint and p.fingerprint not in have and p.root_id not in offline and p.missing_since is None]


def make_thumbnails(photos: list[Photo], thumb_dir: Path, cfg: PreprocessConfig, *,
                    settings: IndexSettings = IndexSettings(), cancel: CancelToken | None = None,
                    temp_dir: Path | None = None) -> int:
    """(Re)make the cached thumbnails of `photos` in the decode pool; returns how many were made."""
    tasks = [DecodeTask(p.id, p.fs_path, p.fingerprint, thumbnail_only=True) for p in photos]
    made = 0
    for n, decoded in enumerate(_decode_stream(tasks, cfg, str(thumb_dir), settings, temp_dir), 1):
        made += decoded.error is None
        if cancel and n % settings.batch_size == 0:
            cancel.check()
    return made
