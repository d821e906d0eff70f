"""Face grouping quality on real photos nobody here took for the purpose, with augmented copies.

Identities (one label per source; each source shows only that person):
  eileen   scikit-image's astronaut.png (public domain)
  messi    opencv-doc's examples/data/messi5.jpg and opencv4/html/inpaint_result.jpg (two different photos)
  goatee   opencv-doc's opencv4/html/230501201_1.jpg
  smiling  opencv-doc's opencv4/html/227943776_1.jpg
  glasses  opencv-doc's opencv4/html/example.jpg (three panels of one man)
  blonde   opencv-doc's opencv4/html/12.jpg, left half
opencv-doc is the Debian package (`apt-get download opencv-doc; dpkg -x`); point --opencv-doc at its root.
No person's face (every detection there is false): darknet's sample photos (Debian's darknet package, same
way, --darknet: a woman seen from behind with a dog and a horse, horses, a dog, an eagle, a giraffe, kites
on a beach, Munch's Scream) and scikit-image's coffee, chelsea (a cat), rocket, horse (a silhouette), coins
and the Hubble deep field.
Each source gets 6 copies: as is, mirrored, cropped (88 %), darker (0.7), lighter (1.3), rotated 8 degrees and
shrunk to 60 %. Every face found is labelled with its source's identity; the library's grouping (engine.people)
is scored with pairwise precision and recall: of the face pairs put in one person, how many are one identity;
of the pairs of one identity, how many were put in one person.

    python bench/faces_quality.py --opencv-doc /tmp/ocvdoc/x --darknet /tmp/dk/x
"""

from __future__ import annotations

import argparse
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

HTML = "usr/share/doc/opencv-doc/opencv4/html"
DATA = "usr/share/doc/opencv-doc/examples/data"


def sources(ocv: Path) -> list[tuple[str, Image.Image]]:
    from skimage import data

    out = [("eileen", Image.fromarray(data.astronaut()))]
    named = [("messi", f"{DATA}/messi5.jpg"), ("messi", f"{HTML}/inpaint_result.jpg"),
             ("goatee", f"{HTML}/230501201_1.jpg"), ("smiling", f"{HTML}/227943776_1.jpg"),
             ("glasses", f"{HTML}/example.jpg"), ("blonde", f"{HTML}/12.jpg")]
    for who, rel in named:
        path = ocv / rel
        if not path.is_file():
            continue
        img = Image.open(path).convert("RGB")
        if who == "blonde":
            img = img.crop((0, 0, img.width // 2, img.height))
        out.append((who, img))
    return out


def augment(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    return [img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            img.crop((round(w * 0.06), round(h * 0.06), round(w * 0.94), round(h * 0.94))),
            ImageEnhance.Brightness(img).enhance(0.7), ImageEnhance.Brightness(img).enhance(1.3),
            img.rotate(8, resample=Image.Resampling.BICUBIC, expand=True).resize((round(w * 0.6), round(h * 0.6)))]


def write_set(ocv: Path, dest: Path) -> list[tuple[Path, str]]:
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for k, (who, img) in enumerate(sources(ocv)):
        for j, copy in enumerate(augment(img)):
            path = dest / f"{who}-{k}-{j}.jpg"
            copy.save(path, quality=92)
            files.append((path, who))
    return files


def pairwise(labels: list[str], groups: list[int]) -> tuple[float, float]:
    tp = fp = fn = 0
    for i, j in combinations(range(len(labels)), 2):
        same_truth, same_group = labels[i] == labels[j], groups[i] == groups[j]
        tp += same_truth and same_group
        fp += same_group and not same_truth
        fn += same_truth and not same_group
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def evaluate(files: list[tuple[Path, str]], join_distances: list[float]) -> list[dict[str, object]]:
    import engine.people as people
    from engine.catalog import PhotoCatalog
    from engine.faces import FACE_MODEL_ID, find_faces_in_file

    found = []
    t0 = time.perf_counter()
    for path, who in files:
        faces = find_faces_in_file(path)
        found.append((path, who, faces))
    seconds = time.perf_counter() - t0
    rows = []
    for jd in join_distances:
        people.JOIN_DISTANCE = jd
        with tempfile.TemporaryDirectory() as tmp, PhotoCatalog(Path(tmp) / "c.db") as cat:
            root = cat.add_root("/q")
            labels: dict[int, str] = {}
            for n, (_path, who, faces) in enumerate(found):
                with cat.transaction():
                    pid = cat.insert_photo(root_id=root.id, path=f"/q/{n}.jpg", raw_path=None, size=1, mtime=0,
                                           fingerprint=f"f{n}")
                    cat.people.put_faces(pid, FACE_MODEL_ID, faces)
                for f in cat.people.faces_of_photo(pid, FACE_MODEL_ID):
                    labels[f.id] = who
            people.group_faces(cat, FACE_MODEL_ID)
            ids = sorted(labels)
            groups = [cat.people.face(i).person_id for i in ids]
            precision, recall = pairwise([labels[i] for i in ids], groups)
            rows.append({"join": jd, "faces": len(ids), "persons": len(set(groups)),
                         "identities": len(set(labels.values())), "precision": precision, "recall": recall})
    people.JOIN_DISTANCE = 0.5
    photos_with_face = sum(bool(f) for _, _, f in found)
    print(f"{len(files)} photos, {photos_with_face} with a face found ({sum(len(f) for _, _, f in found)} faces), "
          f"{seconds:.1f} s to find them")
    return rows


def faceless(darknet: Path) -> list[tuple[str, Image.Image]]:
    from skimage import data

    out = [(name, Image.fromarray(getattr(data, name)()).convert("RGB"))
           for name in ("coffee", "chelsea", "rocket", "horse", "coins", "hubble_deep_field")]
    for name in ("person", "horses", "dog", "eagle", "giraffe", "kite", "scream"):
        path = darknet / "usr/share/darknet/data" / f"{name}.jpg"
        if path.is_file():
            out.append((f"darknet {name}", Image.open(path).convert("RGB")))
    return out


def false_detections(darknet: Path, dest: Path) -> None:
    from engine.faces import find_faces_in_file

    found = []
    for name, img in faceless(darknet):
        path = dest / f"{name.replace(' ', '-')}.png"
        img.save(path)
        found.append((name, len(find_faces_in_file(path))))
    print(f"photos without a person's face: {len(found)}, faces found in them: {sum(n for _, n in found)}"
          + "".join(f"; {name}: {n}" for name, n in found if n))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--opencv-doc", type=Path, default=Path("/"), help="root where opencv-doc's files are")
    ap.add_argument("--darknet", type=Path, default=Path("/"), help="root where darknet's files are")
    ap.add_argument("--joins", default="0.4,0.45,0.5,0.55,0.6", help="JOIN_DISTANCE values to score")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_set(args.opencv_doc, Path(tmp))
        rows = evaluate(files, [float(x) for x in args.joins.split(",")])
        false_detections(args.darknet, Path(tmp))
    print("| join distance | faces | identities | persons | pairwise precision | pairwise recall |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['join']} | {r['faces']} | {r['identities']} | {r['persons']} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
