"""The packaged app (scripts/build_app.sh): `photosift --version`, the start-up hook its bench times the window
with, the build's runtime requirements, and, when dist/Photosift/ has been built, the built app itself run
headless on real photos (bench/packaged_app.py's steps)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from bench.packaged_app import DEFAULT_APP, SHOWN, app_env, headless_steps, print_table
from desktop_app.cli import main

REPO = Path(__file__).resolve().parents[2]


def runtime_requirements() -> list[str]:
    spec = importlib.util.spec_from_file_location("app_requirements", REPO / "packaging" / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.runtime_requirements()


def test_version_prints_the_installed_version_and_exits(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr()
    assert out.out == f"photosift {version('photosift')}\n" and out.err == ""
    with pytest.raises(SystemExit):  # beside a global option too, and never the window
        main(["--library", "/nonexistent", "--version"])
    assert capsys.readouterr().out.startswith("photosift ")


def test_the_window_reports_its_first_paint_and_quits(tmp_path):
    env = app_env(tmp_path)
    Path(env["HOME"]).mkdir()
    env.update(PYTHONPATH=str(REPO), PHOTOSIFT_QUIT_AFTER_SHOWN="0.2")
    launched = time.time()
    r = subprocess.run([sys.executable, "-m", "desktop_app"], env=env, capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    shown = [float(line[len(SHOWN):]) for line in r.stdout.splitlines() if line.startswith(SHOWN)]
    assert len(shown) == 1 and launched < shown[0] < time.time()


def test_the_build_installs_the_cpu_onnxruntime_and_no_training_side():
    reqs = runtime_requirements()
    names = [r.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs]
    assert "onnxruntime" in names and "onnxruntime-gpu" not in names
    assert not [r for r in reqs if r.startswith("onnxruntime") and ";" in r]  # on every platform, no marker
    assert not {"torch", "torchvision", "open-clip-torch", "onnx", "timm", "transformers"} & set(names)
    assert "pyside6-essentials" in names and "usearch" in names


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_APP.is_file(), reason="dist/Photosift not built (scripts/build_app.sh)")
def test_the_built_app_indexes_and_searches_real_photos_headless(tmp_path, tiny_model, photo_dir):
    shutil.copytree(tiny_model.path, tmp_path / "models" / "tiny")
    steps = headless_steps(DEFAULT_APP, photo_dir, tmp_path, "tiny", window_seconds=2.0)
    print_table(steps)
    assert all(s.ok for s in steps), [s for s in steps if not s.ok]
    assert os.access(DEFAULT_APP, os.X_OK)
    for name in ("photosift.desktop", "photosift.png"):
        assert (DEFAULT_APP.parent / name).is_file()
