"""`photosift models ...` and `photosift doctor` as a user runs them (in-process, isolated folders)."""

from __future__ import annotations

import functools
import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app.cli import main
from engine.library import Library

TINY_ARCH = "photosift-test-tiny-cli"


pytestmark = pytest.mark.usefixtures("own_models_dir")  # imports and removals stay in this test


@pytest.fixture
def tiny_files(tmp_path: Path) -> tuple[Path, Path]:
    from training.tiny import TINY_CFG, build_tiny_clip

    arch = tmp_path / f"{TINY_ARCH}.json"
    arch.write_text(json.dumps(TINY_CFG))
    ckpt = tmp_path / "tiny.pt"
    torch.save(build_tiny_clip(seed=2).state_dict(), ckpt)
    return ckpt, arch


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_list_json_shape(capsys, tmp_path):
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and rows
    for row in rows:
        assert {"id", "source", "installed", "active", "size", "licence", "description", "arch"} <= set(row)
    by_id = {r["id"]: r for r in rows}
    assert by_id["starter"]["active"] and not by_id["starter"]["installed"]
    assert {"vit-b-32-laion2b", "mcip-vit-l-14-336"} <= set(by_id)
    assert sum(r["active"] for r in rows) == 1
    assert not (tmp_path / "library").exists()  # listing models does not create a library
    code, out, _ = run(capsys, "models")
    assert code == 0 and "starter" in out and "vit-b-32-laion2b" in out


def test_import_use_remove_with_vectors(capsys, tiny_files, own_models_dir, tmp_path):
    ckpt, arch = tiny_files
    code, out, err = run(capsys, "models", "import", str(ckpt), "--arch", str(arch), "--id", "tiny-cli",
                         "--device", "cpu")
    assert code == 0, err
    assert "Installed 'tiny-cli'" in out and (own_models_dir / "tiny-cli" / "manifest.json").is_file()

    Library.open(tmp_path / "library").close()  # `models use` switches a library; only `add` starts one
    code, out, err = run(capsys, "models", "use", "tiny-cli")
    assert code == 0, err
    assert "Active model: tiny-cli" in out and "photosift index" in out
    library = tmp_path / "library"
    with Library.open(library) as lib:
        assert lib.active_model_id == "tiny-cli"
        root = lib.catalog.add_root(str(tmp_path / "photos"))
        pid = lib.catalog.insert_photo(root_id=root.id, path="a.jpg", raw_path=None, size=1, mtime=0.0,
                                       fingerprint=None)
        lib.catalog.embeddings.put("tiny-cli", [pid], np.ones((1, 32), np.float32))

    rows = {r["id"]: r for r in json.loads(run(capsys, "models", "list", "--json")[1])}
    assert rows["tiny-cli"]["active"] and rows["tiny-cli"]["installed"] and rows["tiny-cli"]["source"] == "import"

    code, _, err = run(capsys, "models", "remove", "tiny-cli")
    assert code == 1 and "active model" in err and (own_models_dir / "tiny-cli").is_dir()

    with Library.open(library) as lib:
        lib.set_active_model("starter")
    code, out, err = run(capsys, "models", "remove", "tiny-cli", "--delete-vectors")
    assert code == 0, err
    assert not (own_models_dir / "tiny-cli").exists() and "Deleted 1 vectors" in out
    with Library.open(library) as lib:
        assert lib.catalog.embeddings.models() == {}
    code, _, err = run(capsys, "models", "remove", "tiny-cli")
    assert code == 1 and "not installed" in err


def test_use_offline_is_one_line_naming_the_way_out(capsys, monkeypatch, tmp_path):
    from training import install
    from training.download import hub_download

    Library.open(tmp_path / "library").close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setattr(install, "hub_download", functools.partial(hub_download, endpoint=f"http://127.0.0.1:{port}"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # its ONNX export is tried first
    code, _, err = run(capsys, "models", "use", "vit-b-32-laion2b")
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "offline" in err and "models use starter" in err and "models import PATH --arch ARCH" in err


def test_unknown_model_and_bad_import(capsys, tmp_path):
    Library.open(tmp_path / "library").close()
    code, _, err = run(capsys, "models", "use", "no-such-model")
    assert code == 1 and "unknown model 'no-such-model'" in err
    code, _, err = run(capsys, "models", "import", str(tmp_path / "missing.pt"), "--arch", "ViT-B-32")
    assert code == 1 and "is not a file" in err


def test_doctor_json_and_text(capsys):
    code, out, _ = run(capsys, "doctor", "--json")
    report = json.loads(out)
    assert code == 0
    assert "CPUExecutionProvider" in report["runtime"]["onnxruntime"]["providers"]
    assert isinstance(report["runtime"]["onnxruntime"]["cuda_usable"], bool)
    assert report["runtime"]["python"].count(".") == 2 and "version" in report["runtime"]["torch"]
    assert report["models"]["installed"] == [] and report["library"]["active_model"] == "starter"
    code, out, _ = run(capsys, "doctor")
    assert code == 0 and "ONNX Runtime" in out and "active model: starter" in out
