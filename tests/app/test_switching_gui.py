"""Choosing a model in the window: download first, then switch; what is on screen follows the new model."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from engine.library import Library
from tests.app.gui_helpers import index_through_window


def _sidebar_tags(window) -> set[str]:
    return {window.sidebar.tags.item(i).text().split("  (")[0] for i in range(window.sidebar.tags.count())}


def _details_tags(window) -> set[str]:
    lst = window.details.tag_list
    return {lst.item(i).text().split("   ")[0] for i in range(lst.count())}


def _shot(window, name: str) -> None:
    out = os.environ.get("PHOTOSIFT_SHOTS")  # set to a folder to look at the window as a user would
    if out:
        window.grab().save(str(Path(out) / name))


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_switch_reruns_the_search_and_refreshes_details_and_tags(qtbot, window, photo_dir, second_model):
    from engine.encoder import ClipEncoder, RuntimeConfig
    from engine.search import PhotoSearch
    from engine.update import update_library

    (photo_dir / "home" / "coffee.png").unlink()  # its copy would stand for it among the results (one per group)
    index_through_window(qtbot, window, photo_dir)
    cat = window.lib.catalog
    coffee = cat.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    other = ClipEncoder(second_model, RuntimeConfig(device="cpu"))
    with Library.open(window.library_dir) as lib:  # tiny-2's vectors were computed earlier
        update_library(lib, other, do_scan=False, do_tag=False)
    # coffee is the best match of the query for both models, with another score for each
    query = "a cup of coffee"
    cat.embeddings.put("tiny", [coffee.id], window.grid_controller.encoder().encode_texts([query]))
    near = other.encode_texts([query])[0] + 0.4 * np.random.default_rng(1).standard_normal(other.embed_dim)
    cat.embeddings.put("tiny-2", [coffee.id], (near / np.linalg.norm(near))[None].astype(np.float32))
    with cat.transaction():  # tiny's zero-shot tag and the user's own
        cat.tags.put_zeroshot("tiny", coffee.id, [("pasta", 0.9)])
        cat.tags.set_user(coffee.id, "breakfast")
    window.sidebar.refresh_tags(cat)
    window.search_box.setText("a cup of coffee")
    with qtbot.waitSignal(window.search_finished, timeout=30_000):
        window.search("a cup of coffee")
    row = window.grid_model.ids.index(coffee.id)
    window.grid.setCurrentIndex(window.grid_model.index(row))
    old_score = window.grid_model.scores[coffee.id]
    assert {"pasta", "breakfast"} <= _details_tags(window) and "pasta" in _sidebar_tags(window)
    _shot(window, "before-switch.png")

    with qtbot.waitSignal(window.model_switched, timeout=120_000) as blocker:
        window.apply_settings("tiny-2")
    assert blocker.args[0] is not None and blocker.args[0].model_id == "tiny-2"
    assert window.lib.active_model_id == "tiny-2" and "Switched to model tiny-2." in window.toast.text()
    assert window.job_state.index_job is None  # every photo had its vectors already: nothing to compute
    with Library.open(window.library_dir) as lib:
        options = window.grid_controller.options()
        expected = {r.photo.id: r.score for r in PhotoSearch(lib, other).search("a cup of coffee", options)}
    qtbot.waitUntil(lambda: window.grid_model.scores == expected, timeout=30_000)  # the search ran again
    assert window.mode == "results" and window.grid_model.scores[coffee.id] != pytest.approx(old_score)
    qtbot.waitUntil(lambda: "pasta" not in _sidebar_tags(window), timeout=10_000)
    from desktop_app.gui.panels import split_tag_counts

    assert _sidebar_tags(window) == set(split_tag_counts(cat)[0]) and "breakfast" in _sidebar_tags(window)
    window.grid.setCurrentIndex(window.grid_model.index(window.grid_model.ids.index(coffee.id)))
    assert "pasta" not in _details_tags(window) and "breakfast" in _details_tags(window)
    assert window.details.fields["Score"].text() == f"{expected[coffee.id]:.3f}"
    assert "model tiny-2" in window.status_label.text()
    _shot(window, "after-switch.png")


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_similar_search_is_run_again_as_a_similar_search(qtbot, window, photo_dir, second_model):
    """Re-running "like coffee.jpg" must search by the photo, not for the words "like coffee.jpg"."""
    from engine.encoder import ClipEncoder, RuntimeConfig
    from engine.search import PhotoSearch
    from engine.update import update_library

    index_through_window(qtbot, window, photo_dir)
    coffee = window.lib.catalog.photo_by_path(str(photo_dir / "home" / "coffee.jpg"))
    other = ClipEncoder(second_model, RuntimeConfig(device="cpu"))
    with Library.open(window.library_dir) as lib:
        update_library(lib, other, do_scan=False, do_tag=False)
    with qtbot.waitSignal(window.search_finished, timeout=30_000):
        window.find_similar(coffee.id)
    with qtbot.waitSignal(window.model_switched, timeout=120_000):
        window.apply_settings("tiny-2")
    with Library.open(window.library_dir) as lib:
        options = window.grid_controller.options()
        expected = {r.photo.id: r.score for r in PhotoSearch(lib, other).similar(coffee.id, options)}
    qtbot.waitUntil(lambda: window.grid_model.scores == expected, timeout=30_000)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_choosing_a_download_while_offline_leaves_the_library_as_it_was(qtbot, window, photo_dir, monkeypatch):
    index_through_window(qtbot, window, photo_dir)
    # The switch runs in a child process: it sees the hub at an address where nothing listens.
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    choices = dict(window.library_jobs.model_choices())
    vit = choices["vit-b-32-laion2b"]
    assert "605 MB download" in vit and "cannot download now: offline" in vit  # said before anything is tried
    with qtbot.waitSignal(window.model_switched, timeout=120_000) as blocker:
        window.apply_settings("vit-b-32-laion2b")
        assert window.cancel_button.isVisible() and window.progress.isVisible()
        assert "Preparing model vit-b-32-laion2b" in window.status_label.text()
    _shot(window, "offline.png")
    assert blocker.args[0] is None
    text = window.toast.text()
    assert "offline" in text and "The library stays on tiny." in text and "Switched" not in text
    assert window.lib.active_model_id == "tiny" and window.job_state.index_job is None
    assert not window.cancel_button.isVisible() and not window.progress.isVisible()
    assert "model tiny" in window.status_label.text()
    with qtbot.waitSignal(window.search_finished, timeout=30_000) as found:
        window.search("a rocket")
    assert found.args[0] > 0  # still searching with the model it had


def test_cancel_stops_the_download_and_keeps_the_model(qtbot, window, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    with qtbot.waitSignal(window.model_switched, timeout=120_000) as blocker:
        window.apply_settings("vit-b-32-laion2b")
        window.cancel_button.click()
    assert blocker.args[0] is None and window.lib.active_model_id == "tiny"
    assert window.toast.text() == "Cancelled; the library stays on model tiny."


def test_no_switch_while_indexing(qtbot, window, photo_dir, second_model):
    window.lib.catalog.add_root(str(photo_dir))
    with qtbot.waitSignal(window.index_finished, timeout=120_000):
        window.start_index()
        window.apply_settings("tiny-2")
        assert "let it finish or cancel it" in window.toast.text() and window.job_state.model_job is None
    assert window.lib.active_model_id == "tiny"


def test_download_progress_reads_in_megabytes(window):
    from engine.jobs import Progress

    window.library_jobs.show_progress(Progress("download", 120_000_000, 605_000_000, 10.0))
    assert "Downloading model 120/605 MB at 12.0 MB/s, about 40 s left" in window.status_label.text()
    assert (window.progress.value(), window.progress.maximum()) == (120_000_000, 605_000_000)
    window.library_jobs.show_progress(Progress("download", 1_500_000_000, 3_000_000_000, 10.0))  # past 32 bits
    assert (window.progress.value(), window.progress.maximum()) == (500_000_000, 1_000_000_000)
