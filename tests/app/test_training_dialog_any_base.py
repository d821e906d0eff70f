"""The training dialog fine-tunes a model the user imported, not only the starter (issue: it always failed)."""

import json

import torch

from tests.app.test_training_dialog import indexed_window  # noqa: F401  (the fixture: an indexed window)

ARCH = "photosift-test-tiny-dialog"


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
