"""Reproduce the paper's result at our scale, measured the way a user's library looks: many random splits.

    python bench/reproduce_paper.py [--splits 10] [--rows stage1,2sft,mcip,mcip+realign] [--set KEY=VALUE ...]
    python bench/reproduce_paper.py --dev ...     (for tuning: dev splits of the training side only)

Data: the photo-only Tux Paint folder dataset (training.datasets.prepare_tuxpaint), second-level folders as
albums. Each split (bench/splits.py) keeps a quarter of the albums out of the library entirely ("other
albums") and puts half of every other album's photos in the library, holding out the rest. Training sees
the library only, through the same path as `photosift train` with its defaults (training.traindata
.from_dataset, training.finetune.run_method's stages); the split seed is also the training seed.

Every number is measured on the held-out photos only and paired with the base model's on the same split:
mean change over splits and its 95% t-interval (in points). Training time is the fine-tuning itself; the
frozen image features of every photo are computed once for all splits and reported separately.

Embeddings are computed with the torch models (the ONNX export of any of them matches torch to a cosine
of 0.999 or better, which the exporter checks).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import numpy as np
from _common import console, default_workdir, machine_line, make_table
from splits import (
    METRIC_LABELS,
    METRICS,
    HeldOut,
    LibrarySplit,
    TextCache,
    dev_split,
    embed,
    fmt_interval,
    interval,
    library_split,
    measure,
)

from training.datasets import FolderDataset, prepare_tuxpaint
from training.defaults import DEFAULT_METHOD
from training.evaluate import load_templates
from training.features import FeatureBank
from training.finetune import fresh_copy, load_base
from training.session import FineTuneSession
from training.settings import TrainSettings, resolve_device, resolve_settings
from training.towers import ImageTowerPlan, TextEncoder
from training.traindata import from_dataset

ROWS = ("stage1", "2sft", "mcip", "mcip+realign")
BAR_MAP_GAIN = 10.0  # points, library albums
BAR_T2I_R10_DROP = 1.0
BAR_OTHER_DROP = 2.0


class Protocol:
    """What every run shares: the photos, the base model, its cached features and embeddings."""

    def __init__(self, base: str = "starter", dev: bool = False) -> None:
        self.dataset = FolderDataset(prepare_tuxpaint(), level=2, name="tuxpaint")
        self.labels = np.asarray(self.dataset.labels)
        self.dev = dev
        if base == "starter":
            from training.install import ensure_model

            ensure_model("starter")
        self.folder, self.base_model = load_base(base)
        self.templates = tuple(load_templates())
        self.paths = [str(it.path) for it in self.dataset.items]
        self.banks: dict[tuple[Any, ...], FeatureBank | None] = {}
        self.pool_cache: dict[str, np.ndarray] = {}
        self.base_text = TextCache(TextEncoder(self.base_model, self.folder, resolve_device("cpu")))
        self.base_emb: dict[str, np.ndarray] = {}
        self.prepare_s = 0.0
        self._prefill_text()

    def _prefill_text(self) -> None:
        """Every text any split can need, encoded once in one fixed call. Encoding only what is missing would
        batch texts differently depending on which splits ran before, and batch composition moves float
        rounding, enough to flip a pseudo-caption at its threshold: a split's numbers must not depend on
        which process ran it or what ran before it."""
        from training.captions import build_caption_pool

        captions = [it.caption for it in self.dataset.items if it.caption]
        every = from_dataset(self.dataset, min_per_class=2)  # every class a library can train on
        pool = list(build_caption_pool(every.class_names, captions).texts)
        for t, e in zip(pool, self.base_text.encoder.encode_np(pool), strict=True):
            self.pool_cache[t] = e
        prompts = [t.format(c) for c in self.dataset.class_names() for t in self.templates]
        self.base_text(list(dict.fromkeys([*prompts, *captions])))

    def split(self, k: int) -> LibrarySplit:
        return dev_split(self.labels, k) if self.dev else library_split(self.labels, k)

    def bank(self, settings: TrainSettings) -> FeatureBank | None:
        """One bank per (views, cut, augmentation), holding every photo: shared by all splits."""
        key = (settings.views, settings.image_blocks, settings.augment)
        if key not in self.banks:
            t0 = time.perf_counter()
            plan = ImageTowerPlan(self.base_model, settings.image_blocks)
            bank = None
            if plan.cached:
                bank = FeatureBank(plan, self.folder.preprocess, resolve_device(settings.device), settings.views,
                                   settings.augment, seed=0)
                self._load_bank(bank, key)
                if not self.base_emb:
                    self.base_emb = dict(zip(self.paths, embed(self.base_model, plan, bank, self.paths), strict=True))
            self.banks[key] = bank
            self.prepare_s += time.perf_counter() - t0
        return self.banks[key]

    def _load_bank(self, bank: FeatureBank, key: tuple[Any, ...]) -> None:
        """The bank from the disk cache, or computed (minutes on 2 busy cores) and cached: the frozen prefix's
        outputs depend only on the base model's weights, the photos, the cut, the views and their seed."""
        import hashlib

        import torch

        ident = repr((self.folder.model_id, self.folder.manifest.source_sha256, key, self.paths)).encode()
        path = default_workdir() / f"bank-{hashlib.sha256(ident).hexdigest()[:16]}.pt"
        if path.is_file():
            saved = torch.load(path, weights_only=True)
            bank.train_views, bank.eval_view, bank.views = saved["train_views"], saved["eval_view"], saved["views"]
            return
        bank.ensure(self.paths, self.paths)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"train_views": bank.train_views, "eval_view": bank.eval_view, "views": bank.views}, path)

    def base_numbers(self, held: HeldOut) -> dict[str, float]:
        return measure(np.stack([self.base_emb[p] for p in held.paths]), self.base_text, held, self.templates)

    def run(self, split: LibrarySplit, settings: TrainSettings, rows: list[str],
            mixes: tuple[float, ...] = ()) -> dict[str, dict[str, float]]:
        """Train on the split's library with `settings` (the split seed as training seed); the held-out numbers
        of each method in `rows` (stage1 -> 2sft, mcip -> mcip+realign share their first stage). With `mixes`,
        also each WiSE-FT mix of stage 1's weights ("mcip@0.5"), and the one the choose photos pick
        ("mcip@chosen"), measured after stage 1 without retraining."""
        bank = self.bank(settings)
        held = HeldOut(self.dataset, split)
        data = from_dataset(self.dataset, indices=split.library.tolist(), seed=split.seed)
        out: dict[str, dict[str, float]] = {}
        pairs = [("stage1", "2sft"), ("mcip", "mcip+realign")]
        for first, second in pairs:
            if first not in rows and second not in rows:
                continue
            method = second if second in rows else first
            s = dataclasses.replace(settings, method=method, seed=split.seed)
            session = FineTuneSession(fresh_copy(self.base_model), self.folder, data, s, bank=bank,
                                      pool_cache=self.pool_cache)
            r1 = session.run_stage1()
            if mixes:
                for alpha in sorted(mixes):
                    session.set_mix(alpha)
                    out[f"{first}@{alpha:g}"] = measure(session.embed(held.paths), self.base_text, held,
                                                        self.templates)
                picked = session.choose_mix(mixes)
                out[f"{first}@chosen"] = {**out[f"{first}@{picked:g}"], "mix": picked}
                session.set_mix(r1.mix)
            if first in rows:
                out[first] = {**measure(session.embed(held.paths), self.base_text, held, self.templates),
                              "seconds": r1.seconds}
            if second in rows:
                r2 = session.run_stage2()
                out[second] = {**measure(session.embed(held.paths), session.text.encode_np, held, self.templates),
                               "seconds": r1.seconds + r2.seconds}
        return out


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=10, help="random splits (each with its own training seed)")
    parser.add_argument("--first", type=int, default=0,
                        help="first split seed (a long run can be shared by processes: --first 5 --splits 5)")
    parser.add_argument("--base", default="starter", help="model id or model folder to start from")
    parser.add_argument("--rows", default=",".join(ROWS), help="methods to run (comma separated)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainSettings field (repeatable)")
    parser.add_argument("--dev", action="store_true",
                        help="for tuning: dev splits carved from the library side of other split seeds; the "
                             "test splits are not measured")
    parser.add_argument("--mixes", default="", help="also measure these WiSE-FT mixes of stage 1 (e.g. "
                        "0.25,0.5,0.75,1) without retraining, and the one the choose photos pick")
    args = parser.parse_args(argv)
    out = console()
    t_all = time.perf_counter()
    settings = resolve_settings(TrainSettings(**{"device": "cpu", **parse_sets(args.set)}), resolve_device("cpu"))
    rows = [r for r in args.rows.split(",") if r]
    proto = Protocol(args.base, args.dev)
    proto.bank(settings)

    base_runs: list[dict[str, float]] = []
    mixes = tuple(float(x) for x in args.mixes.split(",") if x)
    runs: dict[str, list[dict[str, float]]] = {}
    sizes = []
    for k in range(args.first, args.first + args.splits):
        split = proto.split(k)
        held = HeldOut(proto.dataset, split)
        base = proto.base_numbers(held)
        base_runs.append(base)
        sizes.append((len(split.library), len(split.held), len(split.other),
                      len(np.unique(proto.labels[split.other]))))
        result = proto.run(split, settings, rows, mixes)
        for r, m in result.items():
            runs.setdefault(r, []).append(m)
            diffs = " ".join(f"{k_}={(m[k_] - base[k_]) * 100:+.1f}" for k_ in METRICS)
            extra = f"mix {m['mix']:g}" if "mix" in m else f"{m.get('seconds', 0):.0f} s"
            out.print(f"split {k} {r:13s} {diffs} ({extra})")

    table_rows = [["base (absolute)", *[f"{np.nanmean([b[k] for b in base_runs]) * 100:.1f}" for k in METRICS], "-"]]
    for r, ms in runs.items():
        cells = [fmt_interval([m[k] - b[k] for m, b in zip(ms, base_runs, strict=True)]) for k in METRICS]
        label = r + (" (default)" if r == DEFAULT_METHOD else "")
        seconds = f"{np.mean([m['seconds'] for m in ms]):.0f} s" if "seconds" in ms[0] else "-"
        table_rows.append([label, *cells, seconds])
    lib, held_n, other_n, other_albums = (np.mean([s[i] for s in sizes]) for i in range(4))
    kind = "DEV splits (tuning only; inside the library side of other split seeds)" if args.dev else "test splits"
    caption = (f"Tux Paint photos, {len(proto.dataset.classes)} level-2 albums, {len(proto.paths)} photos; "
               f"{args.splits} {kind}: on average {lib:.0f} library photos, {held_n:.0f} held out from the "
               f"library's albums, {other_n:.0f} in {other_albums:.0f} other albums. Change to the base model "
               f"on the held-out photos, in points: mean ± half-width of the 95% t-interval over splits "
               f"(paired by split). First row: the base model's own numbers.\n"
               f"Base: {proto.folder.model_id}. Settings: {describe(settings)}.\n"
               f"Frozen image features of every photo computed once in {proto.prepare_s:.0f} s; whole run "
               f"{time.perf_counter() - t_all:.0f} s on {machine_line()}.")
    out.print(make_table(f"Fine-tuning on Tux Paint libraries ({kind}, held-out photos)",
                         ["model", *[METRIC_LABELS[k] for k in METRICS], "train time"], table_rows, caption))
    out.print(bars(runs, base_runs))
    return 0


def describe(s: TrainSettings) -> str:
    return (f"stage 1 {s.epochs} epochs lr {s.lr:g} (proxies {s.head_lr:g}), stage 2 {s.realign_epochs} epochs "
            f"text lr {s.text_lr:g} ({s.text_layers} last text layers), batch {s.batch_size}, "
            f"last {s.image_blocks} image blocks, {s.views} views, MCIP weight {s.mcip_weight}, "
            f"WiSE-FT mix {'chosen on the choose photos' if s.wise is None else s.wise}, distillation {s.distill}")


def bars(runs: dict[str, list[dict[str, float]]], base_runs: list[dict[str, float]]) -> str:
    lines = [f"Bars: library albums mAP at least +{BAR_MAP_GAIN:.0f} points, T2I R@10 no more than "
             f"{BAR_T2I_R10_DROP:.0f} point below the base, other albums mAP no more than {BAR_OTHER_DROP:.0f} below "
             "(means over splits)."]
    for r, ms in runs.items():
        if not ms:
            continue
        gain, _ = interval([m["library_map"] - b["library_map"] for m, b in zip(ms, base_runs, strict=True)])
        r10, _ = interval([m["t2i_r10"] - b["t2i_r10"] for m, b in zip(ms, base_runs, strict=True)])
        other, _ = interval([m["other_map"] - b["other_map"] for m, b in zip(ms, base_runs, strict=True)])
        ok = gain >= BAR_MAP_GAIN and r10 >= -BAR_T2I_R10_DROP and other >= -BAR_OTHER_DROP
        lines.append(f"  {r:13s} library mAP {gain:+.1f}, T2I R@10 {r10:+.1f}, other albums mAP {other:+.1f}: "
                     f"{'met' if ok else 'NOT met'}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
