"""Run the app's long commands under strace and count the system calls that would reach a network.

Not a unit test (a few minutes: real photos, a window held open, a fine-tuning run); tests/test_no_network.py
keeps the quick part in the suite. Every command runs in a fresh HOME with the tiny test model, and each one
lasts past the 9 s after which ONNX Runtime's native telemetry used to resolve its Microsoft host.

    PYTHONPATH=. python scripts/no_network_check.py [--keep DIR]

Prints, per command: seconds it ran, sockets other than Unix-domain ones, connects/sends to an internet
address, and whether anything appeared under ~/.cache/Microsoft.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRACE_CALLS = "trace=socket,connect,sendto,sendmsg,sendmmsg"
WINDOW_S = 15


def network_lines(trace: Path) -> list[str]:
    return [line for line in trace.read_text(errors="replace").splitlines()
            if re.search(r"\bsocket\((?!AF_UNIX|AF_LOCAL)", line) or re.search(r"sin6?_addr|AF_INET", line)]


def traced(name: str, args: list[str], env: dict[str, str], work: Path, hold_s: float | None = None) -> dict:
    trace = work / f"{name}.trace"
    cmd = ["strace", "-f", "-qq", "-o", str(trace), "-e", STRACE_CALLS, sys.executable, *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=hold_s or 1800)
    except subprocess.TimeoutExpired:  # the window: held open, then closed
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    if hold_s is None and proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{err[-3000:]}")
    lines = network_lines(trace)
    return {"command": name, "seconds": round(took, 1), "network calls": len(lines),
            "first": lines[0][:100] if lines else "",
            "~/.cache/Microsoft": (Path(env["HOME"]) / ".cache" / "Microsoft").exists()}


def photos(out: Path) -> None:
    """Three folders (the labels for `train`) of six real photos each, tinted apart."""
    import numpy as np
    from PIL import Image
    from skimage import data

    samples = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.camera(), data.cat()]
    for k, (folder, tint) in enumerate((("red", (1.0, 0.6, 0.6)), ("green", (0.6, 1.0, 0.6)),
                                        ("blue", (0.6, 0.6, 1.0)))):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for i, a in enumerate(samples):
            a = a if a.ndim == 3 else np.stack([a] * 3, -1)
            img = (a[..., :3] * np.array(tint)).clip(0, 255).astype("uint8")
            Image.fromarray(img).save(out / folder / f"{folder}-{i}-{k}.jpg", quality=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("strace is not installed (apt-get install strace)")
    work = Path(args.keep or tempfile.mkdtemp(prefix="photosift-no-network-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        import torch

        from training.tiny import TINY_CFG, build_tiny_clip, export_tiny

        models = work / "models"
        export_tiny(models / "tiny")
        ckpt = work / "mine.pt"
        torch.save(build_tiny_clip(seed=1).state_dict(), ckpt)
        arch = work / "photosift-test-tiny-check.json"
        arch.write_text(json.dumps(TINY_CFG))
        photos(work / "photos")
        home = work / "home"
        home.mkdir(exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                   XDG_DATA_HOME=str(home / ".local" / "share"), PHOTOSIFT_MODELS=str(models),
                   PHOTOSIFT_LIBRARY=str(work / "library"), PHOTOSIFT_CACHE=str(work / "cache"),
                   QT_QPA_PLATFORM="offscreen")
        env.pop("ORT_DISABLE_TELEMETRY", None)
        cli = ["-m", "desktop_app"]
        rows = [
            traced("add", [*cli, "add", str(work / "photos")], env, work),
            traced("index", [*cli, "index", "--model", "tiny", "--faces"], env, work),
            traced("search", [*cli, "search", "a cat on a sofa", "--all"], env, work),
            traced("models import", [*cli, "models", "import", str(ckpt), "--arch", str(arch), "--id", "mine",
                                     "--device", "cpu"], env, work),
            traced("train", [*cli, "train", "--epochs", "1", "--device", "cpu", "--keep-worse", "--min-photos",
                             "4"], env, work),
            traced(f"window ({WINDOW_S} s, a search typed)", ["-c", WINDOW.format(s=WINDOW_S)], env, work,
                   hold_s=WINDOW_S + 60),
        ]
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'command':<36}{'seconds':>9}{'network calls':>15}{'~/.cache/Microsoft':>20}")
    for r in rows:
        microsoft = "written" if r["~/.cache/Microsoft"] else "none"
        print(f"{r['command']:<36}{r['seconds']:>9}{r['network calls']:>15}{microsoft:>20}")
        if r["first"]:
            print(f"    first: {r['first']}")
    return 1 if any(r["network calls"] for r in rows) else 0


# The window as a person opens it: the library's grid, then a text search (the ONNX text session), held open.
WINDOW = """
import sys, time
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QTimer
from desktop_app.cli import main
app = QApplication(sys.argv[:1])
def later():
    for w in app.topLevelWidgets():
        if hasattr(w, "search_box"):
            w.search_box.setText("a cat"); w.search_box.returnPressed.emit()
    QTimer.singleShot({s} * 1000, app.quit)
QTimer.singleShot(3000, later)
sys.exit(main([]))
"""


if __name__ == "__main__":
    sys.exit(main())
