"""Undo for the details panel's tag edits: each edit is a QUndoCommand that remembers the tag's stored row
and puts it back exactly (source, score, model, confidence); the status bar says what was done, with an
Undo button, and Ctrl+Z undoes it from anywhere in the window."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget
from shiboken6 import isValid

from engine.catalog import PhotoCatalog

NOTICE_MS = 12_000


class TagEdit(QUndoCommand):
    """Reject, confirm or add one tag of one photo; undo restores the row the tag had before."""

    VERBS: ClassVar[dict[str, str]] = {"reject": "Rejected", "confirm": "Confirmed", "add": "Added"}

    def __init__(self, catalog: PhotoCatalog, photo_id: int, name: str, action: str, photo_name: str,
                 changed: Callable[[int], None]) -> None:
        super().__init__(f"{self.VERBS[action]} tag \u201c{name}\u201d on {photo_name}")
        self.catalog, self.photo_id, self.name, self.action, self.changed = catalog, photo_id, name, action, changed
        self.before = catalog.tags.row(photo_id, name)

    def redo(self) -> None:
        if self.action == "reject":
            self.catalog.tags.reject(self.photo_id, self.name)
        else:
            self.catalog.tags.set_user(self.photo_id, self.name)
        self.changed(self.photo_id)

    def undo(self) -> None:
        self.catalog.tags.restore(self.photo_id, self.name, self.before)
        self.changed(self.photo_id)


class UndoNotice(QWidget):
    """'Rejected tag "x" on y.jpg  [Undo]' in the status bar after each edit, for a few seconds; it also
    gives the window its Ctrl+Z."""

    def __init__(self, stack: QUndoStack, window: QWidget) -> None:
        super().__init__(window)
        self.stack = stack
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.button = QPushButton("Undo")
        self.button.setToolTip("Undo (Ctrl+Z)")
        self.button.clicked.connect(stack.undo)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        self.action = stack.createUndoAction(window, "Undo")
        self.action.setShortcut(QKeySequence.StandardKey.Undo)
        window.addAction(self.action)
        self._timer = QTimer(self, singleShot=True, interval=NOTICE_MS)
        self._timer.timeout.connect(self.hide)
        self._last_index = stack.index()
        stack.indexChanged.connect(self._changed)
        self.hide()

    def _changed(self, index: int) -> None:
        if not isValid(self.stack) or not isValid(self):  # the window is closing: the stack clears itself
            return
        if index > self._last_index:  # an edit (or a redo): offer to take it back
            self.label.setText(self.stack.text(index - 1))
            self.button.setVisible(True)
        else:
            self.label.setText(f"Undone: {self.stack.text(index)}")
            self.button.setVisible(self.stack.canUndo())
        self._last_index = index
        self.show()
        self._timer.start()
