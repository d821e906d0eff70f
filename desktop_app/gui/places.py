"""The sidebar's Places section: country > region > city with photo counts; a click filters the grid.

A node's filter is a place spec (engine.places): "Portugal", "Portugal > Lisbon", "Portugal > Lisbon > Sintra",
so a city is told apart from a region of the same name, and the filter chip can show it as text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QWidget

from engine.catalog import PhotoCatalog
from engine.places import PATH_SEPARATOR, group_counts

PlaceRole = Qt.ItemDataRole.UserRole + 20


def place_spec(*levels: str) -> str:
    return f" {PATH_SEPARATOR} ".join(levels)


class PlacesTree(QTreeWidget):
    place_chosen = Signal(object)  # a place spec, or None for anywhere

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Places", ""])
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        self.setUniformRowHeights(True)
        self.itemClicked.connect(lambda item, _col: self.place_chosen.emit(item.data(0, PlaceRole)))

    @staticmethod
    def load(catalog: PhotoCatalog) -> list[tuple[str, str, str, int]]:
        """The counts, read on any thread with its own connection (no widgets touched)."""
        return catalog.places.counts()

    def show_counts(self, rows: list[tuple[str, str, str, int]] | None, chosen: str | None = None) -> None:
        """Rebuild the tree; the place the filters chose (`chosen`) is selected, its branch open, when still there.

        The choice comes from the caller (the browse state): the tree keeps no choice of its own."""
        if rows is None:
            return
        self.setCurrentItem(None)
        self.clear()
        if not rows:
            hint = QTreeWidgetItem(["No photo has a GPS position", ""])
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            hint.setToolTip(0, "Photos whose EXIF has a GPS position are named by city, region and country")
            self.addTopLevelItem(hint)
            hint.setFirstColumnSpanned(True)  # the whole width: not cut off at the count column
            return
        tree = group_counts(rows)
        for country, (n_country, regions) in sorted(tree.items(), key=lambda kv: (-kv[1][0], kv[0])):
            top = self._item(None, country, n_country, place_spec(country), chosen)
            for region, (n_region, cities) in sorted(regions.items(), key=lambda kv: (-kv[1][0], kv[0])):
                if region == country and len(regions) == 1:
                    parent = top  # a country without regions (Singapore): its cities right under it
                else:
                    parent = self._item(top, region, n_region, place_spec(country, region), chosen)
                for city, n_city in sorted(cities.items(), key=lambda kv: (-kv[1], kv[0])):
                    self._item(parent, city, n_city, place_spec(country, region, city), chosen)

    def _item(self, parent: QTreeWidgetItem | None, label: str, count: int, spec: str,
              chosen: str | None) -> QTreeWidgetItem:
        item = QTreeWidgetItem([label, str(count)])
        item.setData(0, PlaceRole, spec)
        item.setToolTip(0, spec)
        if parent is None:
            self.addTopLevelItem(item)
        else:
            parent.addChild(item)
        if spec == chosen:
            self.setCurrentItem(item)
            node = parent
            while node is not None:
                node.setExpanded(True)
                node = node.parent()
        return item


def add_places_section(sidebar: QWidget) -> PlacesTree:
    """A "Places" heading and tree at the bottom of the library sidebar."""
    label = QLabel("Places")
    label.setStyleSheet("font-weight: 600; padding: 6px 4px 2px 4px;")
    tree = PlacesTree()
    tree.setHeaderHidden(True)
    sidebar.layout().addWidget(label)
    sidebar.layout().addWidget(tree, 2)
    return tree
