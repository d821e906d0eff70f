"""`photosift train` refuses bad numbers while it reads its command line (before "Training on ..."), and
`--base NAME` means the model NAME even when a file or folder of that name is in the current folder."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from desktop_app.cli import main
from desktop_app.commands.train import _base_folder
from engine.jobs import ignore_progress


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--max-per-class", "-7", "must be from 0 to"), ("--max-photos", "-1", "must be from 0 to"),
    ("--epochs", "0", "must be from 1 to"), ("--epochs", "-3", "must be from 1 to"),
    ("--min-photos", "-2", "must be from 2 to"), ("--epochs", "two", "not a whole number")])
def test_bad_numbers_are_refused_before_anything_is_read(capsys, tmp_path, option, value, says):
    photos = tmp_path / "photos"
    photos.mkdir()
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", str(photos), option, value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}: {says}" in err
    assert "Training on" not in err and "Traceback" not in err


def _args(base: str) -> argparse.Namespace:
    return argparse.Namespace(base=base, library=Path("unused"))


@pytest.fixture
def base_model(tiny_model, own_models_dir) -> str:
    shutil.copytree(tiny_model.path, own_models_dir / "tiny-base", ignore=shutil.ignore_patterns("torch"))
    manifest = own_models_dir / "tiny-base" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "model_id": "tiny-base"}))
    return "tiny-base"


def test_a_model_id_wins_over_a_file_of_that_name_here(base_model, own_models_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / base_model).write_text("my notes")  # a file that happens to have the model's name
    folder = _base_folder(_args(base_model), ignore_progress)
    assert folder.model_id == base_model and folder.path == own_models_dir / base_model
    (tmp_path / base_model).unlink()
    shutil.copytree(own_models_dir / base_model, tmp_path / base_model)  # a model folder of that name: the id wins
    assert _base_folder(_args(base_model), ignore_progress).path == own_models_dir / base_model
    # written as a path, it is the folder
    assert _base_folder(_args(f"./{base_model}"), ignore_progress).path == (tmp_path / base_model).absolute()


def test_a_path_is_a_path_and_a_name_no_model_has_is_explained(base_model, tmp_path, monkeypatch, capsys):
    from engine.errors import PhotosiftError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.pt").write_text("not a model")
    with pytest.raises(PhotosiftError, match="not a model folder"):
        _base_folder(_args("notes.pt"), ignore_progress)
    shutil.copytree(Path(_base_folder(_args(base_model), ignore_progress).path), tmp_path / "exported")
    with pytest.raises(PhotosiftError, match=r"no model has this id; .* write --base \./exported"):
        _base_folder(_args("exported"), ignore_progress)
