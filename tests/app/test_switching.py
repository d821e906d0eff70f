"""Switching a library's model is one step, and a model in use is never removed from under a library.

`photosift models use`, `index --model` and `models remove` as a user runs them (in-process, isolated
folders), and the engine's switch step on its own.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop_app.cli import main
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.errors import Cancelled
from engine.jobs import CancelToken, Progress
from engine.library import Library
from engine.tagging import ZeroShotTagger, load_templates, load_vocabulary
from tests.conftest import store_vectors

N_PHOTOS = 40  # above tagging's SMALL_LIBRARY: tags come from per-tag statistics, as in a real library


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def second_model(models_root: Path, tiny_model):
    """A second installed model beside `tiny` (another seed): the "fine-tuned" one of these tests."""
    from training.tiny import export_tiny

    folder = export_tiny(models_root / "tiny-b", model_id="tiny-b", seed=5)
    yield folder
    shutil.rmtree(folder.path, ignore_errors=True)


def _tags(lib: Library, pid: int) -> dict[str, str]:
    return {name: source for name, source, _ in lib.catalog.tags.of_photo(pid)}


def _rejected(lib: Library, pid: int) -> set[str]:
    rows = lib.catalog.conn.execute("SELECT name FROM tags WHERE photo_id = ? AND source = 'rejected'", (pid,))
    return {r[0] for r in rows}


@pytest.fixture
def two_model_library(tiny_model, second_model) -> tuple[Path, list[int]]:
    """A library whose photos have vectors of both models, switched to tiny-b, with tiny-b's zero-shot tags
    ("pasta" on Saturn), a user tag and a rejection. Photos 0 and 2 have tiny's "beach" vector."""
    folder = Path(os.environ["PHOTOSIFT_LIBRARY"])
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu"))
    beach = ZeroShotTagger(encoder, load_vocabulary(), load_templates()).text[
        [e.name for e in load_vocabulary()].index("beach")]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((N_PHOTOS, 32)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    a[[0, 2]] = beach
    b = rng.standard_normal((N_PHOTOS, 32)).astype(np.float32)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    with Library.open(folder) as lib:
        cat = lib.catalog
        ids = store_vectors(cat, "tiny", a)
        cat.embeddings.put("tiny-b", ids, b)
        lib.set_active_model("tiny-b")
        cat.tags.put_zeroshot("tiny-b", ids[0], [("pasta", 0.31), ("food", 0.3)])
        cat.tags.put_zeroshot("tiny-b", ids[1], [("pasta", 0.29)])
        cat.tags.set_user(ids[0], "saturn")
        cat.tags.reject(ids[2], "beach")
    return folder, ids


def test_models_use_brings_the_models_zero_shot_tags_and_keeps_the_users(capsys, two_model_library):
    folder, ids = two_model_library
    code, out, err = run(capsys, "models", "use", "tiny")
    assert code == 0, err
    assert "Active model: tiny" in out and f"All {N_PHOTOS} photos already have vectors of tiny" in out
    assert "Zero-shot tags of tiny:" in out
    with Library.open(folder) as lib:
        assert lib.active_model_id == "tiny"
        assert "pasta" not in lib.catalog.tags.counts() and "food" not in lib.catalog.tags.counts()
        assert _tags(lib, ids[0]) == {**_tags(lib, ids[0]), "saturn": "user", "beach": "zeroshot"}
        assert "beach" not in _tags(lib, ids[2]) and _rejected(lib, ids[2]) == {"beach"}
        models = {r[0] for r in lib.catalog.conn.execute("SELECT model_id FROM tags WHERE source = 'zeroshot'")}
        assert models == {"tiny"} and {lib.catalog.photo(pid).tagged_model for pid in ids} == {"tiny"}
    code, out, _ = run(capsys, "tag", "--list", "--json")  # what the user sees
    names = {t["name"] for t in json.loads(out)}
    assert "pasta" not in names and {"beach", "saturn"} <= names


def test_index_with_an_unknown_model_changes_nothing(capsys, two_model_library, tmp_path):
    folder, ids = two_model_library
    with Library.open(folder) as lib:  # a real folder, so that index gets as far as loading the model
        lib.catalog.add_root(str(tmp_path))
    code, _, err = run(capsys, "index", "--model", "no-such-model")
    assert code == 1 and "unknown model 'no-such-model'" in err
    code, _, err = run(capsys, "models", "use", "no-such-model")
    assert code == 1 and "unknown model 'no-such-model'" in err
    with Library.open(folder) as lib:
        assert lib.active_model_id == "tiny-b"
        assert _tags(lib, ids[0]) == {"saturn": "user", "pasta": "zeroshot", "food": "zeroshot"}
        assert [r.path for r in lib.catalog.roots()] == ["/p", str(tmp_path)]


def test_index_with_another_model_switches_its_tags_too(capsys, two_model_library, tmp_path):
    folder, ids = two_model_library
    with Library.open(folder) as lib:
        lib.catalog.add_root(str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    code, _out, err = run(capsys, "index", "--model", "tiny", "--json")
    assert code == 0, err
    with Library.open(folder) as lib:
        assert lib.active_model_id == "tiny" and "pasta" not in lib.catalog.tags.counts()
        assert _tags(lib, ids[0]).get("beach") == "zeroshot"


def test_a_cancelled_switch_changes_nothing(two_model_library, tiny_model, monkeypatch):
    from engine import switching

    folder, ids = two_model_library
    monkeypatch.setattr(switching, "CHUNK", 8)  # several chunks: cancel after the first has been written
    token = CancelToken()
    reports: list[Progress] = []

    def progress(p: Progress) -> None:
        reports.append(p)
        if p.done:
            token.cancel()

    with Library.open(folder) as lib:
        encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu"))
        with pytest.raises(Cancelled):
            switching.switch_active_model(lib, encoder, progress=progress, cancel=token)
        assert reports[-1].done == 8 and reports[-1].total == N_PHOTOS
        assert lib.active_model_id == "tiny-b"
        assert _tags(lib, ids[0]) == {"saturn": "user", "pasta": "zeroshot", "food": "zeroshot"}
        assert _tags(lib, ids[1]) == {"pasta": "zeroshot"}


def test_switching_to_a_model_without_vectors_drops_the_old_tags(two_model_library, tiny_model):
    from engine.switching import switch_active_model

    folder, ids = two_model_library
    with Library.open(folder) as lib:
        lib.catalog.embeddings.delete("tiny")
        lib.catalog.record_error(ids[-1], "not an image")  # unreadable: nothing to compute for it
        report = switch_active_model(lib, ClipEncoder(tiny_model, RuntimeConfig(device="cpu")))
        assert (report.previous, report.model_id, report.with_vectors, report.tags_written) == ("tiny-b", "tiny", 0, 0)
        assert (report.to_index, report.total) == (N_PHOTOS - 1, N_PHOTOS)
        assert lib.catalog.tags.counts() == {"saturn": 1}  # indexing tags the photos as it computes their vectors
        assert {lib.catalog.photo(pid).tagged_model for pid in ids} == {None}


# -- never strand a library -----------------------------------------------------------------------
@pytest.fixture
def own_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("PHOTOSIFT_MODELS", str(root))
    return root


def _fake_installed(root: Path, model_id: str) -> Path:
    folder = root / model_id
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    return folder


def test_opened_libraries_are_known_and_gone_ones_dropped(own_models, tmp_path):
    from engine.known_libraries import known_libraries
    from engine.paths import known_libraries_file

    for name in ("one", "two"):
        Library.open(tmp_path / name).close()
    Library.open(tmp_path / "one").close()  # opened again: listed once
    assert known_libraries() == [tmp_path / "one", tmp_path / "two"]
    assert known_libraries_file().parent == own_models
    shutil.rmtree(tmp_path / "two")
    assert known_libraries() == [tmp_path / "one"]
    assert json.loads(known_libraries_file().read_text())["libraries"] == [str(tmp_path / "one")]


def test_remove_refuses_a_model_active_in_another_library(capsys, own_models, tmp_path):
    folder = _fake_installed(own_models, "tiny-x")
    with Library.open(tmp_path / "holiday") as lib:  # another library, opened once by the window
        lib.set_active_model("tiny-x")
    code, _, err = run(capsys, "models", "remove", "tiny-x")  # from the default library, which uses starter
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "'tiny-x' is the active model of 1 library" in err and str(tmp_path / "holiday") in err
    assert "--force" in err and folder.is_dir()

    code, out, err = run(capsys, "models", "remove", "tiny-x", "--force")
    assert code == 0 and "Removed model 'tiny-x'" in out and not folder.exists()
    assert str(tmp_path / "holiday") in err


def test_remove_is_allowed_once_the_library_using_it_is_gone(capsys, own_models, tmp_path):
    folder = _fake_installed(own_models, "tiny-x")
    with Library.open(tmp_path / "old") as lib:
        lib.set_active_model("tiny-x")
    shutil.rmtree(tmp_path / "old")
    code, _out, err = run(capsys, "models", "remove", "tiny-x")
    assert code == 0, err
    assert not folder.exists()


def test_the_starter_is_removed_only_when_no_library_uses_it(capsys, own_models, tmp_path):
    starter = _fake_installed(own_models, "starter")
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib:
        lib.set_active_model("tiny-x")
    Library.open(tmp_path / "new").close()  # never chose a model: it searches with the starter
    code, _, err = run(capsys, "models", "remove", "starter")
    assert code == 1 and str(tmp_path / "new") in err and starter.is_dir()
    with Library.open(tmp_path / "new") as lib:
        lib.set_active_model("tiny-x")
    code, _out, err = run(capsys, "models", "remove", "starter")
    assert code == 0 and not starter.exists(), err


def test_a_download_cancelled_halfway_leaves_the_library_as_it_was(two_model_library, monkeypatch):
    """Install first, then switch: the library is not touched while the model downloads."""
    from desktop_app.models_runtime import use_model
    from training import install

    folder, ids = two_model_library
    token = CancelToken()
    seen: list[Progress] = []

    def slow_hub(repo_id, files, *, progress, cancel, **kw):
        for done in range(0, 100, 10):
            cancel.check()
            progress(Progress("download", done, 100))
        raise AssertionError("the download was not cancelled")

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.stage == "download" and p.done >= 30:
            token.cancel()

    monkeypatch.setattr(install, "hub_download", slow_hub)
    with pytest.raises(Cancelled):
        use_model(folder, "mobileclip2-s0", progress, token, device="cpu")  # torch weights: it has no ONNX export
    assert [p.done for p in seen if p.stage == "download"] == [0, 10, 20, 30]
    with Library.open(folder) as lib:
        assert lib.active_model_id == "tiny-b"
        assert _tags(lib, ids[0]) == {"saturn": "user", "pasta": "zeroshot", "food": "zeroshot"}


def test_a_switch_refused_because_the_library_is_busy_changes_nothing(capsys, two_model_library):
    """Another process is indexing: the switch waits --wait seconds, then is refused, and nothing changed."""
    import subprocess
    import sys

    folder, ids = two_model_library
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys, time; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); "
         "print('held', flush=True); time.sleep(60)", str(folder / "write.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run(capsys, "models", "use", "tiny", "--wait", "0")
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and "being updated by another Photosift process" in err
    with Library.open(folder) as lib:
        assert lib.active_model_id == "tiny-b"
        assert _tags(lib, ids[0]) == {"saturn": "user", "pasta": "zeroshot", "food": "zeroshot"}


def test_asking_which_libraries_use_a_model_changes_none_of_them(capsys, own_models, tmp_path):
    """`models remove` reads every known library's active model; an older library (here one schema version
    behind, as another Photosift install on the same disk may keep it) is read, not upgraded or backed up."""
    import sqlite3

    from engine.catalog import SCHEMA_VERSION
    from engine.paths import LibraryPaths

    folder = _fake_installed(own_models, "tiny-x")
    old = tmp_path / "old"
    with Library.open(old) as lib:
        lib.set_active_model("tiny-x")
    catalog = LibraryPaths(old).catalog
    conn = sqlite3.connect(catalog)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.execute("PRAGMA journal_mode=DELETE")  # one file, so its bytes can be compared
    conn.close()
    before = catalog.read_bytes()
    backups = sorted(p.name for p in old.rglob("*") if "backup" in str(p))

    code, _, err = run(capsys, "models", "remove", "tiny-x")
    assert code == 1 and str(old) in err and "could not be read" not in err and folder.is_dir()
    assert catalog.read_bytes() == before
    assert sorted(p.name for p in old.rglob("*") if "backup" in str(p)) == backups
