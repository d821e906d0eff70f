"""Training names each phase when it starts (issue #24, item 18): after the preparation's full bar, the
measure of the base model and the set-up of training are said at once, not a minute later."""

from __future__ import annotations

from pathlib import Path

import pytest

import training.finetune as finetune
from engine.jobs import Progress
from tests.training.test_finetune import _make_photos
from training.datasets import FolderDataset
from training.settings import TrainSettings
from training.traindata import from_dataset


@pytest.fixture(scope="module")
def tiny_base(models_root: Path):
    from training.tiny import export_tiny

    return export_tiny(models_root / "tiny-progress", model_id="tiny-progress", variants=("fp32",))


def test_the_phase_after_the_preparation_is_named_when_it_starts(tiny_base, tmp_path, monkeypatch):
    data = from_dataset(FolderDataset(_make_photos(tmp_path / "photos"), level=1), min_per_class=4,
                        val_fraction=0.2, seed=0)
    events: list[Progress] = []
    at_snapshot: list[int] = []
    real = finetune.snapshot
    monkeypatch.setattr(finetune, "snapshot", lambda session: at_snapshot.append(len(events)) or real(session))
    finetune.train(tiny_base, data, method="mcip", epochs=1, device="cpu", progress=events.append,
                   settings=TrainSettings(batch_size=4), models_root=tmp_path / "models", export=False)
    first = at_snapshot[0]  # the base model is measured here: what did the user see last?
    last = events[first - 1]
    assert last.stage == "train" and last.done == 0 and "measuring the base model" in last.message
    assert events[first - 2].stage == "prepare"  # ...right after the preparation's last report
