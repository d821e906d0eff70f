"""The window's long jobs, as a plain object without Qt (beside browse_state): whether indexing or a model
switch (installing a model and switching the library to it) is running, what stage indexing has reached,
and an index asked for while a model was being prepared, which starts once the switch is over.

Only one of the two runs at a time: indexing while the library changes its model would compute vectors for
the model it is leaving. The window's library jobs ask this object what to do and tell it what happened; the
folder watcher asks it whether the window is busy.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class JobToken(Protocol):
    """How a running job is paused and cancelled (engine.jobs.CancelToken, or a child process's token)."""

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def cancel(self) -> None: ...


class RunningJob(Protocol):
    """A job the window started (desktop_app.gui.worker.JobWorker)."""

    @property
    def token(self) -> JobToken: ...


class IndexAnswer(StrEnum):
    START = "start"
    RUNNING = "running"  # indexing runs already: nothing more to start
    AFTER_SWITCH = "after switch"  # a model is being prepared: indexing starts once the library has switched


class SwitchAnswer(StrEnum):
    START = "start"
    SWITCHING = "switching"  # a model is being prepared already
    INDEXING = "indexing"  # indexing runs: the library cannot change its model under it


class JobState:
    def __init__(self) -> None:
        self.index_job: RunningJob | None = None
        self.model_job: RunningJob | None = None  # installing a model and switching the library to it
        self.index_after_switch = False  # indexing was asked for while a model was being prepared
        self.index_stage = ""  # the stage of the last progress report of the running index

    def busy(self) -> bool:
        """Indexing or a model switch runs (the watcher keeps its changes until neither does)."""
        return self.index_job is not None or self.model_job is not None

    def ask_index(self) -> IndexAnswer:
        """Indexing is asked for; while a model is being prepared, the request is kept for after the switch."""
        if self.index_job is not None:
            return IndexAnswer.RUNNING
        if self.model_job is not None:
            self.index_after_switch = True
            return IndexAnswer.AFTER_SWITCH
        return IndexAnswer.START

    def index_started(self, job: RunningJob) -> None:
        self.index_job = job
        self.index_stage = ""

    def stage_reached(self, stage: str) -> bool:
        """Indexing reports `stage`; True when it has just left the scan: every photo has been found, so the
        folders' counts are real now."""
        left_scan = self.index_stage == "scan" and stage != "scan"
        self.index_stage = stage
        return left_scan

    def index_ended(self) -> None:
        self.index_job = None

    def ask_switch(self) -> SwitchAnswer:
        if self.model_job is not None:
            return SwitchAnswer.SWITCHING
        if self.index_job is not None:
            return SwitchAnswer.INDEXING
        return SwitchAnswer.START

    def switch_started(self, job: RunningJob) -> None:
        self.model_job = job

    def switched(self, vectors_missing: int, has_folders: bool) -> None:
        """The library uses its new model: the photos without its vectors are indexed after the switch."""
        self.index_after_switch = self.index_after_switch or (vectors_missing > 0 and has_folders)

    def switch_ended(self) -> bool:
        """The switch is over (done, failed or cancelled); True when indexing waits for it (asked for meanwhile,
        or vectors missing): the caller starts it now."""
        self.model_job = None
        waiting, self.index_after_switch = self.index_after_switch, False
        return waiting

    def toggle_pause(self) -> bool | None:
        """Pause the running index, or resume it; whether it is paused now (None when no index runs)."""
        if self.index_job is None:
            return None
        token = self.index_job.token
        if token.paused:
            token.resume()
        else:
            token.pause()
        return token.paused

    def cancel(self) -> None:
        """Cancel whatever runs: indexing, or the download and switch of a model."""
        for job in (self.index_job, self.model_job):
            if job is not None:
                job.token.cancel()
