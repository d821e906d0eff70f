"""The catalog file without opening a PhotoCatalog on it: one setting, blank or damaged, the folders a damaged
one still names, a read-only connection; and splitting a migration script into statements."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote


def read_setting(path: Path, key: str) -> str | None:
    """One setting of the catalog file at `path`, read without opening it for writing (no migration, no backup:
    asking must not upgrade a library another Photosift may still use); None when unset or never set up."""
    conn = connect_read_only(path, 5.0)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'").fetchone():
            return None
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def catalog_is_blank(path: Path) -> bool:
    """Whether the catalog file at `path` holds nothing: 0 bytes, or an SQLite header without a single table
    (a creation that stopped before its schema was written). Read without writing; False when damaged."""
    size = Path(path).stat().st_size
    if size == 0:
        return True
    if size > 65536:  # more than one page of the largest size: it holds more than a header
        return False
    try:
        conn = connect_read_only(Path(path), 5.0)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            return version == 0 and not conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # damaged, not blank: `photosift doctor --repair` deals with it


def catalog_file_problem(path: Path) -> str | None:
    """None when `path` is a sound Photosift catalog (PRAGMA quick_check), else what is wrong with it."""
    try:
        conn = connect_read_only(path, 5.0)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchmany(3)]
            if rows != ["ok"]:
                return "; ".join(str(r) for r in rows)
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) < 1:
                return "not a Photosift catalog (no schema)"
            conn.execute("SELECT COUNT(*) FROM roots").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return str(e)
    return None


def folders_of_damaged_catalog(path: Path) -> list[str]:
    """The folders a damaged catalog still names (often readable: the roots table is small and early)."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(Path(path).absolute()))}?mode=ro&immutable=1", uri=True)
        try:
            return [str(r[0]) for r in conn.execute("SELECT path FROM roots ORDER BY path")]
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def connect_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that cannot write; in a folder it may not write either, the file is read as immutable
    (SQLite cannot create the WAL index there)."""
    uri = "file:" + quote(str(path.absolute())) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as e:
        conn.close()
        if "readonly" not in str(e) and "unable to open" not in str(e):
            raise
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=timeout_s, isolation_level=None,
                               check_same_thread=False)
    return conn


def _writable(path: Path) -> bool:
    """Whether this process may write the catalog and create its WAL files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _split_sql(script: str) -> list[str]:
    """Statements of a migration script; trigger bodies keep their inner semicolons."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:80]}")
    return statements
