"""`photosift people`: the persons faces were grouped into; name, merge, hide and show them."""

from __future__ import annotations

import argparse
import json

from desktop_app.commands import bounded_int, shown
from engine.faces import FACE_MODEL_ID, faces_enabled, faces_installed
from engine.library import Library
from engine.people import merge_persons, name_person, set_hidden

PERSON_ID = bounded_int(1, 2**62)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("people", help="persons found in the photos: list, name, merge, hide (faces: index --faces)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, name, count, hidden}")
    p.add_argument("--all", action="store_true", help="list hidden persons too")
    p.set_defaults(func=cmd_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("name", help="name a person: people name ID NAME")
    a.add_argument("id", type=PERSON_ID)
    a.add_argument("name", nargs="+")
    a.set_defaults(func=cmd_name)
    a = actions.add_parser("merge", help="merge the second person into the first: people merge ID ID")
    a.add_argument("keep", type=PERSON_ID)
    a.add_argument("gone", type=PERSON_ID)
    a.set_defaults(func=cmd_merge)
    for name, hidden in (("hide", True), ("show", False)):
        a = actions.add_parser(name, help=f"{name} a person in lists: people {name} ID")
        a.add_argument("id", type=PERSON_ID)
        a.set_defaults(func=cmd_hide, hidden=hidden)


def cmd_list(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        persons = lib.catalog.people.summaries(FACE_MODEL_ID, include_hidden=args.all)
        if args.json:
            print(json.dumps([{"id": p.id, "name": p.name, "count": p.count, "hidden": p.hidden}
                              for p in persons], indent=2))
            return 0
        if not persons:
            faces, photos = lib.catalog.people.face_counts(FACE_MODEL_ID)
            if not faces_installed():
                from desktop_app.extras import faces_hint

                print(f"no persons: the face models are not installed; {faces_hint()}")
            elif not faces_enabled(lib.catalog) and photos == 0:
                print("no persons yet: faces are off for this library; run `photosift index --faces`")
            else:
                print(f"no persons: {faces} faces in {photos} photos searched")
            return 0
        for p in persons:
            label = shown(p.name) if p.name else "(unnamed)"
            print(f"{p.id:6d}  {p.count:6d} photos  {label}" + ("  (hidden)" if p.hidden else ""))
    return 0


def cmd_name(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        name_person(lib.catalog, args.id, " ".join(args.name))
        print(f"person {args.id} is {shown(' '.join(args.name).strip())}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        merge_persons(lib.catalog, args.keep, args.gone)
        print(f"merged person {args.gone} into person {args.keep}")
    return 0


def cmd_hide(args: argparse.Namespace) -> int:
    with Library.open(args.library) as lib:
        set_hidden(lib.catalog, args.id, args.hidden)
        print(f"person {args.id} is {'hidden' if args.hidden else 'shown'}")
    return 0
