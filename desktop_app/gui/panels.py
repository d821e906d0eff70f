"""Side panels: the library sidebar (folders as a tree, tags) and the photo details panel."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.grid import offline_root_ids
from desktop_app.gui.tag_undo import TagEdit
from engine.catalog import MAX_TAG_LENGTH, Photo, PhotoCatalog, Root
from engine.tag_confidence import CONFIDENT

FolderRole = Qt.ItemDataRole.UserRole + 10
TagRole = Qt.ItemDataRole.UserRole + 11
UncertainRole = Qt.ItemDataRole.UserRole + 12  # a tag of the "uncertain" section: its filter counts those too


@dataclass(frozen=True)
class SidebarData:
    total: int
    roots: list[Root]
    dir_counts: list[tuple[str, int]]  # folder path (ending in a separator) -> photos directly in it
    tag_counts: dict[str, int]  # tags some photo has for sure (the user's, or confident zero-shot ones) -> photos
    offline: set[int] = field(default_factory=set)  # roots offline now (see offline_root_ids)
    uncertain_tags: dict[str, int] = field(default_factory=dict)  # zero-shot tags the model is unsure of everywhere
    total_counts: dict[str, int] = field(default_factory=dict)  # tag -> photos with it, uncertain ones included


def split_tag_counts(catalog: PhotoCatalog) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(tags some photo has for sure -> photos that have it for sure, tags only ever uncertain -> photos with
    them, tags -> photos with them at all). A tag's count is what clicking it shows: the tag filter's photos
    (engine.catalog.SURE_TAG_SQL), or for an uncertain tag every photo with it (its filter counts those too)."""
    sure: dict[str, int] = {}
    uncertain: dict[str, int] = {}
    totals: dict[str, int] = {}
    for name, (n_sure, total) in catalog.tags.counts_by_confidence(CONFIDENT).items():
        if n_sure:
            sure[name] = n_sure
        else:
            uncertain[name] = total
        totals[name] = total
    return sure, uncertain, totals


def tree_item(tree: QTreeWidget, matches: Callable[[QTreeWidgetItem], bool]) -> QTreeWidgetItem | None:
    """The first item of `tree` (depth first) that `matches`, or None.

    Walked by hand: a QTreeWidgetItemIterator from PySide6 registers with the tree's model and is freed at an
    unknown time; the next clear() of the tree then crashed the process (a segmentation fault in
    ~QTreeWidgetItem, the CI run of 2026-12-07)."""
    stack = [tree.topLevelItem(i) for i in reversed(range(tree.topLevelItemCount()))]
    while stack:
        item = stack.pop()
        if matches(item):
            return item
        stack.extend(item.child(i) for i in reversed(range(item.childCount())))
    return None


class LibrarySidebar(QWidget):
    """'All photos', the folder tree with counts and offline state, and tags with counts."""

    folder_chosen = Signal(object)  # folder path or None for all photos
    tag_chosen = Signal(object)  # tag name or None
    uncertain_tag_chosen = Signal(str)  # a tag of the uncertain section: its photos where the model is unsure too
    rendered = Signal()  # the lists were filled again: the window marks what its filters choose (no selection kept)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.folders = QTreeWidget()
        self.folders.setHeaderLabels(["Folders", ""])
        header = self.folders.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        self.folders.setUniformRowHeights(True)
        self.folders.itemClicked.connect(self._folder_clicked)
        self.tags = QListWidget()
        self.tags.itemClicked.connect(self._tag_clicked)
        layout.addWidget(self.folders, 3)
        tags_label = QLabel("Tags")
        tags_label.setStyleSheet("font-weight: 600; padding: 6px 4px 2px 4px;")
        layout.addWidget(tags_label)
        layout.addWidget(self.tags, 2)
        # Zero-shot tags the model is unsure of are noise on a list people browse by: hidden until asked for.
        self.show_uncertain = QCheckBox("Show uncertain tags")
        self.show_uncertain.setToolTip("Tags the model suggested without being sure of them "
                                       f"(below {CONFIDENT:.0%} of its belief on every photo)")
        self.show_uncertain.toggled.connect(lambda _on: self._render_tags())
        layout.addWidget(self.show_uncertain)
        self._tag_data: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})

    def refresh(self, catalog: PhotoCatalog) -> None:
        self.show_data(self.load(catalog))

    @staticmethod
    def load(catalog: PhotoCatalog) -> SidebarData:
        """What the sidebar shows, read from the catalog; no widgets touched, so any thread may call it
        (with its own connection): on a big library the folder counts take a few hundred milliseconds."""
        dir_counts = catalog.browse.folder_counts()
        roots = catalog.roots()
        sure, uncertain, totals = split_tag_counts(catalog)
        return SidebarData(catalog.counts()["total"], roots, dir_counts, sure, offline_root_ids(roots), uncertain,
                           totals)

    def show_data(self, data: SidebarData) -> None:
        self.folders.clear()
        everything = QTreeWidgetItem(["All photos", str(data.total)])
        everything.setData(0, FolderRole, None)
        self.folders.addTopLevelItem(everything)
        for root in data.roots:
            tree: dict = {}
            total_in_root = 0
            prefix = root.path.rstrip(os.sep) + os.sep
            for d, n in data.dir_counts:
                if not d.startswith(prefix):
                    continue
                total_in_root += n
                node = tree
                for part in d[len(prefix):].strip(os.sep).split(os.sep):
                    if part:
                        node = node.setdefault(part, [0, {}])
                        node[0] += n
                        node = node[1]
            label = os.path.basename(root.path.rstrip(os.sep)) or root.path
            offline = root.state == "offline" or root.id in data.offline
            if offline:
                label += "  (offline)"
            item = QTreeWidgetItem([label, str(total_in_root)])
            item.setData(0, FolderRole, root.path)
            reason = root.error or ("not reachable now (drive unplugged?)" if offline else None)
            item.setToolTip(0, root.path + (f"\n{reason}" if reason else ""))
            if offline:
                item.setForeground(0, Qt.GlobalColor.gray)
            self.folders.addTopLevelItem(item)
            self._add_children(item, root.path.rstrip(os.sep), tree)
            item.setExpanded(True)
        self.folders.setCurrentItem(everything)
        self.show_tags(data.tag_counts, data.uncertain_tags, data.total_counts)

    def refresh_tags(self, catalog: PhotoCatalog) -> None:
        self.show_tags(*split_tag_counts(catalog))

    def show_tags(self, tag_counts: dict[str, int], uncertain: dict[str, int] | None = None,
                  total_counts: dict[str, int] | None = None) -> None:
        self._tag_data = (tag_counts, uncertain or {}, total_counts or {})
        self._render_tags()

    def _render_tags(self) -> None:
        tag_counts, uncertain, total_counts = self._tag_data
        self.tags.clear()
        for name, count in tag_counts.items():
            it = QListWidgetItem(f"{name}  ({count})")
            it.setData(TagRole, name)
            unsure = total_counts.get(name, count) - count
            if unsure > 0:
                it.setToolTip(f"{count} photos have it for sure; on {unsure} more the model is unsure of it "
                              "(not counted, not shown by this tag)")
            self.tags.addItem(it)
        self.show_uncertain.setText(f"Show uncertain tags ({len(uncertain)})")
        self.show_uncertain.setVisible(bool(uncertain))
        if self.show_uncertain.isChecked():
            font = QFont(self.tags.font())
            font.setItalic(True)
            for name, count in uncertain.items():
                it = QListWidgetItem(f"{name}  ({count})")
                it.setData(TagRole, name)
                it.setData(UncertainRole, True)
                it.setForeground(Qt.GlobalColor.gray)
                it.setFont(font)
                it.setToolTip("uncertain: the model suggested it without being sure")
                self.tags.addItem(it)
        self.rendered.emit()

    def _add_children(self, parent: QTreeWidgetItem, folder: str, tree: dict) -> None:
        for name in sorted(tree):
            count, sub = tree[name]
            path = folder + os.sep + name
            item = QTreeWidgetItem([name, str(count)])
            item.setData(0, FolderRole, path)
            item.setToolTip(0, path)
            parent.addChild(item)
            self._add_children(item, path, sub)

    def mark(self, folder: str | None, tag: str | None, uncertain_too: bool = False) -> None:
        """Mark the folder (else "All photos") and the tag a filter chose, and nothing else."""
        folder = folder.rstrip(os.sep) if folder else None
        self.folders.setCurrentItem(tree_item(self.folders, lambda it: folder is not None and
                                              (it.data(0, FolderRole) or "").rstrip(os.sep) == folder)
                                    or self.folders.topLevelItem(0))
        chosen = next((self.tags.item(i) for i in range(self.tags.count()) if tag is not None
                       and str(self.tags.item(i).data(TagRole)).lower() == tag.lower()
                       and bool(self.tags.item(i).data(UncertainRole)) == uncertain_too), None)
        if chosen is None:
            self.tags.setCurrentRow(-1)
            self.tags.clearSelection()
        else:
            self.tags.setCurrentItem(chosen)

    def _folder_clicked(self, item: QTreeWidgetItem) -> None:
        self.tags.clearSelection()
        self.folder_chosen.emit(item.data(0, FolderRole))

    def _tag_clicked(self, item: QListWidgetItem) -> None:
        if item.data(UncertainRole):
            self.uncertain_tag_chosen.emit(item.data(TagRole))
        else:
            self.tag_chosen.emit(item.data(TagRole))


def offline_text(photo: Photo, catalog: PhotoCatalog) -> str:
    """Why `photo` cannot be opened now: it vanished and is held as missing, or its library folder is offline."""
    if photo.missing_since is not None:
        return (f"Missing: it vanished from {os.path.dirname(photo.path)} (drive unplugged?); it is kept with its "
                "tags until you forget it or it is back.")
    root = next((r for r in catalog.roots() if r.id == photo.root_id), None)
    folder = root.path if root else os.path.dirname(photo.path)
    return f"Offline: the folder {folder} is not reachable (drive unplugged?); plug it in to open this photo."


TEXT_SHOWN = 160  # characters of a photo's text in the details panel (all of it in the tooltip)


def photo_text_line(text: str | None) -> str:
    """What the details panel says of the text read in a photo."""
    if text is None:
        return "not read (Settings: read text in photos)"
    if not text:
        return "none found"
    flat = " / ".join(text.splitlines())
    return flat if len(flat) <= TEXT_SHOWN else flat[:TEXT_SHOWN - 1] + "\u2026"


class DetailsPanel(QWidget):
    """Preview, file facts, tags with scores (confirm / reject / add) and Find similar."""

    find_similar = Signal(int)
    tags_changed = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.photo: Photo | None = None
        self.catalog: PhotoCatalog | None = None
        self.undo_stack = QUndoStack(self)  # tag edits, undone with the status bar's Undo or Ctrl+Z
        # In a scroll area: in a small window (900x600) the panel scrolls; squeezed below its minimum, the
        # layout drew the file name over the preview and the facts over one another.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the width follows the panel
        body = QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll)
        layout = QVBoxLayout(body)
        self.preview = QLabel("No photo selected")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(220)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.preview.setStyleSheet("background: #20232a; color: #aaa; border-radius: 6px;")
        layout.addWidget(self.preview)
        self.name = QLabel()
        self.name.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.name.setWordWrap(True)
        layout.addWidget(self.name)
        self.offline_note = QLabel()  # why the photo cannot be opened now; hidden when it can
        self.offline_note.setWordWrap(True)
        self.offline_note.setStyleSheet("background: #fbe3e1; color: #8c1d18; padding: 4px 6px; border-radius: 4px;")
        self.offline_note.hide()
        layout.addWidget(self.offline_note)
        form = QFormLayout()
        self.fields = {k: QLabel() for k in ("Folder", "Taken", "Place", "Albums", "Text", "Camera", "Size",
                                             "Location", "Score")}
        for k, w in self.fields.items():
            w.setWordWrap(True)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(k, w)
        layout.addLayout(form)
        self.similar_button = QPushButton("Find similar")
        self.similar_button.clicked.connect(lambda: self.photo and self.find_similar.emit(self.photo.id))
        layout.addWidget(self.similar_button)
        layout.addWidget(QLabel("Tags"))
        self.tag_list = QListWidget()
        self.tag_list.setMaximumHeight(150)
        layout.addWidget(self.tag_list)
        row = QHBoxLayout()
        self.confirm_button = QPushButton("Confirm")
        self.reject_button = QPushButton("Reject")
        self.confirm_button.clicked.connect(lambda: self._edit_selected(confirm=True))
        self.reject_button.clicked.connect(lambda: self._edit_selected(confirm=False))
        row.addWidget(self.confirm_button)
        row.addWidget(self.reject_button)
        layout.addLayout(row)
        self.new_tag = QLineEdit()
        self.new_tag.setPlaceholderText("Add a tag and press Enter")
        self.new_tag.setMaxLength(MAX_TAG_LENGTH)  # the catalog refuses longer tags
        self.new_tag.returnPressed.connect(self._add_tag)
        layout.addWidget(self.new_tag)
        layout.addStretch(1)
        self.show_photo(None, None)

    def show_photo(self, photo: Photo | None, catalog: PhotoCatalog | None, pixmap: QPixmap | None = None,
                   score: float | None = None, offline: bool = False) -> None:
        """`offline`: its folder is not reachable now (the grid's mark); a photo held as missing says so."""
        self.photo, self.catalog = photo, catalog
        self.offline_note.setText(offline_text(photo, catalog) if photo and catalog and offline else "")
        self.offline_note.setVisible(bool(self.offline_note.text()))
        enabled = photo is not None
        for w in (self.similar_button, self.confirm_button, self.reject_button, self.new_tag):
            w.setEnabled(enabled)
        if photo is None:
            self.preview.setPixmap(QPixmap())
            self.preview.setText("No photo selected")
            self.name.setText("")
            for w in self.fields.values():
                w.setText("")
            self.tag_list.clear()
            return
        if pixmap is None:  # the thumbnail is still loading: not the previous photo, nor "No photo selected"
            self.preview.setPixmap(QPixmap())
            self.preview.setText("Loading preview\u2026")
        else:
            self.preview.setPixmap(pixmap.scaled(self.preview.width() or 300, 220, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
        self.name.setText(os.path.basename(photo.path))
        self.fields["Folder"].setText(os.path.dirname(photo.path))
        self.fields["Taken"].setText((photo.taken_at or "unknown").replace("T", " "))
        place = catalog.places.of_photo(photo.id) if catalog is not None else None
        self.fields["Place"].setText(place.name if place else "unknown")
        albums = catalog.albums.of_photo(photo.id) if catalog is not None else []
        self.fields["Albums"].setText(", ".join(albums) if albums else "none")
        self.fields["Text"].setText(photo_text_line(catalog.text.of_photo(photo.id) if catalog is not None else None))
        self.fields["Text"].setToolTip(catalog.text.of_photo(photo.id) or "" if catalog is not None else "")
        self.fields["Camera"].setText(photo.camera or "unknown")
        amount = f"{photo.size / 1e6:.1f} MB" if photo.size >= 1e6 else f"{max(1, round(photo.size / 1e3))} KB"
        self.fields["Size"].setText(f"{photo.width} x {photo.height} px, {amount}" if photo.width else amount)
        self.fields["Location"].setText(f"{photo.gps_lat:.5f}, {photo.gps_lon:.5f}" if photo.gps_lat is not None
                                        else "none")
        self.fields["Score"].setText(f"{score:.3f}" if score is not None else "")
        if photo.status == "error":
            self.fields["Score"].setText(f"could not be read: {photo.error}")
        self._fill_tags()

    def _fill_tags(self) -> None:
        self.tag_list.clear()
        if self.photo is None or self.catalog is None:
            return
        rows = self.catalog.tags.with_confidence(self.photo.id)
        sure = [r for r in rows if not r.uncertain(CONFIDENT)]
        unsure = [r for r in rows if r.uncertain(CONFIDENT)]
        for r in sure:
            label = f"{r.name}   (yours)" if r.source == "user" else \
                f"{r.name}   {r.confidence:.0%}" if r.confidence is not None else f"{r.name}   {r.score:.2f}"
            it = QListWidgetItem(label)
            it.setData(TagRole, r.name)
            self.tag_list.addItem(it)
        if unsure:  # apart, below a line: the model suggested them without being sure
            header = QListWidgetItem("uncertain:")
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            header.setForeground(Qt.GlobalColor.gray)
            self.tag_list.addItem(header)
            for r in unsure:
                share = "<1%" if r.confidence < 0.005 else f"{r.confidence:.0%}"  # never a confusing "0%"
                it = QListWidgetItem(f"{r.name}   {share}?")
                it.setData(TagRole, r.name)
                it.setForeground(Qt.GlobalColor.gray)
                it.setToolTip("The model is not sure of this tag: confirm it, or reject it")
                self.tag_list.addItem(it)

    def _edit_selected(self, confirm: bool) -> None:
        item = self.tag_list.currentItem()
        if item is None or item.data(TagRole) is None or self.photo is None or self.catalog is None:
            return
        self._edit(item.data(TagRole), "confirm" if confirm else "reject")

    def _edit(self, name: str, action: str) -> None:
        assert self.photo is not None and self.catalog is not None
        self.undo_stack.push(TagEdit(self.catalog, self.photo.id, name, action, os.path.basename(self.photo.path),
                                     self._tags_edited))

    def _tags_edited(self, photo_id: int) -> None:
        if self.photo is not None and self.photo.id == photo_id:
            self._fill_tags()
        self.tags_changed.emit(photo_id)

    def _add_tag(self) -> None:
        name = self.new_tag.text()
        if name.strip() and self.photo is not None and self.catalog is not None:
            from engine.tagging import clean_user_tag

            self._edit(clean_user_tag(name), "add")  # a bad name is refused here, before anything is recorded
            self.new_tag.clear()
