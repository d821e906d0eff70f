"""`photosift train`: fine-tune the model on the library's own photos (or a folder dataset), as in the paper.

Classes come from album folders or from the user's tags; the result is a new model next to the old one,
with before/after numbers on held-out photos. Ctrl+C stops after the current step and keeps the best
checkpoint so far (a second Ctrl+C aborts). torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop_app.commands import bounded_int, report_unreadable
from desktop_app.progress import progress_bar
from engine.errors import ModelNotInstalledError, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback
from engine.library import Library
from engine.modelfolder import MANIFEST, ModelFolder
from training.defaults import DEFAULT_METHOD, MAX_PER_CLASS, MAX_PHOTOS, METHODS

EXIT_NOT_KEPT = 1  # the run finished, but its result was worse than its base and was not kept
# Refused while the command line is read, before any photo is looked at (a negative cap trained on
# everything; 0 epochs was refused only after "Training on ...").
MAX_EPOCHS = 1000
MAX_COUNT = 10**9


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune the search model on your own photos (a new model; the old one is kept)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"stage1: image tower only; 2sft: stage1 + text re-alignment; mcip: stage 1 with "
                        f"pseudo-captions; mcip+realign: both (default: {DEFAULT_METHOD})")
    p.add_argument("--labels", choices=("folders", "tags", "albums"), default="folders",
                   help="classes from album folders (default), from your own tags, or from your albums")
    p.add_argument("--epochs", type=bounded_int(1, MAX_EPOCHS), default=None,
                   help="epochs per stage (default: what measured best)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--base", default=None, metavar="ID|FOLDER",
                   help="model to start from: an id from `photosift models list` or an installed model's folder "
                        "(default: the library's active model)")
    p.add_argument("--dataset", default=None, metavar="DIR",
                   help="train on a folder dataset (sub-folders are classes, .txt captions beside images) or "
                        "'tuxpaint' instead of the library")
    p.add_argument("--level", type=int, default=1, help="with --dataset: folder depth that names the classes")
    p.add_argument("--min-photos", type=bounded_int(2, MAX_COUNT), default=4,
                   help="classes with fewer photos train but are not measured; single photos are left out "
                        "(default: 4)")
    p.add_argument("--max-per-class", type=bounded_int(0, MAX_COUNT), default=MAX_PER_CLASS, metavar="N",
                   help=f"larger classes are sampled to N photos (default: {MAX_PER_CLASS}; 0: use every photo)")
    p.add_argument("--max-photos", type=bounded_int(0, MAX_COUNT), default=MAX_PHOTOS, metavar="N",
                   help=f"at most N photos in all: the per-class limit is lowered to fit (default: {MAX_PHOTOS}; "
                        "0: no limit)")
    p.add_argument("--use", action="store_true", help="switch the library to the new model afterwards")
    p.add_argument("--keep-worse", action="store_true",
                   help="keep (install) the new model even when it is worse than its base on the held-out photos")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_train)


@contextmanager
def _ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl+C: stop after this step and keep the best so far. Second: abort."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(_sig: int, _frame: Any) -> None:
        if cancel.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        cancel.cancel()
        print("\nphotosift: stopping; the best checkpoint so far becomes the new model (Ctrl+C again aborts)",
              file=sys.stderr)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no signal handling, Ctrl+C behaves as usual
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _base_folder(args: argparse.Namespace, progress: ProgressCallback) -> ModelFolder:
    """--base as a model id (installed or prepared now) or a model folder's path; else the active model.

    A bare name is a model id even when a file or folder of that name is in the current folder (`--base
    starter` beside a folder called starter means the starter model); a path is written as one (a separator,
    `~` or `.` in front, a weights file's suffix)."""
    from desktop_app.models_runtime import resolve_model
    from training.registry import UnknownModelError

    if not args.base:
        from desktop_app.commands.models import active_model_id

        return resolve_model(active_model_id(args.library), progress)
    path = Path(args.base).expanduser()
    if not _looks_like_a_path(args.base):
        try:
            return resolve_model(str(args.base), progress)
        except (UnknownModelError, ModelNotInstalledError):
            if (path / MANIFEST).is_file():  # no model has that id, but a model folder of that name is here
                raise PhotosiftError(f"--base {args.base}: no model has this id; to start from the model folder "
                                     f"{args.base} here, write --base ./{args.base}") from None
            raise
    if (path / MANIFEST).is_file():
        return ModelFolder.load(path.absolute())
    raise PhotosiftError(f"--base {args.base}: not a model folder (it has no {MANIFEST}); give a model id "
                         "from `photosift models list` or the folder of an installed model")


def _looks_like_a_path(text: str) -> bool:
    from training.checkpoint_files import CHECKPOINT_SUFFIXES

    return (os.sep in text or (os.altsep or os.sep) in text or text.startswith(("~", "."))
            or text.lower().endswith(CHECKPOINT_SUFFIXES))


def cmd_train(args: argparse.Namespace) -> int:
    from desktop_app.extras import require_training

    require_training("fine-tuning (`photosift train`)")
    data = _training_data(args)
    if not args.json:
        _say_what_trains(data.summary(), args.min_photos)
    base, result = _train(args, data)
    if args.json:
        return _report_json(args, base, result)
    return _report_text(args, base, result)


def _training_data(args: argparse.Namespace) -> Any:
    """The labelled photos: a folder dataset's, or the library's (by folders or tags)."""
    from training.traindata import from_catalog, from_dataset

    caps = {"max_per_class": args.max_per_class or None, "max_photos": args.max_photos or None}
    if args.dataset:
        from training.datasets import resolve_dataset

        return from_dataset(resolve_dataset(args.dataset, level=args.level), min_per_class=args.min_photos, **caps)
    with Library.open(args.library, create=False) as lib:
        if not lib.catalog.counts()["ok"]:
            raise PhotosiftError("the library has no indexed photos yet: `photosift add FOLDER`, then "
                                 "`photosift index`")
        return from_catalog(lib.catalog, args.labels, min_per_class=args.min_photos, **caps)


def _say_what_trains(summary: dict[str, Any], min_photos: int) -> None:
    left = ", ".join(f"{k} ({v})" for k, v in summary["left_out_classes"].items())
    sampled = summary.get("sampled")
    small = summary.get("train_only_classes") or {}
    print(f"Training on {summary['train_photos']} photos in {summary['classes']} classes "
          f"({summary['val_photos']} held out to choose the checkpoint, {summary['report_photos']} to measure "
          f"the result; {summary['train_captions']} captions)"
          + (f"; {len(small)} albums with 2-3 photos train without being measured" if small else "")
          + (f"; larger classes sampled to {sampled['per_class']} photos each, {sampled['photos_not_used']} "
             "photos not used (--max-per-class, --max-photos)" if sampled else "")
          + (f"; left out (fewer than {min_photos} photos): {left}" if left else ""), file=sys.stderr)


def _train(args: argparse.Namespace, data: Any) -> tuple[ModelFolder, Any]:
    """The base model, and the result of fine-tuning it (Ctrl+C stops early and keeps the best so far)."""
    from training.finetune import train

    cancel = CancelToken()
    with progress_bar(not args.json) as show, _ctrl_c_cancels(cancel):
        base = _base_folder(args, show)
        result = train(base, data, method=args.method, epochs=args.epochs, device=args.device, progress=show,
                       cancel=cancel, keep_worse=args.keep_worse)
    return base, result


def _report_json(args: argparse.Namespace, base: ModelFolder, result: Any) -> int:
    folder = result.folder
    if args.use and folder is not None:  # only the switch, with its tags: no progress may mix into the JSON
        from desktop_app.models_runtime import use_model

        use_model(args.library, folder.model_id, device=args.device)
    print(json.dumps({"model": folder.model_id if folder else None, "path": str(folder.path) if folder else None,
                      "name": result.name, "description": result.description, "base": base.model_id,
                      "method": result.method, "cancelled": result.cancelled, "seconds": round(result.seconds, 1),
                      "data": result.data, "pseudo_captions": result.pseudo, "before": _clean(result.before),
                      "after": _clean(result.after), "report": _clean_all(getattr(result, "report", {})),
                      "worse": result.worse, "kept": folder is not None,
                      "active": bool(args.use and folder is not None)}, indent=2))
    if folder is None:
        _not_kept(base.model_id)
        return EXIT_NOT_KEPT
    return 0


def _report_text(args: argparse.Namespace, base: ModelFolder, result: Any) -> int:
    """The before/after table, what was installed, and the switch (now with --use, else how to)."""
    folder = result.folder
    _table(base.model_id, "the new model" if folder is None else folder.model_id, result)
    report_unreadable(result.data.get("unreadable_photos", {}))
    if folder is None:
        _not_kept(base.model_id)
        return EXIT_NOT_KEPT
    stages = ", ".join(f"{r.stage}: best at step {r.best_step} of {r.steps}" for r in result.stages)
    print(f"{'Stopped early; kept' if result.cancelled else 'Installed'} \"{result.name}\" as {folder.model_id} "
          f"in {folder.path} ({result.seconds:.0f} s; {stages}).")
    if result.worse:
        print(f"Kept although it is worse than {base.model_id} on the held-out photos (--keep-worse).")
    print(f"Rename it with `photosift models rename {folder.model_id} NAME`.")
    if args.use:
        # the same switch as `photosift models use`: it computes the new model's vectors now
        from desktop_app.commands.models import cmd_use

        print(f"{base.model_id}'s vectors are kept; switch back with `photosift models use {base.model_id}`.")
        return cmd_use(argparse.Namespace(library=args.library, model_id=folder.model_id, device=args.device,
                                          no_index=False))
    print(f"Switch to it with `photosift models use {folder.model_id}` (it computes the new vectors); "
          f"{base.model_id} stays installed.")
    return 0


def _not_kept(base_id: str) -> None:
    print(f"photosift: the new model is worse than {base_id} on the held-out photos (the numbers above), so it "
          f"was not kept and {base_id} stays as it was; train with --keep-worse to keep such a result",
          file=sys.stderr)


def _clean(d: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _clean_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_all(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def _table(base_id: str, new_id: str, result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from training.results import report_notes, report_rows

    console = Console()
    report = getattr(result, "report", None) or {}
    # a line of its own: as a table title it would wrap into the table's narrow width
    console.print(f"{base_id} (before) and {new_id} (after), on held-out photos as queries among the training "
                  "photos:", soft_wrap=True)
    table = Table()
    for name, justify in (("metric", "left"), ("before", "right"), ("after", "right"), ("change", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for label, before, after, change, worse in report_rows(report):
        table.add_row(label, before, after, f"[red]{change} (worse)[/red]" if worse else change)
    console.print(table)
    way_back = f"{base_id} stays installed: `photosift models use {base_id}` goes back to it"
    for note in report_notes(report, result.data, base_id, way_back):
        console.print(note, soft_wrap=True, markup=False)
