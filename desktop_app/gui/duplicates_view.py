"""The Duplicates view: one group at a time, its photos side by side, the suggested keeper marked.

Keys: Right/Space next group, Left previous, 1-9 choose the keeper, K keep all (the group is not offered
again), Delete move the others to the system trash (after a confirmation that lists every photo that goes
and the one kept), Ctrl+Z put the last move back (and index, so the photos return to the library).
Groups are read from the catalog (engine.duplicates keeps them up to date after each index); moving uses
engine.trash, the same code as `photosift duplicates --trash`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.thumbs import ThumbnailLoader
from engine.catalog import DuplicateGroup, Photo
from engine.duplicates_review import choose_keeper, keep_all, trash_and_forget
from engine.errors import PhotosiftError
from engine.library import Library
from engine.trash import TrashItem, TrashResult, plan, restore_batch

CARD_THUMB = 216
KIND_TITLE = {"exact": "Exact copies", "near": "Near-duplicates", "burst": "Burst"}


@dataclass(frozen=True)
class GroupView:
    group: DuplicateGroup
    photos: list[Photo]  # keeper first
    similarity: dict[int, float | None]


def load_groups(library: Library) -> list[GroupView]:
    """Groups still to review, largest first, with their photos."""
    cat = library.catalog
    groups = cat.duplicates.groups(include_reviewed=False)
    photos = cat.photos_by_ids([pid for g in groups for pid, _ in g.members])
    out = []
    for g in groups:
        members = [photos[pid] for pid, _ in g.members if pid in photos]
        if len(members) >= 2:
            out.append(GroupView(g, members, dict(g.members)))
    return out


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


class TrashConfirmDialog(QDialog):
    """Names how many photos go, where, and lists every one of them (scrollable) with the photo kept."""

    def __init__(self, items: list[TrashItem], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Move to Trash?")
        layout = QVBoxLayout(self)
        n = len(items)
        keeps = sorted({i.keep.path for i in items})
        self.message = QLabel(
            f"<b>Move {n} photo{'s' if n != 1 else ''} to the system Trash?</b><br>"
            "They leave the library and the folder they are in; Undo (Ctrl+Z) or "
            "<code>photosift duplicates --restore</code> puts them back, until the Trash is emptied."
        )
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self.paths = QListWidget()  # every photo that goes, however many: nobody confirms partly blind
        self.paths.addItems([i.photo.path for i in items])
        self.paths.setMinimumWidth(560)
        layout.addWidget(self.paths, 1)
        kept = QLabel("Kept: " + "<br>".join(keeps))
        kept.setTextFormat(Qt.TextFormat.RichText)
        kept.setWordWrap(True)
        kept.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(kept)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.move_button = buttons.addButton(f"Move {n} to Trash", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)  # Enter does not trash
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class PhotoCard(QFrame):
    """One photo of a group: thumbnail, name, folder, size, date, sharpness, similarity; the keeper is framed."""

    clicked = Signal(int)

    def __init__(
        self, number: int, photo: Photo, sharpness: float | None, similarity: float | None, keeper: bool
    ) -> None:
        super().__init__()
        self.photo = photo
        self.setObjectName("card")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        border = "3px solid #2e7d32" if keeper else "1px solid #c8c8c8"
        self.setStyleSheet(f"#card {{ border: {border}; border-radius: 8px; background: palette(base); }}")
        layout = QVBoxLayout(self)
        self.badge = QLabel(f"\u2605 Keep  ({number})" if keeper else f"Goes to trash  ({number})")
        self.badge.setStyleSheet("font-weight: 600; color: %s;" % ("#2e7d32" if keeper else "#8a8a8a"))
        self.badge.setFixedHeight(22)
        self.image = QLabel()
        self.image.setFixedSize(CARD_THUMB, CARD_THUMB)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #eeeeee;")
        lines = [
            f"<b>{os.path.basename(photo.path)}</b>",
            f"{photo.width or '?'} \u00d7 {photo.height or '?'} px, {_size(photo.size)}",
            f"taken {photo.taken_at.replace('T', ' ') if photo.taken_at else 'no date'}",
            f"sharpness {sharpness:.0f}" if sharpness is not None else "sharpness ?",
        ]
        if similarity is not None and not keeper:
            lines.append(f"similarity {similarity:.3f}")
        self.text = QLabel("<br>".join(lines))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setToolTip(photo.path)
        # The folder tells copies of one name apart (Copies/ or Nature/): its end shows, the tooltip has it all.
        folder = os.path.dirname(photo.path) + os.sep
        self.folder = QLabel()
        self.folder.setText(self.folder.fontMetrics().elidedText(folder, Qt.TextElideMode.ElideLeft, CARD_THUMB))
        self.folder.setToolTip(photo.path)
        self.folder.setStyleSheet("color: #555;")
        for w in (self.badge, self.image, self.folder, self.text):
            layout.addWidget(w)
        self.setFixedWidth(CARD_THUMB + 24)

    def set_pixmap(self, pixmap) -> None:
        self.image.setPixmap(
            pixmap.scaled(
                CARD_THUMB, CARD_THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.photo.id)


class DuplicatesView(QWidget):
    closed = Signal()  # back to the photos
    library_changed = Signal()  # photos left or came back: the grid should be read again
    reindex_requested = Signal()  # photos were put back on disk: index so the library has them again
    notify = Signal(str, bool)  # (message, is_error)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lib = library
        self.groups: list[GroupView] = []
        self.position = 0
        self.cards: list[PhotoCard] = []
        self.last_batch: str | None = None
        self.active = False  # the window shows this view (kept across the window's own page changes)
        self.loader = ThumbnailLoader(library.paths.thumbnails, self, cache_items=400, workers=1)
        self.loader.pixmap_ready.connect(self._pixmap_ready)
        self.sidebar_button = QPushButton("Duplicates")
        self.sidebar_button.setToolTip("Review exact copies, near-duplicates and bursts")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build()

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        back = QPushButton("\u2190 All photos")
        back.clicked.connect(self.closed.emit)
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.prev_button, self.next_button = QPushButton("\u25c0 Previous"), QPushButton("Next \u25b6")
        self.prev_button.clicked.connect(lambda: self.go(-1))
        self.next_button.clicked.connect(lambda: self.go(1))
        for w in (back, self.title):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        outer.addLayout(top)
        self.reason = QLabel()
        self.reason.setStyleSheet("color: #555; padding: 2px 0 6px 0;")
        self.reason.setWordWrap(True)
        outer.addWidget(self.reason)
        self.row_widget = QWidget()
        self.row = QHBoxLayout(self.row_widget)
        self.row.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.row_widget)
        outer.addWidget(scroll, 1)
        actions = QHBoxLayout()
        self.keep_all_button = QPushButton("Keep all (K)")
        self.keep_all_button.clicked.connect(self.keep_all)
        self.trash_button = QPushButton("Move others to Trash (Delete)")
        self.trash_button.setStyleSheet("font-weight: 600;")
        self.trash_button.clicked.connect(self.trash_others)
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.undo_button.setEnabled(False)
        hint = QLabel(
            "\u2190 \u2192 groups \u00b7 1-9 choose the photo to keep \u00b7 K keep all \u00b7 "
            "Delete move the others to the trash"
        )
        hint.setStyleSheet("color: #777;")
        hint.setWordWrap(True)  # the window still fits a small screen
        actions.addWidget(hint, 1)
        for w in (self.keep_all_button, self.trash_button, self.undo_button):
            actions.addWidget(w)
        outer.addLayout(actions)
        keys: list[tuple[Any, Any]] = [
            (Qt.Key.Key_Right, lambda: self.go(1)),
            (Qt.Key.Key_Space, lambda: self.go(1)),
            (Qt.Key.Key_Left, lambda: self.go(-1)),
            (Qt.Key.Key_K, self.keep_all),
            (Qt.Key.Key_Delete, self.trash_others),
            ("Ctrl+Z", self.undo),
        ]
        keys += [(getattr(Qt.Key, f"Key_{n}"), lambda n=n: self.choose(n - 1)) for n in range(1, 10)]
        for key, slot in keys:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def event(self, event) -> bool:
        # Esc leaves the view; the window's own Esc shortcut ("back") would otherwise take it first.
        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Escape:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
            return
        super().keyPressEvent(event)

    # -- reading ------------------------------------------------------------------------------
    def reload(self, keep_position: bool = False) -> None:
        self.groups = load_groups(self.lib)
        self.position = min(self.position, max(len(self.groups) - 1, 0)) if keep_position else 0
        self.refresh_count()
        self._show()

    def refresh_count(self) -> None:
        n = len(self.groups) if self.groups else len(self.lib.catalog.duplicates.groups(include_reviewed=False))
        self.sidebar_button.setText(f"Duplicates ({n})" if n else "Duplicates")

    def current(self) -> GroupView | None:
        return self.groups[self.position] if 0 <= self.position < len(self.groups) else None

    def _show(self) -> None:
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        view = self.current()
        has = view is not None
        for w in (self.keep_all_button, self.trash_button):
            w.setEnabled(has)
        self.prev_button.setEnabled(self.position > 0)
        self.next_button.setEnabled(self.position < len(self.groups) - 1)
        if view is None:
            self.title.setText("No duplicates to review")
            self.reason.setText("Exact copies, near-duplicates and bursts show up here after indexing.")
            return
        g = view.group
        self.title.setText(
            f"{KIND_TITLE.get(g.kind, g.kind)}: group {self.position + 1} of {len(self.groups)}, "
            f"{len(view.photos)} photos"
        )
        self.reason.setText(f"Suggested to keep: {view.photos[0].path} ({g.reason})")
        sharp = {c.id: c.sharpness for c in self.lib.catalog.duplicates.candidates(p.id for p in view.photos).values()}
        for n, photo in enumerate(view.photos, 1):
            card = PhotoCard(n, photo, sharp.get(photo.id), view.similarity.get(photo.id), photo.id == g.keep_id)
            card.clicked.connect(self._card_clicked)
            self.row.addWidget(card)
            self.cards.append(card)
            pm = self.loader.pixmap(photo.id)
            if pm is not None:
                card.set_pixmap(pm)
            else:
                self.loader.request(photo.id, photo.fingerprint, photo.fs_path)

    def _pixmap_ready(self, photo_id: int) -> None:
        for card in self.cards:
            if card.photo.id == photo_id and (pm := self.loader.pixmap(photo_id)) is not None:
                card.set_pixmap(pm)

    # -- review -------------------------------------------------------------------------------
    def go(self, step: int) -> None:
        if self.groups:
            self.position = max(0, min(len(self.groups) - 1, self.position + step))
            self._show()

    def _card_clicked(self, photo_id: int) -> None:
        view = self.current()
        if view is not None:
            self.choose(next(i for i, p in enumerate(view.photos) if p.id == photo_id))

    def choose(self, index: int) -> None:
        """Make the index-th photo (as shown) the one to keep."""
        view = self.current()
        if view is None or not 0 <= index < len(view.photos) or view.photos[index].id == view.group.keep_id:
            return
        choose_keeper(self.lib.catalog, view.group.id, view.photos[index].id)
        self.reload(keep_position=True)

    def keep_all(self) -> None:
        view = self.current()
        if view is None:
            return
        keep_all(self.lib.catalog, view.group.id)
        self.reload(keep_position=True)

    def trash_others(self) -> None:
        view = self.current()
        if view is None:
            return
        items = plan(self.lib.catalog, [view.group])
        if not items or not self.confirm_trash(items):
            return
        try:
            result: TrashResult = trash_and_forget(self.lib, items, wait_s=1.0)
        except PhotosiftError as e:
            QMessageBox.warning(self, "Photosift", str(e))
            return
        if result.moved:
            self.last_batch = result.batch
            self.undo_button.setEnabled(True)
        message = f"Moved {len(result.moved)} photos to the Trash. Undo with Ctrl+Z."
        if result.skipped or result.stopped:
            message += " " + "; ".join(
                [f"{os.path.basename(p)}: {why}" for p, why in result.skipped]
                + ([result.stopped] if result.stopped else [])
            )
        self.notify.emit(message, bool(result.stopped))
        self.library_changed.emit()
        self.reload(keep_position=True)

    def confirm_trash(self, items: list[TrashItem]) -> bool:
        return TrashConfirmDialog(items, self).exec() == QDialog.DialogCode.Accepted

    def undo(self) -> None:
        if self.last_batch is None:
            return
        result = restore_batch(self.lib.paths.root, self.last_batch)
        self.last_batch = None
        self.undo_button.setEnabled(False)
        failed = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in result.failed)
        self.notify.emit(
            f"Put back {len(result.restored)} photos; indexing them again."
            + (f" Not put back: {failed}" if failed else ""),
            bool(failed),
        )
        if result.restored:
            self.reindex_requested.emit()

    def shutdown(self) -> None:
        self.loader.shutdown()


def attach_duplicates_view(window: Any) -> DuplicatesView:
    """Wire the view into the main window: a sidebar button, a page of its central stack, refreshes after
    indexing, and the window's own toasts and indexing for what the view changes."""
    view = DuplicatesView(window.lib, window)
    view.sidebar_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    window.sidebar.layout().addWidget(view.sidebar_button)
    window.stack.addWidget(view)

    def open_view() -> None:
        view.active = True
        view.reload()
        window.stack.setCurrentWidget(view)
        view.setFocus()

    def close_view() -> None:
        view.active = False
        window.stack.setCurrentWidget(window.split)

    def stay() -> None:  # the window shows its grid page after a refresh or an index: keep the review open
        if view.active:
            window.stack.setCurrentWidget(view)
            view.setFocus()

    def library_changed() -> None:
        window.refresh_library()
        stay()

    def indexed(_report: object) -> None:
        if view.active:
            view.reload(keep_position=True)
            stay()
        else:
            view.refresh_count()

    view.sidebar_button.clicked.connect(open_view)
    view.closed.connect(close_view)
    view.library_changed.connect(library_changed)
    view.reindex_requested.connect(window.start_index)
    view.notify.connect(window.notify)
    window.index_finished.connect(indexed)
    view.refresh_count()
    return view
