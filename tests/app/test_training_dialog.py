"""The training dialog end to end with the tiny model: data summary, live plot, before/after, use."""

import os
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.jobs import Progress
from tests.conftest import write_jpeg


@pytest.fixture
def indexed_window(qtbot, tmp_path, tiny_model):
    from desktop_app.gui.main_window import MainWindow
    from engine.library import Library

    root = tmp_path / "albums"
    for k, (name, base) in enumerate((("beach", (230, 200, 120)), ("forest", (30, 120, 40)),
                                      ("snow", (235, 240, 250)))):
        for i in range(8):
            color = tuple(min(255, c + 6 * i - 20 * (k % 2)) for c in base)
            write_jpeg(root / name / f"{name}{i}.jpg", color=color, size=(80 + 4 * i, 60))
    for i in range(2):  # too small an album to measure on: used for training only, and named
        write_jpeg(root / "party" / f"party{i}.jpg", color=(200, 40, 160 + 20 * i), size=(80, 60))
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        lib.set_active_model("tiny")
    w = MainWindow(Path(os.environ["PHOTOSIFT_LIBRARY"]),
                   QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.index_finished, timeout=60_000):
        w.add_folder(root)
    yield w
    w.close()


@pytest.mark.slow  # 11 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_train_from_folders_then_use_the_new_model(qtbot, indexed_window, models_root, monkeypatch):
    import functools

    from desktop_app.gui.training_dialog import TrainingDialog
    from training import traindata

    # as a library with larger albums than these 8 photos each: they are sampled, and the dialog says so
    monkeypatch.setattr(traindata, "from_catalog", functools.partial(traindata.from_catalog, max_per_class=6))
    w = indexed_window
    used: list[str] = []
    dialog = TrainingDialog(w.library_dir, "tiny", w.runner, used.append, w)
    qtbot.addWidget(dialog)
    # photos and classes are counted on a worker thread: the dialog opens at once, Start waits for the count
    assert "Counting" in dialog.summary.text() and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: "in 4 classes" in dialog.summary.text(), timeout=30_000)
    assert "sampled to 6 photos each (6 not used" in dialog.summary.text()
    assert "too small to measure, used for training only: party (2)" in dialog.summary.text()
    assert dialog.start_button.isEnabled()
    dialog.labels.setCurrentIndex(dialog.labels.findData("tags"))  # no tags of the user's own: says so
    dialog.labels.setCurrentIndex(dialog.labels.findData("folders"))  # ...and back before that count ends
    dialog.labels.setCurrentIndex(dialog.labels.findData("tags"))
    qtbot.waitUntil(lambda: "no photo has tags of your own" in dialog.summary.text(), timeout=30_000)
    assert not dialog.start_button.isEnabled()
    dialog.labels.setCurrentIndex(dialog.labels.findData("folders"))
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    assert "in 4 classes" in dialog.summary.text()
    # "Recommended" epochs hand the choice to the trainer's measured-best defaults. Training runs in a child
    # process; what it is asked to do is in the arguments it gets.
    started: list[tuple] = []
    real_start_process = w.runner.start_process

    def recording_start_process(target, args, **kwargs):
        started.append(args)
        return real_start_process(target, args, **kwargs)

    monkeypatch.setattr(w.runner, "start_process", recording_start_process)
    assert dialog.epochs.text() == "Recommended" and dialog.epochs.value() == 0
    dialog.show()
    dialog.start()
    dialog.reject()  # Close, long before the child has even imported torch: it stops the run first...
    assert dialog.isVisible() and "Stopping" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=120_000)
    assert not dialog.isVisible()  # ...and closes once it has
    assert started[-1][1:] == ("tiny", "mcip", None)
    assert dialog.status.text() == "Cancelled before any training step." and dialog.result is None
    dialog.show()  # opened again (the window makes a new dialog each time; this one counts afresh)
    dialog.update_summary()
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    dialog._progress(Progress("train", 3, 10, elapsed_s=6.0, message="stage 1"))
    assert dialog.status.text() == "stage 1 (3/10), about 14 s left"

    dialog.epochs.setValue(2)
    dialog.method.setCurrentIndex(dialog.method.findData("2sft"))
    shown: list[str] = []
    on_progress = dialog._progress
    dialog._progress = lambda p: (on_progress(p), shown.append(dialog.status.text()))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=600_000)
    assert dialog.result is not None, dialog.status.text()
    assert started[-1][1:] == ("tiny", "2sft", 2)
    # 26 photos: too few to show a gain, and the dialog says so and recommends the base
    assert "Too few photos to measure a gain" in dialog.status.text() and "keeping tiny" in dialog.status.text()
    assert dialog.plot.loss and dialog.plot.val  # the live plot received both curves
    # re-alignment has its own loss and score: a divider where it starts, the text score as a third curve
    assert dialog.plot.stage2_at is not None and dialog.plot.text
    assert len(dialog.plot._segments()) == 2
    assert any(re.fullmatch(r"stage 1.* \(\d+/\d+\).*", t) for t in shown), shown
    assert any(re.fullmatch(r"stage 2.* \(\d+/\d+\).*", t) for t in shown), shown
    assert not dialog.table.isHidden() and dialog.table.rowCount() >= 2  # mAP, zero-shot (no captions)
    dialog.show()
    dialog.grab().save(str(Path(os.environ["PHOTOSIFT_CACHE"]).parent / "training-dialog.png"))
    assert dialog.use_button.isEnabled()
    new_id = dialog.result.model_id
    assert (models_root / new_id / "manifest.json").is_file() and (models_root / "tiny" / "manifest.json").is_file()
    dialog.use_button.click()
    assert used == [new_id]
