"""Indexing throughput: JPEG files on disk to vectors in a catalog, rclip-style baseline vs Photosift.

What is compared, all in one run on the same photos and the same ViT-B-32 (open_clip, random weights, seed 0):

  (a) baseline, the way rclip-style tools index: one process, PIL full decode
      (`Image.open(p).convert("RGB")`), open_clip's eval transform, torch eager `model.encode_image` in batches
      of 32 with torch using every core, vectors written to a SQLite table;
  (b) Photosift fp32: the same weights exported with training.export.export_model_folder, then
      engine.update.update_library on a fresh library whose root is the photo folder (scan, decode in worker
      processes with JPEG draft decoding, thumbnails, ONNX Runtime inference, commit, vector-index refresh);
  (c) Photosift int8: the same with the dynamically quantised towers.

Photos are synthetic 12-megapixel (4000x3000) JPEGs with real texture: scikit-image sample photos, cropped,
upscaled, modulated by a tiled natural texture (grass, gravel, brick), a lighting gradient and sensor-like noise,
saved at quality 92 with EXIF (about 3 MB each, like a phone photo). They are generated once and cached in the
work folder, as is the exported model; the libraries are rebuilt for every timed run. ONNX session creation and
torch model creation are outside the timed sections; everything from the files to the committed vectors is in.

After the headline runs (engine defaults), a sweep over decode workers (IndexSettings.workers) and ONNX Runtime
threads (RuntimeConfig.threads) shows which setting is fastest on this machine. A last table times each stage on
its own (decode, torch, ONNX fp32/int8 at 1 and all threads; wall and process CPU ms per photo) and derives the
best any pipeline could do here, so a missed target can be told apart from a pipeline inefficiency. Each run also
reports how many cores other processes kept busy meanwhile ("busy elsewhere"), and waits for quiet first.

Run from the repository root:

    python bench/index_throughput.py                      # 200 photos, default work folder in /tmp
    python bench/index_throughput.py --count 400 --workdir /data/psbench --repeat 2
    python bench/index_throughput.py --no-sweep           # headline table only
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    ForeignLoad,
    build_vitb32,
    console,
    default_workdir,
    ensure_vitb32_folder,
    link_or_copy,
    machine_line,
    make_table,
    wait_until_idle,
)
from PIL import Image

from engine.encoder import ClipEncoder, RuntimeConfig
from engine.indexer import IndexSettings
from engine.jobs import Progress
from engine.library import Library
from engine.modelfolder import ModelFolder
from engine.update import update_library

WIDTH, HEIGHT = 4000, 3000
JPEG_QUALITY = 92
TARGETS = {"fp32": 3.5, "int8": 5.5}  # photos/s as a multiple of the baseline


# -- test photos ---------------------------------------------------------------------------------
def _sources() -> tuple[list[np.ndarray], list[np.ndarray]]:
    import skimage.data as data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.stereo_motorcycle()[0],
              data.hubble_deep_field(), data.retina(), data.immunohistochemistry(), data.colorwheel()]
    textures = [data.grass(), data.gravel(), data.brick()]
    return photos, textures


def make_photo(index: int) -> Image.Image:
    """One textured 4000x3000 RGB photo, deterministic per index."""
    photos, textures = _sources()
    rng = np.random.default_rng(1000 + index)
    base = photos[index % len(photos)]
    h, w = base.shape[:2]
    ch = int(h * rng.uniform(0.6, 1.0))
    cw = min(w, int(ch * 4 / 3))
    ch = min(ch, int(cw * 3 / 4))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = Image.fromarray(base[y:y + ch, x:x + cw])
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(img.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float32)
    tex = textures[int(rng.integers(len(textures)))].astype(np.float32)
    tex = (tex - tex.mean()) / tex.std()
    side = int(tex.shape[0] * rng.uniform(1.0, 3.0))
    tile = np.asarray(Image.fromarray(tex).resize((side, side), Image.Resampling.BILINEAR))
    tile = np.tile(tile, (HEIGHT // side + 1, WIDTH // side + 1))[:HEIGHT, :WIDTH]
    gy = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.3), HEIGHT, dtype=np.float32)[:, None]
    gx = np.linspace(rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), WIDTH, dtype=np.float32)[None, :]
    pixels *= ((1.0 + 0.12 * tile) * gy * gx)[..., None]
    pixels += rng.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32) * 3.0
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _write_photo(index: int, dest: str) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Bench"  # Make
    exif[0x0110] = "Bench Cam 12"  # Model
    exif[0x0132] = f"2024:05:{1 + index % 28:02d} 12:{index % 60:02d}:00"  # DateTime
    tmp = f"{dest}.tmp"
    make_photo(index).save(tmp, "JPEG", quality=JPEG_QUALITY, exif=exif)
    os.replace(tmp, dest)


def ensure_photos(workdir: Path, count: int) -> tuple[Path, list[Path]]:
    """A folder holding exactly `count` photos (hard links into the shared cache of generated ones)."""
    cache = workdir / "jpeg-cache"
    cache.mkdir(parents=True, exist_ok=True)
    names = [f"photo_{i:05d}.jpg" for i in range(count)]
    missing = [i for i, n in enumerate(names) if not (cache / n).is_file()]
    if missing:
        t0 = time.perf_counter()
        print(f"generating {len(missing)} photos of {WIDTH}x{HEIGHT} in {cache} ...", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(_write_photo, missing, [str(cache / names[i]) for i in missing]))
        print(f"generated in {time.perf_counter() - t0:.0f} s", flush=True)
    root = workdir / f"photos-{count}"
    if root.is_dir() and sorted(p.name for p in root.iterdir()) != names:
        shutil.rmtree(root)
    if not root.is_dir():
        tmp = workdir / f".photos-{count}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for n in names:
            link_or_copy(cache / n, tmp / n)
        tmp.rename(root)
    return root, [root / n for n in names]


# -- runs ----------------------------------------------------------------------------------------
_RUN_NUMBER = itertools.count(1)
@dataclass
class RunResult:
    name: str
    photos: int
    seconds: float
    split: dict[str, float] = field(default_factory=dict)
    workers: int | None = None
    threads: int | None = None
    foreign: float = 0.0  # cores kept busy by other processes during the run
    library: Path | None = None  # the library folder the run indexed into (kept until the bench ends)

    @property
    def rate(self) -> float:
        return self.photos / self.seconds


def run_baseline(paths: list[Path], model: Any, preprocess: Any, batch_size: int, db_path: Path) -> RunResult:
    """rclip-style: full decode + open_clip transform + torch eager, one process, vectors into SQLite."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    db_path.unlink(missing_ok=True)
    conn = sqlite3.connect(str(db_path))
    conn.execute("CREATE TABLE vectors (path TEXT PRIMARY KEY, vector BLOB NOT NULL)")
    decode = encode = write = 0.0
    t_start = time.perf_counter()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        t0 = time.perf_counter()
        tensors = []
        for p in chunk:
            with Image.open(p) as im:
                tensors.append(preprocess(im.convert("RGB")))
        batch = torch.stack(tensors)
        t1 = time.perf_counter()
        with torch.no_grad():
            vecs = model.encode_image(batch)
            vecs = (vecs / vecs.norm(dim=-1, keepdim=True)).numpy().astype(np.float32)
        t2 = time.perf_counter()
        with conn:
            conn.executemany("INSERT OR REPLACE INTO vectors(path, vector) VALUES (?, ?)",
                             [(str(p), v.tobytes()) for p, v in zip(chunk, vecs, strict=True)])
        t3 = time.perf_counter()
        decode, encode, write = decode + t1 - t0, encode + t2 - t1, write + t3 - t2
    total = time.perf_counter() - t_start
    stored = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    conn.close()
    assert stored == len(paths), f"baseline stored {stored} of {len(paths)} vectors"
    return RunResult("baseline (rclip-style)", len(paths), total,
                     {"decode": decode, "encode": encode, "commit": write})


def run_photosift(root: Path, folder: ModelFolder, variant: str, run_dir: Path, *, workers: int = 0,
                  threads: int = 0, batch_size: int = 32) -> RunResult:
    """update_library on a fresh library, timed end to end (session creation excluded).

    Each run gets a library folder of its own, kept until the bench ends: the decode pool's fork server,
    started once per process, keeps its socket in the temp folder of the first library that started it, and
    deleting that library made every later run fail ("No such file or directory" connecting to it)."""
    run_dir = run_dir.with_name(f"{run_dir.name}-{next(_RUN_NUMBER)}")
    shutil.rmtree(run_dir, ignore_errors=True)
    lib = Library.open(run_dir)
    try:
        lib.catalog.add_root(str(root))
        encoder = ClipEncoder(folder, RuntimeConfig(device="cpu", variant=variant, threads=threads))
        assert encoder.variant == variant, f"asked for {variant}, the encoder chose {encoder.variant}"
        _ = encoder.visual  # create the ONNX session outside the timed section
        scan_end: list[float] = []

        def on_progress(p: Progress) -> None:
            if p.stage == "index" and not scan_end:
                scan_end.append(time.perf_counter() - p.elapsed_s)

        t0 = time.perf_counter()
        report = update_library(lib, encoder, do_tag=False, progress=on_progress,
                                settings=IndexSettings(batch_size=batch_size, workers=workers))
        total = time.perf_counter() - t0
        idx = report.index
        n = len(list(root.iterdir()))
        assert idx.indexed == n and idx.failed == 0, f"indexed {idx.indexed}, failed {idx.failed}: {idx.failures[:3]}"
        assert lib.catalog.embeddings.models().get(folder.model_id) == n
        scan = (scan_end[0] - t0) if scan_end else 0.0
        split = {"scan": scan, "decode": idx.seconds_decode_wait, "encode": idx.seconds_encode,
                 "commit": idx.seconds_commit}
        split["other"] = max(0.0, total - sum(split.values()))
        return RunResult(f"Photosift {variant}", n, total, split, workers, threads, library=run_dir)
    finally:
        lib.close()


def best_of(runs: list[RunResult]) -> RunResult:
    return max(runs, key=lambda r: r.rate)


@dataclass
class Part:
    name: str
    wall_ms: float  # per photo
    cpu_ms: float  # per photo, all threads of this process


def _per_photo(fn: Callable[[], object], n: int) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - w0) * 1000 / n, (time.process_time() - c0) * 1000 / n


def measure_parts(paths: list[Path], model: Any, preprocess: Any, folder: ModelFolder,
                  tmp: Path) -> dict[str, Part]:
    """Cost of each stage on its own, per photo: what bounds the pipelines on this machine."""
    import torch

    from engine.indexer import DecodeTask, decode_for_index
    from engine.preprocess import normalize

    cfg = folder.preprocess
    n = len(paths)
    parts: dict[str, Part] = {}

    def full_decode() -> None:
        for p in paths:
            with Image.open(p) as im:
                preprocess(im.convert("RGB"))

    parts["decode-baseline"] = Part("baseline decode: PIL full decode + open_clip transform",
                                    *_per_photo(full_decode, n))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    decoded = []

    def draft_decode() -> None:
        decoded.extend(decode_for_index(DecodeTask(i, str(p), f"{i:032x}"), cfg, str(tmp)) for i, p in enumerate(paths))

    parts["decode-photosift"] = Part("Photosift decode: draft decode + thumbnail + resize",
                                     *_per_photo(draft_decode, n))
    x = normalize(np.stack([d.pixels for d in decoded]), cfg)
    torch.set_num_threads(os.cpu_count() or 1)
    with torch.no_grad():
        model.encode_image(torch.from_numpy(x[:2]))
        parts["torch"] = Part(f"torch eager encode_image ({torch.get_num_threads()} threads)",
                              *_per_photo(lambda: model.encode_image(torch.from_numpy(x)), n))
    for variant in ("fp32", "int8"):
        for threads in sorted({1, os.cpu_count() or 1}):
            enc = ClipEncoder(folder, RuntimeConfig(device="cpu", variant=variant, threads=threads))
            enc.encode_images(x[:2])
            label = f"ONNX Runtime {variant} ({threads} thread{'s' if threads > 1 else ''})"
            parts[f"{variant}-{threads}"] = Part(label, *_per_photo(lambda enc=enc: enc.encode_images(x), n))
    return parts


# -- output --------------------------------------------------------------------------------------
def _split_cells(r: RunResult) -> list[str]:
    return [f"{r.split[k]:.1f}" if k in r.split else "-" for k in ("scan", "decode", "encode", "commit", "other")]


def _setting(value: int | None, default_means: str, one_means: str = "") -> str:
    if value is None:
        return "-"
    if value == 0:
        return f"0 (={default_means})"
    return f"1 ({one_means})" if value == 1 and one_means else str(value)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200, help="number of 12 MP photos (default 200)")
    ap.add_argument("--workdir", type=Path, default=default_workdir(),
                    help="cache of photos, exported model and run folders (default %(default)s)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is kept")
    ap.add_argument("--workers", default="1,2,3", help="decode worker counts to sweep (IndexSettings.workers)")
    ap.add_argument("--threads", default="1,2", help="ONNX Runtime thread counts to sweep (RuntimeConfig.threads)")
    ap.add_argument("--no-sweep", action="store_true", help="only the headline runs with engine defaults")
    ap.add_argument("--idle-wait", type=float, default=300.0,
                    help="before each run, wait up to this many seconds for other processes to go quiet")
    args = ap.parse_args(argv)
    out = console()
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    # the libraries opened here are listed in the models folder's libraries.json: the bench's, not the user's
    os.environ["PHOTOSIFT_MODELS"] = str(workdir / "models")
    out.print(f"[bold]Photosift indexing throughput[/] - {args.count} photos of {WIDTH}x{HEIGHT}; {machine_line()}")

    root, paths = ensure_photos(workdir, args.count)
    mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    model, preprocess = build_vitb32()
    folder = ensure_vitb32_folder(workdir / "models", model)
    runs_dir = workdir / "runs"
    shutil.rmtree(runs_dir, ignore_errors=True)  # the libraries of an earlier bench run
    runs_dir.mkdir(exist_ok=True)
    for p in paths:  # every run reads the files from the page cache
        p.read_bytes()

    def measured(fn: Any, *a: Any, **kw: Any) -> RunResult:
        wait_until_idle(args.idle_wait)
        with ForeignLoad() as load:
            result: RunResult = fn(*a, **kw)
        result.foreign = load.cores
        return result

    def repeat(fn: Any, *a: Any, **kw: Any) -> RunResult:
        return best_of([measured(fn, *a, **kw) for _ in range(max(1, args.repeat))])

    out.print("running baseline ...")
    base = repeat(run_baseline, paths, model, preprocess, args.batch_size, runs_dir / "baseline.db")
    headline = [base]
    for variant in ("fp32", "int8"):
        out.print(f"running Photosift {variant} (engine defaults) ...")
        headline.append(repeat(run_photosift, root, folder, variant, runs_dir / f"lib-{variant}",
                               batch_size=args.batch_size))

    sweep: list[RunResult] = []
    if not args.no_sweep:
        for variant in ("fp32", "int8"):
            for w in (int(x) for x in args.workers.split(",")):
                for t in (int(x) for x in args.threads.split(",")):
                    out.print(f"sweep: {variant} workers={w} threads={t} ...")
                    sweep.append(repeat(run_photosift, root, folder, variant, runs_dir / f"lib-{variant}",
                                        workers=w, threads=t, batch_size=args.batch_size))
    out.print("measuring each stage on its own ...")
    wait_until_idle(args.idle_wait)
    with ForeignLoad() as parts_load:
        parts = measure_parts(paths[:args.batch_size], model, preprocess, folder, runs_dir / "parts-thumbs")
    del model

    cores = os.cpu_count() or 1
    rows = []
    for r in headline:
        target = ""
        if r is not base:
            need = TARGETS[r.name.split()[-1]]
            target = f">= {need:.1f}x {'ok' if r.rate >= need * base.rate else 'MISSED'}"
        rows.append([r.name, f"{r.rate:.1f}", f"{r.rate / base.rate:.2f}x", target, f"{r.seconds:.1f}",
                     *_split_cells(r), f"{r.foreign:.2f}"])
    out.print()
    out.print(make_table(
        f"End-to-end indexing, {args.count} JPEGs {WIDTH}x{HEIGHT} (avg {mb:.1f} MB), batch {args.batch_size}",
        ["run", "photos/s", "vs baseline", "target", "total s", "scan s", "decode s", "model s", "write s",
         "other s", "busy elsewhere"], rows))
    out.print("baseline: decode = PIL full decode + open_clip transform, serial with the model; write = SQLite "
              "inserts.\nPhotosift (engine defaults, workers 0, threads 0): decode = time the main process waited "
              "for the decode workers,\n  which decode + write thumbnails in parallel with the model; model = ONNX "
              "inference incl. input normalisation;\n  write = catalog commits; other = vector index refresh, "
              "decode pool start/stop.\nbusy elsewhere = CPU cores that other processes used during the run "
              "(0 = a clean measurement).\n")
    if sweep:
        rows = []
        for variant in ("fp32", "int8"):
            mine = [r for r in sweep if r.name.endswith(variant)]
            default = next(r for r in headline if r.name.endswith(variant))
            top = best_of([*mine, default])
            for r in [default, *mine]:
                rows.append([variant, _setting(r.workers, str(cores)), _setting(r.threads, "ort"),
                             f"{r.rate:.1f}", f"{r.rate / base.rate:.2f}x", f"{r.rate / default.rate:.2f}x",
                             *_split_cells(r)[1:4], f"{r.foreign:.2f}", "best" if r is top else ""])
        out.print(make_table(
            "Sweep: decode workers (IndexSettings.workers) x ONNX Runtime threads (RuntimeConfig.threads)",
            ["variant", "workers", "threads", "photos/s", "vs baseline", "vs default", "decode s", "model s",
             "write s", "busy elsewhere", ""], rows))
        out.print("workers 0 = one decode process per core; 1 = a single decode process "
                  "overlapping inference; threads 0 = onnxruntime's choice (one per physical core).\n")

    rows = [[p.name, f"{p.wall_ms:.1f}", f"{p.cpu_ms:.1f}"] for p in parts.values()]
    out.print(make_table(f"Cost per photo of each stage alone ({len(paths[:args.batch_size])} photos, batch "
                         f"{args.batch_size}; busy elsewhere {parts_load.cores:.2f})",
                         ["stage", "wall ms/photo", "CPU ms/photo"], rows))
    bound_base = 1000 / (parts["decode-baseline"].wall_ms + parts["torch"].wall_ms)
    lines = [f"  baseline (serial, decode wall + model wall): {bound_base:.1f} photos/s"]
    for variant in ("fp32", "int8"):
        model_cpu = min(p.cpu_ms for k, p in parts.items() if k.startswith(variant))
        bound = cores * 1000 / (parts["decode-photosift"].cpu_ms + model_cpu)
        lines.append(f"  Photosift {variant} ({cores} cores / (decode CPU + model CPU), perfect overlap): "
                     f"{bound:.1f} photos/s = {bound / base.rate:.2f}x the measured baseline "
                     f"(target {TARGETS[variant]:.1f}x)")
    out.print("CPU ms = process CPU time (all threads) per photo, i.e. what the stage costs the machine.\n"
              "Upper bounds from these costs, no overhead at all:\n" + "\n".join(lines) + "\n")
    out.print(f"[dim]photos in {root}; model folder {folder.path}; best of {args.repeat} run(s) per "
              f"configuration[/]")


if __name__ == "__main__":
    main()
