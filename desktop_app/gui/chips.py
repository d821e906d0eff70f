"""Filter chips beside the search box: every active filter (folder, tag, dates) as a rounded label with a
remove button, so that no filter narrows the results without the user seeing it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from desktop_app.browse_state import Chip

_CHIP_STYLE = (
    "QWidget#chip { background: #dde7f7; border: 1px solid #a9bfe3; border-radius: 11px; }"
    "QLabel { color: #15325f; padding: 0 2px 0 8px; }"
    "QToolButton { border: none; color: #15325f; font-weight: 600; padding: 0 6px 0 2px; }"
    "QToolButton:hover { color: #8c1d18; }"
)


class ChipWidget(QWidget):
    """One filter: its label and a remove button (tooltip and accessible name say which filter)."""

    remove_clicked = Signal(str)

    def __init__(self, chip: Chip, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = chip.key
        self.setObjectName("chip")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(_CHIP_STYLE)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 1, 0, 1)
        row.setSpacing(0)
        self.label = QLabel(chip.label)
        self.label.setToolTip(chip.tooltip or chip.label)
        self.remove_button = QToolButton()
        self.remove_button.setText("\u2715")
        self.remove_button.setToolTip(f"Remove the filter \u201c{chip.label}\u201d")
        self.remove_button.setAccessibleName(f"Remove {chip.label}")
        self.remove_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.remove_button.clicked.connect(lambda: self.remove_clicked.emit(self.key))
        row.addWidget(self.label)
        row.addWidget(self.remove_button)


class FilterChips(QWidget):
    """The row of chips; `show_chips` renders the browse state's chips, `remove_requested(key)` asks to drop one."""

    remove_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(6, 0, 6, 0)
        self._row.setSpacing(4)
        self.chips: list[ChipWidget] = []
        self.setVisible(False)

    def show_chips(self, chips: list[Chip]) -> None:
        for w in self.chips:
            self._row.removeWidget(w)
            w.deleteLater()
        self.chips = []
        for chip in chips:
            w = ChipWidget(chip, self)
            w.remove_clicked.connect(self.remove_requested)
            self._row.addWidget(w)
            self.chips.append(w)
        self.setVisible(bool(chips))

    def labels(self) -> list[str]:
        return [w.label.text() for w in self.chips]

    def chip(self, key: str) -> ChipWidget | None:
        return next((w for w in self.chips if w.key == key), None)
