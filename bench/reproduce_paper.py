"""Reproduce the paper's result at our scale: starter vs stage1 / 2sft / mcip / mcip+realign on Tux Paint.

    python bench/reproduce_paper.py [--seeds 3] [--set epochs=6 --set lr=2e-4 ...]

Data: the photo-only Tux Paint folder dataset (training.datasets.prepare_tuxpaint), second-level folders as
classes. A fixed per-class split (seed 0, independent of the training seeds): classes with at least
MIN_PER_CLASS photos give TEST_FRACTION of their photos to the test set; the rest is training data, from
which each run carves its own validation photos (checkpoint selection only). Photos of smaller classes
are not used (they cannot be split into training and test photos).

Every number is measured on the held-out test photos only: image-to-image mAP and 1-NN accuracy (each
test photo a query against the other test photos), zero-shot accuracy (test class names through the
prompt templates), text-to-image R@1/R@10 (test captions as queries over the test photos). Mean ± std over
the seeds. Training time is the fine-tuning itself (stage 1, plus stage 2 for 2sft and mcip+realign);
the frozen image features shared by all runs are computed once and reported separately.

Embeddings are computed with the torch models (the ONNX export of any of them matches torch to a cosine
of 0.999 or better, which the exporter checks).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import numpy as np
from _common import console, machine_line, make_table

from training.datasets import FolderDataset, prepare_tuxpaint
from training.evaluate import (
    i2i_map,
    l2_normalize,
    load_templates,
    nn1_accuracy,
    recall_at_k,
    zeroshot_accuracy,
)
from training.features import FeatureBank
from training.finetune import fresh_copy, load_base
from training.session import FineTuneSession
from training.settings import TrainSettings, resolve_device, resolve_settings
from training.towers import ImageTowerPlan
from training.traindata import from_dataset, split_per_class

MIN_PER_CLASS = 4
TEST_FRACTION = 0.4
ROWS = ("starter", "stage1", "2sft", "mcip", "mcip+realign")
COLUMNS = ("i2i_map", "nn1_acc", "zeroshot_acc", "t2i_r1", "t2i_r10")
BAR_MAP_GAIN = 0.10
BAR_T2I_R10_DROP = 0.01


def fixed_split(dataset: FolderDataset) -> tuple[np.ndarray, np.ndarray, int]:
    """(train indices, test indices, photos of classes too small to split), the same for every run."""
    labels = dataset.labels
    counts = np.bincount(labels)
    big = np.flatnonzero(counts[labels] >= MIN_PER_CLASS)
    tr, te = split_per_class(labels[big], TEST_FRACTION, seed=0, min_train=3)
    return big[tr], big[te], len(labels) - len(big)


def dev_split(dataset: FolderDataset, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, dev) indices, both inside the training photos: settings are tuned here, never on the test set."""
    labels = dataset.labels[train_idx]
    counts = np.bincount(labels)
    big = np.flatnonzero(counts[labels] >= MIN_PER_CLASS)
    _, dev = split_per_class(labels[big], TEST_FRACTION, seed=1, min_train=2)
    dev_idx = train_idx[big[dev]]
    return np.setdiff1d(train_idx, dev_idx), dev_idx


class TestSet:
    """The held-out photos: labels, class names, captions."""

    def __init__(self, dataset: FolderDataset, indices: np.ndarray) -> None:
        items = [dataset.items[i] for i in indices]
        self.paths = [str(it.path) for it in items]
        keys = sorted({it.label for it in items})
        index = {k: i for i, k in enumerate(keys)}
        self.labels = np.array([index[it.label] for it in items], dtype=np.int64)
        names = dict(zip(dataset.classes, dataset.class_names(), strict=True))
        self.class_names = [names[k] for k in keys]
        self.captions = [(i, it.caption) for i, it in enumerate(items) if it.caption]


@dataclasses.dataclass
class Setup:
    """What every run shares: the Tux Paint photos and their split, the base model, the prompt templates."""

    dataset: FolderDataset
    train_idx: np.ndarray
    test: TestSet  # the held-out photos, or with dev=True the dev split carved from the training photos
    n_small: int  # photos of classes too small to split
    folder: Any
    base_model: Any
    templates: tuple[str, ...]

    @classmethod
    def load(cls, base: str = "starter", dev: bool = False) -> Setup:
        dataset = FolderDataset(prepare_tuxpaint(), level=2, name="tuxpaint")
        train_idx, test_idx, n_small = fixed_split(dataset)
        if dev:
            train_idx, test_idx = dev_split(dataset, train_idx)
        if base == "starter":
            from training.install import ensure_model

            ensure_model("starter")
        folder, base_model = load_base(base)
        return cls(dataset, train_idx, TestSet(dataset, test_idx), n_small, folder, base_model,
                   tuple(load_templates()))

    def bank(self, settings: TrainSettings, device: Any) -> FeatureBank | None:
        """The frozen image-tower prefix's features of the training and test photos for these settings
        (None when the tower cannot be cut there)."""
        plan = ImageTowerPlan(self.base_model, settings.image_blocks)
        if not plan.cached:
            return None
        bank = FeatureBank(plan, self.folder.preprocess, device, settings.views, settings.augment, seed=0)
        bank.ensure([str(self.dataset.items[i].path) for i in self.train_idx], self.test.paths)
        return bank


def test_metrics(session: FineTuneSession, test: TestSet, templates: tuple[str, ...]) -> dict[str, float]:
    emb = session.embed(test.paths)
    prompts = [t.format(c) for c in test.class_names for t in templates]
    cls = session.text.encode_np(prompts).reshape(len(test.class_names), len(templates), -1)
    cls = l2_normalize(l2_normalize(cls).mean(1))
    cap = session.text.encode_np([c for _, c in test.captions])
    recall = recall_at_k(cap, emb, np.array([i for i, _ in test.captions]), ks=(1, 10))
    return {"i2i_map": i2i_map(emb, test.labels), "nn1_acc": nn1_accuracy(emb, test.labels),
            "zeroshot_acc": zeroshot_accuracy(emb, test.labels, cls), "t2i_r1": recall[1], "t2i_r10": recall[10]}


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE overrides of TrainSettings; nested ones as pseudo.z=3 or augment.jitter=0.1."""
    defaults = TrainSettings()
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        group, _, name = key.rpartition(".")
        owner = getattr(defaults, group) if group else defaults
        if not hasattr(owner, name) or not dataclasses.is_dataclass(owner):
            known = ", ".join(f.name for f in dataclasses.fields(TrainSettings))
            raise SystemExit(f"unknown setting {key!r}; known: {known} (and pseudo.*, augment.*)")
        default = getattr(owner, name)
        if isinstance(default, bool):
            parsed: Any = value.lower() in ("1", "true", "yes")
        elif value.lower() == "none":
            parsed = None
        else:
            parsed = _number(value) if not isinstance(default, str) else value
        if group:
            nested.setdefault(group, {})[name] = parsed
        else:
            out[key] = parsed
    for group, changes in nested.items():
        out[group] = dataclasses.replace(getattr(defaults, group), **changes)
    return out


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def fmt(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    a = np.asarray(values, dtype=np.float64) * scale
    if len(a) == 1:
        return f"{a[0]:.{digits}f}"
    return f"{a.mean():.{digits}f} ± {a.std():.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--base", default="starter", help="model id or model folder to start from")
    parser.add_argument("--rows", default=",".join(ROWS[1:]), help="methods to run (comma separated)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainSettings field (repeatable)")
    parser.add_argument("--dev", action="store_true",
                        help="for tuning: leave the test photos out entirely and measure on a dev split carved "
                             "from the training photos instead")
    args = parser.parse_args(argv)
    out = console()
    t_all = time.perf_counter()
    overrides = parse_sets(args.set)
    settings = TrainSettings(**{"device": "cpu", **overrides})
    rows = [r for r in args.rows.split(",") if r]

    setup = Setup.load(args.base, args.dev)
    dataset, train_idx, test, templates = setup.dataset, setup.train_idx, setup.test, setup.templates
    folder, base_model = setup.folder, setup.base_model

    # The frozen prefix of the image tower is the same for every run: compute its features once.
    t0 = time.perf_counter()
    device = resolve_device(settings.device)
    settings = resolve_settings(settings, device)
    bank = setup.bank(settings, device)
    prepare_s = time.perf_counter() - t0
    pool_cache: dict[str, np.ndarray] = {}

    results: dict[str, list[dict[str, float]]] = {r: [] for r in ROWS}
    seeds = list(range(args.seeds))
    for seed in seeds:
        data = from_dataset(dataset, indices=train_idx.tolist(), seed=seed, min_per_class=2)
        pairs = [("stage1", "2sft"), ("mcip", "mcip+realign")]
        for first, second in pairs:
            if first not in rows and second not in rows:
                continue
            method = second if second in rows else first
            s = dataclasses.replace(settings, method=method, seed=seed)
            session = FineTuneSession(fresh_copy(base_model), folder, data, s, bank=bank, pool_cache=pool_cache,
                                      extra_eval_paths=test.paths)
            if not results["starter"] or len(results["starter"]) <= seed:
                results["starter"].append({**test_metrics(session, test, templates), "seconds": 0.0})
            if seed == 0 and session.pseudo_info:
                out.print(f"pseudo-captions ({first} run, seed 0): {session.pseudo_info}")
            r1 = session.run_stage1()
            m1 = {**test_metrics(session, test, templates), "seconds": r1.seconds}
            if first in rows:
                results[first].append(m1)
            line = f"seed {seed} {first:6s}: " + " ".join(f"{k}={m1[k]:.3f}" for k in COLUMNS)
            line += f" ({r1.seconds:.0f} s, best step {r1.best_step}/{r1.steps}, val {r1.start_score:.3f}->"
            line += f"{r1.best_score:.3f})"
            out.print(line)
            if second in rows:
                r2 = session.run_stage2()
                m2 = {**test_metrics(session, test, templates), "seconds": r1.seconds + r2.seconds}
                results[second].append(m2)
                line = f"seed {seed} {second:6s}: " + " ".join(f"{k}={m2[k]:.3f}" for k in COLUMNS)
                line += f" ({r2.seconds:.0f} s, best step {r2.best_step}/{r2.steps}, val {r2.start_score:.3f}->"
                line += f"{r2.best_score:.3f})"
                out.print(line)

    table_rows = []
    for r in ROWS:
        runs = results[r]
        if not runs:
            continue
        cells = [fmt([m[k] for m in runs]) for k in COLUMNS]
        cells.append("-" if r == "starter" else fmt([m["seconds"] for m in runs], scale=1.0, digits=0) + " s")
        table_rows.append([r, *cells])
    n_train = len(train_idx)
    caption = (f"Tux Paint photos, level-2 classes: {n_train} training photos (validation carved per seed), "
               f"{len(test.paths)} held-out test photos in {len(test.class_names)} classes, "
               f"{len(test.captions)} test captions ({setup.n_small} photos of classes with fewer than {MIN_PER_CLASS} "
               f"photos not used). {len(seeds)} seed(s), mean ± std, numbers in %.\n"
               f"Base: {folder.model_id}. Settings: {describe(settings)}.\n"
               f"Frozen image features computed once in {prepare_s:.0f} s; whole run "
               f"{time.perf_counter() - t_all:.0f} s on {machine_line()}.")
    if args.dev:
        caption = "DEV SPLIT (tuning only; the test photos were not used).\n" + caption.replace("test", "dev")
    split = "dev split" if args.dev else "held-out photos"
    out.print(make_table(f"Reproducing the paper on Tux Paint ({split})",
                         ["model", "i2i mAP", "1-NN acc", "zero-shot acc", "t2i R@1", "t2i R@10", "train time"],
                         table_rows, caption))
    out.print(bars(results))
    return 0


def describe(s: TrainSettings) -> str:
    return (f"stage 1 {s.epochs} epochs lr {s.lr:g} (proxies {s.head_lr:g}), stage 2 {s.realign_epochs} epochs "
            f"text lr {s.text_lr:g} ({s.text_layers} last text layers), batch {s.batch_size}, "
            f"last {s.image_blocks} image blocks, {s.views} views, "
            f"MCIP weight {s.mcip_weight}")


def bars(results: dict[str, list[dict[str, float]]]) -> str:
    if not results["starter"]:
        return ""
    base_map = float(np.mean([m["i2i_map"] for m in results["starter"]]))
    base_r10 = float(np.mean([m["t2i_r10"] for m in results["starter"]]))
    lines = ["Bars: i2i mAP at least +10 points over the starter, t2i R@10 no more than 1 point below it."]
    for r in ("2sft", "mcip", "mcip+realign"):
        if not results[r]:
            continue
        gain = float(np.mean([m["i2i_map"] for m in results[r]])) - base_map
        drop = base_r10 - float(np.mean([m["t2i_r10"] for m in results[r]]))
        ok = gain >= BAR_MAP_GAIN and drop <= BAR_T2I_R10_DROP
        lines.append(f"  {r:13s} mAP {gain * 100:+.1f} points, t2i R@10 {-drop * 100:+.1f} points: "
                     f"{'met' if ok else 'NOT met'}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
