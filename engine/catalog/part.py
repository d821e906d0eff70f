"""What every part of the catalog shares: the connection (and transactions) of the PhotoCatalog it belongs to."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")
MAX_PARAMS = 900  # under SQLite's default limit of bound parameters in one statement (999 before 3.32)


def in_chunks(values: Sequence[T], size: int = MAX_PARAMS) -> Iterator[tuple[list[T], str]]:
    """`values` in lists of at most `size`, each with its "?,?,..." placeholders for an `IN (...)`."""
    for start in range(0, len(values), size):
        chunk = list(values[start:start + size])
        yield chunk, ",".join("?" * len(chunk))


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
