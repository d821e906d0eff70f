"""Photosift without its training extra: `pip install photosift` browses, indexes and searches on ONNX Runtime
alone, and whatever needs torch (fine-tuning, importing a checkpoint, building the starter model) says in one
line which extra is missing and the command that adds it.

The fast tests hide one package of the training extra from desktop_app.extras (the same check the runtime
makes); the slow one installs the project into a fresh virtual environment, without extras, and uses it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop_app.cli import main
from engine.library import Library
from tests.conftest import gps_exif, write_jpeg

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "open_clip", "timm", "transformers", "onnx", "onnxscript", "triton", "nvidia",
         "safetensors", "scipy")


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process behaves as a runtime-only install: one package of the training extra is not there."""
    import desktop_app.extras as extras

    monkeypatch.setattr(extras, "TRAINING_MODULES", ("torch", "photosift_no_such_training_module"))


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_and_import_say_which_extra_is_missing(capsys, no_training, tmp_path, photo_dir):
    assert main(["add", str(photo_dir)]) == 0
    capsys.readouterr()
    assert main(["train"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "fine-tuning" in line and "photosift_no_such_training_module" in line
    assert "pip install -e" in line and "[train]" in line  # this checkout's own environment
    ckpt = tmp_path / "x.pt"
    ckpt.write_bytes(b"not read: the check comes first")
    assert main(["models", "import", str(ckpt), "--arch", "ViT-B-32"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "importing a checkpoint" in line and "pip install -e" in line and "[train]" in line


def test_index_without_a_model_names_the_starters_needs(capsys, no_training, photo_dir, own_models_dir):
    assert main(["add", str(photo_dir)]) == 0
    capsys.readouterr()
    assert main(["index"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "starter model" in line and "training extra" in line and "[train]" in line
    assert not own_models_dir.exists() or not any(own_models_dir.glob("starter*"))  # nothing half built
    # a registry model prepared from torch weights is refused before anything is downloaded
    assert main(["models", "use", "mobileclip2-s0"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "mobileclip2-s0" in line and "[train]" in line
    assert not (own_models_dir / "mobileclip2-s0").exists()


def test_a_model_published_as_onnx_is_fetched_without_the_training_extra(capsys, no_training, photo_dir,
                                                                           own_models_dir, monkeypatch):
    """vit-b-32-laion2b has a published ONNX export: a runtime-only install downloads it (here: offline)."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # closed: nothing here may reach for a download
    assert main(["add", str(photo_dir)]) == 0
    capsys.readouterr()
    assert main(["models", "use", "vit-b-32-laion2b"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "cannot reach" in line and "[train]" not in line
    assert not (own_models_dir / "vit-b-32-laion2b").exists()


def test_install_command_for_a_source_checkout_and_an_installed_package(monkeypatch, tmp_path):
    import desktop_app.extras as extras

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "prefix", str(REPO / ".venv"))
    assert extras.install_command() == '.venv/bin/pip install -e ".[train]"'
    monkeypatch.chdir(tmp_path)
    assert extras.install_command().endswith('.venv/bin/pip install -e ".[train]"')
    assert extras.install_command().startswith(f'cd "{REPO}" && ')
    installed = tmp_path / "site-packages" / "desktop_app"  # no pyproject.toml above it: a pip install
    installed.mkdir(parents=True)
    monkeypatch.setattr(extras, "__file__", str(installed / "extras.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    assert extras.install_command().endswith('pip install "photosift[train]"')


def test_window_train_and_import_show_what_is_missing(qtbot, window, no_training, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from desktop_app.gui import training_dialog
    from desktop_app.gui.dialogs import SettingsDialog

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text, *a, **k: shown.append(text))
    monkeypatch.setattr(training_dialog.TrainingDialog, "exec", lambda self: pytest.fail("training dialog opened"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: pytest.fail("file dialog opened"))
    window.open_training()
    assert len(shown) == 1 and shown[0].startswith("Fine-tuning needs") and "[train]" in shown[0]
    dialog = SettingsDialog(window.settings, "tiny", window, runner=window.runner)
    qtbot.addWidget(dialog)
    dialog.models.import_button.click()
    assert len(shown) == 2 and shown[1].startswith("Importing a checkpoint needs") and "[train]" in shown[1]
    assert dialog.models.import_job is None


# -- a real runtime-only environment ----------------------------------------------------------------------
WINDOW_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox
    from desktop_app.gui.dialogs import SettingsDialog
    from desktop_app.gui.main_window import MainWindow

    app = QApplication([])
    shown = []
    QMessageBox.information = staticmethod(lambda _parent, _title, text, *a, **k: shown.append(text))
    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    window = MainWindow(Path(os.environ["PHOTOSIFT_LIBRARY"]), settings)
    window.show()
    found, dialogs = [], []

    def then(n):  # the first search's results are in: the Train button, then Settings' import, then quit
        if found:
            return
        found.append(n)
        window.open_training()
        dialogs.append(SettingsDialog(window.settings, window.lib.active_model_id, window, runner=window.runner))
        dialogs[0].models.import_button.click()
        QTimer.singleShot(2000, app.quit)  # the window stays up a couple of seconds

    window.search_finished.connect(then)
    QTimer.singleShot(0, lambda: window.search("rocket"))
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    window.close()
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
    print(json.dumps({"found": found, "shown": shown, "heavy": heavy}))
""")


def _runtime_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PHOTOSIFT_LIBRARY=str(tmp_path / "library"), PHOTOSIFT_MODELS=str(tmp_path / "models"),
               PHOTOSIFT_CACHE=str(tmp_path / "cache"), QT_QPA_PLATFORM="offscreen",
               HF_ENDPOINT="http://127.0.0.1:9")  # nothing here may reach for a download
    return env


@pytest.mark.slow
def test_a_fresh_runtime_only_install_indexes_and_searches_without_torch(tmp_path, tiny_model, photo_dir):
    # the project's sources as a release would have them (nothing written into the checkout by the build)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("engine", "training", "desktop_app", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    env = _runtime_env(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    py, photosift = venv / "bin" / "python", venv / "bin" / "photosift"
    pip = subprocess.run([py, "-m", "pip", "install", "--progress-bar", "off", str(src)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=1500)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([photosift, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == code, (args, r.stdout[-2000:], r.stderr[-2000:])
        assert "Traceback" not in r.stderr, (args, r.stderr)
        return r

    probe = subprocess.run([py, "-c", "import importlib.util as u, sys; "
                            "print(','.join(m for m in sys.argv[1:] if u.find_spec(m)))", *HEAVY],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == ""  # no torch, open_clip, onnx, triton or CUDA libraries installed
    no_torch = subprocess.run([py, "-c", "import torch"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr

    # without a model: the offline starter needs the training extra, said in one line, nothing half built
    run("add", str(photo_dir))
    line = _one_line(run("index", code=1).stderr)
    assert "starter model" in line and 'pip install "photosift[train]"' in line, line
    assert not (tmp_path / "models" / "starter").exists()

    shutil.copytree(tiny_model.path, tmp_path / "models" / "tiny")
    trip = tmp_path / "trip"  # places are named from the data shipped in the package, by its k-d tree
    write_jpeg(trip / "tram.jpg", (200, 180, 20), exif=gps_exif(38.7139, -9.1334))
    run("add", str(trip))
    report = json.loads(run("index", "--model", "tiny", "--json").stdout)
    assert report["model"] == "tiny" and report["indexed"] >= 11 and report["places_named"] == 1
    in_lisbon = json.loads(run("search", "place:Lisbon", "--json").stdout)
    assert [h["place"]["country"] for h in in_lisbon] == ["Portugal"]
    assert json.loads(run("search", "place:Lisboa", "--json").stdout) == in_lisbon  # other names ship too
    hits = json.loads(run("search", "a rocket", "--json", "--limit", "3").stdout)
    assert 1 <= len(hits) <= 3
    rocket = str(photo_dir / "space" / "rocket.jpg")
    similar = json.loads(run("similar", rocket, "--json", "--limit", "2", "--all").stdout)
    assert len(similar) == 2 and rocket not in [h["path"] for h in similar]
    for args in (["status"], ["tag", "--list"], ["duplicates"], ["models", "list"], ["people"], ["doctor"]):
        run(*args)

    ckpt = tmp_path / "x.pt"
    ckpt.write_bytes(b"\0" * 64)
    for args, what in ((["train"], "fine-tuning"),
                       (["models", "import", str(ckpt), "--arch", "ViT-B-32"], "importing a checkpoint"),
                       (["models", "use", "mobileclip2-s0"], "mobileclip2-s0")):  # no ONNX export published
        line = _one_line(run(*args, code=1).stderr)
        assert what in line and "training extra" in line and 'pip install "photosift[train]"' in line, line
    with Library.open(tmp_path / "library") as lib:
        assert lib.active_model_id == "tiny"

    script = tmp_path / "window.py"
    script.write_text(WINDOW_SCRIPT)
    r = subprocess.run([py, script, str(tmp_path / "settings.ini"), ",".join(HEAVY)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == [] and seen["found"] and seen["found"][0] >= 1, seen
    assert len(seen["shown"]) == 2 and all("[train]" in text for text in seen["shown"]), seen

    mb = int(subprocess.run(["du", "-sm", venv], capture_output=True, text=True, check=True).stdout.split()[0])
    print(f"\nruntime-only environment: {mb} MB ({venv})")
    if sys.platform == "linux" and platform.machine() == "x86_64":  # the budget of the README's figure
        assert mb <= 900, f"the runtime-only environment grew to {mb} MB (budget 900 MB)"


def test_the_faces_hint_fits_where_photosift_runs(monkeypatch):
    from desktop_app.extras import faces_hint

    assert "[faces]" in faces_hint() and "packaged" not in faces_hint()
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # the packaged app: no pip of its own to add it
    assert "packaged app does not include" in faces_hint() and "pip install" in faces_hint()
