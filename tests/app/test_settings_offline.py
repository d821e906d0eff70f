"""Settings does not let a person choose a model it cannot download now: offline, a model that needs a
download is shown (with why) but cannot be selected, so OK never starts a download that can only fail."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: the hub "cannot be reached"
    return port


def _settings(qtbot, window, monkeypatch, port: int):
    from desktop_app.gui.dialogs import SettingsDialog

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    dialog = SettingsDialog(window.settings, "tiny", window, runner=window.runner)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.models.facts_shown, timeout=30_000):
        dialog.show()
    return dialog


def _item(dialog, model_id: str):
    from desktop_app.gui.model_list import ModelIdRole

    items = (dialog.models.list.item(i) for i in range(dialog.models.list.count()))
    return next(it for it in items if it.data(ModelIdRole) == model_id)


def test_offline_a_model_to_download_cannot_be_chosen_and_ok_starts_nothing(qtbot, window, monkeypatch, tmp_path):
    dialog = _settings(qtbot, window, monkeypatch, _closed_port())
    vit = _item(dialog, "vit-b-32-laion2b")
    assert "cannot download now: offline" in dialog.models.labels()["vit-b-32-laion2b"]
    assert not vit.flags() & Qt.ItemFlag.ItemIsEnabled and not vit.flags() & Qt.ItemFlag.ItemIsSelectable
    assert "cannot be chosen now" in dialog.models.offline_note.text() and dialog.models.offline_note.isVisible()
    dialog.grab().save(str(tmp_path / "settings-offline.png"))

    # a person clicks it, and arrows down through the list: the offline model never becomes the choice
    list_ = dialog.models.list
    list_.scrollToItem(vit)
    qtbot.mouseClick(list_.viewport(), Qt.MouseButton.LeftButton, pos=list_.visualItemRect(vit).center())
    assert dialog.chosen_model() == "tiny"
    list_.setFocus()
    for _ in range(list_.count()):
        qtbot.keyClick(list_, Qt.Key.Key_Down)
        assert dialog.chosen_model() != "vit-b-32-laion2b"

    switched: list[str] = []
    monkeypatch.setattr(window, "switch_model", switched.append)
    list_.setCurrentItem(_item(dialog, "tiny"))
    dialog.accept()
    window.apply_settings(dialog.chosen_model())
    assert switched == []  # no download was started


def test_online_the_same_model_can_be_chosen(qtbot, window, monkeypatch):
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    try:
        dialog = _settings(qtbot, window, monkeypatch, listening.getsockname()[1])
        vit = _item(dialog, "vit-b-32-laion2b")
        assert vit.flags() & Qt.ItemFlag.ItemIsSelectable and not dialog.models.offline_note.isVisible()
        dialog.models.list.setCurrentItem(vit)
        assert dialog.chosen_model() == "vit-b-32-laion2b"
    finally:
        listening.close()


def test_text_in_photos_without_its_reader_is_shown_off_with_how_to_add_it(qtbot, window):
    from desktop_app.gui.dialogs import SettingsDialog

    dialog = SettingsDialog(window.settings, "tiny", window, runner=window.runner, read_text=None)
    qtbot.addWidget(dialog)
    assert not dialog.read_text.isEnabled() and not dialog.read_text.isChecked()
    assert "(not installed)" in dialog.read_text.text() and "pip install" in dialog.read_text.toolTip()
    assert "[ocr]" in dialog.read_text.toolTip()
    on = SettingsDialog(window.settings, "tiny", window, runner=window.runner, read_text=True)
    qtbot.addWidget(on)
    assert on.read_text.isEnabled() and on.read_text.isChecked()
