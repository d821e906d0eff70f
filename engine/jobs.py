"""The job contract: long jobs report Progress and check a CancelToken between batches.

No UI types here. The CLI renders Progress as a bar; the GUI forwards it through one worker adapter.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job: `done` of `total` units of `stage`, with rate and ETA derived."""

    stage: str
    done: int
    total: int
    elapsed_s: float = 0.0
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    setup_s: float = 0.0  # part of elapsed_s spent before the first unit (loading, encoding a vocabulary)
    uneven: bool = False  # the units are steps of unequal length (a build's steps): no rate, no ETA from them

    @property
    def rate(self) -> float:
        work_s = self.elapsed_s - self.setup_s
        return self.done / work_s if work_s > 0 and not self.uneven else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.rate <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]
T = TypeVar("T")


def batches(items: Iterable[T], size: int, cancel: CancelToken | None = None) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter); a cancel is honoured after each list is handled, so a
    per-photo pass that commits each list stops with its work so far saved."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
            if cancel is not None:
                cancel.check()
    if batch:
        yield batch

def ordered_map(pool: Executor, fn: Callable[[Any], T], tasks: Iterable[Any], window: int) -> Iterator[T]:
    """fn(task) for each task on `pool`, yielded in task order with at most `window` in flight: the work runs
    ahead of its consumer with a bounded memory whatever the number of tasks. What is still queued when the
    consumer stops is cancelled."""
    inflight: deque[Future[T]] = deque()
    try:
        for t in tasks:
            inflight.append(pool.submit(fn, t))
            if len(inflight) >= window:
                yield inflight.popleft().result()
        while inflight:
            yield inflight.popleft().result()
    finally:
        for f in inflight:
            f.cancel()


# How the CLI's bars and the window's status line name each stage.
STAGE_LABELS = {"scan": "Scanning", "index": "Indexing", "tag": "Tagging", "vectors": "Building the search index",
                "download": "Downloading model", "verify": "Checking model", "load": "Loading model",
                "build": "Building the starter model", "export": "Exporting model", "prepare": "Preparing photos",
                "train": "Training", "eval": "Evaluating", "places": "Naming places", "faces": "Finding faces",
                "text": "Reading text in photos"}


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


def duration_text(seconds: float) -> str:
    """'40 s', '2 min 05 s', '1 h 12 min'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def eta_text(seconds: float | None) -> str:
    """'about 2 min 05 s left', 'about 40 s left', 'about 1 h 12 min left'; '' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0.5:  # nothing worth saying
        return ""
    return f"about {duration_text(seconds)} left"


def progress_text(p: Progress) -> str:
    """A report as one status line: 'Indexing 120/800 at 12.3/s, about 1 min 09 s left (detail)'.

    Only what was measured: where the amount of work is not known yet (a scan: total 0) no '/0' and no rate
    (a rate of files listed per second says nothing of the time left); uneven steps have neither rate nor ETA.
    """
    if p.stage == "download":  # bytes: say how far in MB
        counted = (f"{p.done / 1e6:.0f}/{p.total / 1e6:.0f} MB" if p.total > 0 else f"{p.done / 1e6:.0f} MB") + (
            f" at {p.rate / 1e6:.1f} MB/s" if p.rate else "")
    elif p.total > 0:
        counted = f"{p.done}/{p.total}" + (f" at {p.rate:.1f}/s" if p.rate else "")
    else:
        counted = f"{p.done} so far" if p.done else ""
    eta = eta_text(p.eta_s)
    return (stage_label(p.stage) + (f" {counted}" if counted else "") + (f", {eta}" if eta else "")
            + (f" ({p.message})" if p.message else ""))


def ignore_progress(_: Progress) -> None:
    """The default sink for jobs run without anyone watching."""


class CancelToken:
    """Set from any thread; a job checks it between batches and stops cleanly."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._paused = threading.Event()

    def cancel(self) -> None:
        self._event.set()
        self._paused.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def check(self) -> None:
        """Raise Cancelled when cancelled; block while paused."""
        while self._paused.is_set() and not self._event.is_set():
            time.sleep(0.05)
        if self._event.is_set():
            raise Cancelled("cancelled")


class ProgressClock:
    """Builds Progress snapshots for one stage with the elapsed time filled in."""

    def __init__(self, stage: str, total: int, sink: ProgressCallback, uneven: bool = False) -> None:
        self.stage = stage
        self.total = total
        self.sink = sink
        self.uneven = uneven  # steps of unequal length: the time left cannot be derived from them
        self.start = time.perf_counter()
        self.setup_s = 0.0

    def setup_done(self) -> None:
        """The units start now: the rate (and so the ETA) leaves out the time spent before."""
        self.setup_s = time.perf_counter() - self.start

    def report(self, done: int, message: str = "", **metrics: float) -> None:
        self.sink(Progress(self.stage, done, self.total, time.perf_counter() - self.start, message, metrics,
                           self.setup_s, self.uneven))

    def parts(self, done: int, message: str, parts: int) -> Callable[[int], None]:
        """A reporter for a long step made of `parts` even parts (batches): each call, with the parts finished,
        reports 'message 3/40, about 1 min left in this step', the time left measured on those parts."""
        started = time.perf_counter()

        def report(finished: int) -> None:
            spent = time.perf_counter() - started
            eta = eta_text(spent / finished * (parts - finished) if finished else None)
            self.report(done, f"{message} {finished}/{parts}" + (f", {eta} in this step" if eta else ""))

        return report
