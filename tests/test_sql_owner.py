"""One owner of SQL (docs/architecture.md, issue #15): only the engine/catalog/ package (and the migrations in
engine/catalog_schema.py) may talk SQL. Everything else asks the catalog, so that a filter, a grid row or a
count has one meaning and one place to change."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "desktop_app", "training")  # what ships; bench/ and scripts/ build synthetic data
OWNER_PACKAGE = "engine/catalog/"  # every part of the catalog package
OWNERS = {"engine/catalog_schema.py"}
SQL_CALLS = {"execute", "executemany", "executescript"}
# Upper-case keywords as SQL is written here; prose ("select a photo from the grid") is not matched.
SQL_TEXT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\bPRAGMA\s+\w+|\bBEGIN\s+IMMEDIATE\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def sql_in(source: str, name: str = "<source>") -> list[str]:
    """Where `source` speaks SQL itself: database calls and SQL statements in strings (f-strings too)."""
    tree = ast.parse(source, name)
    skip = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"{name}:{node.lineno}: .{node.func.attr}(...) call")
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if SQL_TEXT.search(text):
                found.append(f"{name}:{node.lineno}: SQL in an f-string: {text[:60]!r}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and SQL_TEXT.search(node.value)
        ):
            found.append(f"{name}:{node.lineno}: SQL in a string: {node.value[:60]!r}")
    return found


def test_only_the_catalog_speaks_sql():
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel not in OWNERS and not rel.startswith(OWNER_PACKAGE):
                found += sql_in(path.read_text(encoding="utf-8"), rel)
    assert not found, "raw SQL outside engine/catalog/; add a catalog method instead:\n" + "\n".join(found)


def test_the_check_catches_what_main_had_before_issue_15():
    """Lines as they were in main_window.py, grid.py, panels.py, search.py, traindata.py and scanner.py."""
    before = """
def read(catalog, sql, params, where, order):
    top = catalog.conn.execute("SELECT MAX(id) FROM photos").fetchone()[0] or 0
    rows = self.conn.execute(
        "SELECT id, path, raw_path, fingerprint, status, root_id, missing_since FROM photos "
        f"WHERE id IN ({marks})", part)
    clauses.append("id IN (SELECT photo_id FROM tags WHERE name = ? AND source != 'rejected')")
    return f"SELECT id FROM photos {where} ORDER BY {order}", params
"""
    found = sql_in(before)
    assert len([f for f in found if "call" in f]) == 2
    assert any("MAX(id)" in f for f in found) and any("f-string" in f and "ORDER BY" in f for f in found)
    assert any("SELECT photo_id FROM tags" in f for f in found)
    assert sql_in('catalog.conn.execute("BEGIN IMMEDIATE")\n')  # a transaction by hand, as scanner.py had
    assert sql_in('rows = [r[0] for r in conn.execute("PRAGMA quick_check")]\n')


def test_prose_and_docstrings_are_not_sql():
    source = '"""Pick a photo: SELECT one FROM the grid."""\nmessage = "select a photo from the grid"\n'
    assert sql_in(source) == []
