"""Jobs the window runs in a child process, and the child's side of running any job.

Indexing decodes, encodes and tags photos for minutes; fine-tuning trains for minutes to an hour. Run on a
thread of the window's process, its Python work (and onnxruntime's import and session set-up, and the
garbage it leaves to collect) holds the GIL the GUI thread needs for every event, and its threads and
decode processes take the CPU the GUI thread needs. In a child process at a lower CPU priority it does
neither: the window only reads the child's reports.
No Qt here: the child imports the engine and what the job needs, nothing of the window.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from engine.errors import Cancelled, PhotosiftError
from engine.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10  # the child's CPU priority below the window's (POSIX nice increment)

Job = Callable[[Callable[[Progress], None], CancelToken], Any]


class EventSink(Protocol):
    def put(self, item: tuple[str, Any]) -> None: ...


def run_job(job: Job, name: str, events: EventSink, token: CancelToken) -> None:
    """Run job(progress, token); put ('progress', Progress) for each report, then exactly one of
    ('done', result), ('cancel', None) or ('error', message)."""
    try:
        result = job(lambda p: events.put(("progress", p)), token)
    except Cancelled:
        events.put(("cancel", None))
    except PhotosiftError as e:
        events.put(("error", str(e)))
    except Exception as e:  # noqa: BLE001 - shown as a notification, never as a crash
        log.error("%s failed:\n%s", name, traceback.format_exc())
        events.put(("error", f"{name} failed: {type(e).__name__}: {e}"))
    else:
        events.put(("done", result))


def child_main(job: Callable[..., Any], args: tuple[Any, ...], name: str, events: Any,
               control: Connection) -> None:
    """The child process: lower its priority, follow cancel/pause/resume from the parent, run the job
    (called as job(*args, progress, token)) and send its reports and end through `events`."""
    if hasattr(os, "nice"):
        try:
            os.nice(BACKGROUND_NICE)  # threads and decode processes started from here inherit it
        except OSError:
            pass
    token = CancelToken()
    threading.Thread(target=_follow_parent, args=(control, token), name="photosift-control", daemon=True).start()
    run_job(lambda progress, tok: job(*args, progress, tok), name, events, token)
    events.close()
    events.join_thread()  # everything reaches the parent before this process ends


def _follow_parent(control: Connection, token: CancelToken) -> None:
    commands = {"cancel": token.cancel, "pause": token.pause, "resume": token.resume}
    while True:
        try:
            command = control.recv()
        except (EOFError, OSError):  # the window is gone: stop at the next batch
            token.cancel()
            return
        if command in commands:
            commands[command]()


# -- jobs -------------------------------------------------------------------------------------
def index_library(library_dir: Path, device: str, thumb_cache_bytes: int, progress: Callable[[Progress], None],
                  token: CancelToken, *, confirm_deletions: bool = False) -> Any:
    """The window's Index: engine.update.index_library, like `photosift index`, with the model loaded after the
    scan (new photos show up in the window at once) and thumbnails made when shown, not repaired.
    `confirm_deletions`: the user said the photos held as missing are gone (the banner's "Forget them"), so
    the scan forgets them. Returns the UpdateReport as plain data (engine.reports.as_namespace: unpickling
    the report itself would import engine.update, and onnxruntime, in the window), its summary beside it."""
    from desktop_app.models_runtime import load_encoder
    from engine.library import Library
    from engine.reports import as_namespace
    from engine.update import index_library as index

    with Library.open(library_dir) as lib:
        report = index(lib, lambda: load_encoder(lib.active_model_id, device, progress), progress=progress,
                       cancel=token, wait_s=2.0, confirm_deletions=confirm_deletions, repair_thumbnails=False,
                       thumb_cache_bytes=thumb_cache_bytes)
        plain = as_namespace(report)
        plain.summary = report.summary()
        return plain


def train_model(data: Any, base_model: str, method: str, epochs: int | None, progress: Callable[[Progress], None],
                token: CancelToken) -> SimpleNamespace:
    """Fine-tune `base_model` on `data` (a TrainingData) into a new model. Returns plain data (model_id,
    path, method, before, after, data, seconds, cancelled, worse, name, description): unpickling a
    TrainResult in the window would import torch there."""
    from desktop_app.models_runtime import resolve_model
    from training.finetune import train

    # kept even when worse than its base: the dialog shows it marked and offers to discard it
    result = train(resolve_model(base_model, progress), data, method=method, epochs=epochs, progress=progress,
                   cancel=token, keep_worse=True)
    return SimpleNamespace(model_id=result.model_id, path=str(result.folder.path) if result.folder else None,
                           method=result.method, before=dict(result.before), after=dict(result.after),
                           data=dict(result.data), seconds=float(result.seconds), cancelled=bool(result.cancelled),
                           worse=bool(result.worse), name=result.name, description=result.description,
                           report=dict(result.report))
