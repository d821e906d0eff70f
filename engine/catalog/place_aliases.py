"""Other names of places and countries ("Lisboa", "München", "Deutschland", "リスボン"): a read-only table shipped
in resources/places/aliases.sqlite (scripts/build_place_data.py writes it), asked for the few names a query or a
place filter holds. Part of the catalog package because it speaks SQL; it reads no library."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

# Other names of places and countries (resources/places/aliases.sqlite, written by scripts/build_place_data.py):
# "lisboa" -> ("PT", "lisbon"). `prominent`: a country, or a city of 100,000 people or more; only those are
# read from a query's plain words (a small town's other names include words like "Crossroads").
ALIAS_SCHEMA = """
CREATE TABLE aliases (alias TEXT NOT NULL, country_code TEXT NOT NULL, place TEXT NOT NULL,
                      prominent INTEGER NOT NULL, PRIMARY KEY (alias, country_code, place)) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class PlaceAlias:
    country_code: str
    place: str  # the key of the name the catalog stores (a city's or a country's)
    prominent: bool


_alias_local = threading.local()


def _alias_db() -> sqlite3.Connection | None:
    """This thread's read-only connection to the shipped alias table, or None where it cannot be read (other
    names are a convenience: a place is still found by the name the catalog stores)."""
    conn = getattr(_alias_local, "conn", False)
    if conn is False:
        conn = None
        try:
            path = Path(str(resources.files("resources").joinpath("places", "aliases.sqlite"))).resolve(strict=True)
            # immutable: a file in the installed package never changes, so SQLite takes no locks and writes
            # nothing beside it (the package folder may be read-only); as_uri quotes "#", "%" and "?" in the path
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM aliases LIMIT 1")
        except (ModuleNotFoundError, OSError, sqlite3.Error) as e:
            log.warning("other place names are not available (resources/places/aliases.sqlite: %s)", e)
            conn = None
        _alias_local.conn = conn
    return conn


def place_aliases(keys: Iterable[str]) -> dict[str, list[PlaceAlias]]:
    """The places each of `keys` (place_key) is another name of: {"lisboa": [PlaceAlias("PT", "lisbon", True)]}.
    Keys that are no other name are left out."""
    wanted = sorted({k for k in keys if k})
    conn = _alias_db()
    out: dict[str, list[PlaceAlias]] = {}
    if conn is None or not wanted:
        return out
    try:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = conn.execute(f"SELECT alias, country_code, place, prominent FROM aliases WHERE alias IN "
                                f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            for alias, code, place, prominent in rows:
                out.setdefault(alias, []).append(PlaceAlias(code, place, bool(prominent)))
    except sqlite3.Error as e:  # a damaged file: the names the catalog stores still work
        log.warning("other place names are not available (resources/places/aliases.sqlite: %s)", e)
        _alias_local.conn = None
        return {}
    return out
