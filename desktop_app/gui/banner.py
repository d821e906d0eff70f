"""The banner above the grid about photos the scanner kept as missing (vanished many at once: a drive's
mount point left empty, a folder emptied). They keep their vectors and tags until the user says "Forget
them" (the window then indexes with confirm_deletions) or they come back; "Keep" hides the banner for
this session, until more photos vanish."""

from __future__ import annotations

import os
from typing import NamedTuple

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from engine.catalog import PhotoCatalog

MAX_FOLDERS_NAMED = 3


class MissingSummary(NamedTuple):
    count: int
    folders: list[str]  # per root, the deepest folder holding all of its missing photos


def missing_summary(catalog: PhotoCatalog) -> MissingSummary:
    """How many photos are held as missing and where; no widgets touched, so any thread may call it."""
    by_root: dict[int, list[str]] = {}
    photos = catalog.missing_photos()
    for p in photos:
        by_root.setdefault(p.root_id, []).append(os.path.dirname(p.path))
    return MissingSummary(len(photos), sorted(os.path.commonpath(dirs) for dirs in by_root.values()))


def banner_text(summary: MissingSummary) -> str:
    n, folders = summary
    named = ", ".join(folders[:MAX_FOLDERS_NAMED])
    if len(folders) > MAX_FOLDERS_NAMED:
        named += f" and {len(folders) - MAX_FOLDERS_NAMED} more folders"
    return (f"{n} photo{'' if n == 1 else 's'} in {named} vanished (drive unplugged?); "
            f"{'it is' if n == 1 else 'they are'} kept with {'its' if n == 1 else 'their'} tags.")


class MissingBanner(QFrame):
    """Shown while the catalog holds missing photos, unless the user chose Keep this session and none more
    vanished since (every index run holds the same photos again, so its report alone says nothing new)."""

    forget_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("missingBanner")
        self.setStyleSheet("#missingBanner { background: #fff4d6; border: 1px solid #e0b84f; border-radius: 6px; }"
                           " QLabel { color: #4a3800; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self.forget_button = QPushButton("Forget them")
        self.forget_button.setToolTip("They were deleted for good: remove them from the library with their "
                                      "tags and vectors (the same as `photosift index --confirm-deletions`)")
        self.forget_button.clicked.connect(self.forget_requested)
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Keep them (plug the drive back in and index to open them again); "
                                    "hide this until more photos vanish")
        self.keep_button.clicked.connect(self.keep)
        layout.addWidget(self.forget_button)
        layout.addWidget(self.keep_button)
        self.kept = 0  # how many missing photos the user chose to keep this session: shown again above that
        self.summary = MissingSummary(0, [])
        self.hide()

    def show_summary(self, summary: MissingSummary | None) -> None:
        """Show what the catalog holds now (None: the read failed, keep what is shown)."""
        if summary is None:
            return
        self.summary = summary
        self.label.setText(banner_text(summary) if summary.count else "")
        self.forget_button.setEnabled(True)
        self.setVisible(summary.count > self.kept)

    def keep(self) -> None:
        self.kept = self.summary.count
        self.hide()
