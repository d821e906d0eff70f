"""The fine-tuning session: one model, its photos and captions; stage 1 and stage 2 run through one
training loop (training.loop), with evaluation and best-checkpoint keeping."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import Cancelled
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import ModelFolder
from training.captions import (
    CaptionPool,
    build_caption_pool,
    class_prompts,
    retrieval_summary,
    retrieve_pseudo_captions,
)
from training.evaluate import (
    average_precision,
    gallery_map,
    l2_normalize,
    load_templates,
    recall_at_k,
    zeroshot_accuracy,
)
from training.features import DecodedPhotos, FeatureBank
from training.losses import ArcMarginHead, multi_caption_loss, symmetric_info_nce
from training.report import clustered_se
from training.settings import FineTuneError, TrainSettings, resolve_device, resolve_settings
from training.towers import ImageTowerPlan, TextEncoder, text_trainable
from training.traindata import TrainingData

log = logging.getLogger(__name__)

USER_CAPTION_SHARE = 0.5  # stage 2: how often a photo's own caption is drawn when it has one
WISE_GRID = (0.25, 0.5, 0.75, 1.0)  # WiSE-FT mixes tried when TrainSettings.wise is None


@dataclass
class Split:
    """Photos of one split with labels and captions, as flat arrays (captions: (photo row, text))."""

    paths: list[str | bytes]
    labels: np.ndarray
    captions: list[tuple[int, str]]

    @classmethod
    def of(cls, items: Sequence[Any]) -> Split:
        return cls([it.path for it in items], np.array([it.label for it in items], dtype=np.int64),
                   [(i, c) for i, it in enumerate(items) for c in it.captions])


# ---------------------------------------------------------------------------------------------------------
# The session: one model being fine-tuned on one TrainingData


@dataclass
class Stage:
    """What one stage trains and how it is judged; the session's one loop (`_train`) runs it."""

    name: str  # StageReport.stage: stage1, mcip or realign
    number: int  # 1 or 2: history rows, best-checkpoint file
    label: str
    score_key: str  # the selection score: "val_map" (stage 1) or "val_text" (stage 2)
    epochs: int
    params: Sequence[tuple[str, nn.Parameter]]
    groups: list[list[nn.Parameter]]  # gradients clipped per group
    optimizer: torch.optim.Optimizer
    batch_loss: Callable[[np.ndarray], torch.Tensor]  # training rows of one batch -> loss
    score: Callable[[], float]
    start_epoch: Callable[[], None] = lambda: None
    context: Callable[[], AbstractContextManager[Any]] = nullcontext
    extra: dict[str, float] = field(default_factory=dict)  # reported beside the score (stage 2: stage 1's mAP)


@dataclass
class StageReport:
    stage: str
    steps: int
    best_step: int
    best_score: float
    start_score: float
    seconds: float
    cancelled: bool = False
    mix: float = 1.0  # stage 1: share of the fine-tuned weights in the WiSE-FT mix with the base weights


@dataclass
class TrainResult:
    model_id: str
    method: str
    folder: ModelFolder | None
    before: dict[str, float]
    after: dict[str, float]
    stages: list[StageReport]
    history: list[dict[str, float]]
    settings: dict[str, Any]
    data: dict[str, Any]
    pseudo: dict[str, Any]
    cancelled: bool
    seconds: float
    model: nn.Module | None = None
    worse: bool = False  # worse than its base on the held-out numbers (training.results.is_worse)
    name: str = ""  # display name ("Folders, MCIP, 29 Nov")
    description: str = ""
    report: dict[str, Any] = field(default_factory=dict)  # training.report.compare: changes with intervals


class FineTuneSession:
    """Holds the model, the photos' features, the caption pool; runs stages and evaluates.

    `bank` may be shared between sessions on the same base model (the bench does); `pool_cache` maps caption
    text to the base text tower's embedding (valid until a stage 2 changes the text tower).
    """

    def __init__(self, model: nn.Module, folder: ModelFolder, data: TrainingData, settings: TrainSettings, *,
                 bank: FeatureBank | None = None, pool_cache: dict[str, np.ndarray] | None = None,
                 progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
                 extra_eval_paths: Sequence[str | bytes] = (), checkpoint_dir: Path | None = None) -> None:
        self.device = resolve_device(settings.device)
        self.settings = settings = resolve_settings(settings, self.device)
        self.model = model.to(self.device).eval()
        self.folder = folder
        self.data = data
        self.progress = progress
        self.cancel = cancel
        self.plan = ImageTowerPlan(self.model, settings.image_blocks)
        self.cfg = folder.preprocess
        self.train = Split.of(data.train)
        self.val = Split.of(data.val)  # "choose" photos: checkpoint and mix selection only
        self.report = Split.of(data.report)  # "report" photos: before/after, never a choice
        self.other: list[str | bytes] = list(data.other)
        self.text = TextEncoder(self.model, folder, self.device)
        self.templates = tuple(load_templates())
        self.history: list[dict[str, float]] = []
        self.step_offset = 0
        self.text_changed = False
        self.pool_cache = pool_cache if pool_cache is not None else {}
        self.amp_dtype = None
        if self.device.type == "cuda" and settings.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if self.plan.cached:
            if bank is None or bank.cut != self.plan.cut:
                bank = FeatureBank(self.plan, self.cfg, self.device, settings.views, settings.augment, settings.seed)
            else:
                bank.plan = self.plan
                bank.device = self.device
            bank.ensure(self.train.paths, [*self.val.paths, *self.report.paths, *self.other, *extra_eval_paths],
                        progress, cancel)
            self.photos: FeatureBank | DecodedPhotos = bank
            unreadable = bank.unreadable
        else:
            workers = settings.workers or (min(4, (os.cpu_count() or 2) - 1) if self.device.type == "cuda" else 0)
            self.photos = DecodedPhotos(self.cfg, self.device, settings.augment, settings.seed, workers)
            unreadable = self.photos.screen([*self.train.paths, *self.val.paths, *self.report.paths, *self.other],
                                            progress, cancel)
        # A photo that cannot be read (corrupt, or changed since it was indexed) is left out and reported;
        # it does not end the training.
        self.data = data = data.without(unreadable)
        if data.unreadable:
            log.info("fine-tuning without %d photo(s) that could not be read", len(data.unreadable))
            self.train, self.val, self.report = Split.of(data.train), Split.of(data.val), Split.of(data.report)
            self.other = list(data.other)
        self.bank = bank if self.plan.cached else None
        self.checkpoint_dir = checkpoint_dir
        self._captions: tuple[CaptionPool, np.ndarray, list[np.ndarray], dict[str, Any]] | None = None
        if settings.uses_captions or settings.realigns:
            self.ensure_captions()

    def ensure_captions(self) -> None:
        if self._captions is None:
            self._captions = self._pseudo_captions()

    @property
    def pool(self) -> CaptionPool:
        self.ensure_captions()
        assert self._captions is not None
        return self._captions[0]

    @property
    def pool_emb(self) -> np.ndarray:
        self.ensure_captions()
        assert self._captions is not None
        return self._captions[1]

    @property
    def own(self) -> list[np.ndarray]:
        self.ensure_captions()
        assert self._captions is not None
        return self._captions[2]

    @property
    def pseudo_info(self) -> dict[str, Any]:
        return self._captions[3] if self._captions is not None else {}

    # -- building blocks ------------------------------------------------------------------------------
    def autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def embed(self, paths: Sequence[str | bytes], batch_size: int = 64) -> np.ndarray:
        """Evaluation-view image embeddings (L2-normalised) with the current model."""
        out = []
        with torch.no_grad(), self.plan.stubs(), self.autocast():
            for start in range(0, len(paths), batch_size):
                x = self.photos.eval_batch(paths[start:start + batch_size])
                out.append(F.normalize(self.model.encode_image(x).float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

    def class_embeddings(self) -> np.ndarray:
        prompts = [t.format(c) for c in self.data.class_names for t in self.templates]
        emb = self.text.encode_np(prompts).reshape(len(self.data.class_names), len(self.templates), -1)
        return l2_normalize(l2_normalize(emb).mean(1))

    def pool_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        if self.text_changed:
            return self.text.encode_np(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.pool_cache]
        if missing:
            for t, e in zip(missing, self.text.encode_np(missing), strict=True):
                self.pool_cache[t] = e
        return np.stack([self.pool_cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def _pseudo_captions(self) -> tuple[CaptionPool, np.ndarray, list[np.ndarray], dict[str, Any]]:
        """The caption pool, its (base) embeddings, and each training photo's own + retrieved captions."""
        user = [c for _, c in self.train.captions]
        pool = build_caption_pool(self.data.class_names, user)
        pool_emb = self.pool_embeddings(list(pool.texts))
        index = pool.index()
        own: list[list[int]] = [[] for _ in self.train.paths]
        for row, c in self.train.captions:
            own[row].append(index[" ".join(c.split())])
        class_rows = [[index[p] for p in class_prompts(n, self.templates)] for n in self.data.class_names]
        if self.settings.class_captions:
            for row, label in enumerate(self.train.labels):
                own[row] += class_rows[int(label)]
        image_emb = self.embed(self.train.paths)
        captions, threshold = retrieve_pseudo_captions(image_emb, pool_emb, self.settings.pseudo, own)
        info = {"pool": pool.counts(), **retrieval_summary(captions, threshold)}
        self._class_rows = class_rows
        return pool, pool_emb, captions, info

    def evaluate(self, split: str = "val") -> dict[str, float]:
        """Numbers of one split's photos ("val": the choose photos, "report" or "train") as queries against the
        training photos and that split's photos (never another held-out split's), zero-shot, text-to-image."""
        part = {"val": self.val, "report": self.report, "train": self.train}[split]
        own = split == "train"
        gallery = self.embed([*self.train.paths, *([] if own else part.paths)])
        g_labels = np.concatenate([self.train.labels, *([] if own else [part.labels])])
        offset = 0 if own else len(self.train.paths)
        q = gallery[offset:offset + len(part.paths)]
        m_ap, nn1 = gallery_map(q, part.labels, gallery, g_labels, np.arange(len(q)) + offset)
        out = {"i2i_map": m_ap, "nn1_acc": nn1}
        out["zeroshot_acc"] = zeroshot_accuracy(q, part.labels, self.class_embeddings()) if len(q) else float("nan")
        if part.captions:
            cap_emb = self.text.encode_np([c for _, c in part.captions])
            rows = np.array([r + offset for r, _ in part.captions], dtype=np.int64)
            out.update({f"t2i_r{k}": v for k, v in recall_at_k(cap_emb, gallery, rows).items()})
        return out

    def val_map(self) -> float:
        n_train = len(self.train.paths)
        gallery = self.embed([*self.train.paths, *self.val.paths])
        g_labels = np.concatenate([self.train.labels, self.val.labels])
        return gallery_map(gallery[n_train:], self.val.labels, gallery, g_labels,
                           np.arange(len(self.val.paths)) + n_train)[0]

    def val_alignment(self) -> float:
        """Stage 2's selection score: mean of val zero-shot accuracy and val caption R@5 (when there are captions)."""
        m = self.evaluate("val")
        parts = [m["zeroshot_acc"]] + ([m["t2i_r5"]] if "t2i_r5" in m else [])
        return float(np.mean(parts))

    # -- stage 1 ----------------------------------------------------------------------------------------
    def _snapshot(self, params: Sequence[tuple[str, nn.Parameter]],
                  stage: int | None = None) -> dict[str, torch.Tensor]:
        """A copy of the trainable weights; with `stage`, also written to the checkpoint folder (if any)."""
        state = {n: p.detach().clone() for n, p in params}
        if stage is not None and self.checkpoint_dir is not None:
            from safetensors.torch import save_file

            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.checkpoint_dir / f".best-stage{stage}.safetensors.tmp"
            save_file({n: t.detach().cpu().contiguous() for n, t in state.items()}, str(tmp))
            os.replace(tmp, self.checkpoint_dir / f"best-stage{stage}.safetensors")
        return state

    @staticmethod
    def _restore(params: Sequence[tuple[str, nn.Parameter]], state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for n, p in params:
                p.copy_(state[n])

    def _unfreeze(self) -> None:
        """Back to the default (all weights require grad): the exporter traces the plain, not the fast, path."""
        for p in self.model.parameters():
            p.requires_grad_(True)

    def _freeze_all_but(self, params: Sequence[tuple[str, nn.Parameter]]) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        for _, p in params:
            p.requires_grad_(True)

    def _schedule(self, opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
        floor = self.settings.min_lr_factor

        def factor(step: int) -> float:
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def _scaler(self) -> Any:
        enabled = self.amp_dtype == torch.float16
        return torch.amp.GradScaler("cuda", enabled=enabled) if enabled else None

    def _eval_steps(self, steps_per_epoch: int, total: int) -> set[int]:
        every = max(1, steps_per_epoch // max(1, self.settings.evals_per_epoch))
        return set(range(every, total + 1, every)) | {total}

    def _report(self, clock: ProgressClock, step: int, message: str, **metrics: float) -> None:
        clock.report(self.step_offset + step, message, **{k: float(v) for k, v in metrics.items()})

    def run_stage1(self, clock: ProgressClock | None = None) -> StageReport:
        """ArcMargin (+ multi-caption for MCIP) on the image tower's trainable part; text frozen."""
        s = self.settings
        t0 = time.perf_counter()
        rng = np.random.default_rng(s.seed)
        torch.manual_seed(s.seed)
        params = self.plan.trainable
        n = len(self.train.paths)
        self._mix_base = self._snapshot(params)
        # The base model's embedding of every training view: the distillation target (it keeps the tower close to
        # the base where the labels say nothing).
        base_views = self._train_view_embeddings().to(self.device) if s.distill > 0 else None
        # Proxies start at the class means of the current embeddings: no random first steps.
        emb = torch.from_numpy(self.embed(self.train.paths))
        means = torch.stack([emb[torch.from_numpy(self.train.labels == c)].mean(0)
                             for c in range(len(self.data.classes))])
        head = ArcMarginHead(len(self.data.classes), emb.shape[1], s.arc_scale, s.arc_margin,
                             init=F.normalize(means, dim=-1)).to(self.device)
        opt = torch.optim.AdamW([{"params": [p for _, p in params], "lr": s.lr},
                                 {"params": list(head.parameters()), "lr": s.head_lr}],
                                weight_decay=s.weight_decay)
        labels = torch.from_numpy(self.train.labels).to(self.device)
        use_captions = s.uses_captions
        caption_emb = torch.from_numpy(self.pool_emb).to(self.device) if use_captions else None
        views = rng.integers(0, s.views, size=n)

        def next_views() -> None:
            nonlocal views
            views = (views + 1) % s.views

        def batch_loss(idx: np.ndarray) -> torch.Tensor:
            x = self.photos.train_batch([self.train.paths[i] for i in idx], views[idx].tolist())
            with self.autocast():
                out = self.model.encode_image(x).float()
            loss = head(out, labels[torch.from_numpy(idx).to(self.device)])
            if base_views is not None:
                target = base_views[torch.from_numpy(idx), torch.from_numpy(views[idx] % base_views.shape[1])]
                loss = loss + s.distill * (1 - (F.normalize(out, dim=-1) * target).sum(-1)).mean()
            if caption_emb is None:
                return loss
            cols = np.unique(np.concatenate([self.own[i] for i in idx]))
            if not len(cols):
                return loss
            col_of = {c: j for j, c in enumerate(cols.tolist())}
            targets = torch.zeros(len(idx), len(cols), device=self.device)
            for r, i in enumerate(idx):
                for c in self.own[i].tolist():
                    targets[r, col_of[c]] = 1.0
            mc = multi_caption_loss(out, caption_emb[torch.from_numpy(cols).to(self.device)], targets,
                                    s.arc_scale, s.arc_margin)
            return (1 - s.mcip_weight) * loss + s.mcip_weight * mc

        stage = Stage("stage1" if not use_captions else "mcip", 1, "stage 1", "val_map", s.epochs, params,
                      [[p for _, p in params], list(head.parameters())], opt, batch_loss, self.val_map,
                      start_epoch=next_views, context=self.plan.stubs)
        report = self._train(stage, rng, clock, t0)
        self._mix_tuned = self._snapshot(params)
        report.mix = self._choose_mix()
        return report

    def set_mix(self, alpha: float) -> None:
        """WiSE-FT: the image tower's trained weights become base + alpha x (fine-tuned - base)."""
        with torch.no_grad():
            for n, p in self.plan.trainable:
                p.copy_(self._mix_base[n] + alpha * (self._mix_tuned[n] - self._mix_base[n]))

    def _choose_mix(self) -> float:
        """The settings' fixed mix, or (wise=None) the one the choose photos pick (choose_mix)."""
        s = self.settings
        if s.wise is None:
            return self.choose_mix()
        if s.wise != 1.0:
            self.set_mix(s.wise)
        return float(s.wise)

    def choose_mix(self, grid: Sequence[float] = WISE_GRID) -> float:
        """The WiSE-FT mix with the best mAP on the choose photos, or (one-standard-error rule, robust on a small
        validation set) the mix nearest the base whose mAP is within one standard error of the best (paired
        per photo; with TrainSettings.choose_se "album", the error treats albums as the independent units,
        as the report does). Leaves the model at that mix."""
        aps = {}
        for alpha in sorted(grid):
            self.set_mix(alpha)
            aps[alpha] = self.val_aps()
        valid = [a for a in aps if len(aps[a]) and not np.isnan(aps[a]).all()]
        if not valid:
            best = 1.0
        else:
            top = max(valid, key=lambda a: float(np.nanmean(aps[a])))
            best = top
            for alpha in valid:  # ascending: nearest the base first
                d = aps[top] - aps[alpha]
                if self.settings.choose_se == "album":
                    mean, se, _ = clustered_se(d, self.val.labels)
                    se = 0.0 if np.isnan(se) else se
                else:
                    d = d[~np.isnan(d)]
                    mean = float(d.mean())
                    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
                if mean <= se:
                    best = alpha
                    break
        self.set_mix(best)
        return float(best)

    def val_aps(self) -> np.ndarray:
        """Per choose photo AP (as val_map) with the current weights."""
        n_train = len(self.train.paths)
        gallery = self.embed([*self.train.paths, *self.val.paths])
        g_labels = np.concatenate([self.train.labels, self.val.labels])
        sim = l2_normalize(gallery[n_train:]) @ l2_normalize(gallery).T
        out = []
        for i in range(len(self.val.paths)):
            mask = np.ones(len(gallery), dtype=bool)
            mask[n_train + i] = False
            rel = g_labels[mask] == self.val.labels[i]
            out.append(average_precision(sim[i, mask], rel) if rel.any() else np.nan)
        return np.array(out, dtype=np.float64)

    def _train(self, stage: Stage, rng: np.random.Generator, clock: ProgressClock | None, t0: float) -> StageReport:
        """The training loop of both stages: batches in a fresh order each epoch, clipped AdamW steps on a
        cosine schedule, the stage's score checked `evals_per_epoch` times an epoch, the best weights kept
        (and restored at the end, also when cancelled)."""
        s = self.settings
        n = len(self.train.paths)
        steps_per_epoch = max(1, n // s.batch_size)
        total = steps_per_epoch * stage.epochs
        clock = clock or ProgressClock("train", total, self.progress)
        self._freeze_all_but(stage.params)
        sched = self._schedule(stage.optimizer, total)
        scaler = self._scaler()
        start_score = best_score = stage.score()
        best_state, best_step = self._snapshot(stage.params), 0
        self.history.append({"stage": stage.number, "step": self.step_offset, stage.score_key: start_score})
        self._report(clock, 0, f"{stage.label}: starting", **stage.extra, **{stage.score_key: start_score})
        eval_at = self._eval_steps(steps_per_epoch, total)
        step, cancelled, loss_avg = 0, False, float("nan")
        try:
            with stage.context():
                for _epoch in range(stage.epochs):
                    order = rng.permutation(n)
                    stage.start_epoch()
                    for b in range(steps_per_epoch):
                        if self.cancel is not None:
                            self.cancel.check()
                        loss = stage.batch_loss(order[b * s.batch_size:(b + 1) * s.batch_size])
                        self._step(loss, stage.optimizer, scaler, stage.groups)
                        sched.step()
                        step += 1
                        loss_avg = loss.item() if math.isnan(loss_avg) else 0.9 * loss_avg + 0.1 * loss.item()
                        if step not in eval_at:
                            self._report(clock, step, stage.label, loss=loss_avg)
                            continue
                        score = stage.score()
                        self.history.append({"stage": stage.number, "step": self.step_offset + step, "loss": loss_avg,
                                             stage.score_key: score})
                        if score > best_score:
                            best_score, best_step = score, step
                            best_state = self._snapshot(stage.params, stage.number)
                        self._report(clock, step, stage.label, loss=loss_avg, **stage.extra,
                                     **{stage.score_key: score})
        except Cancelled:
            cancelled = True
        self._restore(stage.params, best_state)
        self._unfreeze()
        self.step_offset += total
        return StageReport(stage.name, step, best_step, best_score, start_score, time.perf_counter() - t0, cancelled)

    def _step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: Any,
              groups: Sequence[Sequence[nn.Parameter]]) -> None:
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        for g in groups:
            torch.nn.utils.clip_grad_norm_(g, self.settings.grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()

    # -- stage 2 ----------------------------------------------------------------------------------------
    def _stage2_captions(self) -> list[list[int]]:
        """Per training photo: pool rows of its own captions (user + class prompts) and pseudo-captions."""
        out = []
        for row in range(len(self.train.paths)):
            rows = list(dict.fromkeys([*self.own[row].tolist(), *self._class_rows[int(self.train.labels[row])]]))
            out.append(rows)
        return out

    def run_stage2(self, clock: ProgressClock | None = None) -> StageReport:
        """Re-alignment: image tower frozen (embeddings precomputed), last text layers + projection trained."""
        s = self.settings
        t0 = time.perf_counter()
        rng = np.random.default_rng(s.seed + 1)
        torch.manual_seed(s.seed + 1)
        n = len(self.train.paths)
        # Image embeddings of every training view, with the (now frozen) image tower.
        image_views = self._train_view_embeddings()
        captions = self._stage2_captions()
        user_rows: dict[int, list[int]] = {row: [] for row in range(n)}
        index = self.pool.index()
        for row, c in self.train.captions:
            user_rows[row].append(index[" ".join(c.split())])
        params = text_trainable(self.model, s.text_layers)
        if not params:
            raise FineTuneError("found no text layers to re-align in this model")
        opt = torch.optim.AdamW([p for _, p in params], lr=s.text_lr, weight_decay=s.weight_decay)
        scale = float(min(100.0, max(10.0, float(self.model.logit_scale.exp().item()))))
        self.text_changed = True
        # the image tower is frozen at stage 1's best checkpoint (restored), not at its last evaluation
        val_map = max((h["val_map"] for h in self.history if h["stage"] == 1 and "val_map" in h), default=float("nan"))

        def batch_loss(idx: np.ndarray) -> torch.Tensor:
            picked = []
            for i in idx:
                mine = user_rows[int(i)]
                if mine and rng.random() < USER_CAPTION_SHARE:
                    picked.append(int(rng.choice(mine)))
                else:
                    picked.append(int(rng.choice(captions[int(i)])))
            texts_rows = list(dict.fromkeys(picked))
            pos = torch.tensor([[1.0 if c in set(captions[int(i)]) or c == picked[r] else 0.0
                                 for c in texts_rows] for r, i in enumerate(idx)], device=self.device)
            views = rng.integers(0, image_views.shape[1], size=len(idx))
            img = image_views[torch.from_numpy(idx), torch.from_numpy(views)].to(self.device)
            with self.autocast():
                txt = self.text.encode([self.pool.texts[c] for c in texts_rows], grad=True)
            return symmetric_info_nce(img, txt.float(), scale, pos)

        stage = Stage("realign", 2, "stage 2", "val_text", s.realign_epochs, params, [[p for _, p in params]], opt,
                      batch_loss, self.val_alignment, extra={"val_map": val_map})
        return self._train(stage, rng, clock, t0)

    def _train_view_embeddings(self) -> torch.Tensor:
        """(N, V, D) embeddings of the training photos' augmented views (one view without a bank)."""
        paths = self.train.paths
        v = self.bank.views if self.bank is not None else 1
        out = []
        with torch.no_grad(), self.plan.stubs(), self.autocast():
            for view in range(v):
                rows = []
                for start in range(0, len(paths), 64):
                    chunk = paths[start:start + 64]
                    x = (self.photos.train_batch(chunk, [view] * len(chunk)) if self.bank is not None
                         else self.photos.eval_batch(chunk))
                    rows.append(F.normalize(self.model.encode_image(x).float(), dim=-1).cpu())
                out.append(torch.cat(rows))
        return torch.stack(out, dim=1)

    def stage_steps(self) -> int:
        s = self.settings
        per_epoch = max(1, len(self.train.paths) // s.batch_size)
        return per_epoch * s.epochs + (per_epoch * s.realign_epochs if s.realigns else 0)


