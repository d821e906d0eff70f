"""The training dialog end to end with the tiny model: data summary, live plot, before/after, use."""

import os
import re
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

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
    for i in range(2):  # too small an album to learn from: left out, and named
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
    qtbot.waitUntil(lambda: "in 3 classes" in dialog.summary.text(), timeout=30_000)
    assert "sampled to 6 photos each (6 not used" in dialog.summary.text()
    assert "left out, too few photos: party (2)" in dialog.summary.text() and "party" in dialog.summary.toolTip()
    assert dialog.start_button.isEnabled()
    dialog.labels.setCurrentIndex(dialog.labels.findData("tags"))  # no tags of the user's own: says so
    dialog.labels.setCurrentIndex(dialog.labels.findData("folders"))  # ...and back before that count ends
    dialog.labels.setCurrentIndex(dialog.labels.findData("tags"))
    qtbot.waitUntil(lambda: "no photo has tags of your own" in dialog.summary.text(), timeout=30_000)
    assert not dialog.start_button.isEnabled()
    dialog.labels.setCurrentIndex(dialog.labels.findData("folders"))
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    assert "in 3 classes" in dialog.summary.text()
    # "Recommended" epochs hand the choice to the trainer's measured-best defaults
    from training import finetune
    from training.finetune import FineTuneError

    asked: list[object] = []
    real_train = finetune.train

    def recording_train(*args, **kwargs):
        asked.append(kwargs["epochs"])
        if kwargs["epochs"] is None:
            raise FineTuneError("stopped by the test")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(finetune, "train", recording_train)
    assert dialog.epochs.text() == "Recommended" and dialog.epochs.value() == 0
    dialog.start()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert asked == [None] and dialog.status.text() == "stopped by the test"
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
    dialog.epochs.setValue(2)
    dialog.method.setCurrentIndex(dialog.method.findData("2sft"))
    real_step = finetune.FineTuneSession._step

    def slow_step(self, *args, **kwargs):  # steps as slow as a real model's, so that an ETA shows
        time.sleep(0.4)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(finetune.FineTuneSession, "_step", slow_step)
    shown: list[str] = []
    on_progress = dialog._progress
    dialog._progress = lambda p: (on_progress(p), shown.append(dialog.status.text()))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=600_000)
    assert dialog.result is not None, dialog.status.text()
    assert "held-out photos, so the numbers below are rough" in dialog.status.text()  # 3 of them here
    assert dialog.plot.loss and dialog.plot.val  # the live plot received both curves
    # re-alignment has its own loss and score: a divider where it starts, the text score as a third curve
    assert dialog.plot.stage2_at is not None and dialog.plot.text
    assert len(dialog.plot._segments()) == 2
    assert any(re.fullmatch(r"stage [12].* \(\d+/\d+\), about \d+ (s|min \d\d s) left", t) for t in shown), shown
    assert not dialog.table.isHidden() and dialog.table.rowCount() >= 3  # mAP, 1-NN, zero-shot (no captions)
    dialog.show()
    dialog.grab().save(str(Path(os.environ["PHOTOSIFT_CACHE"]).parent / "training-dialog.png"))
    assert dialog.use_button.isEnabled()
    new_id = dialog.result.model_id
    assert (models_root / new_id / "manifest.json").is_file() and (models_root / "tiny" / "manifest.json").is_file()
    dialog.use_button.click()
    assert used == [new_id]
