"""Precision and recall of duplicate and burst groups on a generated, labelled folder of real photos.

The folder (seeded, written fresh each run) is made from the Tux Paint stamps (photo cut-outs, flattened on
white, doubled in size) and scikit-image's sample photos:
  copies   an original and 1-3 of: an exact copy, a resized (50-75%) and recompressed copy, a recompressed copy
           at full size, a PNG re-save;
  bursts   3-6 frames of one scene, each shifted by 1-5% and re-exposed (gain 0.85-1.15, a little noise), EXIF
           DateTimeOriginal 0-2 s apart and one camera;
  singles  look-alikes that must stay apart: other photos of the same Tux Paint category as a copy or burst
           source, other halves of the same large photo (the same scene, a different shot), and a different
           scene shot by a burst's camera a second after its last frame.
Every photo is indexed with the starter model through the app's own path (`photosift add`, `photosift index`,
then `photosift duplicates --json`, run as commands), and the groups are scored pairwise: a pair of photos
is predicted when they share a group, true when they share a label.

    python bench/duplicates_quality.py                 # seed 1, quoted in docs/benchmarks.md
    python bench/duplicates_quality.py --calibrate     # sweep the thresholds on seed 0 (the calibration set)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import own_models_folder

STAMPS = Path("/usr/share/tuxpaint/stamps")
SKIMAGE = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "retina",
    "colorwheel",
    "immunohistochemistry",
    "camera",
    "coins",
    "horse",
    "moon",
    "clock",
    "cell",
)


def _flat(path: Path) -> Image.Image:
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, (255, 255, 255))
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas.resize((rgba.width * 2, rgba.height * 2), Image.Resampling.BICUBIC)


def _skimage(name: str) -> Image.Image:
    from skimage import data

    a = getattr(data, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(a[..., :3]).astype(np.uint8))


def _exif(when: str | None, camera: str | None) -> bytes:
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = "Bench", camera
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    return exif.tobytes()


def _when(t: float) -> str:
    return time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(t))


def _frame(img: Image.Image, rng: random.Random, nrng: np.random.Generator) -> Image.Image:
    w, h = img.size
    cw, ch = int(w * 0.9), int(h * 0.9)
    dx = int(w * rng.uniform(0.01, 0.05)) * rng.choice((-1, 1))
    dy = int(h * rng.uniform(0.0, 0.03)) * rng.choice((-1, 1))
    x0, y0 = (w - cw) // 2 + dx, (h - ch) // 2 + dy
    a = np.asarray(img.crop((x0, y0, x0 + cw, y0 + ch)), np.float32) * rng.uniform(0.85, 1.15)
    a += nrng.normal(0, 3.0, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def generate(folder: Path, seed: int, copies: int = 60, bursts: int = 40, singles: int = 160) -> dict[str, str]:
    """Write the labelled folder; returns file name -> label (a single's label is its own name)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    by_class: dict[str, list[Path]] = {}
    for p in sorted(STAMPS.rglob("*.png")):
        by_class.setdefault(p.parent.name, []).append(p)
    classes = [c for c, ps in by_class.items() if len(ps) >= 3]
    labels: dict[str, str] = {}
    used: set[Path] = set()

    def pick(cls: str | None = None) -> Path:
        pool = [p for p in by_class[cls or rng.choice(classes)] if p not in used] if cls else []
        while not pool:
            pool = [p for p in by_class[rng.choice(classes)] if p not in used]
        p = rng.choice(pool)
        used.add(p)
        return p

    sources: list[tuple[str, Path]] = []
    for i in range(copies):
        src = pick()
        sources.append((src.parent.name, src))
        img, label = _flat(src), f"copy{i}"
        img.save(folder / f"{label}-orig.jpg", quality=92)
        labels[f"{label}-orig.jpg"] = label
        for j, how in enumerate(rng.sample(("exact", "resized", "recompressed", "png"), rng.randint(1, 3))):
            name = f"{label}-{how}{j}.{'png' if how == 'png' else 'jpg'}"
            if how == "exact":
                (folder / name).write_bytes((folder / f"{label}-orig.jpg").read_bytes())
            elif how == "resized":
                s = rng.uniform(0.5, 0.75)
                img.resize((int(img.width * s), int(img.height * s)), Image.Resampling.LANCZOS).save(
                    folder / name, quality=rng.randint(60, 85)
                )
            elif how == "recompressed":
                img.save(folder / name, quality=rng.randint(50, 70))
            else:
                img.save(folder / name)
            labels[name] = label
    t = 1_700_000_000.0
    for i in range(bursts):
        src = pick()
        sources.append((src.parent.name, src))
        img, label, camera = _flat(src), f"burst{i}", f"Cam{i % 7}"
        for j in range(rng.randint(3, 6)):
            t += rng.uniform(0.0, 2.0)
            name = f"{label}-f{j}.jpg"
            _frame(img, rng, nrng).save(folder / name, quality=90, exif=_exif(_when(t), camera))
            labels[name] = label
        t += 1.0  # a different scene by the same camera a second later: not part of the burst
        other = pick(src.parent.name)
        name = f"{label}-next-scene.jpg"
        _frame(_flat(other), rng, nrng).save(folder / name, quality=90, exif=_exif(_when(t), camera))
        labels[name] = name
        t += 3600
    for i, name in enumerate(SKIMAGE):  # two halves of one scene, no EXIF: the same place, a different shot
        img = _skimage(name)
        w, h = img.size
        for side, box in (("left", (0, 0, w // 2, h)), ("right", (w // 2, 0, w, h))):
            file = f"scene{i}-{side}.jpg"
            img.crop(box).save(folder / file, quality=90)
            labels[file] = file
    for i in range(singles):  # other photos of the classes above: look-alikes
        cls = sources[i % len(sources)][0]
        file = f"single{i}.jpg"
        _flat(pick(cls)).save(folder / file, quality=88)
        labels[file] = file
    return labels


def pairs_of(groups: list[set[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups for p in itertools.combinations(g, 2)}  # type: ignore[misc]


def score(predicted: list[set[str]], labels: dict[str, str]) -> tuple[float, float, int, int]:
    truth: dict[str, set[str]] = {}
    for name, label in labels.items():
        truth.setdefault(label, set()).add(name)
    want, got = pairs_of(list(truth.values())), pairs_of(predicted)
    hit = len(want & got)
    return hit / max(len(got), 1), hit / max(len(want), 1), len(got), len(want)


def _cli(library: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    out = subprocess.run(
        [sys.executable, "-m", "desktop_app.cli", "--library", str(library), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"photosift {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def run(seed: int, work: Path) -> tuple[dict[str, str], Path]:
    folder, library = work / f"photos-{seed}", work / f"library-{seed}"
    labels = generate(folder, seed)
    _cli(library, "add", str(folder))
    t0 = time.perf_counter()
    _cli(library, "index", "--no-tags")
    print(
        f"seed {seed}: {len(labels)} photos, {len(set(labels.values()))} labels, indexed in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return labels, library


def evaluate(seed: int, work: Path) -> None:
    labels, library = run(seed, work)
    groups = json.loads(_cli(library, "duplicates", "--json"))
    predicted = [{Path(p["path"]).name for p in g["photos"]} for g in groups]
    p, r, got, want = score(predicted, labels)
    kinds = {k: sum(g["kind"] == k for g in groups) for k in ("exact", "near", "burst")}
    print(f"groups: {len(groups)} ({kinds}); true pairs {want}, predicted pairs {got}")
    print(f"pairwise precision {p:.3f}, recall {r:.3f}")
    wrong = pairs_of(predicted) - pairs_of([{n for n in labels if labels[n] == lab} for lab in set(labels.values())])
    for a, b in sorted(wrong)[:10]:
        print(f"  false pair: {a} ~ {b}")


def calibrate(seed: int, work: Path, library: Path | None = None) -> None:
    """Score a grid of thresholds on one seed's folder, from the catalog's stored signatures and vectors."""
    from engine.duplicates import DuplicateSettings, _seconds_apart, pixel_similarity
    from engine.library import Library

    if library is None:
        labels, library = run(seed, work)
    else:
        labels = generate(work / "labels-only", seed)
    s0 = DuplicateSettings()
    with Library.open(library) as lib:
        cat = lib.catalog
        ids, vecs = cat.embeddings.load(lib.active_model_id)
        info = cat.duplicates.candidates(ids.tolist())
        names = {int(i): Path(info[int(i)].path).name for i in ids}
        sims = vecs @ vecs.T
        feats = []  # (a, b, cosine, exact, pixel, pixel with shifts, burst-eligible)
        for a, b in zip(*np.nonzero(np.triu(sims, 1) > 0.6), strict=True):
            x, y = info[int(ids[a])], info[int(ids[b])]
            apart = _seconds_apart(x.taken_at, y.taken_at)
            feats.append(
                (
                    int(ids[a]),
                    int(ids[b]),
                    float(sims[a, b]),
                    x.content_hash == y.content_hash,
                    pixel_similarity(x.pixel_sig, y.pixel_sig),
                    pixel_similarity(x.pixel_sig, y.pixel_sig, s0.burst_shift),
                    bool(x.camera and x.camera == y.camera and apart is not None and apart <= s0.burst_seconds),
                )
            )
    print(f"{len(feats)} pairs above cosine 0.6")
    rows = []
    for nc, npx, bc, bpx in itertools.product(
        (0.8, 0.85, 0.88, 0.9), (0.9, 0.95, 0.96, 0.97, 0.98), (0.7, 0.75, 0.8, 0.85), (0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
    ):
        parent = {i: i for i in names}

        def find(x: int, parent: dict[int, int] = parent) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b, c, exact, px, pxs, burst_ok in feats:
            if exact or (c >= nc and px >= npx) or (burst_ok and c >= bc and pxs >= bpx):
                parent[find(a)] = find(b)
        comps: dict[int, set[str]] = {}
        for i in names:
            comps.setdefault(find(i), set()).add(names[i])
        p, r, _, _ = score([g for g in comps.values() if len(g) > 1], labels)
        rows.append((min(p, r), p, r, nc, npx, bc, bpx))
    rows.sort(reverse=True)
    print("min(P,R)  precision  recall  near_cos near_pix burst_cos burst_pix")
    for row in rows[:20]:
        print("  ".join(f"{v:.3f}" for v in row))
    print(f"defaults: {s0}")
    print(
        next(
            (r for r in rows if r[3:] == (s0.near_cosine, s0.near_pixel, s0.burst_cosine, s0.burst_pixel)),
            "defaults not on the grid",
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--library", type=Path, default=None, help="--calibrate on a library this script indexed before")
    args = ap.parse_args()
    if not STAMPS.is_dir():
        raise SystemExit(f"needs the Tux Paint stamps in {STAMPS} (apt-get install tuxpaint-stamps-default)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="photosift-dupq-"))
    own_models_folder(work / "models", "starter")  # the starter read from the person's models, nothing written there
    if args.calibrate:
        calibrate(0 if args.seed is None else args.seed, work, args.library)
    else:
        evaluate(1 if args.seed is None else args.seed, work)


if __name__ == "__main__":
    main()
