"""The sidebar's trees are rebuilt on every recount and searched for the item the filters chose; that pair
must never crash the process. A PySide6 QTreeWidgetItemIterator left behind by the search made the next
clear() crash (a segmentation fault in ~QTreeWidgetItem that failed CI), so it runs in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("PySide6")

SCRIPT = textwrap.dedent("""
    import random
    from PySide6.QtCore import QModelIndex
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from desktop_app.gui.panels import tree_item
    from desktop_app.gui.places import PlaceRole, PlacesTree
    tree = PlacesTree()
    tree.show()
    rows = [("Portugal", "Lisbon", "Lisbon", 3), ("Portugal", "Lisbon", "Sintra", 1), ("France", "IDF", "Paris", 2)]
    rng = random.Random(0)
    found = 0
    for i in range(1500):
        chosen = rng.choice([None, "Portugal", "Portugal > Lisbon > Sintra", "France > IDF > Paris"])
        tree.show_counts(rng.choice([rows, [], rows[:1]]), chosen)
        item = tree_item(tree, lambda it: chosen is not None and it.data(0, PlaceRole) == chosen)
        if item is not None:
            found += 1
            tree.setCurrentItem(item)
        else:
            tree.setCurrentIndex(QModelIndex())
        if i % 7 == 0:
            app.processEvents()
    print("found", found)
""")


def test_rebuilding_a_tree_after_looking_an_item_up_does_not_crash():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 300  # the lookups found the chosen places, not only None
