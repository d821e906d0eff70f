"""The job adapter's child-process runner: reports, result, pause/cancel, and a child that dies."""

import pytest

pytest.importorskip("PySide6")

from desktop_app.gui.worker import JobRunner
from tests.app import process_jobs


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    r.shutdown()


def _events(runner, target, args):
    seen: dict[str, list] = {"progress": [], "done": [], "error": [], "cancel": []}
    job = runner.start_process(target, args, name="test job", on_progress=seen["progress"].append,
                               on_done=seen["done"].append, on_error=seen["error"].append,
                               on_cancel=lambda: seen["cancel"].append(True))
    return job, seen


def test_process_job_reports_every_progress_then_its_result(qtbot, runner):
    _job, seen = _events(runner, process_jobs.count_to, (5,))
    qtbot.waitUntil(lambda: bool(seen["done"] or seen["error"]), timeout=30_000)
    assert seen["done"] == [50] and not seen["error"]
    assert [p.done for p in seen["progress"]] == [1, 2, 3, 4, 5]
    qtbot.waitUntil(lambda: not runner.running and not runner.exiting, timeout=10_000)  # reaped, timer idle
    assert not runner.timer.isActive()


def test_process_job_pauses_resumes_and_cancels(qtbot, runner):
    job, seen = _events(runner, process_jobs.run_until_cancelled, ())
    qtbot.waitUntil(lambda: len(seen["progress"]) >= 2, timeout=30_000)
    job.token.pause()
    assert job.token.paused
    for _ in range(30):  # until what was sent before the pause took hold has arrived
        held = len(seen["progress"])
        qtbot.wait(300)
        if len(seen["progress"]) == held:
            break
    qtbot.wait(400)
    assert len(seen["progress"]) == held
    job.token.resume()
    qtbot.waitUntil(lambda: len(seen["progress"]) > held + 2, timeout=10_000)
    job.token.cancel()
    qtbot.waitUntil(lambda: bool(seen["cancel"]), timeout=10_000)
    assert job.token.cancelled and not seen["done"] and not seen["error"]


def test_a_child_that_dies_is_reported_as_an_error(qtbot, runner):
    _job, seen = _events(runner, process_jobs.die, (3,))
    qtbot.waitUntil(lambda: bool(seen["error"] or seen["done"]), timeout=30_000)
    assert seen["error"] == ["test job stopped unexpectedly (exit code 3)"]
    assert [p.stage for p in seen["progress"]] == ["dying"]
