"""Text in photos: what reading the text costs next to indexing (a benchmark, not a test; ~3 min on 2 CPUs).

(1) Indexing without text: engine.update.update_library (text off, tags off) on --count 12 MP JPEGs, the photos
    of bench/index_throughput.py (real scikit-image photos upscaled to 4000x3000 with texture and sensor-like
    noise, ~3 MB each, cached in its work folder), each run on a fresh library and timed end to end (scan,
    decode, thumbnails, model, commit, vector index, duplicates), with two models: the offline starter
    (~/.local/share/photosift/models/starter, read-only: what a library uses until another model is chosen;
    fp32) and ViT-B-32 int8 with random weights (bench/index_throughput.py's export: a CLIP-size model).
(2) The text pass, engine.text_in_photos.read_text_in_photos as update_library(text=True) runs it, on the
    library of (1): these photos hold no text, so it is the detector's cost, the one every photo pays.
(3) The text pass on the same photos with text in them: SYNTHETIC SIGNS DRAWN ON THE REAL PHOTOS with PIL,
    three each (texts from bench/text_search_quality.SIGNS; a plate, outlined or bare letters; 90-220 px type
    at 4000 px, 36-88 px at the 1600 px the text is read at), indexed first (starter). The share of the drawn
    words it read says the pass did its work.
Then each pass's time per photo over indexing's, and the verdict on the rule "on by default only if under 30%
of indexing": on only if both (2) and (3) are under 30% with the default model (the starter).

The recognizer is loaded and run once before the timed passes (loading is a one-off per process). Each run
waits for other processes to go quiet first (--idle-wait) and says how many cores they kept busy meanwhile.
Libraries, the models list and caches are in a temp folder (PHOTOSIFT_LIBRARY, _MODELS, _CACHE point there).

    python bench/text_in_photos_cost.py                  # 24 photos
    python bench/text_in_photos_cost.py --count 64 --no-vit
"""

from __future__ import annotations

import argparse
import json
import multiprocessing.util
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/index_throughput.py imports `_common`
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.` and the engine

STARTER = Path.home() / ".local/share/photosift/models/starter"
SIGNS_PER_PHOTO = 3
TEXT_SIZES = (90, 220)  # type size in px at 4000 px wide
TEXT_FORMAT = 1  # bumped when the drawn photos change, so cached ones are drawn again
THRESHOLD = 0.30  # the rule: on by default only if the text pass costs under 30% of indexing


# -- photos with text ----------------------------------------------------------------------------------------
def _draw_text_photo(index: int, source: str, dest: str) -> list[str]:
    """bench/index_throughput's photo `index` with SIGNS_PER_PHOTO signs drawn on it (one per horizontal band),
    saved like it (quality 92, the same EXIF); returns the drawn texts."""
    from bench.index_throughput import JPEG_QUALITY
    from bench.text_search_quality import SIGNS, draw_sign, fonts

    rng = np.random.default_rng([index, 5150])
    with Image.open(source) as im:
        exif = im.getexif()
        img = im.convert("RGB")
    font_paths = fonts()
    texts = [SIGNS[int(k)][0] for k in rng.choice(len(SIGNS), SIGNS_PER_PHOTO, replace=False)]
    band = img.height // SIGNS_PER_PHOTO
    for k, text in enumerate(texts):
        draw_sign(img, text, rng, TEXT_SIZES, font_paths, box=(0, k * band, img.width, (k + 1) * band))
    tmp = f"{dest}.tmp"
    img.save(tmp, "JPEG", quality=JPEG_QUALITY, exif=exif)
    os.replace(tmp, dest)
    return texts


def ensure_text_photos(workdir: Path, sources: list[Path]) -> tuple[Path, dict[str, list[str]]]:
    """A folder holding a copy of each of `sources` with signs drawn on it (cached in the work folder), and the
    texts drawn on each file."""
    from bench._common import link_or_copy

    cache = workdir / "text-jpeg-cache"
    cache.mkdir(parents=True, exist_ok=True)
    truth_file = cache / "texts.json"
    truth: dict[str, list[str]] = {}
    if truth_file.is_file():
        saved = json.loads(truth_file.read_text())
        if saved.get("format") == TEXT_FORMAT:
            truth = saved["texts"]
    names = [f"text_{p.name}" for p in sources]
    missing = [i for i, n in enumerate(names) if n not in truth or not (cache / n).is_file()]
    if missing:
        t0 = time.perf_counter()
        print(f"drawing signs on {len(missing)} photos in {cache} ...", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            done = pool.map(_draw_text_photo, [int(sources[i].stem.split("_")[-1]) for i in missing],
                            [str(sources[i]) for i in missing], [str(cache / names[i]) for i in missing])
            for i, texts in zip(missing, done, strict=True):
                truth[names[i]] = texts
        truth_file.write_text(json.dumps({"format": TEXT_FORMAT, "texts": truth}, indent=1, ensure_ascii=False))
        print(f"drawn in {time.perf_counter() - t0:.0f} s", flush=True)
    root = workdir / f"text-photos-{len(sources)}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for n in names:
        link_or_copy(cache / n, root / n)
    return root, {n: truth[n] for n in names}


# -- runs ----------------------------------------------------------------------------------------------------
@dataclass
class Timed:
    photos: int
    seconds: float
    foreign: float = 0.0  # cores other processes kept busy meanwhile
    found: int = 0  # text pass: photos in which some text was read

    @property
    def per_photo(self) -> float:
        return self.seconds / self.photos

    @property
    def rate(self) -> float:
        return self.photos / self.seconds


def index_run(root: Path, folder: object, variant: str, lib_dir: Path, idle_wait: float) -> Timed:
    """update_library (text and tags off) on a fresh library of `root`, timed end to end, ONNX session made
    before. The library stays (bench/index_throughput.run_photosift says why: the decode pool's fork server)."""
    from bench._common import ForeignLoad, wait_until_idle
    from engine.encoder import ClipEncoder, RuntimeConfig
    from engine.library import Library
    from engine.update import update_library

    with Library.open(lib_dir) as lib:
        lib.catalog.add_root(str(root))
        encoder = ClipEncoder(folder, RuntimeConfig(device="cpu", variant=variant))  # type: ignore[arg-type]
        assert encoder.variant == variant, f"asked for {variant}, the encoder chose {encoder.variant}"
        _ = encoder.visual  # the ONNX session, outside the timed section
        n = len(list(root.iterdir()))
        wait_until_idle(idle_wait)
        with ForeignLoad() as load:
            t0 = time.perf_counter()
            report = update_library(lib, encoder, do_tag=False, text=False)
            seconds = time.perf_counter() - t0
        assert report.index.indexed == n and report.index.failed == 0, report.index.failures[:3]
        assert report.text is None
    return Timed(n, seconds, load.cores)


def text_run(lib_dir: Path, idle_wait: float) -> tuple[Timed, dict[str, str]]:
    """read_text_in_photos on every photo of the library, timed; and the text read in each (file name -> text)."""
    from bench._common import ForeignLoad, wait_until_idle
    from engine.library import Library
    from engine.text_in_photos import read_text_in_photos, text_model_id

    with Library.open(lib_dir) as lib:
        photos = lib.catalog.text.photos_missing(text_model_id())
        wait_until_idle(idle_wait)
        with ForeignLoad() as load:
            t0 = time.perf_counter()
            report = read_text_in_photos(lib.catalog, photos)
            seconds = time.perf_counter() - t0
        assert report.photos == len(photos) and report.unreadable == 0, report.failures[:3]
        read = {Path(p.path).name: lib.catalog.text.of_photo(p.id) or "" for p in photos}
    return Timed(len(photos), seconds, load.cores, report.with_text), read


def warm_reader() -> None:
    """Load the recognizer and run it once on a small image with text, outside the timed passes."""
    from bench.text_search_quality import draw_sign, fonts
    from engine.text_in_photos import reader

    img = Image.new("RGB", (640, 480), (90, 120, 160))
    draw_sign(img, "Warm up 123", np.random.default_rng(0), (40, 40), fonts())
    reader().read(img)


def words_found(drawn: dict[str, list[str]], read: dict[str, str]) -> tuple[int, int, list[str]]:
    """(drawn words of 3+ characters found in the text read, drawn words, examples of misses)."""
    from bench.text_search_quality import fold

    found = total = 0
    misses: list[str] = []
    for name, texts in drawn.items():
        got = fold(read.get(name, ""))
        for text in texts:
            words = [w.strip(".,;:!?()") for w in fold(text).split()]
            words = [w for w in words if len(w) >= 3]
            hit = [w in got for w in words]
            found, total = found + sum(hit), total + len(words)
            if not all(hit) and len(misses) < 6:
                misses.append(f"{text!r} in {name}: read {read.get(name, '')!r}")
    return found, total, misses


def main(argv: list[str] | None = None) -> None:
    from bench._common import console, default_workdir, machine_line, make_table

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=24, help="12 MP photos (default 24)")
    ap.add_argument("--workdir", type=Path, default=default_workdir(),
                    help="cache of the photos and the ViT-B-32 export, shared with bench/index_throughput.py "
                         "(default %(default)s)")
    ap.add_argument("--model", type=Path, default=STARTER, help="the default model's folder (read-only)")
    ap.add_argument("--no-vit", action="store_true", help="index with the starter model only")
    ap.add_argument("--idle-wait", type=float, default=15.0,
                    help="before each timed run, wait up to this many seconds for other processes to go quiet")
    args = ap.parse_args(argv)
    out = console()

    from engine.text_in_photos import text_installed, text_model_id

    if not text_installed():
        raise SystemExit("RapidOCR is not installed, so there is no text pass to time: "
                         "pip install 'photosift[ocr]' (or the rapidocr package)")
    if not (args.model / "manifest.json").is_file():
        raise SystemExit(f"no model folder at {args.model} (the starter model: `photosift models use starter` "
                         "builds it), or give --model")
    from bench.index_throughput import HEIGHT, WIDTH, ensure_photos
    from bench.text_search_quality import quiet_onnx_runtime
    from engine.modelfolder import ModelFolder

    quiet_onnx_runtime()
    # multiprocessing's temp folder (the decode pool's fork server) made now, in the system temp dir: made
    # later it would go inside the first library, which is deleted before multiprocessing cleans up at exit
    multiprocessing.util.get_temp_dir()
    out.print(f"[bold]Text in photos: cost next to indexing[/] - {args.count} photos of {WIDTH}x{HEIGHT}, "
              f"{text_model_id()}; {machine_line()}")
    t_all = time.perf_counter()
    workdir: Path = args.workdir
    root, paths = ensure_photos(workdir, args.count)
    text_root, drawn = ensure_text_photos(workdir, paths)
    starter = ModelFolder.load(args.model)
    vit = None
    if not args.no_vit:
        try:
            from bench._common import ensure_vitb32_folder

            vit = ensure_vitb32_folder(workdir / "models")
        except ImportError as e:
            out.print(f"ViT-B-32 left out (its export needs torch and open_clip: {e})")
    for p in [*paths, *text_root.iterdir()]:  # every run reads the files from the page cache
        p.read_bytes()

    with tempfile.TemporaryDirectory(prefix="photosift-textcost-") as tmp:
        work = Path(tmp)
        os.environ.update(PHOTOSIFT_LIBRARY=str(work / "user-library"), PHOTOSIFT_MODELS=str(work / "models"),
                          PHOTOSIFT_CACHE=str(work / "cache"))
        os.environ.pop("PHOTOSIFT_MODEL", None)
        out.print("(1) indexing, starter ...")
        idx_starter = index_run(root, starter, "fp32", work / "lib-starter", args.idle_wait)
        idx_vit = None
        if vit is not None:
            out.print("(1) indexing, ViT-B-32 int8 ...")
            idx_vit = index_run(root, vit, "int8", work / "lib-vit", args.idle_wait)
        out.print("(3) indexing the photos with signs, starter ...")
        idx_text_photos = index_run(text_root, starter, "fp32", work / "lib-text", args.idle_wait)
        out.print("loading the recognizer ...")
        t0 = time.perf_counter()
        warm_reader()
        load_s = time.perf_counter() - t0
        out.print("(2) text pass, photos without text ...")
        plain, plain_read = text_run(work / "lib-starter", args.idle_wait)
        out.print("(3) text pass, photos with signs ...")
        signed, signed_read = text_run(work / "lib-text", args.idle_wait)

    found, total, misses = words_found(drawn, signed_read)

    def ratio(t: Timed, base: Timed | None) -> str:
        return f"{t.per_photo / base.per_photo:.0%}" if base else "-"

    rows = [
        ["(1) index, no text: starter fp32 (the default model)", idx_starter.photos, f"{idx_starter.per_photo:.3f}",
         f"{idx_starter.rate:.2f}", "100%", ratio(idx_starter, idx_vit), f"{idx_starter.foreign:.2f}"],
    ]
    if idx_vit:
        rows.append(["(1) index, no text: ViT-B-32 int8 (random weights)", idx_vit.photos, f"{idx_vit.per_photo:.3f}",
                     f"{idx_vit.rate:.2f}", ratio(idx_vit, idx_starter), "100%", f"{idx_vit.foreign:.2f}"])
    rows += [
        ["    the photos with signs, starter fp32", idx_text_photos.photos, f"{idx_text_photos.per_photo:.3f}",
         f"{idx_text_photos.rate:.2f}", ratio(idx_text_photos, idx_starter), ratio(idx_text_photos, idx_vit),
         f"{idx_text_photos.foreign:.2f}"],
        [f"(2) text pass, photos without text (text found in {plain.found})", plain.photos,
         f"{plain.per_photo:.3f}", f"{plain.rate:.2f}", ratio(plain, idx_starter), ratio(plain, idx_vit),
         f"{plain.foreign:.2f}"],
        [f"(3) text pass, photos with {SIGNS_PER_PHOTO} signs (text found in {signed.found})", signed.photos,
         f"{signed.per_photo:.3f}", f"{signed.rate:.2f}", ratio(signed, idx_starter), ratio(signed, idx_vit),
         f"{signed.foreign:.2f}"],
    ]
    out.print()
    out.print(make_table(
        f"Text in photos next to indexing, {args.count} JPEGs {WIDTH}x{HEIGHT} ({text_model_id()}, text read at "
        "1600 px)",
        ["stage", "photos", "s/photo", "photos/s", "/ index starter", "/ index ViT-B-32", "busy elsewhere"], rows,
        caption="/ index X = this stage's time per photo over indexing's with model X (the same photos without "
                "signs). busy elsewhere = cores other processes kept busy during the run (0 = clean). "
                f"Loading the recognizer (once per process, not in the rows): {load_s:.1f} s."))
    out.print(f"(3) drawn words read: {found} of {total} ({found / max(total, 1):.0%}); "
              f"(2) text 'found' in {plain.found} of {plain.photos} photos without any"
              + (f", e.g. {next(t for t in plain_read.values() if t)!r}" if plain.found else ""))
    for m in misses:
        out.print(f"  missed: {m}")
    worst = max(plain.per_photo, signed.per_photo) / idx_starter.per_photo
    verdict = "on" if worst < THRESHOLD else "off"
    vit_part = (f"; with ViT-B-32 int8 indexing {plain.per_photo / idx_vit.per_photo:.0%} / "
                f"{signed.per_photo / idx_vit.per_photo:.0%}") if idx_vit else ""
    out.print(f"[bold]verdict[/]: on by default only if under {THRESHOLD:.0%} of indexing: the text pass costs "
              f"{plain.per_photo / idx_starter.per_photo:.0%} (photos without text) and "
              f"{signed.per_photo / idx_starter.per_photo:.0%} (photos with text) of indexing with the default "
              f"model{vit_part} -> [bold]{verdict}[/] by default")
    out.print(f"[dim]photos in {root} and {text_root}; {time.perf_counter() - t_all:.0f} s in all[/]")


if __name__ == "__main__":
    main()
