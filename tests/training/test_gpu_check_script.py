"""The prepared GPU fine-tuning check must keep working, so a lent GPU's minutes are not lost to a broken script."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # 8 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_gpu_finetune_check_runs_end_to_end_on_a_cpu_with_a_tiny_model(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_finetune_check.py"), "--arch", "tiny", "--device", "cpu",
         "--photos", "48", "--classes", "6", "--epochs", "1", "--batch-size", "16", "--image-size", "64",
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training steps (all stages)" in done.stdout
    assert (tmp_path / "work" / "models").is_dir()
    installed = [p.name for p in (tmp_path / "work" / "models").iterdir() if "-ft-" in p.name]
    assert installed and installed[0] in done.stdout.replace("\n", "")
