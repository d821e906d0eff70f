"""Faces: what finding them costs next to indexing without them, and grouping time at 100k faces.

(1) Indexing rate without faces: bench/index_throughput.py's run (its 12 MP JPEGs, random ViT-B-32 int8,
    engine.update.update_library, engine defaults) on --count photos.
(2) The faces pass on the same library (engine.faces.find_faces, all cores): photos/s. Those photos have no
    faces, so this is the detector's cost alone, the cost every photo pays.
(3) Per face: the real face photos of bench/faces_quality.py (one to three faces each), faces/s including
    detection, alignment and the ResNet embedding.
(4) Grouping (engine.people.group_faces) of --faces synthetic 128-d faces (2000 persons, dlib-like spread) into an
    empty library, then of 1000 new faces into it (the incremental case, as `index` runs it: the grouped
    faces' index kept in a file), beside the same 1000 with that index built afresh (how it was before);
    pairwise precision/recall of the result.

    python bench/faces_speed.py --count 32 --opencv-doc /tmp/ocvdoc/x
    python bench/faces_speed.py --only-grouping --faces 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: `bench.` and the engine import


def grouping(n_faces: int, n_persons: int = 2000, seed: int = 0) -> dict[str, float]:
    from engine.catalog import FoundFaceRow, PhotoCatalog
    from engine.people import group_faces

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_persons, 128)).astype(np.float32)
    centres *= 0.65 / np.linalg.norm(centres, axis=1, keepdims=True)  # persons ~0.9 apart, like dlib's
    who = rng.integers(0, n_persons, n_faces + 1000)
    vecs = centres[who] + rng.normal(size=(len(who), 128)).astype(np.float32) * (0.15 / np.sqrt(128))
    with tempfile.TemporaryDirectory() as tmp, PhotoCatalog(Path(tmp) / "c.db") as cat:
        kept = Path(tmp) / "faces.usearch"
        root = cat.add_root("/s")
        with cat.transaction():
            for n in range(len(who)):
                pid = cat.insert_photo(root_id=root.id, path=f"/s/{n}.jpg", raw_path=None, size=1, mtime=0,
                                       fingerprint=f"f{n}")
                if n < n_faces:
                    cat.people.put_faces(pid, "bench", [FoundFaceRow(0.4, 0.3, 0.2, 0.2, 1.0, vecs[n])])
        t0 = time.perf_counter()
        group_faces(cat, "bench", index_path=kept)
        first = time.perf_counter() - t0

        def add_new() -> None:
            with cat.transaction():
                for n in range(n_faces, len(who)):
                    cat.people.put_faces(n + 1, "bench", [FoundFaceRow(0.4, 0.3, 0.2, 0.2, 1.0, vecs[n])])

        add_new()  # the new faces' rows, then grouped with the index rebuilt (no file), then again with it kept
        t0 = time.perf_counter()
        group_faces(cat, "bench")
        rebuilt = time.perf_counter() - t0
        add_new()  # put_faces replaces them: without a person again, as new faces are
        t0 = time.perf_counter()
        group_faces(cat, "bench", index_path=kept)
        more = time.perf_counter() - t0
        rows = cat.conn.execute("SELECT photo_id, person_id FROM faces ORDER BY photo_id").fetchall()
    truth = who[[r[0] - 1 for r in rows]]
    groups = np.array([r[1] for r in rows])
    # pairwise precision/recall from the contingency table (all pairs would be 5e9 at 100k)
    pairs = {}
    for t, g in zip(truth.tolist(), groups.tolist(), strict=True):
        pairs[(t, g)] = pairs.get((t, g), 0) + 1
    c2 = lambda k: k * (k - 1) / 2  # noqa: E731
    tp = sum(c2(v) for v in pairs.values())
    same_group = sum(c2(v) for v in np.bincount(groups).tolist())
    same_truth = sum(c2(v) for v in np.bincount(truth).tolist())
    return {"faces": n_faces, "first_s": first, "more_s": more, "rebuilt_s": rebuilt, "precision": tp / same_group,
            "recall": tp / same_truth, "persons": len(set(groups.tolist()))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=32, help="12 MP photos for (1) and (2)")
    ap.add_argument("--faces", type=int, default=100_000, help="synthetic faces for (4)")
    ap.add_argument("--opencv-doc", type=Path, default=Path("/"))
    ap.add_argument("--only-grouping", action="store_true")
    args = ap.parse_args(argv)
    if not args.only_grouping:
        from bench._common import default_workdir
        from bench.faces_quality import write_set
        from bench.index_throughput import build_vitb32, ensure_photos, ensure_vitb32_folder, run_photosift
        from engine.faces import find_faces, find_faces_in_file
        from engine.library import Library

        workdir = default_workdir()
        os.environ["PHOTOSIFT_MODELS"] = str(workdir / "models")  # its libraries are listed there, not in the user's
        root, _ = ensure_photos(workdir, args.count)
        folder = ensure_vitb32_folder(workdir / "models", build_vitb32()[0])
        run = run_photosift(root, folder, "int8", workdir / "runs" / "faces-lib")
        assert run.library is not None
        with Library.open(run.library) as lib:  # the numbered folder the run indexed, not a fresh empty one
            t0 = time.perf_counter()
            rep = find_faces(lib.catalog, lib.catalog.people.photos_missing_faces("dlib-hog-resnet-v1"))
            faces_rate = rep.photos / (time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            files = write_set(args.opencv_doc, Path(tmp))
            t0 = time.perf_counter()
            n = sum(len(find_faces_in_file(p)) for p, _ in files)
            per_face = n / (time.perf_counter() - t0)
        print("| stage | rate | ratio to indexing |")
        print("|---|---|---|")
        print(f"| index without faces (ViT-B-32 int8, 12 MP) | {run.rate:.1f} photos/s | 1.00 |")
        print(f"| faces pass, same photos (no faces in them) | {faces_rate:.2f} photos/s | "
              f"{faces_rate / run.rate:.2f} |")
        print(f"| faces pass, real face photos ({n} faces in {len(files)} photos, one process) | "
              f"{per_face:.2f} faces/s | - |")
    g = grouping(args.faces)
    print("| grouping | faces | seconds | persons (2000 true) | pairwise precision | pairwise recall |")
    print("|---|---|---|---|---|---|")
    print(f"| into an empty library | {g['faces']} | {g['first_s']:.1f} | {g['persons']} | "
          f"{g['precision']:.3f} | {g['recall']:.3f} |")
    print(f"| 1000 new faces into it, grouped faces' index kept | 1000 | {g['more_s']:.2f} | | | |")
    print(f"| the same, index built afresh (before) | 1000 | {g['rebuilt_s']:.2f} | "
          f"kept is {g['rebuilt_s'] / g['more_s']:.0f}x faster | | |")


if __name__ == "__main__":
    main()
