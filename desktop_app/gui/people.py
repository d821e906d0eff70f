"""People in the window: the sidebar's list of persons (face, name, count) and named boxes on the preview.

Clicking a person filters the grid (the window shows it as a chip beside the search box, like every filter);
double-clicking or the context menu names, merges or hides a person. On the details preview each face gets
a box with its person's name; clicking a box names that face (engine.people.name_face).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.catalog import FaceRow, Photo, PhotoCatalog
from engine.errors import PhotosiftError
from engine.faces import FACE_MODEL_ID, face_crop, faces_enabled, faces_installed
from engine.people import merge_persons, move_face, name_face, name_person, set_hidden

PersonRole = Qt.ItemDataRole.UserRole + 40
FACE_ICON = 40
MAX_LISTED = 100  # the People list shows the persons with most photos first; a crop per row is decoded


def _pixmap(img) -> QPixmap:
    img = img.convert("RGB")
    data = img.tobytes()
    q = QImage(data, img.width, img.height, img.width * 3, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(q.copy())


class PeoplePanel(QWidget):
    """The sidebar's People section."""

    person_chosen = Signal(object)  # person id as text (what `person:` accepts) or None
    people_changed = Signal()
    faces_wanted = Signal()  # "Find faces": turn faces on for the library and index

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.catalog: PhotoCatalog | None = None
        self.chosen: int | None = None  # the person the grid is filtered by, marked in the list
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("People")
        title.setStyleSheet("font-weight: 600; padding: 6px 4px 2px 4px;")
        layout.addWidget(title)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #888; padding: 2px 4px;")
        layout.addWidget(self.hint)
        self.find_button = QPushButton("Find faces in my photos")
        self.find_button.setToolTip("Turns faces on for this library and indexes: every photo is searched for "
                                    "faces once (slower than indexing without faces)")
        self.find_button.clicked.connect(self.faces_wanted.emit)
        self.find_button.setVisible(False)
        layout.addWidget(self.find_button)
        self.list = QListWidget()
        self.list.setIconSize(QSize(FACE_ICON, FACE_ICON))
        self.list.itemClicked.connect(lambda it: self.choose(it))
        self.list.itemDoubleClicked.connect(self._rename)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        layout.addWidget(self.list, 1)

    def refresh(self, catalog: PhotoCatalog) -> None:
        self.catalog = catalog
        self.list.clear()
        persons = catalog.people.summaries(FACE_MODEL_ID)[:MAX_LISTED]
        faces_off = faces_installed() and not faces_enabled(catalog)
        if not faces_installed():
            from desktop_app.extras import faces_hint

            self.hint.setText(f"Faces need the face models; {faces_hint()}")
        elif not persons and faces_off:
            self.hint.setText("Faces are off for this library.")
        else:
            self.hint.setText("" if persons else "No faces found yet")
        self.hint.setVisible(bool(self.hint.text()))
        self.find_button.setVisible(faces_off and not catalog.read_only)
        self.list.setVisible(bool(persons))  # no empty box taking the sidebar's room
        for p in persons:
            it = QListWidgetItem(f"{p.name or 'Unnamed'}   {p.count}")
            it.setData(PersonRole, p.id)
            it.setToolTip(f"person {p.id}: {p.count} photos; double-click to name")
            icon = self._face_icon(catalog, p.cover_face_id)
            if icon is not None:
                it.setIcon(icon)
            self.list.addItem(it)
            if p.id == self.chosen:  # the grid's person filter stays marked after a recount
                it.setSelected(True)

    @staticmethod
    def _face_icon(catalog: PhotoCatalog, face_id: int | None) -> QIcon | None:
        face = catalog.people.face(face_id) if face_id else None
        photo = catalog.photo(face.photo_id) if face else None
        if face is None or photo is None:
            return None
        try:
            return QIcon(_pixmap(face_crop(photo.fs_path, face.box, FACE_ICON * 2)))
        except (PhotosiftError, OSError):  # the photo is offline or unreadable now: the name is enough
            return None

    def choose(self, item: QListWidgetItem | None) -> None:
        if item is None:
            self.clear_choice()
            self.person_chosen.emit(None)
            return
        self.chosen = int(item.data(PersonRole))
        item.setSelected(True)
        self.person_chosen.emit(str(self.chosen))

    def clear_choice(self) -> None:
        self.chosen = None
        self.list.clearSelection()

    def _rename(self, item: QListWidgetItem) -> None:
        if self.catalog is None:
            return
        name, ok = QInputDialog.getText(self, "Name this person", "Name:")
        if ok and name.strip():
            self._act(lambda: name_person(self.catalog, int(item.data(PersonRole)), name))

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None or self.catalog is None:
            return
        pid = int(item.data(PersonRole))
        menu = QMenu(self)
        menu.addAction("Name\u2026", lambda: self._rename(item))
        merge = menu.addMenu("Merge into")
        for k in range(self.list.count()):
            other = self.list.item(k)
            if other is not item:
                merge.addAction(other.text(), lambda o=other: self._act(
                    lambda: merge_persons(self.catalog, int(o.data(PersonRole)), pid)))
        menu.addAction("Hide", lambda: self._act(lambda: set_hidden(self.catalog, pid)))
        menu.exec(self.list.mapToGlobal(pos))

    def _act(self, change) -> None:
        try:
            change()
        except PhotosiftError as e:
            QMessageBox.warning(self, "People", str(e))
            return
        if self.catalog is not None:
            self.refresh(self.catalog)
        self.people_changed.emit()


class FaceBoxes(QObject):
    """Boxes with names drawn over the details preview; a click on a box names that face, a right-click
    offers to name it, take it out of its person, or move it to another person."""

    named = Signal()

    def __init__(self, preview: QLabel) -> None:
        super().__init__(preview)
        self.preview = preview
        self.base: QPixmap | None = None
        self.faces: list[FaceRow] = []
        self.catalog: PhotoCatalog | None = None
        preview.installEventFilter(self)

    def show(self, photo: Photo | None, catalog: PhotoCatalog) -> None:
        """Call after the preview got the photo's pixmap."""
        self.catalog = catalog
        pm = self.preview.pixmap()
        self.base = QPixmap(pm) if photo is not None and pm is not None and not pm.isNull() else None
        self.faces = catalog.people.faces_of_photo(photo.id, FACE_MODEL_ID) if photo is not None else []
        self._draw()

    def _draw(self) -> None:
        if self.base is None or not self.faces or self.catalog is None:
            return
        pm = QPixmap(self.base)
        painter = QPainter(pm)
        font = QFont(painter.font())
        font.setPointSize(8)
        painter.setFont(font)
        for f in self.faces:
            person = self.catalog.people.person(f.person_id) if f.person_id else None
            rect = QRect(round(f.x * pm.width()), round(f.y * pm.height()), round(f.w * pm.width()),
                         round(f.h * pm.height()))
            colour = QColor("#4cd964") if person and person.name else QColor("#ffcc00")
            painter.setPen(QPen(colour, 2))
            painter.drawRect(rect)
            label = person.name if person and person.name else "?"
            text = painter.fontMetrics().boundingRect(label)
            box = QRect(rect.left(), rect.bottom() + 1, text.width() + 6, text.height() + 2)
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(colour)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        painter.end()
        self.preview.setPixmap(pm)

    def face_at(self, pos: QPoint) -> FaceRow | None:
        """The face under a point of the preview label (the pixmap is centred in it)."""
        if self.base is None:
            return None
        w, h = self.base.width(), self.base.height()
        left = (self.preview.width() - w) / 2
        top = (self.preview.height() - h) / 2
        fx, fy = (pos.x() - left) / w, (pos.y() - top) / h
        for f in self.faces:
            if f.x <= fx <= f.x + f.w and f.y <= fy <= f.y + f.h:
                return f
        return None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.preview and event.type() == QEvent.Type.MouseButtonPress and self.catalog is not None:
            face = self.face_at(event.position().toPoint())
            if face is not None:
                if event.button() == Qt.MouseButton.RightButton:
                    self.face_menu(face).exec(self.preview.mapToGlobal(event.position().toPoint()))
                else:
                    self.name_face_dialog(face)
                return True
        return False

    def face_menu(self, face: FaceRow) -> QMenu:
        """Name this face, say it is not who it was grouped with (it becomes a person of its own), or move it
        to someone else. These are the user's word: re-grouping and re-indexing keep them."""
        assert self.catalog is not None
        menu = QMenu(self.preview)
        menu.addAction("Name\u2026", lambda: self.name_face_dialog(face))
        person = self.catalog.people.person(face.person_id) if face.person_id else None
        if person is not None:
            menu.addAction(f"Not {person.name or 'this person'}: take this face out",
                           lambda: self._move(face, None))
        others = [(pid, name) for pid, name in self.catalog.people.named_persons() if pid != face.person_id]
        move = menu.addMenu("Move to")
        move.setEnabled(bool(others))
        for pid, name in others[:MAX_LISTED]:
            move.addAction(name, lambda pid=pid: self._move(face, pid))
        return menu

    def _move(self, face: FaceRow, to_person: int | None) -> None:
        self._change(face, lambda catalog: move_face(catalog, face.id, to_person))

    def name_face_dialog(self, face: FaceRow) -> None:
        name, ok = QInputDialog.getText(self.preview, "Who is this?", "Name:")
        if ok and name.strip():
            self._change(face, lambda catalog: name_face(catalog, face.id, name))

    def _change(self, face: FaceRow, change: Callable[[PhotoCatalog], object]) -> None:
        """Apply a user's word about a face, then redraw the boxes and tell the window."""
        if self.catalog is None:
            return
        try:
            change(self.catalog)
        except PhotosiftError as e:
            QMessageBox.warning(self.preview, "People", str(e))
            return
        self.faces = self.catalog.people.faces_of_photo(face.photo_id, FACE_MODEL_ID)
        self._draw()
        self.named.emit()
