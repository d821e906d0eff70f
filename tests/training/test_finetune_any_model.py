"""Fine-tuning any installed model, not only the starter: an imported checkpoint of a real open_clip
architecture (random weights) through the CLI, a registry model installed by a download, `--base` as a
folder path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from desktop_app.cli import main
from engine.library import Library
from engine.modelfolder import ModelFolder
from engine.paths import default_library_dir
from training.torchfolder import WEIGHTS_FILE, read_spec

REAL_ARCH = "ViT-S-32-alt"  # a registered open_clip architecture small enough for a CPU (43 M parameters)
COLOURS = {"red": 0, "green": 1, "blue": 2}


pytestmark = pytest.mark.usefixtures("own_models_dir")  # imports and removals stay in this test


def _photos(root: Path, per_class: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for name, channel in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            a[..., channel] += np.uint8(150)
            Image.fromarray(a).save(root / name / f"{name}{i}.jpg")
    return root


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
@pytest.mark.parametrize("labels", ["folders", "albums"])
def test_import_index_train_use_search_with_a_real_architecture(tmp_path, capsys, own_models_dir, labels):
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(REAL_ARCH, pretrained_image=False, pretrained_text=False)
    ckpt = tmp_path / "vits32.pt"
    torch.save(model.state_dict(), ckpt)

    code, out, err = _run(capsys, "models", "import", str(ckpt), "--arch", REAL_ARCH, "--id", "vits", "--device", "cpu")
    assert code == 0, err
    assert (own_models_dir / "vits" / "torch" / WEIGHTS_FILE).is_file()
    photos = _photos(tmp_path / "photos")
    assert _run(capsys, "add", str(photos))[0] == 0
    code, _, err = _run(capsys, "index", "--model", "vits", "--no-tags", "--device", "cpu")
    assert code == 0, err

    if labels == "albums":  # the person's own albums as the classes, made as a user makes them
        for colour in COLOURS:
            assert _run(capsys, "albums", "new", f"All {colour}")[0] == 0
            code, _, err = _run(capsys, "albums", "add", f"All {colour}", *map(str, (photos / colour).iterdir()))
            assert code == 0, err
    # the default method (MCIP: pseudo-captions through this architecture's own text tower), as a user runs it
    code, out, err = _run(capsys, "train", "--labels", labels, "--epochs", "1", "--device", "cpu", "--json",
                          "--keep-worse")
    assert code == 0, err
    result = json.loads(out)
    assert result["base"] == "vits" and result["method"] == "mcip"
    assert result["data"]["source"] == f"library:{labels}" and result["data"]["classes"] == 3
    new = result["model"]
    assert read_spec(own_models_dir / new).arch == REAL_ARCH  # and it can be fine-tuned again

    code, out, err = _run(capsys, "models", "use", new, "--device", "cpu")
    assert code == 0, err
    code, out, err = _run(capsys, "search", "a red square", "--all", "--limit", "3", "--json", "--device", "cpu")
    assert code == 0, err
    assert len(json.loads(out)) == 3
    with Library.open(default_library_dir()) as lib:
        assert lib.active_model_id == new
        assert lib.catalog.embeddings.models() == {"vits": 15, new: 15}

    code, _, err = _run(capsys, "models", "use", "vits", "--device", "cpu")  # rollback: both models' vectors kept
    assert code == 0, err
    code, out, err = _run(capsys, "search", "a red square", "--all", "--limit", "3", "--json", "--device", "cpu")
    assert code == 0 and len(json.loads(out)) == 3, err
    with Library.open(default_library_dir()) as lib:
        assert lib.active_model_id == "vits"
        assert lib.catalog.embeddings.models() == {"vits": 15, new: 15}


@pytest.mark.slow
def test_base_may_be_a_model_folder_path_or_an_id(tmp_path, capsys, own_models_dir):
    from training.tiny import export_tiny

    base = export_tiny(own_models_dir / "tiny-base", model_id="tiny-base")
    photos = _photos(tmp_path / "photos", per_class=4)
    common = ("--dataset", str(photos), "--min-photos", "2", "--method", "stage1", "--epochs", "1",
              "--device", "cpu", "--json")
    for base_arg in (str(base.path), "tiny-base"):
        code, out, err = _run(capsys, "train", "--base", base_arg, *common)
        assert code == 0, err
        assert json.loads(out)["base"] == "tiny-base"
    code, _, err = _run(capsys, "train", "--base", str(tmp_path / "photos"), *common)
    assert code == 1 and "not a model folder" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_downloaded_registry_model_can_be_fine_tuned(tmp_path, monkeypatch, own_models_dir):
    """The local-server download path (as in test_download.py) installs a model that trains like any other."""
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import open_clip

    from training import install, registry
    from training.datasets import FolderDataset
    from training.finetune import train
    from training.tiny import TINY_CFG, build_tiny_clip
    from training.traindata import from_dataset

    arch = tmp_path / "photosift-test-tiny-dl.json"
    arch.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(arch)
    served = tmp_path / "served"
    served.mkdir()
    torch.save(build_tiny_clip(seed=7).state_dict(), served / "weights.pth")
    data = (served / "weights.pth").read_bytes()

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        reg = {"models": [{"id": "dl-tiny", "kind": "url", "arch": arch.stem,
                           "weights": {"url": f"http://127.0.0.1:{srv.server_port}/weights.pth"},
                           "licence": "MIT", "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "description": "a tiny model behind a local server"}]}
        (tmp_path / "models.json").write_text(json.dumps(reg))
        monkeypatch.setattr(registry, "REGISTRY_FILE", tmp_path / "models.json")
        monkeypatch.setenv("PHOTOSIFT_CACHE", str(tmp_path / "cache"))
        folder = install.ensure_model("dl-tiny", device="cpu")
    finally:
        srv.shutdown()
    photos = from_dataset(FolderDataset(_photos(tmp_path / "photos", per_class=4), level=1), min_per_class=2)
    result = train("dl-tiny", photos, method="stage1", epochs=1, device="cpu")
    assert isinstance(result.folder, ModelFolder) and result.folder.manifest.info["base_model"] == folder.model_id
    assert read_spec(result.folder).arch == arch.stem
