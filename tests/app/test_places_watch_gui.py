"""The window's Places sidebar and its watched folders, driven as a user would (pytest-qt, offscreen)."""

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.app.gui_helpers import index_through_window
from tests.conftest import gps_exif, write_jpeg

TRIP = {  # name -> (lat, lon)
    "tram.jpg": (38.7139, -9.1334),  # Lisbon
    "tiles.jpg": (38.7223, -9.1393),  # Lisbon
    "palace.jpg": (38.7876, -9.3906),  # Sintra, in the Lisbon region
    "temple.jpg": (34.9671, 135.7727),  # Kyoto
}


@pytest.fixture
def trip(tmp_path):
    folder = tmp_path / "trip"
    for i, (name, pos) in enumerate(TRIP.items()):
        write_jpeg(folder / name, (50 * i, 120, 200 - 40 * i), exif=gps_exif(*pos, f"2024:04:0{i + 1} 10:00:00"))
    write_jpeg(folder / "no_gps.jpg", (90, 90, 90))
    return folder


def _places(window) -> dict[str, str]:
    """Every node of the Places tree as 'Country > Region > City' -> count."""
    out = {}

    def walk(item, path):
        label = " > ".join([*path, item.text(0)])
        out[label] = item.text(1)
        for k in range(item.childCount()):
            walk(item.child(k), [*path, item.text(0)])

    for k in range(window.places.topLevelItemCount()):
        walk(window.places.topLevelItem(k), [])
    return out


def _find(tree, text):
    from PySide6.QtCore import Qt

    items = tree.findItems(text, Qt.MatchFlag.MatchRecursive, 0)
    assert items, text
    return items[0]


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_places_sidebar_counts_filters_and_details(qtbot, window, trip):
    index_through_window(qtbot, window, trip)
    qtbot.waitUntil(lambda: "Portugal" in _places(window), timeout=10_000)
    assert _places(window) == {"Portugal": "3", "Portugal > Lisbon": "3", "Portugal > Lisbon > Lisbon": "2",
                               "Portugal > Lisbon > Sintra": "1", "Japan": "1", "Japan > Kyoto": "1",
                               "Japan > Kyoto > Kyoto": "1"}
    # a city is told apart from the region of the same name
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000) as shown:
        window.places.itemClicked.emit(_find(window.places, "Sintra"), 0)
    assert shown.args == [1] and window.state.filters.place == "Portugal > Lisbon > Sintra"
    assert [c.key for c in window.state.chips()] == ["place"]  # visible as a chip
    window.grid.setCurrentIndex(window.grid_model.index(0))
    assert window.details.fields["Place"].text() == "Sintra, Lisbon, Portugal"
    with qtbot.waitSignal(window.browse_loaded, timeout=10_000) as shown:
        window.places.itemClicked.emit(window.places.topLevelItem(0), 0)  # Portugal: the most photos first
    assert shown.args == [3]
    with qtbot.waitSignal(window.search_finished, timeout=30_000) as found:  # a search keeps the place filter
        window.search("a photo")
    assert 1 <= found.args[0] <= 3
    window.back()
    assert window.state.filters.place is None and not window.places.selectedItems()
    with qtbot.waitSignal(window.search_finished, timeout=30_000) as found:
        window.search("place:kyoto")
    assert found.args == [1]
    # a place named in plain words is read as the place filter, shown as a chip (issue #27)
    with qtbot.waitSignal(window.search_finished, timeout=30_000) as found:
        window.search("a photo in sintra")
    assert found.args == [1] and window.chips.labels() == ["Place: sintra"]
    assert window.details.fields["Place"].text() == "Sintra, Lisbon, Portugal"
    # a catalog from before places: named once when the window opens, in the background
    window.lib.catalog.conn.execute("DELETE FROM places")
    window.sidebar_controller.refresh()
    qtbot.waitUntil(lambda: "Portugal" not in _places(window), timeout=10_000)
    window.sidebar_controller.name_places()
    qtbot.waitUntil(lambda: _places(window).get("Portugal") == "3", timeout=30_000)


@pytest.fixture
def watching_window(qtbot, tmp_path, tiny_model):
    from PySide6.QtCore import QSettings

    from desktop_app.gui.main_window import MainWindow
    from engine.library import Library

    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        lib.set_active_model("tiny")
    settings = QSettings(str(tmp_path / "watching.ini"), QSettings.Format.IniFormat)
    w = MainWindow(Path(os.environ["PHOTOSIFT_LIBRARY"]), settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


@pytest.mark.slow  # 9 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_photos_copied_into_a_watched_folder_appear_within_5_s(qtbot, watching_window, trip, tmp_path):
    window = watching_window
    qtbot.waitUntil(lambda: window.watcher is not None, timeout=5_000)  # started once the grid is shown
    index_through_window(qtbot, window, trip)
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == 5, timeout=10_000)
    qtbot.waitUntil(lambda: window.watcher.watch is not None and window.watcher.watch.watching == [str(trip)],
                    timeout=5_000)  # watches are set up on a thread of their own
    write_jpeg(tmp_path / "incoming.jpg", (250, 250, 10), exif=gps_exif(35.0116, 135.7681))
    started = time.monotonic()
    shutil.copy(tmp_path / "incoming.jpg", trip / "new.jpg")
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == 6, timeout=5_000)
    appeared = time.monotonic() - started
    with qtbot.waitSignal(window.index_finished, timeout=30_000):
        pass  # the index that took it in finishes: it is searchable and named
    qtbot.waitUntil(lambda: _places(window).get("Japan > Kyoto") == "2", timeout=10_000)

    (trip / "tram.jpg").unlink()  # deleted in the file manager: it goes
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == 5, timeout=15_000)
    if window.job_state.index_job is not None:
        with qtbot.waitSignal(window.index_finished, timeout=30_000):
            pass

    trip.rename(tmp_path / "trip-unplugged")  # the drive is unplugged: its photos stay, marked offline
    qtbot.waitUntil(lambda: window.lib.catalog.roots()[0].state == "offline", timeout=20_000)
    if window.job_state.index_job is not None:
        with qtbot.waitSignal(window.index_finished, timeout=30_000):
            pass
    assert window.lib.catalog.counts()["total"] == 5
    qtbot.waitUntil(lambda: window.grid_model.rowCount() == 5, timeout=5_000)
    print(f"copied photo in the grid after {appeared:.1f} s")


def test_a_watcher_stopped_while_its_watches_are_being_set_up_leaves_no_watch_running(window, trip, monkeypatch):
    import threading

    import engine.watch
    from desktop_app.gui import watching

    started: list[engine.watch.FolderWatch] = []
    release = threading.Event()
    real_start = engine.watch.FolderWatch.start

    def slow_start(self):  # the setup is still walking the folders when the window closes
        release.wait(5)
        started.append(real_start(self))
        return started[-1]

    monkeypatch.setattr(engine.watch.FolderWatch, "start", slow_start)
    window.lib.catalog.add_root(str(trip))
    watcher = watching.LibraryWatcher(lambda: [r.path for r in window.lib.catalog.roots()], window.job_state.busy,
                                      ignore=[str(window.lib.paths.root)], parent=window)
    watcher.stop()
    release.set()
    watcher._starting.join(5)
    assert started and watcher.watch is None
    assert not started[0]._observer.is_alive(), "the watch set up after stop() was left running"
