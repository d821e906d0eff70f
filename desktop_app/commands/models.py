"""`photosift models list | use | import | rename | remove`: the models a library can search with.

training.registry and training.install (and so torch) are imported only when a subcommand runs, never to
build the parser.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path

from desktop_app.progress import progress_bar
from engine.errors import ModelNotInstalledError, PhotosiftError
from engine.library import Library, active_model_of, libraries_using

EXIT_ERROR = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, choose, import or remove search models")
    p.set_defaults(func=cmd_list, json=False)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")

    q = msub.add_parser("list", help="known and installed models (* marks the library's active model)")
    q.add_argument("--json", action="store_true", help="print the models as JSON")
    q.set_defaults(func=cmd_list)

    q = msub.add_parser("use", help="install a model if needed, then make it the library's active model "
                                    "(its zero-shot tags come with it)")
    q.add_argument("model_id", metavar="ID")
    q.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="export variants for this device (fp16 is added where CUDA runs)")
    q.add_argument("--wait", type=float, default=2.0, metavar="SECONDS",
                   help="wait this long for another Photosift process that is updating the library")
    q.add_argument("--no-index", action="store_true",
                   help="only switch; compute the new model's vectors later with `photosift index`")
    q.set_defaults(func=cmd_use)

    q = msub.add_parser("import", help="install a local open_clip checkpoint (.pt, .pth, .safetensors)")
    q.add_argument("path", type=Path, metavar="PATH")
    q.add_argument("--arch", required=True,
                   help="open_clip architecture (e.g. ViT-B-32, ViT-L-14-336-quickgelu) or a model config .json")
    q.add_argument("--id", dest="model_id", default=None, help="model id (default: from the file name)")
    q.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    q.set_defaults(func=cmd_import)

    q = msub.add_parser("rename", help="give an installed model a display name (its id stays)")
    q.add_argument("model_id", metavar="ID")
    q.add_argument("name", metavar="NAME", help="the new name, e.g. \"Holiday albums, MCIP\"")
    q.set_defaults(func=cmd_rename)

    q = msub.add_parser("remove", help="delete an installed model folder (refused while a library uses it)")
    q.add_argument("model_id", metavar="ID")
    q.add_argument("--force", action="store_true",
                   help="remove it even though libraries use it (their next search or index installs it again, "
                        "or fails for a model that cannot be downloaded)")
    q.add_argument("--delete-vectors", action="store_true",
                   help="also delete this model's vectors from the library (re-indexing recomputes them)")
    q.set_defaults(func=cmd_remove)


def active_model_id(library_dir: Path) -> str:
    """The library's active model; a library that does not exist yet is not created to find out."""
    return active_model_of(library_dir)


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def cmd_list(args: argparse.Namespace) -> int:
    from training.registry import list_models

    active = active_model_id(args.library)
    rows = [{**m.to_dict(), "active": m.id == active} for m in list_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("", "ID", "INSTALLED", "SIZE", "SOURCE", "LICENCE")
    table = [header] + [("*" if r["active"] else "", r["id"], "yes" if r["installed"] else "no",
                         _human(r["size"]) if r["installed"] else f"~{_human(r['size'])}" if r["size"] else "",
                         r["source"], r["licence"].split(" (")[0]) for r in rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    columns = max(40, shutil.get_terminal_size().columns)
    indent = " " * (widths[0] + 2 + 4)
    for row, r in zip(table, [None, *rows], strict=True):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if r is None:
            continue
        # the name (when it is not the id) and the whole description, wrapped under the row
        named = r["name"] and r["name"] != r["id"]
        for text in ([r["name"]] if named else []) + ([r["description"]] if r["description"] else []):
            print(textwrap.fill(text, columns, initial_indent=indent, subsequent_indent=indent))
    print("\n* active in this library. `photosift models use ID` installs and activates it; "
          "`photosift models rename ID NAME` names it; `photosift models list --json` shows every detail.")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    from training.install import rename_model

    folder = rename_model(args.model_id, args.name)
    print(f"Renamed {folder.model_id} to \"{folder.manifest.name}\".")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from desktop_app.models_runtime import SWITCH_WAIT_S, use_model

    wait_s = getattr(args, "wait", SWITCH_WAIT_S)  # `photosift train --use` calls this without --wait

    with progress_bar() as progress:
        folder, report = use_model(args.library, args.model_id, progress, device=args.device, wait_s=wait_s)
    model_id, have, total, todo = report.model_id, report.with_vectors, report.total, report.to_index
    print(f"Active model: {model_id} ({folder.path})" + ("" if report.previous != model_id else " (unchanged)"))
    if have:
        print(f"Zero-shot tags of {model_id}: {report.tags_written} on {have} photos (your own tags are kept).")
    if not total:
        print("The library has no photos yet: `photosift add FOLDER`, then `photosift index`.")
    elif not todo:
        print(f"All {have} photos already have vectors of {model_id}.")
    elif args.no_index:
        print(f"{have} photos have vectors of {model_id}, {todo} do not yet; "
              "`photosift index` computes them (search uses this model's vectors only).")
    else:
        print(f"Computing vectors of {model_id} for {todo} photos (Ctrl+C stops; "
              "`photosift index` continues later). The previous model's vectors are kept.")
        from desktop_app.commands.library import cmd_index

        return cmd_index(argparse.Namespace(library=args.library, model=None, device=args.device, batch_size=32,
                                            workers=0, wait=wait_s, no_tags=False, json=False))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from desktop_app.extras import require_training

    require_training("importing a checkpoint (`photosift models import`)")
    from training.install import import_checkpoint

    with progress_bar() as progress:
        folder = import_checkpoint(args.path, args.arch, args.model_id, progress=progress, device=args.device)
    print(f"Installed '{folder.model_id}' ({folder.manifest.arch}, {folder.manifest.embed_dim}-d, "
          f"{', '.join(folder.manifest.variants)}) in {folder.path}")
    print(f"Use it with `photosift models use {folder.model_id}`.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from training.install import remove_model

    model_id = args.model_id
    users = libraries_using(model_id, also=(Path(args.library),))
    if users and not args.force:
        names = "; ".join(str(folder) + (f" ({why})" if why else "") for folder, why in users)
        raise PhotosiftError(
            f"'{model_id}' is the active model of {len(users)} librar{'y' if len(users) == 1 else 'ies'}: {names}; "
            "switch each to another model first (`photosift --library FOLDER models use ID`), "
            "or remove it anyway with --force")
    try:
        freed = remove_model(model_id)
        print(f"Removed model '{model_id}' ({_human(freed)} freed).")
    except ModelNotInstalledError:
        if not args.delete_vectors:
            raise
        print(f"Model '{model_id}' is not installed.")
    if users:
        print(f"Libraries still set to '{model_id}': {', '.join(str(f) for f, _ in users)}; their next search or "
              "index installs it again where it can be downloaded or built.", file=sys.stderr)
    if args.delete_vectors:
        with Library.open(args.library, create=False) as lib:
            deleted = lib.catalog.embeddings.delete(model_id)
        print(f"Deleted {deleted} vectors of '{model_id}' from the library.")
    return 0
