"""The first-run screen and Settings' model list: two ways to start, the facts to choose a model by,
offline said up front, nothing cut off, and Import a checkpoint... running the CLI's import."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtWidgets import QLabel, QPushButton

TINY_ARCH = "tiny-first-run"


def _port(listen: bool) -> tuple[int, socket.socket | None]:
    """A 127.0.0.1 port with a server accepting connections on it, or one where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    if not listen:
        s.close()
        return port, None
    s.listen(8)
    def serve() -> None:
        try:
            for _ in range(8):
                s.accept()[0].close()
        except OSError:  # the test closed the socket: the server is done
            pass

    threading.Thread(target=serve, daemon=True).start()
    return port, s


def _load_welcome(qtbot, window):
    with qtbot.waitSignal(window.welcome.facts_shown, timeout=30_000):
        window.welcome.load(window.runner)
    return window.welcome


def _unclipped(qtbot, window, size):
    """Every label and button of the welcome page gets the height its text needs (nothing cut off), and
    what does not fit the window can be scrolled to. Returns whether it fits without scrolling."""
    window.resize(*size)
    page = window.welcome.widget()

    def laid_out():  # once the layout has settled (a few event-loop passes after a resize)
        assert window.welcome.viewport().width() <= size[0]
        for w in page.findChildren(QLabel) + page.findChildren(QPushButton):
            if not w.isVisibleTo(page):
                continue
            need = w.heightForWidth(w.width()) if w.hasHeightForWidth() else w.sizeHint().height()
            assert w.height() >= need - 1, f"{w.text()[:40]!r} is cut off at {size}: {w.height()} < {need}"
            assert w.width() >= min(w.minimumSizeHint().width(), page.width()) - 1

    qtbot.waitUntil(laid_out, timeout=5000)
    fits = page.height() <= window.welcome.viewport().height()
    scrolls = window.welcome.verticalScrollBar().maximum() >= page.height() - window.welcome.viewport().height()
    assert fits or scrolls
    return fits


def test_first_run_offers_the_offline_model_and_better_ones_with_their_facts(qtbot, window, monkeypatch):
    port, server = _port(listen=True)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # the hub, reachable
    assert window.stack.currentWidget() is window.welcome
    welcome = _load_welcome(qtbot, window)
    assert welcome.start_button.text().startswith("Index with the built-in offline model now")
    assert "no download" in welcome.starter_facts.text() and "photos/s on this computer" in welcome.starter_facts.text()
    assert "modest offline fallback" in welcome.starter_quality.text()
    texts = "\n".join(label.text() for label in welcome.widget().findChildren(QLabel))
    assert "605 MB download" in texts and "300 MB download" in texts and "1.7 GB download" in texts
    assert texts.count("photos/s on this computer (estimated)") >= 4
    assert "Good text and image search" in texts
    assert welcome.download_buttons["vit-b-32-laion2b"].isEnabled()
    assert not welcome.offline_note.isVisibleTo(welcome)
    assert _unclipped(qtbot, window, (1280, 800))  # fits at 1280x800 without scrolling
    _unclipped(qtbot, window, (1024, 640))
    _unclipped(qtbot, window, (800, 560))
    server.close()


def test_offline_the_download_side_says_so_up_front(qtbot, window, monkeypatch):
    port, _ = _port(listen=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    import training.model_facts as facts

    real = facts.can_reach
    monkeypatch.setattr(facts, "can_reach", lambda url, timeout_s=1.5: "127.0.0.1" in url and real(url, timeout_s))
    welcome = _load_welcome(qtbot, window)
    assert welcome.offline_note.isVisibleTo(welcome) and "offline" in welcome.offline_note.text()
    assert not any(b.isEnabled() for b in welcome.download_buttons.values())
    assert welcome.start_button.isEnabled()


def test_choosing_on_the_first_run_screen(qtbot, window, photo_dir, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    port, server = _port(listen=True)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    welcome = _load_welcome(qtbot, window)
    switched: list[str] = []
    monkeypatch.setattr(window, "switch_model", switched.append)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    welcome.download_buttons["vit-b-32-laion2b"].click()
    assert switched == ["vit-b-32-laion2b"]  # the download starts; a folder is asked for meanwhile
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photo_dir))
    with qtbot.waitSignal(window.index_finished, timeout=60_000) as done:
        welcome.start_button.click()
    assert done.args[0] is not None and window.stack.currentIndex() == 1
    server.close()


@pytest.mark.slow  # 6 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_settings_lists_the_facts_and_imports_a_checkpoint_in_the_background(qtbot, window, tmp_path,
                                                                              own_models_dir, monkeypatch):
    import torch
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from desktop_app.gui.dialogs import SettingsDialog
    from training.tiny import TINY_CFG, build_tiny_clip

    port, _ = _port(listen=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # offline
    dialog = SettingsDialog(window.settings, "tiny", window, runner=window.runner)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.models.facts_shown, timeout=30_000):
        pass
    labels = dialog.models.labels()
    vit = labels["vit-b-32-laion2b"]
    assert "605 MB download" in vit and "photos/s on this computer (estimated)" in vit
    assert "cannot download now: offline" in vit and "(download)" not in vit
    assert "modest offline fallback" in labels["starter"]

    arch = tmp_path / f"{TINY_ARCH}.json"
    arch.write_text(json.dumps(TINY_CFG))
    ckpt = tmp_path / "holiday-tiny.pt"
    torch.save(build_tiny_clip(seed=2).state_dict(), ckpt)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(ckpt), ""))
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (str(arch), True))
    with qtbot.waitSignal(dialog.models.imported, timeout=240_000) as done:
        dialog.models.import_button.click()
        assert dialog.models.import_progress.isVisible() and not dialog.models.import_button.isEnabled()
    model_id = done.args[0]
    assert model_id == "holiday-tiny" and (Path(own_models_dir) / model_id / "manifest.json").is_file()
    qtbot.waitUntil(lambda: model_id in dialog.models.labels(), timeout=30_000)
    assert dialog.chosen_model() == model_id and "Installed" in dialog.models.import_status.text()
    from training.registry import user_entries

    assert user_entries()[model_id]["checkpoint"] == str(ckpt)  # recorded as `photosift models import` does
