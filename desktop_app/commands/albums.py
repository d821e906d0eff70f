"""`photosift albums`: albums you make (photos put in by hand) and smart albums (a saved query)."""

from __future__ import annotations

import argparse
import json

from desktop_app.commands import find_photo, shown
from engine.albums import (
    add_to_album,
    album_named,
    delete_album,
    new_album,
    remove_from_album,
)
from engine.library import Library
from engine.smart_albums import refresh_smart_albums


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("albums", help="albums: list, new (or smart, from a query), add, remove, delete, show")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("list", help="every album with its kind and photo count")
    a.add_argument("--json", action="store_true", help="print a JSON list of {name, kind, count, query}")
    a.set_defaults(func=cmd_list)
    a = actions.add_parser("new", help='make an album; --query "..." makes a smart one')
    a.add_argument("name")
    a.add_argument("--query", help='a smart album: the photos this query finds ("tag:family 2019 beach"), found '
                                   "again after each index")
    a.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    a.set_defaults(func=cmd_new)
    for name, verb, func in (("add", "put photos in", cmd_add), ("remove", "take photos out of", cmd_remove)):
        a = actions.add_parser(name, help=f"{verb} an album (the photos themselves stay where they are)")
        a.add_argument("name")
        a.add_argument("photos", nargs="+", help="photo paths or id:N")
        a.set_defaults(func=func)
    a = actions.add_parser("delete", help="delete an album (its photos stay in the library)")
    a.add_argument("name")
    a.set_defaults(func=cmd_delete)
    a = actions.add_parser("show", help="the photos of an album")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    with Library.open(args.library, read_only=True) as lib:
        albums = lib.catalog.albums.all()
    if args.json:
        print(json.dumps([a.to_dict() for a in albums], indent=2))
        return 0
    if not albums:
        print('no albums yet: `photosift albums new NAME` makes one (`--query "..."` a smart one)')
    for a in albums:
        print(f"{a.count:6d}  {shown(a.name)}" + (f"  (smart: {shown(a.query or '')})" if a.kind == "smart" else ""))
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        album = new_album(lib.catalog, args.name, args.query)
        if album.kind == "smart" and lib.catalog.embeddings.models().get(lib.active_model_id):
            from desktop_app.models_runtime import load_encoder

            count = refresh_smart_albums(lib, load_encoder(lib.active_model_id, args.device), only=album.name)
            print(f"smart album '{album.name}': {count[album.name]} photos (found again after each index)")
        elif album.kind == "smart":
            print(f"smart album '{album.name}': its photos are found at the next `photosift index`")
        else:
            print(f"album '{album.name}' made: `photosift albums add \"{album.name}\" PHOTO...` puts photos in it")
    return 0


def _change(args: argparse.Namespace, change, verb: str) -> int:
    with Library.open(args.library) as lib:
        album = album_named(lib.catalog, args.name)
        ids = [find_photo(lib.catalog, ref).id for ref in args.photos]  # every reference checked before any change
        n = change(lib.catalog, album.name, ids)
        print(f"{n} photo{'' if n == 1 else 's'} {verb} '{album.name}' ({len(ids) - n} already so)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    return _change(args, add_to_album, "put in")


def cmd_remove(args: argparse.Namespace) -> int:
    return _change(args, remove_from_album, "taken out of")


def cmd_delete(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        album = delete_album(lib.catalog, args.name)
    print(f"album '{album.name}' deleted; its {album.count} photos stay in the library")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with Library.open(args.library, read_only=True) as lib:
        album = album_named(lib.catalog, args.name)
        photos = lib.catalog.photos_by_ids(lib.catalog.albums.photo_ids(album.id))
        rows = [photos[i] for i in lib.catalog.albums.photo_ids(album.id) if i in photos]
    if args.json:
        print(json.dumps([{"id": p.id, "path": p.path, "taken_at": p.taken_at} for p in rows], indent=2))
    else:
        for p in rows:
            print(f"{(p.taken_at or '')[:10] or '-' * 10}  {shown(p.path)}")
    return 0
