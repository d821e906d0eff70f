"""The duplicates review's writes (engine/duplicates_review.py): one function per action, shared by
`photosift duplicates` and the window's Duplicates view, which opens no transaction of its own."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from engine.duplicates_review import CHOSEN_BY_YOU, choose_keeper, keep_all, trash_and_forget
from engine.errors import LibraryBusyError
from engine.library import Library
from engine.trash import plan
from tests.app.test_duplicates_cli import indexed, trash_home  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]


def test_keeper_choice_and_keep_all_are_written(indexed):  # noqa: F811
    _root, library = indexed
    with Library.open(library) as lib:
        group = lib.catalog.duplicates.groups()[0]
        other = next(pid for pid, _ in group.members if pid != group.keep_id)
        choose_keeper(lib.catalog, group.id, other)
    with Library.open(library) as lib:  # committed: another connection sees it
        chosen = lib.catalog.duplicates.groups()[0]
        assert (chosen.keep_id, chosen.reason, chosen.keep_chosen) == (other, CHOSEN_BY_YOU, True)
        keep_all(lib.catalog, group.id)
    with Library.open(library) as lib:
        assert lib.catalog.duplicates.groups(include_reviewed=False) == []
        assert lib.catalog.duplicates.groups(include_reviewed=True)[0].reviewed


def test_trash_and_forget_waits_for_the_write_lock(indexed, trash_home):  # noqa: F811
    root, library = indexed
    with Library.open(library) as lib:
        items = plan(lib.catalog, lib.catalog.duplicates.groups())
        assert len(items) == 2
        with Library.open(library) as other, other.write_lock(), pytest.raises(LibraryBusyError):
            trash_and_forget(lib, items)  # an index is running: nothing moves under it
        assert len(list(root.iterdir())) == 6 and lib.catalog.counts()["total"] == 6
        result = trash_and_forget(lib, items)
        assert len(result.moved) == 2 and lib.catalog.counts()["total"] == 4
    assert len(list(root.iterdir())) == 4


def test_the_window_and_the_cli_open_no_transaction_or_write_lock_for_the_review():
    """Their writes go through engine.duplicates_review: `transaction()` and `write_lock()` are not called there."""
    offenders = []
    for path in (REPO / "desktop_app" / "gui" / "duplicates_view.py",
                 REPO / "desktop_app" / "commands" / "duplicates.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transaction":
                offenders.append(f"{os.path.relpath(path, REPO)}:{node.lineno} transaction()")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "write_lock"
                    and path.name == "duplicates_view.py"):
                offenders.append(f"{os.path.relpath(path, REPO)}:{node.lineno} write_lock()")
    assert offenders == []
