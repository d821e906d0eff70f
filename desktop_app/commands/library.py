"""`photosift add | index | status | tag | forget`: building and inspecting the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from desktop_app.commands import (
    bounded_float,
    bounded_int,
    catalog_key,
    is_utf8,
    photo_for_path,
    photo_id_ref,
    shown,
)
from desktop_app.models_runtime import load_encoder
from desktop_app.progress import progress_bar
from engine.backup import backup_if_due
from engine.catalog import PERMANENT, TRANSIENT
from engine.errors import FolderOverlapError, PhotosiftError
from engine.imageio import delete_thumbnails
from engine.indexer import IndexSettings, photos_missing_thumbnails
from engine.library import Library
from engine.modelfolder import installed_model_ids
from engine.scanner import last_skipped, root_problem, scan
from engine.switching import switch_active_model
from engine.tagging import tag_with_vocabulary
from engine.update import set_faces_setting, update_library
from engine.vectorindex import VectorIndex


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("add", help="add photo folders to the library (and scan them)")
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--wait", type=bounded_float(0, 7 * 24 * 3600), default=0.0, metavar="SECONDS",
                   help="wait this long for another Photosift process that is updating the library")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("index", help="scan the library's folders and compute what is missing")
    p.add_argument("--model", help="model id to index with (installed first, then made the library's active model)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=bounded_int(1, 4096), default=32)
    p.add_argument("--workers", type=bounded_int(0, 256), default=0, help="decode processes (default: one per core)")
    p.add_argument("--wait", type=bounded_float(0, 7 * 24 * 3600), default=0.0, metavar="SECONDS",
                   help="wait this long for another Photosift process that is updating the library")
    p.add_argument("--no-tags", action="store_true", help="skip zero-shot tagging")
    p.add_argument("--faces", action=argparse.BooleanOptionalAction, default=None,
                   help="find faces and group them into persons (remembered for the library; off by default)")
    p.add_argument("--confirm-deletions", action="store_true",
                   help="forget photos held as missing (they vanished many at once, or had your tags) from "
                        "folders that are there; photos of an unplugged drive or unreadable folder are always kept")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--watch", action="store_true",
                   help="then keep watching the folders and take in new, changed and deleted photos until Ctrl+C")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("status", help="counts, failed files, offline folders, model and index state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("tag", help="zero-shot tag the library, list tags, or edit one photo's tags")
    p.add_argument("photo", nargs="?", help="a photo (path or id:N) to edit or show")
    p.add_argument("--add", action="append", default=[], metavar="TAG")
    p.add_argument("--reject", action="append", default=[], metavar="TAG")
    p.add_argument("--list", action="store_true", help="list tags with counts")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("forget", help="remove a folder from the library (files on disk are untouched)")
    p.add_argument("folder", type=Path)
    p.set_defaults(func=cmd_forget)


def _emit(args: argparse.Namespace, data: object, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def cmd_add(args: argparse.Namespace) -> int:
    folders = [Path(os.path.abspath(os.path.expanduser(f))) for f in args.folders]
    for folder in folders:
        if not is_utf8(str(folder)):
            raise PhotosiftError(f"cannot add {shown(str(folder))}: its name is not valid UTF-8, which Photosift "
                                 "cannot keep for a folder; rename it (files inside may have any name)")
        problem = root_problem(str(folder))
        if problem:
            raise PhotosiftError(f"cannot add {shown(str(folder))}: {problem}")
    with Library.open(args.library) as lib, lib.write_lock(args.wait):  # refused before anything is written
        _refuse_overlaps(folders, [r.path for r in lib.catalog.roots()])
        roots = [lib.catalog.add_root(str(f)) for f in folders]
        with progress_bar() as show:
            report = scan(lib.catalog, roots, progress=show)
        print(f"added {len(roots)} folder(s): {report.new} new photos, {report.moved} moved, "
              f"{report.unchanged} already known; run `photosift index` to make them searchable")
    return 0


def _refuse_overlaps(folders: list[Path], known: list[str]) -> None:
    """A folder inside, or above, one already in the library would list its photos twice: refuse it."""
    def inside(child: str, parent: str) -> bool:
        return child != parent and child.startswith(parent.rstrip(os.sep) + os.sep)

    for i, folder in enumerate(folders):
        path = str(folder)
        others = known + [str(f) for f in folders[:i]]
        for other in others:
            if inside(path, other):
                raise FolderOverlapError(
                    f"cannot add {shown(path)}: it is inside {shown(other)}, which is already in the library "
                    "(its photos are part of it; `photosift index` picks up changes)")
            if inside(other, path):
                raise FolderOverlapError(
                    f"cannot add {shown(path)}: it contains {shown(other)}, which is already in the library; "
                    f"run `photosift forget {shown(other)}` first, then add {shown(path)} again")


def cmd_index(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        if not lib.catalog.roots():
            raise PhotosiftError("the library has no folders yet; add one with `photosift add FOLDER`")
        with progress_bar() as show:
            # --model: install and load it first, then switch (tags included); failing, nothing changed
            encoder = load_encoder(args.model or lib.active_model_id, args.device, show)
            if encoder.model_id != lib.active_model_id:
                switch_active_model(lib, encoder, tag=not args.no_tags, progress=show, wait_s=args.wait)
            if getattr(args, "faces", None) is not None:
                set_faces_setting(lib.catalog, args.faces)
            report = update_library(lib, encoder, do_tag=not args.no_tags, progress=show, wait_s=args.wait,
                                    settings=IndexSettings(batch_size=args.batch_size, workers=args.workers),
                                    confirm_deletions=getattr(args, "confirm_deletions", False),
                                    repair_thumbnails=True)
        backup_if_due(lib.catalog)  # the daily safety net, taken after a run that went through
        s, i = report.scan, report.index
        data = {"model": encoder.model_id, "variant": encoder.variant, "providers": encoder.providers,
                "scan": {"new": s.new, "changed": s.changed, "moved": s.moved, "copied": s.copied,
                         "deleted": s.deleted, "unchanged": s.unchanged, "offline_roots": s.offline_roots,
                         "held_missing": s.held, "held_folders": s.held_folders,
                         "unreadable": [{"path": p, "reason": r} for p, r in s.unreadable],
                         "skipped": [{"path": p, "reason": r} for p, r in s.skipped]},
                "indexed": i.indexed, "failed": [{"path": p, "reason": r} for p, r in i.failures],
                "failed_transient": i.failed_transient, "failed_permanent": i.failed - i.failed_transient,
                "photos_tagged": report.photos_tagged, "tags_written": report.tags_written,
                "thumbnails_made": report.thumbnails_made, "leftovers_removed": report.leftovers_removed,
                "faces": None if report.faces is None else {
                    "photos": report.faces.photos, "faces": report.faces.faces,
                    "persons_started": report.persons_started, "seconds": round(report.faces.seconds, 2)}}
        data["places_named"] = report.places_named
        lines = [f"model {encoder.model_id} ({encoder.variant}, {encoder.providers[0]})",
                 f"scan: {s.new} new, {s.changed} changed, {s.moved} moved, {s.copied} copies, "
                 f"{s.deleted} deleted, {s.unchanged} unchanged",
                 f"indexed {i.indexed} photos, {i.failed} could not be read"
                 + (f" ({i.failed_transient} will be tried again)" if i.failed_transient else "")
                 + f", {report.tags_written} tags on {report.photos_tagged} photos"]
        if report.faces is not None:
            lines.append(f"faces: {report.faces.faces} in {report.faces.photos} photos, "
                         f"{report.persons_started} new persons (photosift people)")
        if report.thumbnails_made:
            lines.append(f"made {report.thumbnails_made} missing thumbnails")
        if s.held:
            lines.append(f"kept {s.held} photos that vanished (drive unplugged?) as missing; if they were "
                         "deleted, run `photosift index --confirm-deletions` to forget them")
            lines += [f"  vanished from: {shown(f)}" for f in s.held_folders]
        lines += [f"  offline: {shown(r)} (kept as is)" for r in s.offline_roots]
        lines += [f"  unreadable folder: {shown(p)}: {r}" for p, r in s.unreadable]
        lines += [f"  skipped: {shown(p)}: {r}" for p, r in s.skipped]
        lines += [f"  could not read: {shown(p)}: {r}" for p, r in i.failures]
        _emit(args, data, "\n".join(lines))
        if getattr(args, "watch", False):
            from desktop_app.commands.watch import watch_library

            return watch_library(lib, encoder, args)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        cat = lib.catalog
        counts = cat.counts()
        model = lib.active_model_id
        vectors = cat.models_with_embeddings()
        failed = cat.failed()
        data = {
            "library": str(lib.paths.root),
            "photos": counts,
            "roots": [{"path": r.path, "state": r.state, "reason": r.error} for r in cat.roots()],
            "failed": [{"path": p.path, "reason": p.error, "kind": p.error_kind or PERMANENT} for p in failed],
            "missing": [{"path": p.path, "since": p.missing_since} for p in cat.missing_photos()],
            "skipped": [{"path": p, "reason": r} for p, r in last_skipped(cat)],
            "model": {"active": model, "installed": model in installed_model_ids(),
                      "indexed": vectors.get(model, 0),
                      "missing": len(cat.photos_missing_embedding(model)),
                      "tags_missing": len(cat.photos_missing_tags(model))},
            "thumbnails_missing": len(photos_missing_thumbnails(cat, lib.paths.thumbnails)),
            "vectors_per_model": vectors,
            "index": VectorIndex(cat, model, lib.paths.indexes).state(),
            "tags": len(cat.tag_counts()),
        }
        m = data["model"]
        lines = [f"library {data['library']}",
                 f"photos: {counts['total']} ({counts['ok']} indexed, {counts['pending']} pending, "
                 f"{counts['failed_permanent']} failed, {counts['failed_transient']} failed for now "
                 f"(tried again by the next index), {counts['missing']} missing)",
                 f"model: {model}{'' if m['installed'] else ' (not installed yet)'}; "
                 f"{m['indexed']} vectors, {m['missing']} to compute, {m['tags_missing']} tags missing, "
                 f"{data['thumbnails_missing']} thumbnails missing; index: {data['index']}"]
        lines += [f"folder: {r['path']} [{r['state']}]" + (f" {r['reason']}" if r["reason"] else "")
                  for r in data["roots"]]
        for kind, title in ((PERMANENT, "files that could not be read (tried again when they change):"),
                            (TRANSIENT, "files that could not be read for now (tried again by the next index):")):
            rows = [f for f in data["failed"] if f["kind"] == kind]
            if rows:
                lines.append(title)
                lines += [f"  {shown(f['path'])}: {f['reason']}" for f in rows]
        if data["missing"]:
            lines.append(f"{len(data['missing'])} photos vanished and are kept (drive unplugged?); if they were "
                         "deleted, run `photosift index --confirm-deletions` to forget them")
        if data["skipped"]:
            lines.append("skipped (not photos):")
            lines += [f"  {shown(f['path'])}: {f['reason']}" for f in data["skipped"]]
        _emit(args, data, "\n".join(lines))
    return 0


def _find_photo(lib: Library, ref: str):
    from engine.catalog import Photo

    photo_id = photo_id_ref(ref)
    photo: Photo | None = lib.catalog.photo(photo_id) if photo_id is not None else photo_for_path(lib.catalog, ref)
    if photo is None:
        raise PhotosiftError(f"{shown(ref)} is not in the library")
    return photo


def cmd_tag(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        cat = lib.catalog
        if args.photo:
            photo = _find_photo(lib, args.photo)
            with cat.transaction():
                for name in args.add:
                    cat.set_user_tag(photo.id, name.lower())  # trimmed and checked (1-100 characters) there
                for name in args.reject:
                    cat.reject_tag(photo.id, name.strip().lower())
            tags = cat.tags_of(photo.id)
            _emit(args, [{"name": n, "source": s, "score": sc} for n, s, sc in tags],
                  "\n".join(f"{n} ({s}{'' if sc is None else f', {sc:.3f}'})" for n, s, sc in tags) or "no tags")
            return 0
        if not args.list:
            with progress_bar() as show:
                encoder = load_encoder(lib.active_model_id, args.device, show)
                with lib.write_lock():
                    written = tag_with_vocabulary(cat, encoder, lib.paths.indexes, progress=show)
            print(f"{written} zero-shot tags on {cat.counts()['ok']} photos", file=sys.stderr)
        counts = cat.tag_counts()
        _emit(args, [{"name": n, "count": c} for n, c in counts.items()],
              "\n".join(f"{c:6d}  {n}" for n, c in counts.items()) or "no tags yet")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    folder = catalog_key(args.folder)
    with Library.open(args.library) as lib:
        root = lib.catalog.root_by_path(folder)
        if root is None:
            raise PhotosiftError(f"{shown(folder)} is not a folder of this library")
        with lib.write_lock():
            thumbs = lib.catalog.fingerprints_only_in_root(root.id)
            n = lib.catalog.remove_root(root.id)
            delete_thumbnails(lib.paths.thumbnails, thumbs)
        print(f"forgot {shown(folder)} and its {n} photos (files on disk untouched)")
    return 0
