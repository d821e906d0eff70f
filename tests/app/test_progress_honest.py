"""Progress says only what was measured (issue #24, item 18): no "107/0 at 16582.1/s" while the amount of
work is unknown, no time left derived from steps of unequal length (a build's), a long step that reports
how far it is, and each phase named when it starts."""

import io
import re
from types import SimpleNamespace

import pytest
from rich.console import Console

import desktop_app.progress as progress_mod
import engine.jobs as jobs
from engine.jobs import Progress, ProgressClock, progress_text


def test_a_count_whose_total_is_unknown_has_no_total_and_no_rate():
    scan = Progress("scan", 107, 0, 0.00645)  # what the scan reports: files found so far, total unknown
    text = progress_text(scan)
    assert text == "Scanning 107 so far" and "/0" not in text and "/s" not in text
    assert progress_text(Progress("build", 0, 0, 3.0, "loading torch")) == "Building the starter model (loading torch)"


def test_uneven_steps_have_no_rate_and_no_time_left():
    step = Progress("build", 1, 6, 5.0, "embedding ImageNet class texts", uneven=True)
    assert step.rate == 0 and step.eta_s is None
    assert progress_text(step) == "Building the starter model 1/6 (embedding ImageNet class texts)"
    even = Progress("vectors", 50, 100, 5.0)  # even units: rate and time left measured on them
    assert progress_text(even) == "Building the search index 50/100 at 10.0/s, about 5 s left"


def test_a_long_step_reports_its_parts_with_the_time_left_measured_on_them(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(jobs.time, "perf_counter", lambda: now[0])
    seen: list[Progress] = []
    clock = ProgressClock("build", 6, seen.append, uneven=True)
    part = clock.parts(1, "embedding ImageNet class texts", 16)
    part(0)
    now[0] += 20.0
    part(4)  # 4 batches in 20 s: 12 more take about 60 s
    assert [p.message for p in seen] == ["embedding ImageNet class texts 0/16",
                                         "embedding ImageNet class texts 4/16, about 1 min 00 s left in this step"]
    assert all(p.done == 1 and p.eta_s is None for p in seen)  # the build's own time left stays unknown


def _bar_output(monkeypatch, reports: list[Progress]) -> str:
    out = io.StringIO()
    monkeypatch.setattr(progress_mod, "Console",
                        lambda **_: Console(file=out, force_terminal=True, width=200, color_system=None))
    with progress_mod.progress_bar() as show:
        for p in reports:
            show(p)
    return out.getvalue()


def test_the_command_lines_bar_shows_no_guessed_time_left_for_uneven_steps(monkeypatch):
    text = _bar_output(monkeypatch, [Progress("build", 0, 6, 1.0, "loading", uneven=True),
                                     Progress("build", 1, 6, 6.0, "embedding ImageNet class texts", uneven=True),
                                     Progress("build", 1, 6, 90.0, "embedding ImageNet class texts 8/16", uneven=True)])
    last = text.rsplit("Building the starter model", 1)[1].splitlines()[0]
    assert "8/16" in last and "left" not in last
    assert len(re.findall(r"\d+:\d\d:\d\d", last)) == 1 and "-:--:--" not in last  # the time spent, nothing more


def test_the_command_lines_bar_shows_the_measured_time_left(monkeypatch):
    text = _bar_output(monkeypatch, [Progress("index", 25, 100, 10.0)])
    last = text.rsplit("Indexing", 1)[1].splitlines()[0]
    assert "about 30 s left" in last and "2.5/s" in last


def test_a_scan_in_the_command_lines_bar_has_no_rate(monkeypatch):
    text = _bar_output(monkeypatch, [Progress("scan", 107, 0, 0.00645)])
    last = text.rsplit("Scanning", 1)[1].splitlines()[0]
    assert "/s" not in last and "107" in last


def test_the_starter_build_says_it_has_begun_before_torch_is_imported(monkeypatch):
    """Importing torch takes up to half a minute: the build is named before, so the window does not go on
    showing the scan's last count meanwhile."""
    import training.install as install
    import training.starter as starter

    seen: list[Progress] = []
    at_call: list[int] = []
    monkeypatch.setattr(starter, "build_starter", lambda out, progress: at_call.append(len(seen)) or "built")
    assert install._build_starter(SimpleNamespace(id="starter"), seen.append) == "built"
    assert at_call == [1] and seen[0].stage == "build" and seen[0].total == 0 and "torch" in seen[0].message


@pytest.mark.parametrize("stage, total", [("scan", 0), ("build", 0)])
def test_the_windows_status_line_and_bar_for_work_of_unknown_size(window, stage, total):
    window.library_jobs.index_progress(Progress("prepare", 104, 104, 60.0, "precomputing"))
    assert (window.progress.value(), window.progress.maximum()) == (104, 104)
    window.library_jobs.index_progress(Progress(stage, 107 if stage == "scan" else 0, total, 0.00645, ""))
    text = window.status_label.text()
    assert "/0" not in text and "/s" not in text and "left" not in text
    assert window.progress.maximum() == 0  # a busy bar, not the last stage's full one
    jobs = window.library_jobs
    jobs.index_progress(Progress("build", 1, 6, 30.0, "embedding ImageNet class texts 3/16", uneven=True))
    text = window.status_label.text()
    assert "Building the starter model 1/6 (embedding ImageNet class texts 3/16)" in text and "left" not in text


def test_the_training_dialogs_bar_is_busy_for_a_step_of_unknown_length(qtbot, window):
    from desktop_app.gui.training_dialog import TrainingDialog

    dialog = TrainingDialog(window.library_dir, "tiny", window.runner, lambda _m: None, window)
    qtbot.addWidget(dialog)
    dialog._progress(Progress("prepare", 104, 104, 60.0, "precomputing frozen image features"))
    assert (dialog.progress.value(), dialog.progress.maximum()) == (104, 104)
    dialog._progress(Progress("load", 0, 0, 1.0, "loading the base model"))
    assert dialog.progress.maximum() == 0 and dialog.status.text() == "loading the base model"
    dialog._progress(Progress("train", 0, 40, 1.0, "measuring the base model on the held-out photos"))
    assert (dialog.progress.value(), dialog.progress.maximum()) == (0, 40)
    assert dialog.status.text() == "measuring the base model on the held-out photos (0/40)"
