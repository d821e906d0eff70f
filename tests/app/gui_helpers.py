"""What the window tests share: indexing a folder through the window and waiting for its report, and running a
search and waiting for its count."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def index_through_window(qtbot, window, start: Path | Callable[[], object], timeout: int = 120_000):
    """Add `start` (a folder) to the window's library, or call it (any way of starting an index), and wait
    for the index to finish; fails the test when it failed or was cancelled. Returns the index's report."""
    with qtbot.waitSignal(window.index_finished, timeout=timeout) as blocker:
        start() if callable(start) else window.add_folder(start)
    assert blocker.args[0] is not None, "indexing failed"
    return blocker.args[0]


def _search(qtbot, window, fn) -> int:
    """Call fn (anything that runs a search in the window) and wait for it; returns the number of results
    (-1 when the search failed)."""
    with qtbot.waitSignal(window.search_finished, timeout=30_000) as blocker:
        fn()
    return blocker.args[0]
