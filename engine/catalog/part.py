"""What every part of the catalog shares: the connection (and transactions) of the PhotoCatalog it belongs to."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any


class CatalogPart:
    """A part of one PhotoCatalog (`catalog.tags`, `catalog.people`...), on the catalog's connection.

    catalog is the PhotoCatalog (typed loosely: engine.catalog.core imports the parts, not the other way), through
    which a part reaches the catalog's photos and its other parts."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog

    @property
    def conn(self) -> sqlite3.Connection:
        return self._catalog.conn

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._catalog.transaction()
