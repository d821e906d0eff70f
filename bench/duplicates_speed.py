"""Duplicate grouping time at 100k and 1M photos, through the vector index's neighbour search, vs all pairs.

Data: the synthetic CLIP-like vectors of bench/query_latency.py (512-d, Gaussian clusters around random
centres plus a shared direction), stored in a real engine catalog. 1% of the photos are planted as
near-duplicates of another photo (the same vector plus noise: cosine ~0.97), and each planted pair shares a
pixel signature so it passes the pixel check; every other photo has none (its synthetic neighbours sit at
cosine ~0.65, far below the 0.77 candidate floor, so no pixel check would run for them anyway).

Measured per size, in this order:
  index    VectorIndex.refresh() with no index file (usearch build; the same index search uses);
  group    engine.duplicates.update_duplicates on a catalog with no groups yet: every photo's 9 nearest
           neighbours through usearch (beam 64, all cores), re-scoring, checks, union-find, catalog writes;
  again    the same after 1,000 new photos (500 of them copies of existing ones) were added: the
           incremental update after an index run;
  recall   planted pairs found in one group / planted pairs; false groups (not planted) are counted too;
  all pairs the exact baseline: numpy float32 blocks of 2,048 rows against every vector (what "compare
           everything" costs); timed on 4,096 rows and scaled to n rows (marked "est.") above 20k.

    python bench/duplicates_speed.py                        # 100k and 1M (1M: ~5 GB of disk, tens of minutes)
    python bench/duplicates_speed.py --sizes 20000 100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import console, default_workdir, machine_line, make_table, own_models_folder
from query_latency import DIM, Spec, _normalise, sample_points

from engine.library import Library

MODEL_ID = "dupbench"
CHUNK = 50_000
PLANTED = 0.01
NEW_PHOTOS = 1000
BASELINE_ROWS = 4096
BLOCK = 2048
SCORES_PER_BLOCK = 32_000_000


def _copy_of(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(1, -1)
    return _normalise(v + rng.standard_normal(v.shape, dtype=np.float32) * 0.011)[0]  # cosine ~0.97


def _insert(cat, ids: list[int], vecs: np.ndarray, sigs: dict[int, bytes]) -> None:
    now = time.time()
    with cat.transaction():
        cat.conn.executemany(
            "INSERT INTO photos(id, root_id, path, size, mtime, width, height, status, added_at, indexed_at, "
            "pixel_sig, sharpness) VALUES (?, 1, ?, 3000000, ?, 4000, 3000, 'ok', ?, ?, ?, 1.0)",
            [(i, f"/bench/{i // 1000:04d}/IMG_{i:07d}.jpg", now, now, now, sigs.get(i)) for i in ids],
        )
        cat.embeddings.put(MODEL_ID, ids, vecs)


def build(work: Path, spec: Spec) -> tuple[Path, np.ndarray, set[tuple[int, int]]]:
    """A catalog of spec.size photos, 1% of them planted copies; cached with its planted pairs."""
    ds = work / f"dup-{spec.name}"
    done = ds / "planted.json"
    if done.is_file():
        pairs = {tuple(p) for p in json.loads(done.read_text())}
        return ds, np.load(ds / "vectors.npy", mmap_mode="r"), pairs  # type: ignore[return-value]
    shutil.rmtree(ds, ignore_errors=True)
    ds.mkdir(parents=True)
    print(f"building a catalog of {spec.size:,} photos in {ds} ...", flush=True)
    rng = np.random.default_rng(spec.seed + 7)
    store = np.lib.format.open_memmap(ds / "vectors.npy", mode="w+", dtype=np.float32, shape=(spec.size, DIM))
    pairs: set[tuple[int, int]] = set()
    with Library.open(ds / "library") as lib:
        cat = lib.catalog
        cat.add_root("/bench")
        lib.set_active_model(MODEL_ID)
        for start in range(0, spec.size, CHUNK):
            stop = min(start + CHUNK, spec.size)
            vecs = sample_points(spec, stop - start, rng)
            ids = list(range(start + 1, stop + 1))
            sigs: dict[int, bytes] = {}
            for k in rng.choice(len(ids) // 2, size=int(len(ids) * PLANTED), replace=False):
                a, b = 2 * int(k), 2 * int(k) + 1  # row b becomes a copy of row a
                vecs[b] = _copy_of(vecs[a], rng)
                sigs[ids[a]] = sigs[ids[b]] = rng.integers(0, 256, 1024, dtype=np.uint8).tobytes()
                pairs.add((ids[a], ids[b]))
            store[start:stop] = vecs
            _insert(cat, ids, vecs, sigs)
        cat.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.flush()
    done.write_text(json.dumps(sorted(pairs)))
    return ds, np.load(ds / "vectors.npy", mmap_mode="r"), pairs


def _peak_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def all_pairs_seconds(vectors: np.ndarray) -> tuple[float, bool]:
    """Exact self-join time (top-9 per row by blocked matmul); measured fully up to 20k rows, else scaled."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    rows = len(v) if len(v) <= 20_000 else BASELINE_ROWS
    # A block's scores stay near 128 MB: at 1M photos a 2,048-row block took 8 GB (and its sort 16 GB more).
    block = max(16, min(BLOCK, SCORES_PER_BLOCK // len(v)))
    t0 = time.perf_counter()
    for start in range(0, rows, block):
        scores = v[start : min(start + block, rows)] @ v.T
        np.argpartition(-scores, 9, axis=1)[:, :9]
    seconds = time.perf_counter() - t0
    return seconds * len(v) / rows, rows < len(v)


def measure(work: Path, spec: Spec) -> dict[str, object]:
    from engine.duplicates import update_duplicates
    from engine.vectorindex import VectorIndex

    ds, vectors, planted = build(work, spec)
    rng = np.random.default_rng(spec.seed + 99)
    with Library.open(ds / "library") as lib:
        cat = lib.catalog
        with cat.transaction():
            cat.duplicates.reset()
        for f in (lib.paths.indexes).glob(f"{MODEL_ID}.*"):
            f.unlink()
        index = VectorIndex(cat, MODEL_ID, lib.paths.indexes)
        t0 = time.perf_counter()
        index.refresh()
        t_index = time.perf_counter() - t0
        print(f"  index build {t_index:.1f} s", flush=True)
        report = update_duplicates(cat, index, backfill=False)
        t_group = report.seconds
        peak_group = _peak_gb()
        print(f"  group {t_group:.1f} s, peak memory so far {peak_group:.1f} GB", flush=True)
        groups = cat.duplicates.groups()
        found = {frozenset(pid for pid, _ in g.members) for g in groups}
        hit = sum(frozenset(p) in found or any(set(p) <= g for g in found if len(g) > 2) for p in planted)
        false_groups = sum(not any(set(p) <= g for p in planted) for g in found if len(g) == 2)
        # incremental: 1,000 new photos, half of them copies of existing photos
        top = int(cat.conn.execute("SELECT MAX(id) FROM photos").fetchone()[0])
        new_ids = list(range(top + 1, top + 1 + NEW_PHOTOS))
        new_vecs = sample_points(spec, NEW_PHOTOS, rng)
        sigs: dict[int, bytes] = {}
        sources = rng.choice(len(vectors), size=NEW_PHOTOS // 2, replace=False)
        new_pairs = []
        for k, src in enumerate(sources):
            new_vecs[k] = _copy_of(np.asarray(vectors[src]), rng)
            sig = rng.integers(0, 256, 1024, dtype=np.uint8).tobytes()
            sigs[new_ids[k]] = sig
            with cat.transaction():
                cat.conn.execute("UPDATE photos SET pixel_sig = ? WHERE id = ?", (sig, int(src) + 1))
            new_pairs.append((int(src) + 1, new_ids[k]))
        _insert(cat, new_ids, new_vecs, sigs)
        t0 = time.perf_counter()
        index.refresh()
        again = update_duplicates(cat, index, backfill=False)
        t_again = time.perf_counter() - t0
        print(f"  +{NEW_PHOTOS:,} new photos {t_again:.1f} s", flush=True)
        membership = cat.duplicates.membership([p for pair in new_pairs for p in pair])
        hit_new = sum(a in membership and membership.get(a) == membership.get(b) for a, b in new_pairs)
        # leave the cached catalog as it was built
        with cat.transaction():
            cat.delete_photos(new_ids)
    t_all, estimated = all_pairs_seconds(np.asarray(vectors))
    return {
        "n": spec.size,
        "index_s": t_index,
        "group_s": t_group,
        "again_s": t_again,
        "again_checked": again.checked,
        "recall": hit / max(len(planted), 1),
        "recall_new": hit_new / len(new_pairs),
        "false_groups": false_groups,
        "groups": len(groups),
        "all_pairs_s": t_all,
        "peak_gb_after_group": peak_group,
        "estimated": estimated,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--workdir", type=Path, default=default_workdir())
    ap.add_argument("--clusters", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    own_models_folder(args.workdir / "models")
    rows = []
    for n in args.sizes:
        r = measure(args.workdir, Spec(n, args.clusters, args.seed))
        print(json.dumps(r), flush=True)
        est = " (est.)" if r["estimated"] else ""
        rows.append(
            (
                f"{n:,}",
                f"{r['index_s']:.1f}",
                f"{r['group_s']:.1f}",
                f"{r['all_pairs_s']:.0f}{est}",
                f"{r['all_pairs_s'] / r['group_s']:.1f}x",
                f"{r['again_s']:.2f}",
                f"{r['recall']:.4f}",
                f"{r['recall_new']:.3f}",
                r["false_groups"],
            )
        )
    console().print(
        make_table(
            "Duplicate grouping: vector-index neighbours vs all pairs (seconds)",
            (
                "photos",
                "index build",
                "group (first)",
                "all pairs",
                "all pairs / group",
                "+1,000 new",
                "recall planted",
                "recall new",
                "false groups",
            ),
            rows,
            caption=f"{machine_line()}; index build is the search index (made by `index` anyway); 'group' = "
            "update_duplicates on an empty set of groups; '+1,000 new' = index patch + incremental update.",
        )
    )


if __name__ == "__main__":
    main()
