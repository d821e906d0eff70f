"""Before/after numbers a person can believe: measured on photos that chose nothing, with an interval, a
small-library verdict, and every number that fell marked."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.report import Snapshot, clustered_change, compare
from training.results import report_notes, report_rows


def _snap(ap: list[float], zs: list[float], r10: list[float], album: list[int]) -> Snapshot:
    return Snapshot(np.array(ap), np.array(zs), {10: np.array(r10)}, np.array(album), np.array(album),
                    np.zeros((0, 5), np.int64))


def test_the_interval_is_clustered_by_album() -> None:
    d = np.array([0.1, 0.1, 0.3, 0.3])
    mean, half = clustered_change(d, np.array([0, 0, 1, 1]))
    # two albums, sums of deviations -0.2 and +0.2: se = sqrt(2 * 0.08) / 4 = 0.1; t(1) = 12.706
    assert mean == pytest.approx(0.2) and half == pytest.approx(12.706 * 0.1)
    assert math.isnan(clustered_change(d, np.zeros(4))[1])  # one album: no interval can be given


def test_a_number_that_fell_is_marked_worse() -> None:
    before = _snap([0.5, 0.6, 0.5, 0.4] * 12, [1, 1, 0, 1] * 12, [1, 0, 1, 1] * 12, [0, 1, 2, 3] * 12)
    after = _snap([0.7, 0.8, 0.6, 0.5] * 12, [1, 0, 0, 1] * 12, [1, 0, 1, 1] * 12, [0, 1, 2, 3] * 12)
    report = compare(before, after, {"labelled_photos": 200, "measured_classes": 4})
    assert report["measurable"] and report["worse"] == ["zeroshot_acc"]
    rows = {label: (change, worse) for label, _, _, change, worse in report_rows(report)}
    assert rows["zero-shot accuracy"][1] and not rows["image-to-image mAP"][1]
    assert rows["image-to-image mAP"][0].startswith("+15.0 ± ")  # the change with its interval, in points
    notes = report_notes(report, {"val_photos": 10}, "starter")
    assert any(n.startswith("WORSE than before on zero-shot accuracy") for n in notes)
    assert not any("Too few photos" in n for n in notes)


@pytest.mark.parametrize(("photos", "albums"), [(39, 5), (400, 2)])
def test_a_small_library_is_told_no_gain_can_be_measured(photos: int, albums: int) -> None:
    before = _snap([0.5, 0.6], [1, 1], [1, 0], [0, 1])
    after = _snap([0.9, 0.9], [1, 1], [1, 1], [0, 1])  # looks much better: on this little, it proves nothing
    report = compare(before, after, {"labelled_photos": photos, "measured_classes": albums})
    assert not report["measurable"]
    said = " ".join(report_notes(report, {"val_photos": 2}, "starter"))
    assert "Too few photos to measure a gain" in said and "We recommend keeping starter" in said


def test_small_albums_and_other_photos_are_mentioned() -> None:
    before = _snap([0.5], [1], [1], [0])
    report = compare(before, before, {"labelled_photos": 100, "measured_classes": 3})
    said = " ".join(report_notes(report, {"val_photos": 2, "other_photos": 0,
                                          "train_only_classes": {"party": 2}}, "starter"))
    assert "1 album with 2-3 photos trained" in said and "party (2)" in said
    assert "none outside the training albums" in said


def _photos(root: Path, classes: int = 4, per_class: int = 12) -> Path:
    rng = np.random.default_rng(1)
    for c in range(classes):
        for i in range(per_class):
            a = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            a[..., c % 3] += np.uint8(60 + 40 * c)
            (root / f"c{c}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / f"c{c}" / f"{i}.jpg")
    (root / "single").mkdir()
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / "single" / "0.jpg")
    return root


def test_the_report_photos_chose_nothing(tmp_path: Path, models_root: Path) -> None:
    """Every embedding computed while a checkpoint or a mix is being chosen is of training or choose photos."""
    from training.datasets import FolderDataset
    from training.finetune import load_base
    from training.report import snapshot
    from training.session import FineTuneSession
    from training.settings import TrainSettings
    from training.tiny import export_tiny
    from training.traindata import from_dataset

    data = from_dataset(FolderDataset(_photos(tmp_path / "p"), level=1), min_per_class=4, min_train_only=1)
    assert data.report and data.val and not {it.path for it in data.report} & {it.path for it in data.val}
    folder, model = load_base(export_tiny(models_root / "tiny-report", model_id="tiny-report"))
    session = FineTuneSession(model, folder, data, TrainSettings(method="stage1", epochs=2, batch_size=8,
                                                                 device="cpu", wise=None))
    seen: list[str] = []
    choosing = [False]
    embed = session.embed

    def recording_embed(paths, batch_size=64):  # type: ignore[no-untyped-def]
        if choosing[0]:
            seen.extend(str(p) for p in paths)
        return embed(paths, batch_size)

    def while_choosing(fn):  # type: ignore[no-untyped-def]
        def wrapped():  # type: ignore[no-untyped-def]
            choosing[0] = True
            try:
                return fn()
            finally:
                choosing[0] = False
        return wrapped

    session.embed = recording_embed  # type: ignore[method-assign]
    session.val_map = while_choosing(session.val_map)  # type: ignore[method-assign]
    before = snapshot(session)
    stage = session.run_stage1()
    after = snapshot(session)
    report_paths = {str(it.path) for it in data.report}
    assert seen and not set(seen) & report_paths  # the checkpoint and the mix never looked at a report photo
    assert {str(it.path) for it in data.val} <= set(seen)
    assert stage.mix in (0.25, 0.5, 0.75, 1.0)
    assert len(before.ap) == len(data.report) and len(after.neighbours) == len(data.other) == 1
