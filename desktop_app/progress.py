"""Render engine Progress as a rich progress bar on stderr (silent when stderr is not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from engine.jobs import Progress as JobProgress
from engine.jobs import ProgressCallback

STAGE_LABELS = {"scan": "Scanning", "index": "Indexing", "tag": "Tagging", "download": "Downloading",
                "export": "Exporting", "build": "Building", "eval": "Evaluating", "train": "Training"}


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback]:
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _p: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def show(p: JobProgress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(STAGE_LABELS.get(p.stage, p.stage.title()), total=p.total or None,
                                              rate="")
            bar.update(tasks[p.stage], completed=p.done, total=p.total or None,
                       rate=f"{p.rate:.1f}/s" if p.rate else "")

        yield show


def stderr_line(text: str) -> None:
    print(text, file=sys.stderr)
