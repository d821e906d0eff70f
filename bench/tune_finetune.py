"""Tune fine-tuning settings on the dev splits: variants against the defaults, paired split by split.

    python bench/tune_finetune.py --splits 8 --method mcip "wise=0.5" "distill=1.0" "lr=5e-4,epochs=6"

Each variant is a comma-separated list of TrainSettings overrides (as reproduce_paper.py's --set). Every dev
split (bench/splits.py: the library side of split DEV_SEED_BASE + k, split again into library, held-out
photos and other albums) trains the defaults and each variant on the same library with the same training
seed, so the difference to the defaults is paired: the table gives its mean and 95% t-interval over splits,
for the library albums, the other albums and text search. Split-to-split spread on this small dataset is
far larger than most effects, which is why unpaired means of a few runs misled earlier tuning.

The test splits (seeds 0..N-1 of bench/reproduce_paper.py) are never measured here.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from _common import console, machine_line, make_table
from reproduce_paper import Protocol, parse_sets
from splits import METRIC_LABELS, METRICS, HeldOut, fmt_interval

from training.defaults import METHODS
from training.settings import TrainSettings, resolve_device, resolve_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", metavar="KEY=VALUE[,KEY=VALUE]")
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--first", type=int, default=0, help="first dev split (processes can share a long run)")
    parser.add_argument("--method", default="mcip", choices=METHODS)
    parser.add_argument("--base", default="starter", help="model id or model folder to start from")
    parser.add_argument("--mixes", default="", help="WiSE-FT mixes of stage 1 to measure without retraining, e.g. "
                        "0.25,0.5,0.75,1 (plus the one the choose photos pick)")
    args = parser.parse_args(argv)
    out = console()
    t_all = time.perf_counter()
    variants = [("defaults", {})] + [(spec, parse_sets([p for p in spec.split(",") if p])) for spec in args.variants]
    proto = Protocol(args.base, dev=True)
    defaults = resolve_settings(TrainSettings(device="cpu", method=args.method), resolve_device("cpu"))
    mixes = tuple(float(x) for x in args.mixes.split(",") if x)
    rows_of = {"mcip+realign": ["mcip", "mcip+realign"], "2sft": ["stage1", "2sft"]}.get(args.method, [args.method])
    results: dict[str, list[dict[str, float]]] = {}
    proto.bank(defaults)  # every photo's frozen features and base embeddings, shared by all splits
    base_runs = []
    for k in range(args.first, args.first + args.splits):
        split = proto.split(k)
        base_runs.append(proto.base_numbers(HeldOut(proto.dataset, split)))
        for name, overrides in variants:
            s = dataclasses.replace(defaults, **overrides)
            for row, m in proto.run(split, s, rows_of, mixes).items():
                label = name if row == args.method else f"{name} ({row})"  # not [..]: rich reads that as markup
                results.setdefault(label, []).append(m)
                out.print(f"dev split {k} {label}: " + " ".join(f"{key}={m[key]:.3f}" for key in METRICS)
                          + (f" mix={m['mix']}" if "mix" in m else ""))

    rows = []
    base = results["defaults"]
    for name, ms in results.items():
        cells = []
        for key in METRICS:
            vs_base = fmt_interval([m[key] - b[key] for m, b in zip(ms, base_runs, strict=True)])
            vs_def = "-" if name == "defaults" else fmt_interval([m[key] - d[key]
                                                                  for m, d in zip(ms, base, strict=True)])
            cells.append(f"{vs_base} / {vs_def}")
        rows.append([name, *cells])
    caption = (f"DEV splits (the test splits are not used); method {args.method}; {args.splits} splits, each variant "
               f"paired with the base model and with the defaults on the same split. Cells: change to the base / "
               f"change to the defaults, in points, mean ± 95% t-interval over splits.\n"
               f"Base means: " + ", ".join(f"{METRIC_LABELS[k]} {np.nanmean([b[k] for b in base_runs]) * 100:.1f}"
                                           for k in METRICS)
               + f".\nWhole run {time.perf_counter() - t_all:.0f} s on {machine_line()}.")
    out.print(make_table("Fine-tuning settings against the defaults (dev splits)",
                         ["settings", *[METRIC_LABELS[k] for k in METRICS]], rows, caption))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
