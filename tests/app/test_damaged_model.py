"""A damaged model is checked before anything switches to it, and a library whose active model is damaged
gets one clear line (with the way back) from every command that needs the model, never a traceback.

Real model folders (copies of the tiny test model) with real damage: a truncated ONNX file, a truncated
tokenizer vocabulary, a manifest that is no JSON object.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop_app.cli import main
from engine.library import Library
from tests.conftest import store_vectors, write_jpeg


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def install_copy(tiny_model, root: Path, model_id: str) -> Path:
    """The tiny model installed again under another id (its ONNX towers, tokenizer and manifest)."""
    folder = root / model_id
    shutil.copytree(tiny_model.path, folder, ignore=shutil.ignore_patterns("torch"))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "model_id": model_id}))
    return folder


def damage(folder: Path, name: str) -> Path:
    path = folder / name
    if name == "manifest.json":
        path.write_text("[1, 2]")  # valid JSON, but no manifest
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])  # cut short, as a full disk or an interrupted copy leaves it
    return path


@pytest.fixture
def library(tiny_model, own_models_dir) -> Path:
    """A library on the model `tiny` with vectors of it, a zero-shot tag and a user tag."""
    install_copy(tiny_model, own_models_dir, "tiny")
    folder = own_models_dir.parent / "library"
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((4, 32)).astype(np.float32)
    with Library.open(folder) as lib:
        ids = store_vectors(lib.catalog, "tiny", vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        lib.set_active_model("tiny")
        lib.catalog.tags.put_zeroshot("tiny", ids[0], [("beach", 0.3)])
        lib.catalog.tags.set_user(ids[1], "holiday")
    return folder


def _state(folder: Path) -> tuple[str, list]:
    with Library.open(folder) as lib:
        return lib.active_model_id, sorted(lib.catalog.conn.execute("SELECT photo_id, name, source FROM tags"))


@pytest.mark.parametrize("broken", ["visual.int8.onnx", "visual.onnx", "textual.int8.onnx",
                                    "bpe_simple_vocab_16e6.txt.gz", "manifest.json"])
def test_using_a_damaged_model_is_refused_and_changes_nothing(capsys, library, tiny_model, own_models_dir, broken):
    folder = install_copy(tiny_model, own_models_dir, "mine")
    if broken == "visual.onnx":  # an fp32-only model: the fp32 tower is the one used on this computer
        for extra in folder.glob("*.int8.onnx"):
            extra.unlink()
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps({**manifest, "variants": ["fp32"]}))
    path = damage(folder, broken)
    before = _state(library)

    code, out, err = run(capsys, "--library", str(library), "models", "use", "mine", "--device", "cpu")
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "Active model" not in out
    assert f"the model 'mine' is damaged: {path} cannot be used" in err
    assert "not switched: the library still uses 'tiny'" in err
    assert _state(library) == before  # the active model, its zero-shot tags and the user's tags


@pytest.mark.parametrize("broken", ["visual.int8.onnx", "textual.int8.onnx", "manifest.json"])
def test_every_command_on_a_damaged_active_model_gives_one_line_with_the_way_back(
        capsys, library, tiny_model, own_models_dir, tmp_path, broken):
    install_copy(tiny_model, own_models_dir, "mine")
    photos = tmp_path / "photos"
    write_jpeg(photos / "a.jpg")
    code, _, err = run(capsys, "--library", str(library), "add", str(photos))
    assert code == 0, err
    code, out, err = run(capsys, "--library", str(library), "models", "use", "mine", "--device", "cpu")
    assert code == 0 and "Active model: mine" in out, err
    damage(own_models_dir / "mine", broken)
    write_jpeg(photos / "b.jpg", color=(10, 200, 10))  # a new photo: `index` needs the image tower

    # indexing a new photo needs the image tower (the tag vocabulary's text vectors are cached), a text
    # search the text tower; every command needs the manifest
    commands = {"visual.int8.onnx": [["index"]], "textual.int8.onnx": [["search", "cat"]],
                "manifest.json": [["index"], ["search", "cat"], ["similar", str(photos / "a.jpg")]]}[broken]
    for command in commands:
        code, _, err = run(capsys, "--library", str(library), *command, "--device", "cpu")
        assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (command, err)
        assert f"the model 'mine' is damaged: {own_models_dir / 'mine' / broken} cannot be used" in err
        assert "go back with `photosift models use starter`" in err

    # and the way back works: another (undamaged) model is switched to as usual
    code, out, err = run(capsys, "--library", str(library), "models", "use", "tiny", "--device", "cpu")
    assert code == 0 and "Active model: tiny" in out, err
    code, out, err = run(capsys, "--library", str(library), "search", "cat", "--device", "cpu")
    assert code == 0, err
