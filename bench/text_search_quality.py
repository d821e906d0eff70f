"""Text in photos, search quality: does putting the photos whose text holds the query's words first help text
queries, and leave plain (CLIP) queries alone? (A benchmark, not a test; ~5 min for 3 seeds on 2 CPUs.)

The labelled set is built in a temp folder. SYNTHETIC SIGNS ON REAL PHOTOS: the photos are the captioned
photo stamps of Tux Paint (the package tuxpaint-stamps-default; ~377 real photo cut-outs, each with a one-line
English caption such as "A lion."), each composited on a plain background of a random colour (its own, the same
in every seed) and upscaled to about 512 px; on --signs of them, chosen at random per seed, a sign is DRAWN
with PIL: a distinct text from the fixed list SIGNS below (shop signs, street names, numbers, some with
accents), chosen per seed, in a random font, size (22-40 px), colour, style (a plate, outlined letters, bare
letters) and position, slightly rotated. A few sign texts hold words the captions also hold (lion, zebra,
duck, goat, penguin, apple...), or hold such words inside longer ones (Moscow holds "cow", bowling "owl"):
plain words must begin a word of the text, so only the first kind can move a plain query.

The photos are indexed with the offline starter model (~/.local/share/photosift/models/starter, read-only;
another folder with --model) and their text read: engine.update.update_library(..., text=True), in a library
inside the temp folder (PHOTOSIFT_LIBRARY, _MODELS and _CACHE point there too). One library serves all seeds:
each seed rewrites only the photos whose content changes (last seed's signs taken off, this seed's drawn on),
and the update indexes and reads those again, as after an edit (a whole set's text costs ~0.4 s a photo here;
a check reports any photo whose text still holds another sign's words). Every query is ranked over the whole
library twice with the same query vector (SearchOptions(min_z=None, one_per_group=False)):
    CLIP   PhotoSearch.search_vector(vector, options)
    fused  PhotoSearch.search_vector(vector, options, words=query_words(terms)), what PhotoSearch.search does
           (checked on every 25th query)
Query sets:
    text   one per sign: one or two of its words ("lisboa", "platform 9", "backerei muller"); relevant = the
           photo with that sign
    plain  one per distinct caption ("A lion."); relevant = the photo(s) it captions
Metrics: R@1, R@10 (a relevant photo within the first 1 / 10) and MRR (1 / rank of the first relevant photo),
per query. Reported: the means, the mean of the paired difference fused - CLIP over all queries of all seeds,
with a 95% interval from a bootstrap over queries stratified by seed (10,000 resamples), and each seed's mean
difference; then how many plain queries changed rank at all, and the OCR's misses on the signs.

    python bench/text_search_quality.py                 # 3 seeds
    python bench/text_search_quality.py --seeds 5 --signs 60
"""

from __future__ import annotations

import argparse
import multiprocessing.util
import os
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: `bench.` and the engine import

STAMPS = Path("/usr/share/tuxpaint/stamps")
STARTER = Path.home() / ".local/share/photosift/models/starter"
LONG_SIDE = 448  # the stamp, upscaled; the canvas adds a margin of 24-48 px on each side (~512 px in all)

# (sign text, lines split by "\n"; the query for it). Every query's words are in its own sign only (checked by
# _check_signs). Marked "caption" in the comments: a caption query's words occur in the sign, whole or inside.
SIGNS: list[tuple[str, str]] = [
    ("Café Lisboa", "lisboa"),
    ("Bäckerei Müller", "backerei muller"),
    ("EXIT 24", "exit 24"),
    ("Platform 9", "platform 9"),
    ("Hotel Astoria", "astoria"),
    ("SALE 50%", "sale 50%"),
    ("Pharmacy", "pharmacy"),
    ("Red Lion Pub", "red lion"),  # caption: "A lion."
    ("Zebra Crossing", "zebra crossing"),  # caption: "A zebra."
    ("Fish Market", "fish market"),  # caption words: fish
    ("Moscow Road", "moscow"),  # "cow" inside
    ("Bowling Alley", "bowling"),  # "owl" inside
    ("Kitchen Open\nuntil 11pm", "kitchen"),  # "hen" inside
    ("Tram Stop", "tram stop"),  # "ram" inside
    ("Beer Garden", "beer garden"),
    ("Car Park\nLevel 3", "car park"),  # caption word: car
    ("Bus Station", "bus station"),  # caption word: bus
    ("Post Office", "post office"),
    ("Golden Eagle Inn", "golden eagle"),
    ("Duck Pond", "duck pond"),  # caption: "A duck."
    ("Riding School", "riding school"),
    ("Night Owl Books", "night owl"),  # caption: "An owl."
    ("Piazza Navona", "navona"),
    ("Rue de Rivoli", "rivoli"),
    ("Calle Mayor", "calle mayor"),
    ("Friedrichstraße 12", "friedrichstrasse"),
    ("Ristorante\nDa Mario", "ristorante mario"),
    ("Sushi Bar", "sushi"),
    ("Pizzeria Napoli", "napoli"),
    ("Gelateria", "gelateria"),
    ("Boulangerie", "boulangerie"),
    ("Librería El Ateneo", "ateneo"),
    ("Crème Brûlée 4€", "creme brulee"),
    ("Élysée Palace", "elysee"),
    ("Smørrebrød", "smørrebrød"),
    ("Gate B12", "gate b12"),
    ("Route 66", "route 66"),
    ("Main Street", "main street"),
    ("Baker Street 221B", "baker street"),
    ("Sunset Boulevard", "sunset boulevard"),
    ("Broadway", "broadway"),
    ("Central Station", "central station"),
    ("No Parking", "parking"),
    ("Hardware Store", "hardware"),
    ("Flower Shop", "flower shop"),  # caption: "A flower."
    ("Fresh Bread", "fresh bread"),
    ("Laundromat", "laundromat"),
    ("Barber", "barber"),
    ("Tattoo Studio", "tattoo"),
    ("Cinema Paradiso", "paradiso"),
    ("Museum of Modern Art", "museum"),
    ("Public Library", "public library"),
    ("City Hall", "city hall"),
    ("Fire Station 8", "fire station"),  # caption word: fire
    ("POLICE", "police"),
    ("Hospital", "hospital"),
    ("Dentist", "dentist"),
    ("Bank of Avalon", "avalon"),
    ("Grand Canyon\n12 mi", "canyon"),
    ("Lake Geneva", "geneva"),
    ("Welcome to Oslo", "oslo"),
    ("Harbour View", "harbour"),
    ("Lighthouse Point", "lighthouse"),
    ("Camping", "camping"),
    ("Ski Rental", "rental"),
    ("Mountain Goat Trail", "goat trail"),  # caption: "A goat."
    ("Penguin Books", "penguin books"),  # caption: "A penguin."
    ("Blue Whale Diner", "whale diner"),  # caption words: blue, whale
    ("Tiger Gym", "tiger gym"),  # caption: "A tiger."
    ("Honey Farm", "honey farm"),
    ("Apple Store", "apple store"),  # caption: "An apple."
    ("Banana Republic", "banana"),  # caption: "A banana."
    ("Hot Dogs", "hot dogs"),  # caption words: hot, dog
    ("Coffee Break", "coffee"),
    ("Wi-Fi Zone", "wi-fi"),
    ("TAXI", "taxi"),
    ("Ticket Office", "ticket"),
    ("Room 404", "room 404"),
    ("Pier 39", "pier 39"),
    ("Kyoto Station", "kyoto"),
    ("Pastelaria Belém", "pastelaria belem"),
    ("Señor Taco", "senor taco"),
    ("Zürich HB", "zurich"),
    ("Crêperie", "creperie"),
    ("Château Margaux", "chateau margaux"),
]

FONT_FILES = [
    "dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf",
    "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf", "dejavu/DejaVuSansMono-Bold.ttf",
    "dejavu/DejaVuSans-Oblique.ttf", "freefont/FreeSans.ttf", "freefont/FreeSansBold.ttf",
    "freefont/FreeSerif.ttf", "freefont/FreeSerifBold.ttf", "freefont/FreeMonoBold.ttf",
]


def fonts() -> list[Path]:
    found = [Path("/usr/share/fonts/truetype") / f for f in FONT_FILES]
    found = [f for f in found if f.is_file()]
    if not found:
        raise SystemExit("no TrueType fonts under /usr/share/fonts/truetype (apt-get install -y fonts-dejavu-core "
                         "fonts-freefont-ttf)")
    return found


def fold(text: str) -> str:
    """As engine.catalog.text.fold_text: case folded, accents removed, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _check_signs() -> None:
    from engine.query import parse_query
    from engine.search import query_words

    texts = [fold(s) for s, _ in SIGNS]
    assert len(set(texts)) == len(texts), "two signs say the same"
    for k, (_, query) in enumerate(SIGNS):
        words = query_words(parse_query(query))
        assert words, f"the query {query!r} has no word text can match"
        assert all(fold(w) in texts[k] for w in words), f"{query!r} is not on its own sign"
        others = [s for j, s in enumerate(texts) if j != k and all(fold(w) in s for w in words)]
        assert not others, f"{query!r} also matches {others}"


# -- drawing -------------------------------------------------------------------------------------------
def _luma(c: tuple[int, int, int]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _contrasting(rng: np.random.Generator, against: tuple[int, int, int]) -> tuple[int, int, int]:
    """A random colour at least 110 luma away from `against`."""
    while True:
        c = tuple(int(x) for x in rng.integers(0, 256, 3))
        if abs(_luma(c) - _luma(against)) >= 110:  # type: ignore[arg-type]
            return c  # type: ignore[return-value]


def draw_sign(img: Image.Image, text: str, rng: np.random.Generator, size_px: tuple[int, int],
              font_paths: list[Path], box: tuple[int, int, int, int] | None = None) -> None:
    """Draw `text` (lines split by newline) onto `img` in place: random font, size in `size_px`, colours, style
    (a plate 60%, outlined letters 25%, bare letters 15%), rotation within 5 degrees, position inside `box`
    (left, top, right, bottom; default the whole image), the sign shrunk until it fits."""
    box = box or (0, 0, img.width, img.height)
    bw, bh = box[2] - box[0], box[3] - box[1]
    font_path = font_paths[int(rng.integers(len(font_paths)))]
    size = int(rng.integers(size_px[0], size_px[1] + 1))
    style = rng.choice(["plate", "outline", "bare"], p=[0.6, 0.25, 0.15])
    angle = float(rng.uniform(-5, 5))
    while True:
        font = ImageFont.truetype(str(font_path), size)
        probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
        x0, y0, x1, y1 = (int(np.floor(v)) if k < 2 else int(np.ceil(v)) for k, v in enumerate(
            probe.multiline_textbbox((0, 0), text, font=font, align="center", spacing=size // 4)))
        pad = size // 2 if style == "plate" else size // 8 + 2
        w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
        rad = np.deg2rad(abs(angle))
        rw, rh = w * np.cos(rad) + h * np.sin(rad), w * np.sin(rad) + h * np.cos(rad)
        if (rw <= bw * 0.95 and rh <= bh * 0.95) or size <= 8:
            break
        size = int(size * 0.85)
    x = box[0] + int(rng.integers(0, max(1, int(bw - rw)) + 1))
    y = box[1] + int(rng.integers(0, max(1, int(bh - rh)) + 1))
    under = img.crop((x, y, min(img.width, x + int(rw) + 1), min(img.height, y + int(rh) + 1))).convert("RGB")
    mean_under = tuple(int(v) for v in np.asarray(under).reshape(-1, 3).mean(0)) if under.width and under.height \
        else (128, 128, 128)
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    if style == "plate":
        plate = tuple(int(v) for v in rng.integers(0, 256, 3))
        ink = _contrasting(rng, plate)  # type: ignore[arg-type]
        border = ink if rng.random() < 0.5 else None
        d.rounded_rectangle((0, 0, w - 1, h - 1), radius=int(rng.integers(0, size // 2 + 1)), fill=(*plate, 255),
                            outline=(*border, 255) if border else None, width=max(1, size // 12))
        d.multiline_text((pad - x0, pad - y0), text, font=font, fill=(*ink, 255), align="center", spacing=size // 4)
    elif style == "outline":
        ink = tuple(int(v) for v in rng.integers(0, 256, 3))
        edge = (0, 0, 0) if _luma(ink) > 110 else (255, 255, 255)  # type: ignore[arg-type]
        d.multiline_text((pad - x0, pad - y0), text, font=font, fill=(*ink, 255), align="center",
                         spacing=size // 4, stroke_width=max(1, size // 12), stroke_fill=(*edge, 255))
    else:
        ink = _contrasting(rng, mean_under)  # type: ignore[arg-type]
        d.multiline_text((pad - x0, pad - y0), text, font=font, fill=(*ink, 255), align="center", spacing=size // 4)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    img.paste(layer, (x, y), layer)


# -- the labelled set --------------------------------------------------------------------------------------
@dataclass
class Item:
    path: Path
    caption: str
    sign: int | None = None  # index into SIGNS


def captioned_stamps(stamps: Path = STAMPS) -> list[tuple[Path, str]]:
    """Tux Paint's captioned photo stamps (training.datasets' rules for what is a photo), sorted by path."""
    from training.datasets import is_photo_stamp, read_caption

    if not stamps.is_dir() or not any(stamps.rglob("*.png")):
        raise SystemExit(f"no Tux Paint stamps in {stamps}: apt-get install -y tuxpaint-stamps-default")
    out = []
    for png in sorted(stamps.rglob("*.png")):
        if len(png.relative_to(stamps).parts) < 2 or not is_photo_stamp(png, stamps)[0]:
            continue
        txt = png.with_suffix(".txt")
        caption = read_caption(txt) if txt.is_file() else None
        if caption:
            out.append((png, caption))
    return out


def compose(png: Path, rng: np.random.Generator) -> Image.Image:
    """The stamp upscaled to LONG_SIDE on a plain background (a random colour, or near-white a third of the time)."""
    with Image.open(png) as im:
        rgba = im.convert("RGBA")
    scale = LONG_SIDE / max(rgba.size)
    rgba = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))),
                       Image.Resampling.LANCZOS)
    if rng.random() < 1 / 3:
        bg = tuple(int(v) for v in rng.integers(225, 256, 3))
    else:
        bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    left, top, right, bottom = (int(v) for v in rng.integers(24, 49, 4))
    canvas = Image.new("RGBA", (rgba.width + left + right, rgba.height + top + bottom), (*bg, 255))
    canvas.alpha_composite(rgba, (left, top))
    return canvas.convert("RGB")


def write_set(dest: Path, seed: int, n_signs: int, stamps: list[tuple[Path, str]], font_paths: list[Path],
              before: list[Item] | None = None) -> list[Item]:
    """The set of `seed` in `dest`: every stamp composed on its own background (the same in every seed), and on
    `n_signs` of them, chosen with the seed, a sign of the seed's choosing. Only files whose content changes
    from `before` (the previous seed's set in the same folder) are written: the library indexes and reads
    those again, as it would after an edit."""
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    n_signs = min(n_signs, len(stamps), len(SIGNS))
    signed = rng.choice(len(stamps), n_signs, replace=False)
    texts = rng.choice(len(SIGNS), n_signs, replace=False)
    sign_of = {int(i): int(t) for i, t in zip(signed, texts, strict=True)}
    items = []
    for i, (png, caption) in enumerate(stamps):
        path = dest / f"{i:04d}.jpg"
        item = Item(path, caption, sign_of.get(i))
        items.append(item)
        if before is not None and before[i].sign is None and item.sign is None:
            continue  # the same photo as before
        img = compose(png, np.random.default_rng([i, 4242]))
        if item.sign is not None:
            draw_sign(img, SIGNS[item.sign][0], np.random.default_rng([seed, i, 77]), (22, 40), font_paths)
        tmp = path.with_name(f".{path.name}.tmp")
        img.save(tmp, "JPEG", quality=90)
        os.replace(tmp, path)
    return items


# -- ranking -----------------------------------------------------------------------------------------------
@dataclass
class QueryResult:
    kind: str  # text | plain
    query: str
    clip_rank: int  # 1-based rank of the first relevant photo (len+1: not found)
    fused_rank: int
    text_matched: int = 0  # photos the fused ranking put first for their text
    first_fused: str = ""  # the text read in the photo the fused ranking put first, when text put it there


@dataclass
class SeedResult:
    seed: int
    photos: int
    queries: list[QueryResult] = field(default_factory=list)
    misses: list[tuple[str, str]] = field(default_factory=list)  # (sign, text read) where the query's words failed
    photos_with_text: int = 0
    unsigned_with_text: int = 0
    unsigned_examples: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # photos whose text holds another sign's query words
    photos_read: int = 0
    seconds_build: float = 0.0
    seconds_index: float = 0.0
    seconds_text: float = 0.0
    seconds_queries: float = 0.0


def run_seed(seed: int, lib: object, photos: Path, n_signs: int, stamps: list[tuple[Path, str]],
             font_paths: list[Path], encoder: object, before: list[Item] | None) -> tuple[SeedResult, list[Item]]:
    from engine.query import parse_query
    from engine.search import PhotoSearch, SearchOptions, query_words
    from engine.update import update_library

    t0 = time.perf_counter()
    items = write_set(photos, seed, n_signs, stamps, font_paths, before)
    res = SeedResult(seed, len(items), seconds_build=time.perf_counter() - t0)
    t0 = time.perf_counter()
    report = update_library(lib, encoder, do_tag=False, text=True)  # type: ignore[arg-type]
    changed = len(items) if before is None else sum(
        a.sign is not None or b.sign is not None for a, b in zip(items, before, strict=True))
    assert report.index.indexed == changed and report.index.failed == 0, (changed, report.index)
    assert report.text is not None and report.text.photos == changed, (changed, report.text)
    res.photos_read = report.text.photos
    res.seconds_text = report.text.seconds
    res.seconds_index = time.perf_counter() - t0 - res.seconds_text
    by_name: dict[str, Item] = {it.path.name: it for it in items}
    read: dict[str, str] = {}
    for photo in lib.catalog.photos_where("WHERE status = 'ok'", ()):  # type: ignore[attr-defined]
        name = Path(photo.path).name
        read[name] = lib.catalog.text.of_photo(photo.id) or ""  # type: ignore[attr-defined]
    assert len(read) == len(items), f"{len(read)} photos in the catalog, {len(items)} in the set"
    res.photos_with_text = sum(bool(t) for t in read.values())
    sign_words = [[fold(w) for w in query_words(parse_query(q))] for _, q in SIGNS]
    for name, item in by_name.items():
        if item.sign is None and read[name]:
            res.unsigned_with_text += 1
            res.unsigned_examples.append(f"{item.caption} -> {read[name]!r}")
        if item.sign is not None and not all(w in fold(read[name]) for w in sign_words[item.sign]):
            res.misses.append((SIGNS[item.sign][0], read[name]))
        if any(k != item.sign and all(w in fold(read[name]) for w in words) for k, words in enumerate(sign_words)):
            res.stale.append(f"{name} ({item.caption}): {read[name]!r}")

    t1 = time.perf_counter()
    searcher = PhotoSearch(lib, encoder)  # type: ignore[arg-type]
    options = SearchOptions(limit=len(items), min_z=None, one_per_group=False)

    def rank(results: list, relevant: set[str]) -> int:
        for k, r in enumerate(results, 1):
            if Path(r.photo.path).name in relevant:
                return k
        return len(items) + 1

    queries: list[tuple[str, str, set[str]]] = []
    for name, item in by_name.items():
        if item.sign is not None:
            queries.append(("text", SIGNS[item.sign][1], {name}))
    captions: dict[str, set[str]] = {}
    for name, item in by_name.items():
        captions.setdefault(item.caption, set()).add(name)
    queries += [("plain", caption, names) for caption, names in sorted(captions.items())]
    for k, (kind, query, relevant) in enumerate(queries):
        terms = parse_query(query)
        vec = searcher.query_vector(terms)
        clip = searcher.search_vector(vec, options)
        fused = searcher.search_vector(vec, options, words=query_words(terms))
        if k % 25 == 0:  # the fused ranking is what a search returns
            full = searcher.search(query, options)
            assert [r.photo.id for r in full] == [r.photo.id for r in fused], f"search({query!r}) differs"
        matched = sum(r.text_match for r in fused)
        first = read[Path(fused[0].photo.path).name] if fused and fused[0].text_match else ""
        res.queries.append(QueryResult(kind, query, rank(clip, relevant), rank(fused, relevant), matched,
                                       first))
    res.seconds_queries = time.perf_counter() - t1
    return res, items


def quiet_onnx_runtime() -> None:
    """ONNX Runtime's own log silenced (fatal only): with onnxruntime-gpu installed but no CUDA libraries, RapidOCR
    (asked for CUDA because the provider is listed) logs a failure per model it loads before it falls back to
    the CPU, which would bury the tables."""
    from engine.onnx_runtime import ort

    ort.set_default_logger_severity(4)


# -- statistics --------------------------------------------------------------------------------------------
METRICS = {"R@1": lambda r: (r <= 1).astype(float), "R@10": lambda r: (r <= 10).astype(float),
           "MRR": lambda r: 1.0 / r}


def stratified_bootstrap(diffs: list[np.ndarray], reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of all `diffs`, resampling queries within each seed."""
    rng = np.random.default_rng(seed)
    total = np.zeros(reps)
    n = 0
    for d in diffs:
        if len(d):
            total += d[rng.integers(0, len(d), (reps, len(d)))].sum(1)
            n += len(d)
    means = total / max(n, 1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="random sets (which photos get signs, which signs, drawn how)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--signs", type=int, default=60, help="photos that get a sign, per seed")
    ap.add_argument("--model", type=Path, default=STARTER, help="the model folder to index with (read-only)")
    ap.add_argument("--stamps", type=Path, default=STAMPS)
    args = ap.parse_args(argv)

    from bench._common import console, machine_line, make_table

    out = console()
    # multiprocessing's own temp folder (the decode pool's fork server socket) in the system temp dir, made
    # now: made later it would go inside the library (engine.indexer.use_pool_temp_dir), which is deleted
    # before multiprocessing cleans up at exit
    multiprocessing.util.get_temp_dir()
    with tempfile.TemporaryDirectory(prefix="photosift-textq-") as tmp:
        work = Path(tmp)
        # nothing of the user's: library, models list and caches all in the temp folder
        os.environ.update(PHOTOSIFT_LIBRARY=str(work / "user-library"), PHOTOSIFT_MODELS=str(work / "models"),
                          PHOTOSIFT_CACHE=str(work / "cache"))
        os.environ.pop("PHOTOSIFT_MODEL", None)
        from engine.encoder import ClipEncoder, RuntimeConfig
        from engine.library import Library
        from engine.modelfolder import ModelFolder
        from engine.text_in_photos import text_installed

        if not text_installed():
            raise SystemExit("RapidOCR is not installed: pip install 'photosift[ocr]' (or the rapidocr package)")
        quiet_onnx_runtime()
        if not (args.model / "manifest.json").is_file():
            raise SystemExit(f"no model folder at {args.model} (the starter model: `photosift models use starter` "
                             "builds it), or give --model")
        _check_signs()
        stamps = captioned_stamps(args.stamps)
        font_paths = fonts()
        encoder = ClipEncoder(ModelFolder.load(args.model), RuntimeConfig(device="cpu"))
        out.print(f"[bold]Text in photos: search quality[/] - {len(stamps)} captioned Tux Paint photos, "
                  f"{args.signs} with a drawn sign, model {encoder.model_id} ({encoder.variant}), "
                  f"{args.seeds} seed(s); {machine_line()}")
        t_all = time.perf_counter()
        seeds: list[SeedResult] = []
        photos = work / "photos"
        before: list[Item] | None = None
        with Library.open(work / "library") as lib:
            lib.catalog.add_root(str(photos))
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                res, before = run_seed(seed, lib, photos, args.signs, stamps, font_paths, encoder, before)
                seeds.append(res)
                out.print(f"seed {seed}: photos written {res.seconds_build:.0f} s, indexed {res.seconds_index:.0f} s, "
                          f"text read in {res.photos_read} photos {res.seconds_text:.0f} s "
                          f"({res.seconds_text / max(res.photos_read, 1):.2f} s/photo), {len(res.queries)} queries "
                          f"{res.seconds_queries:.0f} s; text found in {res.photos_with_text} photos; "
                          f"{len(res.misses)} of {min(args.signs, len(SIGNS))} signs' query words not read; "
                          f"{len(res.stale)} photos hold another sign's words")

    rows = []
    for kind, label in (("text", "text queries"), ("plain", "plain queries (captions)")):
        per_seed = [[q for q in s.queries if q.kind == kind] for s in seeds]
        n = sum(len(p) for p in per_seed)
        for metric, fn in METRICS.items():
            clip = [fn(np.array([q.clip_rank for q in p], float)) for p in per_seed]
            fused = [fn(np.array([q.fused_rank for q in p], float)) for p in per_seed]
            diffs = [f - c for f, c in zip(fused, clip, strict=True)]
            lo, hi = stratified_bootstrap(diffs)
            all_c, all_f, all_d = (np.concatenate(x) for x in (clip, fused, diffs))
            rows.append([f"{label} (n={n})" if metric == "R@1" else "", metric, f"{all_c.mean():.3f}",
                         f"{all_f.mean():.3f}", f"{all_d.mean():+.3f}", f"[{lo:+.3f}, {hi:+.3f}]",
                         "  ".join(f"{d.mean():+.3f}" for d in diffs)])
    out.print()
    out.print(make_table(
        f"Text in photos: CLIP alone vs fused (text matches first), {len(seeds)} seed(s), model {encoder.model_id}",
        ["query set", "metric", "CLIP", "fused", "fused - CLIP", "95% interval", "per seed"], rows,
        caption="Synthetic signs drawn on real photos (Tux Paint stamps). 95% interval: bootstrap over queries, "
                "stratified by seed, 10,000 resamples. per seed: each seed's mean difference."))

    plain = [q for s in seeds for q in s.queries if q.kind == "plain"]
    changed = [q for q in plain if q.fused_rank != q.clip_rank]
    worse = [q for q in changed if q.fused_rank > q.clip_rank]
    hit = [q for q in plain if q.text_matched]
    out.print(f"plain queries: {len(changed)} of {len(plain)} changed rank ({len(worse)} worse, "
              f"{len(changed) - len(worse)} better); {len(hit)} had a text match at all")
    for q in sorted(changed, key=lambda q: q.clip_rank - q.fused_rank)[:12]:
        out.print(f"  {q.query!r}: rank {q.clip_rank} -> {q.fused_rank}; {q.text_matched} text match(es)"
                  + (f", first: {q.first_fused!r}" if q.first_fused else ""))
    text = [q for s in seeds for q in s.queries if q.kind == "text"]
    worse_text = [q for q in text if q.fused_rank > q.clip_rank]
    if worse_text:
        out.print(f"text queries ranked worse fused than by CLIP: {len(worse_text)}")
        for q in worse_text[:8]:
            out.print(f"  {q.query!r}: {q.clip_rank} -> {q.fused_rank}")
    misses = [m for s in seeds for m in s.misses]
    out.print(f"signs whose query words the OCR did not read: {len(misses)} of {len(text)}")
    for sign, got in misses[:15]:
        out.print(f"  {sign!r} read as {got!r}")
    unsigned = [e for s in seeds for e in s.unsigned_examples]
    out.print(f"photos without a drawn sign in which text was read: {len(unsigned)} "
              f"({', '.join(str(s.unsigned_with_text) for s in seeds)} per seed); e.g.")
    for e in sorted(set(unsigned))[:10]:
        out.print(f"  {e}")
    stale = [e for s in seeds for e in s.stale]
    if stale:
        out.print(f"photos whose text holds another sign's query words (stale text?): {len(stale)}")
        for e in stale[:8]:
            out.print(f"  {e}")
    out.print(f"[dim]{time.perf_counter() - t_all:.0f} s in all[/]")


if __name__ == "__main__":
    main()
