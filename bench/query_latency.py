"""Query latency, recall and memory of the engine's vector index at 100k and 1M photos, vs exact numpy search.

Data: synthetic CLIP-like vectors (512-d, L2-normalised): a few thousand Gaussian clusters of unequal size
around random centres, plus a direction shared by all vectors (real CLIP embeddings are anisotropic). They are
stored in a real engine PhotoCatalog (photo rows by executemany, vectors by catalog.embeddings.put in
chunks) so that engine.vectorindex.VectorIndex builds its usearch index from SQLite, exactly as in the app.
The catalog (and a .npy copy of the vectors for the exact baseline) is cached in the work folder.

Measured per size, each phase in a fresh child process (so memory figures belong to that phase only):

  build   VectorIndex.refresh() with no index file: read all vectors from SQLite, usearch add, save, map;
          the SQLite read alone is timed too.
  serve   as the app does when a library is opened for search:
          - open: the first VectorIndex.refresh() with an up-to-date index file (time, RSS growth, peak);
          - end to end: PhotoSearch.search(text, limit 10): query parsing, a real text encode through the
            exported ViT-B-32 text tower (int8, random weights), VectorIndex.search top-10 with exact re-scoring
            from SQLite, the relevance cutoff sample, photo rows; p50/p95 after warm-up;
          - the parts: text encode alone, VectorIndex.search alone, the raw usearch search alone (the same
            candidate count the engine asks for), and exact numpy (all vectors in RAM, one matmul +
            argpartition per query);
          - recall@10 of VectorIndex.search (and of raw usearch) against exact search, for three query sets:
            the text-tower vectors of the latency prompts, "image-like" queries (fresh points drawn from the
            clusters, as in "find similar") and "text-like" queries (a cluster direction behind a modality gap,
            top scores ~0.3 as with real CLIP text queries);
          - memory: index file size and RSS (total and file-backed, the index being memory-mapped).

Run from the repository root (1M needs ~5 GB of disk in the work folder and several minutes on 2 cores):

    python bench/query_latency.py                                 # 100k and 1M
    python bench/query_latency.py --sizes 100000 --workdir /data/psbench
    python bench/query_latency.py --reuse-index                   # skip the rebuild when the index is current
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    MODEL_ID,
    ForeignLoad,
    console,
    default_workdir,
    ensure_vitb32_folder,
    machine_line,
    make_table,
    mib,
    own_models_folder,
    percentiles_ms,
    proc_status,
    time_calls,
    wait_until_idle,
)

from engine.library import Library

DIM = 512
NOISE = 0.033  # per-dimension noise: cosine of a point to its cluster centre ~0.8
SHARED = 0.5  # weight of the direction all vectors share
CHUNK = 50_000
K = 10
BUDGET_S = 60.0  # per latency or recall measurement: slow configurations get fewer (at least 10-20) queries
TARGETS_1M = {"p50_ms": 25.0, "recall": 0.95, "index_bytes": 1.2e9}
PROMPTS = (
    "a dog on the beach", "kids playing in the snow", "birthday cake with candles", "red car parked on a street",
    "mountains at sunset", "an old black and white portrait", "a cat sleeping on a sofa", "wedding dance",
    "fireworks over the city", "plate of pasta", "a bicycle leaning on a wall", "grandma in the garden",
    "sailing boat on a lake", "christmas tree with lights", "a person skiing", "tulips in a vase",
    "the eiffel tower", "a baby laughing", "autumn forest path", "receipt", "screenshot of a chat",
    "whiteboard with notes", "a horse in a field", "city skyline at night", "people hiking on a ridge",
    "a selfie in a mirror", "coffee cup on a table", "graduation ceremony", "a dog catching a frisbee",
    "rainy window", "a tent under the stars", "birds on a wire", "a lighthouse", "football match",
    "sushi", "a train station", "a pumpkin", "the beach at low tide", "a messy desk", "a snowman",
)


# -- the data set ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    size: int
    clusters: int
    seed: int

    @property
    def name(self) -> str:
        return f"vectors-{self.size}-{DIM}d-{self.clusters}c-s{self.seed}"


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def model_of(spec: Spec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cluster centres, cluster weights, the shared direction and the text-modality direction."""
    rng = np.random.default_rng(spec.seed)
    centres = _normalise(rng.standard_normal((spec.clusters, DIM), dtype=np.float32))
    weights = rng.lognormal(0.0, 1.0, spec.clusters)
    shared, gap = _normalise(rng.standard_normal((2, DIM), dtype=np.float32))
    return centres, weights / weights.sum(), shared, gap


def sample_points(spec: Spec, n: int, rng: np.random.Generator) -> np.ndarray:
    centres, weights, shared, _ = model_of(spec)
    which = rng.choice(spec.clusters, size=n, p=weights)
    x = centres[which] + SHARED * shared + rng.standard_normal((n, DIM), dtype=np.float32) * NOISE
    return _normalise(x)


def text_like_queries(spec: Spec, n: int, rng: np.random.Generator) -> np.ndarray:
    centres, weights, shared, gap = model_of(spec)
    which = rng.choice(spec.clusters, size=n, p=weights)
    x = 0.45 * centres[which] + 0.2 * shared + 1.0 * gap + rng.standard_normal((n, DIM), dtype=np.float32) * 0.03
    return _normalise(x)


def ensure_dataset(workdir: Path, spec: Spec, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """A library folder whose catalog holds `spec.size` photos with vectors, plus vectors.npy; cached."""
    ds = workdir / spec.name
    done = ds / "dataset.json"
    if done.is_file() and not rebuild:
        return ds, json.loads(done.read_text())
    shutil.rmtree(ds, ignore_errors=True)
    ds.mkdir(parents=True)
    print(f"building catalog of {spec.size:,} vectors in {ds} ...", flush=True)
    rng = np.random.default_rng(spec.seed + 1)
    store = np.lib.format.open_memmap(ds / "vectors.npy", mode="w+", dtype=np.float32, shape=(spec.size, DIM))
    t_photos = t_vectors = 0.0
    with Library.open(ds / "library") as lib:
        cat = lib.catalog
        root = cat.add_root("/bench/synthetic")
        now = time.time()
        for start in range(0, spec.size, CHUNK):
            stop = min(start + CHUNK, spec.size)
            vecs = sample_points(spec, stop - start, rng)
            store[start:stop] = vecs
            ids = list(range(start + 1, stop + 1))  # photo id i holds row i - 1 of vectors.npy
            t0 = time.perf_counter()
            with cat.transaction():
                cat.conn.executemany(
                    "INSERT INTO photos(id, root_id, path, size, mtime, fingerprint, width, height, status, "
                    "added_at, indexed_at) VALUES (?, ?, ?, 3000000, ?, NULL, 4000, 3000, 'ok', ?, ?)",
                    [(i, root.id, f"/bench/synthetic/{i // 1000:04d}/IMG_{i:07d}.jpg", now, now, now)
                     for i in ids])
            t1 = time.perf_counter()
            with cat.transaction():
                cat.embeddings.put(MODEL_ID, ids, vecs)
            t_photos, t_vectors = t_photos + t1 - t0, t_vectors + time.perf_counter() - t1
        cat.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.flush()
    del store
    info = {"size": spec.size, "seconds_photos": t_photos, "seconds_vectors": t_vectors,
            "catalog_bytes": (ds / "library" / "catalog.db").stat().st_size}
    done.write_text(json.dumps(info))
    return ds, info


# -- child phases -------------------------------------------------------------------------------------
def _open(ds: Path) -> Library:
    return Library.open(ds / "library")


def child_build(ds: Path) -> dict[str, Any]:
    from engine.vectorindex import VectorIndex

    with _open(ds) as lib:
        for p in lib.paths.indexes.glob(f"{MODEL_ID}.*"):
            p.unlink()
        t0 = time.perf_counter()
        n = sum(len(ids) for ids, _ in lib.catalog.embeddings.chunks(MODEL_ID))  # the read alone, chunk by chunk
        read_s = time.perf_counter() - t0
        assert n > 0
        index = VectorIndex(lib.catalog, MODEL_ID, lib.paths.indexes)
        t0 = time.perf_counter()
        index.refresh()
        build_s = time.perf_counter() - t0
        return {"read_s": read_s, "build_s": build_s, "peak_rss": proc_status()["VmHWM"],
                "index_bytes": index.index_path.stat().st_size if index.index_path.is_file() else 0,
                "exact": index._exact is not None}


def _recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:K].tolist()) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))


def _exact_top(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Photo ids (row + 1) of the exact top-k of each query, best first."""
    out = []
    for q in queries:
        scores = vectors @ q
        part = np.argpartition(-scores, K - 1)[:K]
        out.append(part[np.argsort(-scores[part])] + 1)
    return np.array(out, dtype=np.uint64)


def child_serve(ds: Path, models_dir: Path, spec: Spec, n_queries: int, n_recall: int) -> dict[str, Any]:
    from engine.encoder import ClipEncoder, RuntimeConfig
    from engine.search import PhotoSearch, SearchOptions

    res: dict[str, Any] = {}
    folder = ensure_vitb32_folder(models_dir)
    encoder = ClipEncoder(folder, RuntimeConfig(device="cpu", variant="int8"))
    encoder.encode_texts(["warm up the text tower"])
    lib = _open(ds)
    search = PhotoSearch(lib, encoder)
    index = search.index
    before = proc_status()
    t0 = time.perf_counter()
    index.refresh()
    res["open_s"] = time.perf_counter() - t0
    after = proc_status()
    res["rss_open_delta"] = after["VmRSS"] - before["VmRSS"]
    res["rss_file_open_delta"] = after["RssFile"] - before["RssFile"]
    res["peak_open_delta"] = after["VmHWM"] - before["VmRSS"]
    res["index_bytes"] = index.index_path.stat().st_size if index.index_path.is_file() else 0
    res["exact_mode"] = index._exact is not None
    opts = SearchOptions(limit=K)

    t0 = time.perf_counter()
    search.search(PROMPTS[0], opts)
    res["first_query_s"] = time.perf_counter() - t0
    res["e2e"] = time_calls(lambda i: search.search(PROMPTS[i % len(PROMPTS)], opts), n_queries, warmup=5,
                            budget_s=BUDGET_S)
    text_vecs = encoder.encode_texts(list(PROMPTS))
    res["encode"] = time_calls(lambda i: encoder.encode_texts([PROMPTS[i % len(PROMPTS)]]), n_queries)
    res["vi_search"] = time_calls(lambda i: index.search(text_vecs[i % len(PROMPTS)], K), n_queries,
                                  budget_s=BUDGET_S)
    res["stamp"] = time_calls(lambda i: lib.catalog.embeddings.stamp(MODEL_ID), min(n_queries, 30),
                              budget_s=BUDGET_S / 4)
    raw = index._index
    if raw is not None:
        count = min(max(K * 4, 64), len(raw))  # what VectorIndex.search asks usearch for
        res["raw_count"] = count
        res["usearch"] = time_calls(lambda i: raw.search(text_vecs[i % len(PROMPTS)], count=count), n_queries)
    served = proc_status()
    res["rss_served_delta"] = served["VmRSS"] - before["VmRSS"]
    res["rss_file_served_delta"] = served["RssFile"] - before["RssFile"]

    rng = np.random.default_rng(spec.seed + 2)
    sets = {"text tower": text_vecs, "image-like": sample_points(spec, n_recall, rng),
            "text-like": text_like_queries(spec, n_recall, rng)}
    found_engine = {}
    res["per_set"] = {}
    for name, qs in sets.items():  # slow engines get fewer recall queries, within the time budget
        t0, found, wide0 = time.perf_counter(), [], index.wide_searches
        for q in qs:
            found.append(index.search(q, K).ids)
            if len(found) >= 20 and time.perf_counter() - t0 > BUDGET_S:
                break
        found_engine[name] = found
        sets[name] = qs[:len(found)]
        wide = (index.wide_searches - wide0) / len(found)
        # Everything a query costs after its text is encoded: search, cutoff sample, photo rows.
        latency = time_calls(lambda i, qs=sets[name]: search.search_vector(qs[i % len(qs)], opts),
                             min(n_queries, 100), warmup=3, budget_s=BUDGET_S / 2)
        res["per_set"][name] = {"search": latency, "wide": wide}
    found_raw = ({name: [np.asarray(raw.search(q, count=res["raw_count"]).keys, np.uint64) for q in qs]
                  for name, qs in sets.items()} if raw is not None else {})
    lib.close()

    t0 = time.perf_counter()
    vectors = np.load(ds / "vectors.npy")  # the exact baseline: every vector in RAM
    res["numpy_load_s"] = time.perf_counter() - t0
    res["numpy_bytes"] = int(vectors.nbytes)
    res["numpy"] = time_calls(lambda i: _exact_top(vectors, text_vecs[i % len(PROMPTS)][None]), min(n_queries, 50))
    res["recall"] = {}
    for name, qs in sets.items():
        truth = _exact_top(vectors, qs)
        top1 = float(np.mean(np.sum(vectors[truth[:, 0].astype(np.int64) - 1] * qs, axis=1)))
        res["recall"][name] = {"engine": _recall(found_engine[name], truth),
                               "usearch": _recall(found_raw[name], truth) if found_raw else None,
                               "top1": top1, "n": len(qs)}
    return res


def _child(mode: str, ds: Path, out: Path, args: argparse.Namespace, spec: Spec) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--child-dataset", str(ds),
           "--child-out", str(out), "--workdir", str(args.workdir), "--sizes", str(spec.size),
           "--clusters", str(spec.clusters), "--seed", str(spec.seed), "--queries", str(args.queries),
           "--recall-queries", str(args.recall_queries)]
    wait_until_idle(args.idle_wait)
    with ForeignLoad() as load:
        subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    result["foreign"] = load.cores
    out.write_text(json.dumps(result))
    return result


# -- report -----------------------------------------------------------------------------------------
def _ms(samples: list[float] | None) -> str:
    if not samples:
        return "-"
    p50, p95 = percentiles_ms(samples)
    return f"{p50:.2f} / {p95:.2f}" + (f" (n={len(samples)})" if len(samples) < 30 else "")


def _load(ds: Path) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """The cached results of the last run on one data set (for --report-only)."""
    built = json.loads((ds / "build.json").read_text()) if (ds / "build.json").is_file() else None
    return json.loads((ds / "dataset.json").read_text()), built, json.loads((ds / "serve.json").read_text())


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def report(runs: list[tuple[Spec, dict[str, Any], dict[str, Any] | None, dict[str, Any]]]) -> None:
    out = console()
    sizes = [f"{s.size:,}" for s, *_ in runs]
    cols = ["", *sizes]

    def row(label: str, fn: Any) -> list[str]:
        return [label, *(fn(s, d, b, v) for s, d, b, v in runs)]

    def target(s: Spec, ok: bool) -> str:
        return ("  ok" if ok else "  MISSED") if s.size >= 1_000_000 else ""

    def p50(samples: list[float]) -> float:
        return percentiles_ms(samples)[0]

    rows = [
        row("catalog: insert photos / vectors", lambda s, d, b, v: f"{d['seconds_photos']:.1f} s / "
            f"{d['seconds_vectors']:.1f} s"),
        row("catalog file", lambda s, d, b, v: _gb(d["catalog_bytes"])),
        row("index build (refresh, no index file)",
            lambda s, d, b, v: f"{b['build_s']:.1f} s" if b else "reused"),
        row("  of which SQLite read of all vectors", lambda s, d, b, v: f"{b['read_s']:.1f} s" if b else "-"),
        row("  peak RSS of the build process", lambda s, d, b, v: mib(b["peak_rss"]) if b else "-"),
        row("index file size (target < 1.2 GB at 1M)", lambda s, d, b, v: _gb(v["index_bytes"])
            + target(s, v["index_bytes"] < TARGETS_1M["index_bytes"])),
        row("open: first refresh, index current", lambda s, d, b, v: f"{v['open_s']:.2f} s"),
        row("  RSS growth after open (file-backed)", lambda s, d, b, v: f"{mib(v['rss_open_delta'])} "
            f"({mib(v['rss_file_open_delta'])})"),
        row("  peak RSS growth during open", lambda s, d, b, v: mib(v["peak_open_delta"])),
        row("  RSS growth after queries (file-backed)", lambda s, d, b, v: f"{mib(v['rss_served_delta'])} "
            f"({mib(v['rss_file_served_delta'])})"),
        row("first query after open", lambda s, d, b, v: f"{v['first_query_s'] * 1000:.0f} ms"),
        row("END TO END text query p50 / p95 ms", lambda s, d, b, v: _ms(v["e2e"])
            + target(s, p50(v["e2e"]) < TARGETS_1M["p50_ms"])),
        row("  text encode (int8) p50 / p95 ms", lambda s, d, b, v: _ms(v["encode"])),
        row("  VectorIndex.search top-10 p50 / p95 ms", lambda s, d, b, v: _ms(v["vi_search"])),
        row("    catalog.embeddings.stamp p50 / p95 ms", lambda s, d, b, v: _ms(v["stamp"])),
        row("  raw usearch search p50 / p95 ms", lambda s, d, b, v: _ms(v.get("usearch"))
            + (f" (count {v['raw_count']})" if "raw_count" in v else "")),
        row("exact numpy, 1 query, p50 / p95 ms", lambda s, d, b, v: _ms(v["numpy"])),
        row("  numpy vectors in RAM / load time", lambda s, d, b, v: f"{mib(v['numpy_bytes'])} / "
            f"{v['numpy_load_s']:.1f} s"),
    ]
    for name in ("text tower", "image-like", "text-like"):
        rows.append(row(f"{name} queries: search_vector p50 / p95 ms", lambda s, d, b, v, n=name: (
            _ms(v["per_set"][n]["search"]) if "per_set" in v else "-")))
        rows.append(row("  share that needed the wide beam / est. end to end p50", lambda s, d, b, v, n=name: (
            f"{v['per_set'][n]['wide']:.0%} / {p50(v['encode']) + p50(v['per_set'][n]['search']):.1f} ms"
            if "per_set" in v else "-")))
        rows.append(row(f"  recall@10 engine, {name} queries", lambda s, d, b, v, n=name: (
            f"{v['recall'][n]['engine']:.3f}" + (f" (n={v['recall'][n]['n']})" if v["recall"][n]["n"] < 100 else "")
            + target(s, v["recall"][n]["engine"] >= TARGETS_1M["recall"]))))
        rows.append(row("    raw usearch top-10 / exact top-1 cos", lambda s, d, b, v, n=name: (
            (f"{v['recall'][n]['usearch']:.3f}" if v["recall"][n]["usearch"] is not None else "-")
            + f" / {v['recall'][n]['top1']:.2f}")))
    rows.append(row("busy elsewhere (cores, build / serve)", lambda s, d, b, v: (
        f"{b.get('foreign', float('nan')):.2f} / " if b else "- / ") + f"{v.get('foreign', float('nan')):.2f}"))
    out.print()
    out.print(make_table(
        f"Query latency, recall and memory: {DIM}-d vectors, engine VectorIndex vs exact numpy", cols, rows))
    out.print(
        "Targets at 1M: end-to-end p50 < 25 ms, recall@10 >= 0.95, index memory < 1.2 GB.\n"
                "End to end = PhotoSearch.search(text, limit 10) in a fresh process after 5 warm-up queries, with the "
                "random-weight text tower's vectors: queries unlike every photo, all searched with the wide beam.\n"
                "search_vector = PhotoSearch.search_vector(vector, limit 10): all but the text encode; "
                "est. end to end = text encode p50 + its p50.\n"
                "Recall is VectorIndex.search (usearch candidates re-scored exactly) vs exact numpy top-10; "
                "'raw usearch' = usearch's own first 10.\n"
                "busy elsewhere = CPU cores other processes used during the phase (0 = a clean measurement).")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated library sizes")
    ap.add_argument("--workdir", type=Path, default=default_workdir(),
                    help="cache of catalogs, vectors and the exported model (default %(default)s)")
    ap.add_argument("--clusters", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, default=200, help="timed queries per measurement")
    ap.add_argument("--recall-queries", type=int, default=200, help="queries per synthetic recall set")
    ap.add_argument("--rebuild-catalog", action="store_true", help="regenerate the cached catalogs")
    ap.add_argument("--reuse-index", action="store_true", help="do not rebuild an index file that is current")
    ap.add_argument("--idle-wait", type=float, default=300.0,
                    help="before each phase, wait up to this many seconds for other processes to go quiet")
    ap.add_argument("--report-only", action="store_true", help="print the table of the last run again")
    ap.add_argument("--child", choices=("build", "serve"), help=argparse.SUPPRESS)
    ap.add_argument("--child-dataset", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    models_dir = args.workdir / "models"
    own_models_folder(models_dir)  # the libraries it opens are listed there, not in the person's models folder

    if args.child:
        spec = Spec(sizes[0], args.clusters, args.seed)
        result = (child_build(args.child_dataset) if args.child == "build" else
                  child_serve(args.child_dataset, models_dir, spec, args.queries, args.recall_queries))
        args.child_out.write_text(json.dumps(result))
        return

    out = console()
    if args.report_only:
        cached = []
        for size in sizes:
            spec = Spec(size, min(args.clusters, max(1, size // 20)), args.seed)
            cached.append((spec, *_load(args.workdir / spec.name)))
        report(cached)
        return
    out.print(f"[bold]Photosift query latency[/] - sizes {', '.join(f'{s:,}' for s in sizes)}; {machine_line()}")
    free = shutil.disk_usage(args.workdir if args.workdir.exists() else args.workdir.parent).free
    need = sum(s * 7_200 for s in sizes)  # per vector: ~4.3 KB in SQLite (one 4 KiB page each), 2 KB .npy, index
    out.print(f"work folder {args.workdir}: {free / 1e9:.0f} GB free, up to {need / 1e9:.1f} GB needed")
    if free < need:
        raise SystemExit("not enough free disk in the work folder; use --workdir or fewer --sizes")
    args.workdir.mkdir(parents=True, exist_ok=True)
    ensure_vitb32_folder(models_dir)
    runs = []
    for size in sizes:
        spec = Spec(size, min(args.clusters, max(1, size // 20)), args.seed)
        ds, info = ensure_dataset(args.workdir, spec, args.rebuild_catalog)
        built = None
        if not args.reuse_index or not any((ds / "library" / "indexes").glob(f"{MODEL_ID}.*")):
            out.print(f"{size:,}: building the index ...")
            built = _child("build", ds, ds / "build.json", args, spec)
        out.print(f"{size:,}: serving queries ...")
        served = _child("serve", ds, ds / "serve.json", args, spec)
        runs.append((spec, info, built, served))
    report(runs)


if __name__ == "__main__":
    main()
