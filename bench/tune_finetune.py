"""Tune fine-tuning settings on the dev split: several variants against the defaults, paired by seed.

    python bench/tune_finetune.py --seeds 10 --method mcip "lr=2e-3" "epochs=15" "pseudo.top_k=30,views=8"

Each variant is a comma-separated list of TrainSettings overrides (as reproduce_paper.py's --set). Every
seed trains the defaults and each variant on the same training photos and the same validation carve, so
the difference to the defaults is compared seed by seed: the table gives its mean and standard error,
which is what says whether a change is real. Seed-to-seed spread on this small dataset (2-3 mAP points) is
far larger than most effects, which is why comparing unpaired means of 3 seeds misled earlier tuning.

Only the dev split is used (bench/reproduce_paper.py --dev): the held-out test photos are never touched.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import numpy as np
from _common import console, machine_line, make_table
from reproduce_paper import Setup, parse_sets, test_metrics

from training.defaults import METHODS
from training.features import FeatureBank
from training.finetune import fresh_copy
from training.session import FineTuneSession
from training.settings import TrainSettings, resolve_device, resolve_settings
from training.traindata import from_dataset


def paired(values: np.ndarray, base: np.ndarray) -> str:
    d = (values - base) * 100
    if len(d) < 2:
        return f"{d.mean():+.2f}"
    return f"{d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", metavar="KEY=VALUE[,KEY=VALUE]")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--method", default="mcip", choices=METHODS)
    parser.add_argument("--base", default="starter", help="model id or model folder to start from")
    args = parser.parse_args(argv)
    out = console()
    t_all = time.perf_counter()
    variants = [("defaults", {})] + [(spec, parse_sets([p for p in spec.split(",") if p])) for spec in args.variants]

    setup = Setup.load(args.base, dev=True)
    dataset, dev, base_model = setup.dataset, setup.test, setup.base_model
    device = resolve_device("cpu")
    defaults = resolve_settings(TrainSettings(device="cpu", method=args.method), device)
    banks: dict[tuple[Any, ...], FeatureBank | None] = {}
    pool_cache: dict[str, np.ndarray] = {}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
    for seed in range(args.seeds):
        data = from_dataset(dataset, indices=setup.train_idx.tolist(), seed=seed, min_per_class=2)
        for name, overrides in variants:
            s = dataclasses.replace(defaults, seed=seed, **overrides)
            key = (s.views, s.image_blocks, s.augment)
            if key not in banks:  # shared by the runs with the same views
                banks[key] = setup.bank(s, device)
            session = FineTuneSession(fresh_copy(base_model), setup.folder, data, s, bank=banks[key],
                                      pool_cache=pool_cache, extra_eval_paths=dev.paths)
            session.run_stage1()
            i2i = test_metrics(session, dev, setup.templates)["i2i_map"]
            if s.realigns:
                session.run_stage2()
            r10 = test_metrics(session, dev, setup.templates)["t2i_r10"]
            results[name].append((i2i, r10))
            out.print(f"seed {seed} {name}: i2i mAP {i2i:.3f}, t2i R@10 {r10:.3f}")

    base = np.array(results["defaults"])
    rows = []
    for name, _ in variants:
        a = np.array(results[name])
        rows.append([name, f"{a[:, 0].mean() * 100:.1f}", paired(a[:, 0], base[:, 0]),
                     f"{a[:, 1].mean() * 100:.1f}", paired(a[:, 1], base[:, 1])])
    caption = (f"DEV SPLIT (the test photos are not used): {len(dev.paths)} dev photos; method {args.method}; "
               f"{args.seeds} seeds, each variant paired with the defaults on the same seed; differences in "
               f"points, mean ± standard error.\nWhole run {time.perf_counter() - t_all:.0f} s on {machine_line()}.")
    out.print(make_table("Fine-tuning settings against the defaults (dev split)",
                         ["settings", "i2i mAP", "vs defaults", "t2i R@10", "vs defaults"], rows, caption))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
