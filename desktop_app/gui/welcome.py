"""The first-run screen: start now with the built-in offline model, or download a better one, with each
model's size, speed on this computer and a quality note; offline, the download side says so up front.

It scrolls instead of being cut off: whatever the window's size, every word and button can be reached.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.model_list import offline_text, read_facts
from desktop_app.gui.worker import JobRunner

CARD = "QFrame#card { border: 1px solid #d0d0d0; border-radius: 10px; background: palette(base); }"


def _label(text: str, style: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


class WelcomePage(QScrollArea):
    index_now = Signal()  # add a folder and index it with the built-in offline model
    download = Signal(str)  # download this model, switch to it, then add a folder
    facts_shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget()
        page.setStyleSheet(CARD)
        outer = QVBoxLayout(page)
        outer.setContentsMargins(32, 24, 32, 24)
        outer.addStretch(1)
        middle = QHBoxLayout()  # the column takes the width it may have, up to a readable line length
        column = QWidget()
        column.setMaximumWidth(1040)
        column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addWidget(_label("Welcome to Photosift", "font-size: 26px; font-weight: 600;"))
        layout.addWidget(_label(
            "Photosift indexes a folder of photos on this computer; then you can search it by words (\u201ckids on "
            "a beach\u201d), find similar photos with one click, and browse by folder, date and tag. Nothing "
            "leaves your machine. Choose how to start:"))
        cards = QHBoxLayout()
        cards.setSpacing(16)
        cards.addWidget(self._start_card(), 1)
        cards.addWidget(self._download_card(), 1)
        layout.addLayout(cards)
        middle.addStretch(0)
        middle.addWidget(column, 100)
        middle.addStretch(0)
        outer.addLayout(middle)
        outer.addStretch(2)
        self.setWidget(page)
        self.facts: list[Any] = []
        self.online: dict[str, bool] = {}

    def resizeEvent(self, event: Any) -> None:
        """QScrollArea sizes its page by the page's minimum size hint, which Qt computes at the narrowest
        width (every label wrapped to the most lines): far taller than needed, so the page scrolled even
        when it fit. The page's minimum height is its height at the width it really gets."""
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        page = self.widget()
        if page is not None and page.layout() is not None:
            width = max(self.viewport().width(), page.minimumSizeHint().width())
            page.setMinimumHeight(page.layout().totalHeightForWidth(width))

    def _card(self, title: str) -> tuple[QFrame, QVBoxLayout]:
        card = QFrame()
        card.setObjectName("card")
        box = QVBoxLayout(card)
        box.setContentsMargins(18, 16, 18, 16)
        box.setSpacing(8)
        box.addWidget(_label(title, "font-size: 16px; font-weight: 600;"))
        return card, box

    def _start_card(self) -> QFrame:
        card, box = self._card("Start now, offline")
        self.start_button = QPushButton("Index with the built-in offline model now\u2026")
        self.start_button.setStyleSheet("font-size: 14px; padding: 8px 16px;")
        self.start_button.setToolTip("Choose a photo folder; indexing starts at once")
        self.start_button.clicked.connect(self.index_now)
        self.starter_facts = _label("The starter model comes with the app (from source, it is built on this "
                                    "computer the first time, about 1-2 minutes); nothing is downloaded.",
                                    "color: #555;")
        self.starter_quality = _label("It is a modest fallback: search works, but many of its tags are wrong. "
                                      "You can switch to a better model later in Settings; your folders, tags "
                                      "and photos stay.", "color: #555;")
        box.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignLeft)
        box.addWidget(self.starter_facts)
        box.addWidget(self.starter_quality)
        box.addStretch(1)
        return card

    def _download_card(self) -> QFrame:
        card, box = self._card("Download a better model")
        self.offline_note = _label("", "background: #fff4ce; color: #5c4400; padding: 6px; border-radius: 4px;")
        self.offline_note.hide()
        box.addWidget(self.offline_note)
        self.download_intro = _label("Better search and tags; downloaded once, then it works offline. Speeds "
                                     "are estimates for this computer.", "color: #555;")
        box.addWidget(self.download_intro)
        self.model_rows = QVBoxLayout()
        self.model_rows.setSpacing(10)
        box.addLayout(self.model_rows)
        self.loading = _label("Checking the models and this computer\u2026", "color: #888;")
        self.model_rows.addWidget(self.loading)
        box.addStretch(1)
        self.download_buttons: dict[str, QPushButton] = {}
        self._row_widgets: list[QWidget] = []
        return card

    # -- facts ---------------------------------------------------------------------------
    def load(self, runner: JobRunner) -> None:
        """Read the facts off the GUI thread (a CPU timing and, per download host, a quick connection try)."""
        runner.start(read_facts, name="model facts", on_done=self.show_facts,
                     on_error=lambda message: self.loading.setText(f"Could not list the models: {message}"))

    def show_facts(self, result: tuple[list[Any], dict[str, bool]]) -> None:
        self.facts, self.online = result
        for w in self._row_widgets:
            w.deleteLater()
        self._row_widgets = []
        self.loading.hide()
        self.download_buttons = {}
        for f in self.facts:
            if f.kind == "starter":
                size = f.size_text()
                self.starter_facts.setText(f"{size[:1].upper()}{size[1:]}; {f.speed_text()}.")
                self.starter_quality.setText(f.quality + " Your folders and tags stay when you switch later "
                                                         "(Settings).")
            elif f.downloads:
                self._add_model_row(f)
        note = offline_text(self.facts, self.online)
        self.offline_note.setText(note)
        self.offline_note.setVisible(bool(note))
        self._fit_height()
        self.facts_shown.emit()

    def _add_model_row(self, f: Any) -> None:
        """Name and button, facts, quality note: straight into the card's layout, so that the wrapped labels
        get the height they need (a row widget in between would not pass it on)."""
        top = QWidget()
        line = QHBoxLayout(top)
        line.setContentsMargins(0, 6, 0, 0)
        line.addWidget(_label(f.name, "font-weight: 600;"), 1)
        button = QPushButton("Download and use")
        reachable = self.online.get(f.where, True)
        button.setEnabled(reachable)
        button.setToolTip(f"From {f.where}" if reachable else f"{f.where} cannot be reached: offline")
        button.clicked.connect(lambda _=False, model_id=f.id: self.download.emit(model_id))
        line.addWidget(button)
        self.download_buttons[f.id] = button
        facts = _label(f"{f.size_text()}  \u2022  {f.speed_text()}", "color: #333;")
        quality = _label(f.quality, "color: #666;")
        for w in (top, facts, quality):
            self.model_rows.addWidget(w)
            self._row_widgets.append(w)
