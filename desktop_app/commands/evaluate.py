"""`photosift eval`: measure a model on a labelled folder dataset (or the Tux Paint photos)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from desktop_app.commands import bounded_int, report_unreadable
from desktop_app.models_runtime import resolve_model
from desktop_app.progress import progress_bar
from engine.encoder import ClipEncoder, RuntimeConfig

ROWS = (("i2i_map", "image-to-image mAP"), ("nn1_acc", "1-NN accuracy"), ("knn_acc", "k-NN accuracy"),
        ("zeroshot_acc", "zero-shot accuracy"), ("t2i_r1", "text-to-image R@1"), ("t2i_r5", "text-to-image R@5"),
        ("t2i_r10", "text-to-image R@10"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model: image retrieval, k-NN, zero-shot and text-to-image recall")
    p.add_argument("--model", default="starter", help="model id (default: starter)")
    p.add_argument("--dataset", default="tuxpaint",
                   help="a folder whose sub-folders are classes (captions in .txt beside images), or 'tuxpaint'")
    p.add_argument("--level", type=bounded_int(1, 64), default=2,
                   help="folder depth that names the classes (default: 2)")
    p.add_argument("-k", type=bounded_int(1, 10_000), default=None, help="neighbours for the k-NN vote (default: 5)")
    p.add_argument("--variant", choices=("auto", "fp32", "int8", "fp16"), default="auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from training.datasets import resolve_dataset
    from training.evaluate import DEFAULT_K, evaluate

    with progress_bar(not args.json) as show:
        folder = resolve_model(args.model, show)
        dataset = resolve_dataset(args.dataset, level=args.level)
        encoder = ClipEncoder(folder, RuntimeConfig(device=args.device, variant=args.variant))
        extra = sorted({1, 2} - {args.level}) if dataset.name == "tuxpaint" else []
        result = evaluate(encoder, dataset, progress=show, k=args.k or DEFAULT_K, extra_levels=extra)
    result["level"] = args.level
    if args.json:
        print(json.dumps({k: _clean(v) for k, v in result.items()}, indent=2))
    else:
        _table(result)
        report_unreadable(result.get("unreadable", {}), "image")
    return 0


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _table(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (f"{r['model']} ({r['variant']}) on {r['dataset']}, level {r['level']}: {r['n_images']} images, "
             f"{r['n_classes']} classes, {r['n_captions']} captions")
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in ROWS:
        if key == "knn_acc":
            label = f"{r['k']}-NN accuracy"
        table.add_row(label, _fmt(r.get(key)))
    for key in sorted(k for k in r if k.startswith("zeroshot_acc_level")):
        table.add_row(f"zero-shot accuracy, level {key.removeprefix('zeroshot_acc_level')}", _fmt(r[key]))
    Console().print(table)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.3f}"
