"""Combined queries before and after balancing the terms (engine.query.balanced_weights), on real photos.

    .venv/bin/python bench/query_balance.py [--workdir DIR] [--model starter] [--tuxpaint-every 4]

Builds (once) a library of scikit-image's natural photos (chelsea the cat, coffee, astronaut, ...) and
every Nth Tux Paint photo stamp (all the dogs among them; `apt-get install tuxpaint-stamps-default`),
indexes it with the model, then runs each query twice: terms summed as they are (before) and balanced
(after), printing the top results and where the photos that matter rank. `cat.jpg` is a copy of chelsea
outside the library, as a user would pass a file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import console, default_workdir, machine_line, make_table  # noqa: E402

SKIMAGE = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field", "retina",
           "camera", "page", "immunohistochemistry", "colorwheel")
QUERIES = ("dog + ./cat.jpg", "./cat.jpg - cat", "a rocket + ./cat.jpg", "./cat.jpg + a cup of coffee")
WATCH = ("chelsea.jpg", "dog.png", "rocket.jpg", "coffee.jpg")


def build_photos(dest: Path, every: int) -> Path:
    from PIL import Image
    from skimage import data

    from training.datasets import TUXPAINT_STAMPS, composite_on_white, is_photo_stamp

    if (dest / ".done").is_file():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "skimage").mkdir(parents=True)
    for name in SKIMAGE:
        fn = getattr(data, name, None)
        if fn is None:
            continue
        a = fn()
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[..., :3]
        Image.fromarray(a).convert("RGB").save(dest / "skimage" / f"{name}.jpg", quality=92)
    stamps = sorted(p for p in TUXPAINT_STAMPS.rglob("*.png")
                    if len(p.relative_to(TUXPAINT_STAMPS).parts) >= 2 and is_photo_stamp(p, TUXPAINT_STAMPS)[0])
    for i, png in enumerate(stamps):
        if i % every and "dog" not in png.parts[-2]:
            continue
        target = dest / "tuxpaint" / png.relative_to(TUXPAINT_STAMPS)
        target.parent.mkdir(parents=True, exist_ok=True)
        composite_on_white(png).save(target)
    (dest / ".done").write_text("")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=default_workdir() / "query-balance")
    ap.add_argument("--model", default="starter")
    ap.add_argument("--tuxpaint-every", type=int, default=4)
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("PHOTOSIFT_MODELS", str(args.workdir / "models"))

    from desktop_app.models_runtime import load_encoder
    from engine.library import Library
    from engine.query import parse_query
    from engine.search import PhotoSearch, SearchOptions
    from engine.update import update_library

    photos = build_photos(args.workdir / "photos", args.tuxpaint_every)
    cat = args.workdir / "cat.jpg"
    shutil.copy(photos / "skimage" / "chelsea.jpg", cat)
    encoder = load_encoder(args.model, "cpu")
    out = console()
    out.print(machine_line())
    with Library.open(args.workdir / "library") as lib:
        if not lib.catalog.roots():
            lib.catalog.add_root(str(photos))
        lib.set_active_model(encoder.model_id)
        update_library(lib, encoder)
        total = lib.catalog.counts()["total"]
        search = PhotoSearch(lib, encoder)
        options = SearchOptions(limit=total, min_z=None)
        os.chdir(args.workdir)
        rows = []
        for query in QUERIES:
            terms = parse_query(query)
            for label, balance in (("before", False), ("after", True)):
                results = search.search_vector(search.query_vector(terms, balance=balance), options)
                names = [os.path.basename(r.photo.path) for r in results]
                top = ", ".join(f"{n} {r.score:.2f}" for n, r in zip(names[: args.top], results, strict=False))
                ranks = [str(names.index(w) + 1) if w in names else "-" for w in WATCH]
                rows.append((query if balance is False else "", label, *ranks, top))
        out.print(make_table(f"Combined queries on {total} real photos ({args.model} model): rank of each photo, "
                             f"and the top {args.top} with scores", ("query", "terms", *WATCH, "top results"), rows))


if __name__ == "__main__":
    main()
