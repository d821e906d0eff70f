"""The test suite cannot reach the real user's folders: not from a test, and not from a session- or
module-scoped fixture, which pytest runs before the per-test `isolated_dirs` (a module fixture that opened a
library once listed a pytest folder in the user's own list of libraries)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _where_photosift_writes() -> dict[str, Path]:
    import platformdirs

    from engine.paths import default_library_dir, download_cache_dir, known_libraries_file, models_dir

    return {"library": default_library_dir(), "models": models_dir(), "libraries.json": known_libraries_file(),
            "cache": download_cache_dir(), "home": Path.home(), "data": Path(platformdirs.user_data_dir("photosift")),
            "config": Path(platformdirs.user_config_dir("photosift")), "expanded ~": Path(os.path.expanduser("~"))}


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


@pytest.fixture(scope="module")
def seen_by_a_module_fixture() -> dict[str, Path]:
    return _where_photosift_writes()  # looked at only: nothing is opened before the test has checked


def _assert_isolated(seen: dict[str, Path], user_folders: dict[str, Path], test_folder: Path | None = None) -> None:
    """Every place is inside the session's folder (or pytest's temporary folder, where `isolated_dirs` puts
    each test's library and cache), none inside the user's own folders, and the home folder is not the user's."""
    ours = [user_folders["session"], *([test_folder] if test_folder else [])]
    real = [user_folders[k] for k in ("data", "cache", "config")]
    for name, path in seen.items():
        assert any(_inside(path, f) for f in ours), f"{name} is {path}, outside the session's folder"
        assert not any(_inside(path, r) for r in real), f"{name} is {path}, inside the user's own folders"
        assert os.path.abspath(path) != os.path.abspath(user_folders["home"]), f"{name} is the user's home"


def test_a_module_fixture_sees_the_sessions_folders_not_the_users(seen_by_a_module_fixture, user_folders):
    _assert_isolated(seen_by_a_module_fixture, user_folders)


def test_a_library_opened_before_isolated_dirs_is_listed_in_the_sessions_list(seen_by_a_module_fixture,
                                                                             user_folders, tmp_path):
    from engine.library import Library
    from engine.paths import known_libraries_file

    _assert_isolated(seen_by_a_module_fixture, user_folders)  # safe to open one now
    listing = seen_by_a_module_fixture["libraries.json"]  # the list a module fixture would have written to
    Library.open(tmp_path / "lib").close()
    assert str(tmp_path / "lib") in json.loads(known_libraries_file().read_text())["libraries"]
    if listing != known_libraries_file():  # the per-test list is another one, both inside the session's
        assert _inside(listing, user_folders["session"])
    real_list = user_folders["data"] / "models" / "libraries.json"
    if real_list.is_file():
        assert str(tmp_path) not in real_list.read_text()


def test_a_test_and_the_processes_it_starts_see_the_sessions_folders(user_folders, tmp_path_factory):
    tmp = tmp_path_factory.getbasetemp()  # isolated_dirs' library, cache and shared test models are in there
    _assert_isolated(_where_photosift_writes(), user_folders, tmp)
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from tests.test_isolation import "
            "_where_photosift_writes as w; print(json.dumps({k: str(v) for k, v in w().items()}))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True).stdout
    _assert_isolated({k: Path(v) for k, v in json.loads(out).items()}, user_folders, tmp)
