"""The training dialog fine-tunes a model the user imported, not only the starter (issue: it always failed)."""

import json

import pytest
import torch

from tests.app.test_training_dialog import indexed_window  # noqa: F401  (the fixture: an indexed window)

ARCH = "photosift-test-tiny-dialog"


@pytest.mark.slow  # 6 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_the_dialog_fine_tunes_an_imported_checkpoint(qtbot, indexed_window, models_root, tmp_path):  # noqa: F811
    import open_clip

    from desktop_app.gui.training_dialog import TrainingDialog
    from training.install import import_checkpoint, remove_model
    from training.tiny import TINY_CFG, build_tiny_clip

    arch = tmp_path / f"{ARCH}.json"
    arch.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(arch)
    ckpt = tmp_path / "mine.pt"
    torch.save(build_tiny_clip(seed=11).state_dict(), ckpt)
    imported = import_checkpoint(ckpt, str(arch), "dialog-imported", device="cpu", variants=("fp32",))
    w = indexed_window
    used: list[str] = []
    dialog = TrainingDialog(w.library_dir, imported.model_id, w.runner, used.append, w)
    qtbot.addWidget(dialog)
    try:
        qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=30_000)
        dialog.epochs.setValue(1)
        dialog.method.setCurrentIndex(dialog.method.findData("stage1"))
        dialog.start()
        qtbot.waitUntil(lambda: dialog.job is None, timeout=300_000)
        assert dialog.result is not None, dialog.status.text()
        manifest = json.loads((models_root / dialog.result.model_id / "manifest.json").read_text())
        assert manifest["info"]["base_model"] == "dialog-imported"
    finally:
        remove_model("dialog-imported")
        if dialog.result is not None:
            remove_model(dialog.result.model_id)


def test_a_worse_result_is_marked_and_use_is_not_the_default(qtbot, indexed_window, models_root):  # noqa: F811
    from types import SimpleNamespace

    from desktop_app.gui.training_dialog import TrainingDialog
    from training.tiny import export_tiny

    folder = export_tiny(models_root / "worse-result", model_id="worse-result")
    w = indexed_window
    dialog = TrainingDialog(w.library_dir, "tiny", w.runner, lambda _id: None, w)
    qtbot.addWidget(dialog)
    before = {"i2i_map": 0.6, "nn1_acc": 0.7, "zeroshot_acc": 0.5}
    worse = SimpleNamespace(model_id="worse-result", path=str(folder.path), method="stage1", before=before,
                            after={k: v - 0.3 for k, v in before.items()}, data={"val_photos": 40}, seconds=3.0,
                            cancelled=False, worse=True, name="Albums, Stage 1, 29 Nov", description="")
    dialog._done(worse)
    assert "worse than tiny" in dialog.status.text() and "Albums, Stage 1, 29 Nov" in dialog.status.text()
    assert dialog.use_button.isEnabled() and not dialog.use_button.isDefault() and dialog.close_button.isDefault()
    assert not dialog.discard_button.isHidden()
    dialog.discard_button.click()
    assert not folder.path.exists() and not dialog.use_button.isEnabled() and "Discarded" in dialog.status.text()

    better = SimpleNamespace(**{**vars(worse), "worse": False, "after": before, "path": str(folder.path)})
    dialog._done(better)
    assert dialog.use_button.isDefault() and "is worse than" not in dialog.status.text()


def _report(change_map: float, change_zs: float, measurable: bool = True) -> dict:
    def metric(before: float, change: float) -> dict:
        return {"before": before, "after": before + change, "change": change, "interval": 0.04, "n": 30,
                "worse": change < 0}

    metrics = {"i2i_map": metric(0.5, change_map), "zeroshot_acc": metric(0.6, change_zs)}
    return {"measurable": measurable, "reason": "12 photos in the albums that trained" if not measurable else "",
            "report_photos": 30, "albums": 5, "metrics": metrics,
            "worse": [k for k, m in metrics.items() if m["worse"]], "other": {"photos": 20, "neighbours": 5,
                                                                            "kept": 0.8}, "mix": 0.5}


def test_the_dialog_shows_changes_with_intervals_and_marks_what_fell(qtbot, indexed_window, models_root):  # noqa: F811
    from types import SimpleNamespace

    from desktop_app.gui.training_dialog import TrainingDialog
    from training.tiny import export_tiny

    folder = export_tiny(models_root / "reported-result", model_id="reported-result")
    w = indexed_window
    dialog = TrainingDialog(w.library_dir, "tiny", w.runner, lambda _id: None, w)
    qtbot.addWidget(dialog)
    result = SimpleNamespace(model_id="reported-result", path=str(folder.path), method="mcip", before={}, after={},
                             data={"val_photos": 20, "other_photos": 20}, seconds=3.0, cancelled=False, worse=False,
                             name="Albums, MCIP, 2 Dec", description="", report=_report(0.08, -0.02))
    dialog._done(result)
    cells = {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}
    assert cells["Image-to-image mAP"] == "+8.0 ± 4.0 points"
    assert cells["Zero-shot accuracy"] == "-2.0 ± 4.0 points  worse"
    text = dialog.status.text()
    assert "WORSE than before on zero-shot accuracy" in text and "80% of their 5 nearest photos" in text
    assert dialog.use_button.isDefault()
    # too few photos: no gain can be claimed, keeping the base is recommended and is what Enter does
    dialog._done(SimpleNamespace(**{**vars(result), "report": _report(0.3, 0.1, measurable=False)}))
    assert "Too few photos to measure a gain" in dialog.status.text() and "keeping tiny" in dialog.status.text()
    assert not dialog.use_button.isDefault() and dialog.close_button.isDefault()
