"""Fine-tuning at real size on a GPU: the CUDA path, mixed precision, memory and the export, in one run.

Random weights are fine (this checks the machinery and its speed, not quality). The script builds an
open_clip architecture with random weights, installs it as a model folder (ONNX export + torch weights),
writes a synthetic labelled photo folder, fine-tunes it with `training.finetune.train` (the code behind
`photosift train`) and prints one table: device, steps, images/s, peak GPU memory, stage times, the export
of the new model and its variants. Everything lives in a temporary work folder.

    python bench/gpu_finetune_check.py                          # ViT-B-32, mcip+realign, on CUDA
    python bench/gpu_finetune_check.py --arch ViT-L-14 --photos 4000 --epochs 3
    python bench/gpu_finetune_check.py --arch tiny --device cpu --photos 60 --epochs 1   # smoke run, any machine
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import console, machine_line, make_table
from PIL import Image

from engine.jobs import Progress


def write_photos(root: Path, photos: int, classes: int, size: int, seed: int) -> None:
    """Per class a colour and a stripe frequency, per photo noise and a random offset: separable, not trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for c in range(classes):
        folder = root / f"class_{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = rng.uniform(40, 215, 3)
        freq, angle = rng.uniform(2, 12), rng.uniform(0, np.pi)
        for i in range(photos // classes):
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
            img = colour[None, None, :] + 40 * wave[..., None] + rng.normal(0, 25, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)


def build_model(arch: str) -> tuple[Any, dict[str, Any]]:
    import open_clip
    import torch

    if arch == "tiny":
        from training.tiny import TINY_CFG, build_tiny_clip

        return build_tiny_clip(0), dict(TINY_CFG)
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise SystemExit(f"unknown open_clip architecture {arch!r}")
    torch.manual_seed(0)
    return open_clip.create_model(arch, pretrained=None).eval(), cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="ViT-B-32", help="open_clip architecture, or 'tiny'")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu", "auto"))
    ap.add_argument("--method", default="mcip+realign")
    ap.add_argument("--photos", type=int, default=6000)
    ap.add_argument("--classes", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=5)  # ~375 steps over both stages at batch 128
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--image-size", type=int, default=256, help="side of the synthetic JPEGs")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed after")
    args = ap.parse_args(argv)
    out = console()

    import torch

    from engine.modelfolder import ModelFolder
    from training.datasets import FolderDataset
    from training.export import ExportSettings, export_model_folder
    from training.finetune import train
    from training.settings import TrainSettings
    from training.torchfolder import save_torch_model
    from training.traindata import from_dataset

    work = args.workdir or Path(tempfile.mkdtemp(prefix="photosift-gpucheck-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        write_photos(work / "photos", args.photos, args.classes, args.image_size, seed=0)
        t_data = time.perf_counter() - t0

        t0 = time.perf_counter()
        model, cfg = build_model(args.arch)
        base_dir = work / "models" / "gpucheck-base"
        folder = export_model_folder(model, base_dir, model_id="gpucheck-base",
                                     model_name="" if args.arch == "tiny" else args.arch,
                                     settings=ExportSettings(variants=("fp32",)), info={"kind": "random"})
        save_torch_model(model, folder.path / "torch", cfg, folder.preprocess)
        folder = ModelFolder.load(base_dir)
        t_base = time.perf_counter() - t0

        data = from_dataset(FolderDataset(work / "photos", level=1, name="synthetic"))
        events: list[tuple[float, Progress]] = []
        start = time.perf_counter()
        settings = TrainSettings(method=args.method, epochs=args.epochs, realign_epochs=args.epochs,
                                 batch_size=args.batch_size, device=args.device)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        result = train(folder, data, settings=settings, models_root=work / "models",
                       progress=lambda p: events.append((time.perf_counter() - start, p)))
        total = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
        device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != "cpu" else "cpu"

        train_events = [(t, p) for t, p in events if p.stage == "train"]
        steps = sum(s.steps for s in result.stages)
        train_s = sum(s.seconds for s in result.stages)
        export_s = total - (train_events[-1][0] if train_events else 0.0)
        s = dataclasses.asdict(result.stages[0]) if result.stages else {}
        rows = [
            ["device", device_name],
            ["architecture / method", f"{args.arch} / {result.method}"],
            ["photos (train + val) / classes",
             f"{data.summary()['train_photos']} + {data.summary()['val_photos']} / {data.summary()['classes']}"],
            ["mixed precision", f"{result.settings.get('amp')}" + (" (CUDA only)" if device_name == "cpu" else "")],
            ["synthetic photos written", f"{t_data:.1f} s"],
            ["base model built, exported, installed", f"{t_base:.1f} s"],
            ["training steps (all stages)", str(steps)],
            ["training time (all stages)", f"{train_s:.1f} s"],
            ["stage 1 images/s (batch x steps / time)",
             f"{settings.batch_size * s.get('steps', 0) / max(s.get('seconds', 1e-9), 1e-9):.1f}"],
            ["per stage: steps, seconds", "; ".join(f"{r.stage} {r.steps}, {r.seconds:.1f} s" for r in result.stages)],
            ["peak GPU memory (torch allocated)", f"{peak:.2f} GiB"],
            ["val mAP before -> after", f"{result.before.get('i2i_map', float('nan')):.3f} -> "
                                         f"{result.after.get('i2i_map', float('nan')):.3f}"],
            ["export of the new model (and install)", f"{export_s:.1f} s"],
            ["new model folder / variants", f"{result.folder.model_id if result.folder else '-'} / "
             + (", ".join(v for v in ("fp32", "int8", "fp16") if result.folder and result.folder.has_variant(v))
                or "-")],
        ]
        out.print(make_table(f"Fine-tuning check ({machine_line()})", ["", "value"], rows))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
