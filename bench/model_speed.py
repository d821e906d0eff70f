"""Images/s and texts/s of each model tower: torch eager vs ONNX Runtime fp32 vs int8, in one run.

    .venv/bin/python bench/model_speed.py [--models starter,vitb32] [--batch 32] [--batches 4] [--workdir DIR]

Both runtimes get the same preprocessed batch (224 px, random pixels; speed does not depend on content)
and the same captions; torch runs eagerly under no_grad with all cores, ONNX Runtime through the engine's
ClipEncoder (the path the app uses, tokenizer included for text). ViT-B-32 has random weights (speed is
what is measured); the starter model is the real offline one. Also prints the int8-to-fp32 cosine.
With CUDA present (torch and onnxruntime-gpu), adds torch CUDA (fp16 autocast) vs ONNX fp16 rows.
Target on 2 cores: ViT-B-32 int8 image tower >= 4.5x torch eager.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import console, default_workdir, ensure_vitb32_folder, machine_line, make_table  # noqa: E402

CAPTIONS = ["a photo of a dog on the beach", "kids playing in the snow", "a red car parked in a city street",
            "birthday cake with candles", "mountains at sunset", "a cat sleeping on a sofa",
            "people dancing at a wedding", "a bowl of noodles"] * 4


def rate(fn, n_items: int, batches: int) -> float:
    fn()  # warm-up (graph optimisation, allocations)
    t0 = time.perf_counter()
    for _ in range(batches):
        fn()
    return n_items * batches / (time.perf_counter() - t0)


def load_models(names: list[str], workdir: Path):
    """(name, torch model, torch tokenizer, model folder) for each requested model."""
    import open_clip

    os.environ.setdefault("PHOTOSIFT_MODELS", str(workdir / "models"))
    out = []
    for name in names:
        if name == "vitb32":
            from bench._common import build_vitb32

            model, _ = build_vitb32()
            folder = ensure_vitb32_folder(workdir / "models", model)
            out.append(("ViT-B-32", model, open_clip.get_tokenizer("ViT-B-32"), folder))
        elif name == "starter":
            from desktop_app.models_runtime import resolve_model
            from training.torchfolder import load_torch_model

            folder = resolve_model("starter")
            model = load_torch_model(folder.path)
            from engine.tokenizer import load_tokenizer

            tok = load_tokenizer(folder.path, folder.manifest.tokenizer)
            out.append(("starter", model.eval(), tok, folder))
        else:
            raise SystemExit(f"unknown model {name}")
    return out


def measure(name: str, model, tokenizer, folder, batch: int, batches: int) -> list[tuple[str, ...]]:
    import torch

    from engine.encoder import ClipEncoder, RuntimeConfig, cuda_usable

    rows = []
    size = folder.preprocess.image_size
    pixels = np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32)
    texts = CAPTIONS[:batch]
    x = torch.from_numpy(pixels)
    enc = {v: ClipEncoder(folder, RuntimeConfig(device="cpu", variant=v)) for v in ("fp32", "int8")}
    with torch.no_grad():
        t_img = rate(lambda: model.encode_image(x), batch, batches)
        t_txt = rate(lambda: model.encode_text(torch.as_tensor(np.asarray(tokenizer(texts)))), batch, batches)
    o_img = {v: rate(lambda e=e: e.encode_images(pixels), batch, batches) for v, e in enc.items()}
    o_txt = {v: rate(lambda e=e: e.encode_texts(texts), batch, batches) for v, e in enc.items()}
    cos_img = float((enc["fp32"].encode_images(pixels) * enc["int8"].encode_images(pixels)).sum(1).min())
    cos_txt = float((enc["fp32"].encode_texts(texts) * enc["int8"].encode_texts(texts)).sum(1).min())
    has_int8 = folder.has_variant("int8")
    for tower, t, o, cos in (("image", t_img, o_img, cos_img), ("text", t_txt, o_txt, cos_txt)):
        int8 = (f"{o['int8']:.1f}", f"{o['int8'] / t:.2f}x", f"{cos:.4f}") if has_int8 else ("no int8", "", "")
        rows.append((f"{name} {tower}", f"{t:.1f}", f"{o['fp32']:.1f}", f"{o['fp32'] / t:.2f}x", *int8))
    if torch.cuda.is_available() and cuda_usable() and folder.has_variant("fp16"):
        gpu = model.cuda()
        xg = x.cuda()
        e16 = ClipEncoder(folder, RuntimeConfig(device="cuda", variant="fp16"))

        def torch_cuda() -> None:
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
                gpu.encode_image(xg)
            torch.cuda.synchronize()

        t = rate(torch_cuda, batch, batches * 8)
        o = rate(lambda: e16.encode_images(pixels), batch, batches * 8)
        rows.append((f"{name} image CUDA", f"{t:.1f}", "", "", f"fp16 {o:.1f}", f"{o / t:.2f}x", ""))
        model.cpu()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="starter,vitb32")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--workdir", type=Path, default=default_workdir())
    args = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for name, model, tokenizer, folder in load_models(args.models.split(","), args.workdir):
        rows += measure(name, model, tokenizer, folder, args.batch, args.batches)
    console().print(make_table(
        f"Model speed, batch {args.batch} ({machine_line()})",
        ["tower", "torch eager /s", "ONNX fp32 /s", "fp32 vs torch", "ONNX int8 /s", "int8 vs torch",
         "int8 cos to fp32 (min)"], rows,
        caption="Target: ViT-B-32 image int8 >= 4.5x torch eager on 2 cores."))


if __name__ == "__main__":
    main()
