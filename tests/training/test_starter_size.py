"""The starter's size is one measured number: what the first-run screen says it will take before it is built
is what Settings shows once it is installed (it said 110 MB, then 236 MB)."""

from __future__ import annotations

import shutil

from training.download import folder_bytes
from training.model_facts import model_facts
from training.registry import builtin_entries


def test_the_starters_size_before_it_is_built_is_its_size_once_installed(starter_build, own_models_dir):
    folder, _ = starter_build
    before = next(f for f in model_facts() if f.id == "starter")
    assert not before.installed and before.size_bytes == builtin_entries()["starter"].size_bytes
    shutil.copytree(folder.path, own_models_dir / "starter")  # installed, as the first run leaves it
    after = next(f for f in model_facts() if f.id == "starter")
    assert after.installed and after.size_bytes == folder_bytes(own_models_dir / "starter")
    # the same number as people read it: "... (236 MB on disk)" and "installed, 236 MB on disk"
    shown = before.size_text().rsplit("(", 1)[1].removesuffix(" on disk)")
    assert shown == after.size_text().removeprefix("installed, ").removesuffix(" on disk"), (before, after)
