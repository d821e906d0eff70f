"""The sidebar's Albums section: the person's albums and smart albums with their photo counts; a click filters
the grid (`album:NAME`), and the grid's menu puts photos in an album (engine.albums)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QInputDialog, QLabel, QListWidget, QListWidgetItem, QMenu, QMessageBox, QWidget

from engine.catalog import AlbumRow, PhotoCatalog

AlbumRole = Qt.ItemDataRole.UserRole + 30


class AlbumsList(QListWidget):
    album_chosen = Signal(object)  # an album's name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)  # a narrow sidebar wraps a long name (or the hint) instead of scrolling sideways
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemClicked.connect(lambda item: item.data(AlbumRole) and self.album_chosen.emit(item.data(AlbumRole)))
        self.albums: list[AlbumRow] = []

    @staticmethod
    def load(catalog: PhotoCatalog) -> list[AlbumRow]:
        """The albums, read on any thread with its own connection (no widgets touched)."""
        return catalog.albums.all()

    def show_albums(self, albums: list[AlbumRow] | None, chosen: str | None = None) -> None:
        if albums is None:
            return
        self.albums = albums
        self.clear()
        if not albums:
            hint = QListWidgetItem("No albums yet: right-click photos and choose Add to album")
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addItem(hint)
            return
        for album in albums:
            item = QListWidgetItem(f"{album.name}  ({album.count})" + ("  \u2728" if album.kind == "smart" else ""))
            item.setData(AlbumRole, album.name)
            item.setToolTip(f"smart album: the photos \u201c{album.query}\u201d finds, found again after each index"
                            if album.kind == "smart" else "your album")
            self.addItem(item)
        self.mark(chosen)

    def mark(self, chosen: str | None) -> None:
        """Select the album the filters chose (or none)."""
        self.clearSelection()
        for i in range(self.count()):
            name = self.item(i).data(AlbumRole)
            if chosen is not None and name is not None and str(name).lower() == chosen.lower():
                self.setCurrentRow(i)
                return
        self.setCurrentRow(-1)

    def manual_names(self) -> list[str]:
        return [a.name for a in self.albums if a.kind == "manual"]


def add_albums_section(sidebar: QWidget) -> AlbumsList:
    """An "Albums" heading and list in the library sidebar."""
    label = QLabel("Albums")
    label.setStyleSheet("font-weight: 600; padding: 6px 4px 2px 4px;")
    albums = AlbumsList()
    sidebar.layout().addWidget(label)
    sidebar.layout().addWidget(albums, 1)
    return albums


def album_menu(parent: QWidget, catalog: PhotoCatalog, photo_ids: list[int], shown_album: str | None,
               changed) -> QMenu:
    """The grid's "Add to album" menu for the chosen photos: each album of the person's own, and "New album...";
    with an album of their own shown, "Remove from" it too. `changed(message)` is called after a change."""
    from engine.albums import AlbumError, add_to_album, new_album, remove_from_album

    n = len(photo_ids)
    what = "this photo" if n == 1 else f"these {n} photos"
    menu = QMenu("Add to album", parent)
    manual = [a.name for a in catalog.albums.all() if a.kind == "manual"]

    def add(name: str) -> None:
        added = add_to_album(catalog, name, photo_ids)
        changed(f"{added} photo{'' if added == 1 else 's'} put in \u201c{name}\u201d"
                + (f" ({n - added} already there)" if added < n else ""))

    def new() -> None:
        name, ok = QInputDialog.getText(parent, "New album", f"Name of the album for {what}:")
        if not ok or not name.strip():
            return
        try:
            album = new_album(catalog, name)
        except AlbumError as e:
            QMessageBox.warning(parent, "New album", str(e))
            return
        add(album.name)

    for name in manual:
        menu.addAction(name, lambda name=name: add(name))
    if manual:
        menu.addSeparator()
    menu.addAction("New album\u2026", new)
    if shown_album is not None and shown_album.lower() in {m.lower() for m in manual}:
        menu.addSeparator()

        def remove() -> None:
            taken = remove_from_album(catalog, shown_album, photo_ids)
            changed(f"{taken} photo{'' if taken == 1 else 's'} taken out of \u201c{shown_album}\u201d")

        menu.addAction(f"Remove {what} from \u201c{shown_album}\u201d", remove)
    return menu
