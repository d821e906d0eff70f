"""The window's status line: what the grid shows (photos or results, bursts stacked, the query), the library's
counts, the active model and what a running job is doing; and the "N unreadable" button beside it.

The grid controller and the library jobs write to it; the counts they read off the GUI thread are handed in
(`counts`), so that a progress report, which comes often, costs no SQL.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QPushButton

from desktop_app.browse_state import BrowseState, Mode
from desktop_app.gui.grid import PhotoGridModel
from engine.library import Library


class StatusLine:
    def __init__(self, lib: Library, state: BrowseState, grid_model: PhotoGridModel, label: QLabel,
                 failed_button: QPushButton) -> None:
        self.lib, self.state, self.grid_model = lib, state, grid_model
        self.label, self.failed_button = label, failed_button
        self.counts: dict[str, int] | None = None  # the catalog's counts as last read
        self.extra = ""  # what the running job is doing

    def show(self, extra: str | None = None, recount: bool = True) -> None:
        """The status line; `recount=False` reuses the last counts (progress reports come often)."""
        if recount or self.counts is None:
            self.counts = self.lib.catalog.counts()
        if extra is not None:
            self.extra = extra
        c, extra = self.counts, self.extra
        results = self.state.mode is not Mode.BROWSE
        stacked = self.grid_model.stacked_bursts()
        if results:  # a result standing for copies is one result (its badge says how many photos it is)
            shown = self.grid_model.rowCount()
            what = f"{shown} result{'' if shown == 1 else 's'}"
            what += f" ({stacked} standing for copies)" if stacked else ""
        else:
            shown = self.grid_model.photos_in_rows(0, self.grid_model.rowCount())
            what = f"{shown} photo{'' if shown == 1 else 's'}"
            what += f" ({stacked} burst{'' if stacked == 1 else 's'} stacked)" if stacked else ""
        if results:
            what += f" for \u201c{self.state.query.label}\u201d"
        self.label.setText(f"{what}   \u2022   {c['total']} in library, model {self.lib.active_model_id}"
                           + (f"   \u2022   {extra}" if extra else ""))
        self.failed_button.setText(f"{c['error']} unreadable" if c["error"] else "")
        self.failed_button.setVisible(bool(c["error"]))

    def searching(self, label: str) -> None:
        self.label.setText(f"Searching for \u201c{label}\u201d\u2026")
