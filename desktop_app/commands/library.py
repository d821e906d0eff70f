"""`photosift add | index | status | tag | forget`: building and inspecting the library."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from desktop_app.commands import (
    bounded_float,
    bounded_int,
    catalog_key,
    find_photo,
    is_utf8,
    shown,
)
from desktop_app.models_runtime import load_encoder
from desktop_app.progress import progress_bar
from engine.catalog import PERMANENT, TRANSIENT
from engine.errors import PhotosiftError
from engine.folders import CONTAINS, INSIDE, SAME, refuse_overlaps
from engine.imageio import delete_thumbnails
from engine.indexer import IndexSettings, photos_missing_thumbnails
from engine.library import Library
from engine.modelfolder import installed_model_ids
from engine.scanner import last_skipped, root_problem, scan
from engine.switching import switch_active_model
from engine.tag_confidence import CONFIDENT
from engine.tagging import clean_user_tag, tag_with_vocabulary
from engine.text_in_photos import set_text_setting
from engine.update import index_library, set_faces_setting
from engine.vectorindex import VectorIndex


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("add", help="add photo folders to the library (and scan them)")
    p.add_argument("folders", nargs="+")  # text, not Path: Path("") would be "." and add the current folder
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
    p.add_argument("--text", action=argparse.BooleanOptionalAction, default=None,
                   help="read the text in photos (signs, menus, screenshots) so search finds it; remembered for "
                        "the library, off by default (about 15 times the cost of indexing; needs photosift[ocr])")
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
    p.add_argument("folder")  # text, not Path: Path("") would be "." and forget the current folder
    p.set_defaults(func=cmd_forget)


def _emit(args: argparse.Namespace, data: object, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def cmd_add(args: argparse.Namespace) -> int:
    if any(not os.fspath(f).strip() for f in args.folders):
        raise PhotosiftError("cannot add a folder with an empty name; give its path (`.` for the current folder)")
    folders = [Path(os.path.abspath(os.path.expanduser(f))) for f in args.folders]
    for folder in folders:
        if not is_utf8(str(folder)):
            raise PhotosiftError(f"cannot add {shown(str(folder))}: its name is not valid UTF-8, which Photosift "
                                 "cannot keep for a folder; rename it (files inside may have any name)")
        problem = root_problem(str(folder))
        if problem:
            raise PhotosiftError(f"cannot add {shown(str(folder))}: {problem}")
    library = Path(args.library).expanduser().absolute()
    refuse_overlaps(folders, [], library, shown)  # before the library is opened: that would create it
    with Library.open(args.library) as lib, lib.write_lock(args.wait):  # refused before anything is written
        refuse_overlaps(folders, [r.path for r in lib.catalog.roots()], lib.paths.root, shown)
        roots = [lib.catalog.add_root(str(f)) for f in folders]
        try:
            with progress_bar() as show:
                report = scan(lib.catalog, roots, progress=show)
        except BaseException:
            _drop_empty_roots(lib, roots)
            raise
        print(f"added {len(roots)} folder(s): {report.new} new photos, {report.moved} moved, "
              f"{report.unchanged} already known; run `photosift index` to make them searchable")
        if report.same_files:
            print(f"{report.same_files} photos are the same files as photos already in the library under another "
                  "folder (reached through a link or a mount): each is listed once, there")
    return 0


def _drop_empty_roots(lib: Library, roots: list) -> None:
    """After a failed scan (disk full, Ctrl+C), take back the folders just added that hold no photo yet, so the
    same `add` can simply be run again (a folder already in the library is refused)."""
    try:
        for root in roots:
            if not lib.catalog.photos_of_root(root.id):
                lib.catalog.remove_root(root.id)
    except (sqlite3.Error, OSError):
        pass  # the scan's own failure is what the user must see; `photosift index` finishes such a folder



def cmd_index(args: argparse.Namespace) -> int:
    with Library.open(args.library, create=False) as lib:
        if not lib.catalog.roots():
            raise PhotosiftError("the library has no folders yet; add one with `photosift add FOLDER`")
        with progress_bar() as show:
            # --model: install and load it first, then switch (tags included); failing, nothing changed
            encoder = load_encoder(args.model or lib.active_model_id, args.device, show)
            if encoder.model_id != lib.active_model_id:
                switch_active_model(lib, encoder, tag=not args.no_tags, progress=show, wait_s=args.wait)
            if getattr(args, "faces", None) is not None:
                set_faces_setting(lib.catalog, args.faces)
            if getattr(args, "text", None) is not None:
                set_text_setting(lib.catalog, args.text)
            report = index_library(lib, encoder, tag=not args.no_tags, progress=show, wait_s=args.wait,
                                   settings=IndexSettings(batch_size=args.batch_size, workers=args.workers),
                                   confirm_deletions=getattr(args, "confirm_deletions", False))
        data = {"model": encoder.model_id, "variant": encoder.variant, "providers": encoder.providers,
                **report.to_plain()}
        lines = [f"model {encoder.model_id} ({encoder.variant}, {encoder.providers[0]})", *report.lines(shown)]
        _emit(args, data, "\n".join(lines))
        if getattr(args, "watch", False):
            from desktop_app.commands.watch import watch_library

            return watch_library(lib, encoder, args)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with Library.open(args.library, read_only=True) as lib:  # reads: creates and writes nothing
        cat = lib.catalog
        counts = cat.counts()
        model = lib.active_model_id
        vectors = cat.embeddings.models()
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
                      "missing": len(cat.embeddings.photos_missing(model)),
                      "tags_missing": len(cat.tags.photos_missing(model))},
            "thumbnails_missing": len(photos_missing_thumbnails(cat, lib.paths.thumbnails)),
            "vectors_per_model": vectors,
            "index": VectorIndex(cat, model, lib.paths.indexes).state(),
            "tags": len(cat.tags.counts()),
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


def cmd_tag(args: argparse.Namespace) -> int:
    if (args.add or args.reject) and not args.photo:
        # without a photo, `tag` tags the whole library: a forgotten photo must not turn an edit into that
        raise PhotosiftError("--add and --reject need a photo: `photosift tag PHOTO --add TAG` (a path or id:N)")
    with Library.open(args.library) as lib:
        cat = lib.catalog
        if args.photo:
            photo = find_photo(lib.catalog, args.photo)
            with cat.transaction():
                for name in args.add:
                    cat.tags.set_user(photo.id, clean_user_tag(name))
                for name in args.reject:
                    cat.tags.reject(photo.id, clean_user_tag(name))
            tags = cat.tags.of_photo(photo.id)
            _emit(args, [{"name": n, "source": s, "score": sc} for n, s, sc in tags],
                  "\n".join(f"{n} ({s}{'' if sc is None else f', {sc:.3f}'})" for n, s, sc in tags) or "no tags")
            return 0
        if not args.list:
            with progress_bar() as show:
                encoder = load_encoder(lib.active_model_id, args.device, show)
                with lib.write_lock():
                    written = tag_with_vocabulary(cat, encoder, lib.paths.indexes, progress=show)
            print(f"{written} zero-shot tags on {cat.counts()['ok']} photos", file=sys.stderr)
        # count: the photos `search --tag` finds (the tag for sure); uncertain: those where the model is unsure
        counts = cat.tags.counts_by_confidence(CONFIDENT)
        _emit(args, [{"name": n, "count": sure, "uncertain": total - sure} for n, (sure, total) in counts.items()],
              "\n".join(f"{sure:6d}  {n}" + (f"  (and {total - sure} uncertain)" if total > sure else "")
                        for n, (sure, total) in counts.items()) or "no tags yet")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    if not os.fspath(args.folder).strip():  # an empty name would be the current folder
        raise PhotosiftError("forget needs a folder of the library, not an empty name; `photosift status` lists them")
    folder = catalog_key(args.folder)
    with Library.open(args.library) as lib:
        root = lib.catalog.root_by_path(folder) or _root_named(lib, folder)
        kept = 0
        with lib.write_lock():
            twins = [r for _, r in lib.catalog.related_roots(root.path) if r.id != root.id]
            if twins:  # photos it shares with another folder of the library stay there, tags and all
                kept = scan(lib.catalog, [*twins, root]).same_files
            thumbs = lib.catalog.fingerprints_only_in_root(root.id)
            n = lib.catalog.remove_root(root.id)
            delete_thumbnails(lib.paths.thumbnails, thumbs)
        print(f"forgot {shown(root.path)} and its {n} photos (files on disk untouched)"
              + (f"; {kept} photos that are the same files under {', '.join(shown(t.path) for t in twins)} "
                 "stay in the library there" if kept else ""))
    return 0


def _root_named(lib: Library, folder: str):
    """The one root that is `folder` under another spelling (a link, `..`, a bind mount), else a refusal."""
    related = lib.catalog.related_roots(folder)
    same = [r for relation, r in related if relation == SAME]
    if len(same) == 1:
        return same[0]
    if same:
        raise PhotosiftError(f"{shown(folder)} is the same folder as several folders of this library "
                             f"({', '.join(shown(r.path) for r in same)}); forget them by these names")
    holders = [r for relation, r in related if relation == INSIDE]
    if holders:
        raise PhotosiftError(f"{shown(folder)} is not a folder of this library but part of {shown(holders[0].path)}; "
                             f"to remove all of that, run `photosift forget {shown(holders[0].path)}`")
    inner = [r for relation, r in related if relation == CONTAINS]
    if inner:
        raise PhotosiftError(f"{shown(folder)} is not a folder of this library, but holds some: "
                             f"{', '.join(shown(r.path) for r in inner)}; forget those one by one")
    raise PhotosiftError(f"{shown(folder)} is not a folder of this library; `photosift status` lists its folders")
