"""The window's job state without Qt: one long job at a time, indexing asked for during a model switch waits
for it, the end of the scan is seen once, pause and cancel reach the running job's token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from desktop_app.job_state import IndexAnswer, JobState, SwitchAnswer
from engine.jobs import CancelToken


class Job:
    def __init__(self) -> None:
        self.token = CancelToken()


def test_imports_no_qt():
    code = "import sys, desktop_app.job_state; assert not [m for m in sys.modules if m.startswith('PySide6')]"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_an_index_starts_once_and_ends():
    s = JobState()
    assert not s.busy() and s.ask_index() is IndexAnswer.START
    job = Job()
    s.index_started(job)
    assert s.busy() and s.index_job is job
    assert s.ask_index() is IndexAnswer.RUNNING and not s.index_after_switch  # asked again: nothing waits
    assert s.ask_switch() is SwitchAnswer.INDEXING  # no model switch under a running index
    s.index_ended()
    assert not s.busy() and s.index_job is None and s.ask_switch() is SwitchAnswer.START


def test_indexing_asked_for_during_a_switch_starts_after_it_whatever_its_end():
    for switched in (True, False):  # done, or failed / cancelled
        s = JobState()
        s.switch_started(Job())
        assert s.busy() and s.ask_switch() is SwitchAnswer.SWITCHING
        assert s.ask_index() is IndexAnswer.AFTER_SWITCH and s.index_after_switch
        if switched:
            s.switched(vectors_missing=0, has_folders=True)
        assert s.switch_ended() is True
        assert s.model_job is None and not s.index_after_switch and not s.busy()
        assert s.switch_ended() is False  # the request was handed over once


def test_a_switch_indexes_the_photos_missing_the_new_models_vectors_only_when_there_are_folders():
    for missing, folders, waits in ((0, True, False), (12, True, True), (12, False, False)):
        s = JobState()
        s.switch_started(Job())
        s.switched(vectors_missing=missing, has_folders=folders)
        assert s.switch_ended() is waits, (missing, folders)


def test_the_end_of_the_scan_is_seen_once():
    s = JobState()
    s.index_started(Job())
    assert [s.stage_reached(stage) for stage in ("scan", "scan", "index", "index", "tag", "scan", "vectors")] == [
        False, False, True, False, False, False, True]
    s.index_ended()
    s.index_started(Job())  # a new index starts from no stage: its first report is not the end of a scan
    assert s.index_stage == "" and s.stage_reached("index") is False


def test_pause_and_cancel_reach_the_running_jobs():
    s = JobState()
    assert s.toggle_pause() is None
    s.cancel()  # nothing runs: nothing happens
    index, switch = Job(), Job()
    s.index_started(index)
    assert s.toggle_pause() is True and index.token.paused
    assert s.toggle_pause() is False and not index.token.paused
    s.switch_started(switch)
    s.cancel()
    assert index.token.cancelled and switch.token.cancelled
