"""`photosift duplicates`: exact copies, near-duplicates and bursts; move all but one of each to the trash."""

from __future__ import annotations

import argparse
import json
import sys

from desktop_app.commands import bounded_float, shown
from desktop_app.progress import progress_bar
from engine.catalog import DuplicateGroup, Photo, PhotoCatalog
from engine.duplicates import KINDS, update_duplicates
from engine.duplicates_review import trash_and_forget
from engine.errors import PhotosiftError
from engine.library import Library
from engine.trash import LOG_NAME, plan, restore_batch
from engine.vectorindex import VectorIndex


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "duplicates",
        help="exact copies, near-duplicates and bursts, each with a photo to keep; "
        "--trash moves the others to the system trash",
    )
    p.add_argument("--kind", choices=KINDS, help="only groups of this kind")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {kind, keep, reason, photos: [{path, id, width, height, size, "
        "taken_at, similarity}]}",
    )
    p.add_argument("--all", action="store_true", help='include groups marked "keep all" in the window')
    p.add_argument(
        "--trash",
        action="store_true",
        help="move every photo but the kept one of each group to the system trash (after a summary and "
        "a confirmation); the library forgets them",
    )
    p.add_argument("--yes", action="store_true", help="with --trash: do not ask (for scripts)")
    p.add_argument(
        "--restore",
        action="store_true",
        help="put back the photos of the last --trash run from the system trash (run again for the run before)",
    )
    p.add_argument(
        "--wait",
        type=bounded_float(0, 7 * 24 * 3600),
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another Photosift process that is updating the library",
    )
    p.set_defaults(func=cmd_duplicates)


def photo_dict(photo: Photo, similarity: float | None) -> dict[str, object]:
    return {
        "path": photo.path,
        "id": photo.id,
        "width": photo.width,
        "height": photo.height,
        "size": photo.size,
        "taken_at": photo.taken_at,
        "similarity": None if similarity is None else round(float(similarity), 4),
    }


def group_dicts(catalog: PhotoCatalog, groups: list[DuplicateGroup]) -> list[dict[str, object]]:
    photos = catalog.photos_by_ids([pid for g in groups for pid, _ in g.members])
    out = []
    for g in groups:
        members = [(photos[pid], sim) for pid, sim in g.members if pid in photos]
        keep = photos.get(g.keep_id) if g.keep_id is not None else None
        out.append(
            {
                "kind": g.kind,
                "keep": keep.path if keep else None,
                "reason": g.reason,
                "photos": [photo_dict(p, s) for p, s in members],
            }
        )
    return out


def cmd_duplicates(args: argparse.Namespace) -> int:
    if args.restore:
        return _restore(args)
    with Library.open(args.library) as lib:
        cat = lib.catalog
        model = lib.active_model_id
        if not cat.embeddings.models().get(model):
            raise PhotosiftError("no photo has been indexed yet: run `photosift index` first")
        if not cat.read_only:  # a read-only catalog still lists the groups it has
            with lib.write_lock(args.wait), progress_bar() as show:
                report = update_duplicates(cat, VectorIndex(cat, model, lib.paths.indexes), progress=show)
            for path, why in report.unreadable[:5]:
                print(f"could not read {shown(path)}: {why}", file=sys.stderr)
        groups = cat.duplicates.groups(args.kind, include_reviewed=args.all)
        data = group_dicts(cat, groups)
        if args.trash:
            return _trash(args, lib, groups)
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            _print_groups(data)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _print_groups(data: list[dict]) -> None:
    if not data:
        print("no duplicates or bursts found")
        return
    for g in data:
        print(f"{g['kind']}: {len(g['photos'])} photos; keep {shown(g['keep'] or '?')} ({g['reason']})")
        for p in g["photos"]:
            mark = "*" if p["path"] == g["keep"] else " "
            sim = "" if p["similarity"] is None else f"  similarity {p['similarity']:.3f}"
            print(
                f"  {mark} {shown(p['path'])}  {p['width']}x{p['height']}  {_size(p['size'])}  "
                f"{p['taken_at'] or 'no date'}{sim}"
            )
    print(
        f"{len(data)} groups, {sum(len(g['photos']) - 1 for g in data)} photos that could go; "
        "`photosift duplicates --trash` moves them to the system trash"
    )


def _trash(args: argparse.Namespace, lib: Library, groups: list[DuplicateGroup]) -> int:
    items = plan(lib.catalog, groups)
    if not items:
        print("nothing to move: no duplicates or bursts found")
        return 0
    total = sum(i.photo.size for i in items)
    print(
        f"{len(items)} photos ({_size(total)}) of {len(groups)} groups will go to the system trash; "
        "the kept photo of each group stays:"
    )
    for item in items:  # every one of them: a confirmation is only worth what it shows
        print(f"  {shown(item.photo.path)}  (keeping {shown(item.keep.path)})")
    if not args.yes:
        if not sys.stdin.isatty():
            raise PhotosiftError("not moving anything without a confirmation: run it in a terminal, or add --yes")
        if input("Move them to the trash? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing was moved")
            return 0
    result = trash_and_forget(lib, items, wait_s=args.wait)
    print(
        f"moved {len(result.moved)} photos to the system trash; the list is in "
        f"{shown(str(lib.paths.root / LOG_NAME))}; `photosift duplicates --restore` puts them back"
    )
    for path, why in result.skipped:
        print(f"  left in place: {shown(path)}: {why}", file=sys.stderr)
    if result.stopped:
        print(f"photosift: {shown(result.stopped)}", file=sys.stderr)
        return 1
    return 0


def _restore(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        result = restore_batch(lib.paths.root)
    if result.batch is None:
        print("nothing to put back: no photos were moved to the trash from this library")
        return 0
    print(f"put back {len(result.restored)} photos; run `photosift index` to add them to the library again")
    if result.in_place:
        print(
            f"{len(result.in_place)} never moved: an interrupted --trash run had not moved them yet; "
            "they are where they were"
        )
    for path, why in result.failed:
        print(f"  not put back: {shown(path)}: {why}", file=sys.stderr)
    if result.earlier_batches:
        print(f"{result.earlier_batches} earlier --trash run(s) can be put back by running this again")
    return 1 if result.failed and not result.restored else 0
