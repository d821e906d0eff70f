"""The People screenshot for the README: real face photos nobody here took for the purpose (scikit-image's
astronaut; Debian's opencv-doc photos when unpacked, as bench/faces_quality.py uses), each with augmented
copies, indexed with faces on; the two largest persons are named, one is chosen in the sidebar, and the
details preview shows its named boxes.

    .venv/bin/python scripts/screenshot_people.py [--opencv-doc /tmp/ocvdoc/x] [--out docs] [--hold SECONDS]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from _shot import indexed_window, shot_arguments

    ap = shot_arguments()
    ap.add_argument("--opencv-doc", type=Path, default=Path("/"), help="root where opencv-doc's files are")
    ap.add_argument("--names", default="eileen-0=Eileen,messi-1=Leo,goatee-3=Ravi",
                    help="FILE=NAME,...: the person found in FILE-0.jpg (the unchanged copy) gets NAME")
    args = ap.parse_args()

    from bench.faces_quality import write_set
    from engine.faces import FACE_MODEL_ID
    from engine.people import name_person
    from engine.update import set_faces_setting

    photos_dir = Path()

    def make_photos(folder: Path) -> Path:
        nonlocal photos_dir
        write_set(args.opencv_doc, folder)
        photos_dir = folder
        return folder

    def prepare(lib) -> None:
        """Faces on; once indexed, each person named after whose photo they were found in (the file name)."""
        cat = lib.catalog
        set_faces_setting(cat, True)
        for who, name in (pair.split("=") for pair in args.names.split(",")):
            photo = cat.photo_by_path(str(photos_dir / f"{who}-0.jpg"))
            faces = cat.people.faces_of_photo(photo.id, FACE_MODEL_ID) if photo else []
            best = max(faces, key=lambda f: f.score, default=None)  # the surest face: a mission patch can be one too
            if best is not None and best.person_id is not None:
                name_person(cat, best.person_id, name)

    _app, w, pump = indexed_window(make_photos, args.model, "photosift-people-", prepare)
    pump(3)
    w.split.setSizes([300, 640, 340])
    people = w.people.list
    first = next((people.item(i) for i in range(people.count()) if people.item(i).text().startswith("Eileen")),
                 people.item(0))
    people.setCurrentItem(first)
    people.itemClicked.emit(first)
    pump(3)
    w.grid.setCurrentIndex(w.grid_model.index(0))
    pump(3)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "screenshot-people.png"
    w.grab().save(str(out))
    print(f"saved {out}; persons: {[people.item(i).text() for i in range(people.count())]}", flush=True)
    pump(args.hold)
    w.close()


if __name__ == "__main__":
    main()
