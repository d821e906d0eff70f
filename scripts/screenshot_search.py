"""Screenshot of a search whose words were understood as filters: scikit-image's sample photos with the GPS
positions and dates of scripts/screenshot_places.py, and "coffee in portugal 2023"-style query typed into the
box. The chips beside the box show what was read as a place and a date; the coffee photo's copy in a backup
folder is folded into it (the badge counts them); the sidebar lists an album and a smart album.

    .venv/bin/python scripts/screenshot_search.py [--model starter] [--out docs] [--hold SECONDS]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

QUERY = "a cup of coffee place:Portugal may 2023"


def main() -> None:
    import shutil

    from _shot import indexed_window, shot_arguments
    from screenshot_places import make_photos

    def photos_and_a_copy(folder: Path) -> Path:
        make_photos(folder)
        (folder / "Backup").mkdir()
        shutil.copy2(folder / "2023 Portugal" / "coffee.jpg", folder / "Backup" / "coffee.jpg")
        return folder

    def albums(lib) -> None:  # an album of one's own and a smart one, as the sidebar lists them
        from engine.albums import add_to_album, new_album

        if lib.catalog.albums.named("Favourites") is None:
            new_album(lib.catalog, "Favourites")
            new_album(lib.catalog, "Japan trip", query="place:Japan")
        photos = [p.id for p in lib.catalog.photos_where() if p.path.endswith(("coffee.jpg", "rocket.jpg"))]
        add_to_album(lib.catalog, "Favourites", photos)

    args = shot_arguments().parse_args()
    _app, w, pump = indexed_window(photos_and_a_copy, args.model, "photosift-search-", prepare=albums)
    pump(2)
    w.split.setSizes([300, 680, 300])
    w.search_box.setText(QUERY)
    w.search_box.returnPressed.emit()
    pump(4)
    print("chips:", w.chips.labels(), "results:", w.grid_model.rowCount(), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(args.out / "screenshot-search-filters.png"))
    print(f"saved {args.out / 'screenshot-search-filters.png'}", flush=True)
    pump(args.hold)
    w.close()


if __name__ == "__main__":
    main()
