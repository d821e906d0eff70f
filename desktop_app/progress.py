"""Render engine Progress as a rich progress bar on stderr (silent when stderr is not a terminal)."""

from __future__ import annotations

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
)

from engine.jobs import Progress as JobProgress
from engine.jobs import ProgressCallback, eta_text, stage_label

METRIC_LABELS = {"loss": "loss", "val_map": "val mAP", "val_text": "val text R@10"}


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback]:
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _p: None
        return
    # The time left is the job's own (engine.jobs.Progress.eta_s: measured, none for uneven steps), not rich's
    # guess from the bar's speed, which would read a build's six unequal steps as equal.
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
               TextColumn("{task.fields[detail]}"))
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}
        latest: dict[str, dict[str, float]] = {}  # validation numbers come every few steps; keep showing them

        def show(p: JobProgress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(stage_label(p.stage), total=p.total or None,
                                              rate="", eta="", detail="")
            latest.setdefault(p.stage, {}).update(p.metrics)
            known = p.total > 0  # a scan's count so far has no rate worth showing
            bar.update(tasks[p.stage], completed=p.done, total=p.total if known else None,
                       rate=f"{p.rate:.1f}/s" if p.rate and known else "", eta=eta_text(p.eta_s),
                       detail=describe(p.message, latest[p.stage]))

        yield show


def describe(message: str, metrics: dict[str, float]) -> str:
    """The job's own words and numbers, e.g. 'stage 1  loss 2.314  val mAP 0.512'."""
    parts = [message] if message else []
    parts += [f"{METRIC_LABELS.get(k, k)} {int(v) if float(v).is_integer() else f'{v:.3f}'}"
              for k, v in metrics.items()]
    return "  ".join(parts)
