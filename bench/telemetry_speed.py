"""Inference speed with ONNX Runtime's native telemetry off (the app, through engine.onnx_runtime) and on
(onnxruntime imported first, as before), side by side in one run.

    .venv/bin/python bench/telemetry_speed.py [--rounds 3] [--batches 6] [--workdir DIR]

Each round starts one fresh process per mode, alternating, so a busy machine weighs on both alike; each
process times the exported ViT-B-32 image tower (int8, random weights, batch 32) and the text tower
through the engine's ClipEncoder. The ratio off/on should be ~1.00: the switch only stops the uploads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import console, default_workdir, ensure_vitb32_folder, machine_line, make_table  # noqa: E402

CHILD = """
import json, sys, time
if sys.argv[1] == "on":
    import onnxruntime  # loaded before the gate: the native telemetry client starts as it did before
import numpy as np
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.modelfolder import ModelFolder
enc = ClipEncoder(ModelFolder.load(sys.argv[2]), RuntimeConfig(device="cpu", variant="int8"))
batches = int(sys.argv[3])
x = np.random.default_rng(0).standard_normal((32, 3, 224, 224)).astype(np.float32)
texts = ["a photo of a dog on the beach", "kids playing in the snow"] * 16
enc.encode_images(x); enc.encode_texts(texts)
t0 = time.perf_counter()
for _ in range(batches):
    enc.encode_images(x)
t1 = time.perf_counter()
for _ in range(batches):
    enc.encode_texts(texts)
t2 = time.perf_counter()
print(json.dumps({"images": 32 * batches / (t1 - t0), "texts": 32 * batches / (t2 - t1)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--workdir", type=Path, default=default_workdir())
    args = ap.parse_args()
    folder = ensure_vitb32_folder(args.workdir / "models")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            done = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder.path), str(args.batches)],
                                  env=env, capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} telemetry {mode}: {runs[mode][-1]}", flush=True)
    rows = []
    for what in ("images", "texts"):
        off = statistics.median(x[what] for x in runs["off"])
        on = statistics.median(x[what] for x in runs["on"])
        rows.append((f"ViT-B-32 int8 {what}/s (median of {args.rounds})", f"{on:.1f}", f"{off:.1f}", f"{off / on:.2f}"))
    console().print(make_table("Telemetry off vs on: inference speed", ["tower", "on (before)", "off (now)",
                                                                        "off / on"], rows,
                               caption=machine_line()))


if __name__ == "__main__":
    main()
