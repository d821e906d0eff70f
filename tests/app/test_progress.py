import io

from rich.console import Console

import desktop_app.progress as progress_mod
from engine.jobs import Progress, eta_text


def test_training_bar_shows_loss_and_keeps_the_last_validation_score(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress_mod, "Console",
                        lambda **_: Console(file=out, force_terminal=True, width=160, color_system=None))
    with progress_mod.progress_bar() as show:
        show(Progress("train", 10, 100, 5.0, "stage 1", {"loss": 2.3141, "val_map": 0.5123}))
        show(Progress("train", 20, 100, 9.0, "stage 1", {"loss": 1.9}))
    text = out.getvalue()
    assert "Training" in text and "stage 1" in text
    last = text.rsplit("Training", 1)[1]
    assert "loss 1.900" in last and "val mAP 0.512" in last


def test_counts_show_as_whole_numbers():
    assert progress_mod.describe("", {"failed": 2.0, "loss": 0.5}) == "failed 2  loss 0.500"


def test_eta_reads_in_the_units_a_person_would_use():
    assert eta_text(None) == "" and eta_text(0.0) == "" and eta_text(float("inf")) == ""
    assert eta_text(0.4) == "" and eta_text(0.6) == "about 1 s left"  # never "about 0 s left"
    assert eta_text(40.4) == "about 40 s left"
    assert eta_text(125.0) == "about 2 min 05 s left"
    assert eta_text(4321.0) == "about 1 h 12 min left"
