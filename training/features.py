"""Photos as training input: the feature bank (outputs of the frozen image prefix, computed once per view)
or photos decoded and augmented on the fly when the tower cannot be cut."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import PreprocessConfig
from engine.preprocess import normalize, resize_and_crop
from training.towers import ImageTowerPlan
from training.traindata import AugmentSettings, PhotoAugment, eval_pixels, load_images, try_load

log = logging.getLogger(__name__)

BANK_FP16_ABOVE_BYTES = 512 * 2**20
BANK_BUDGET_BYTES = 3 * 2**30


# ---------------------------------------------------------------------------------------------------------
# Photos: the feature bank (frozen prefix outputs) or decoding on the fly


def _key(path: str | bytes) -> str:
    return os.fsdecode(path)


class FeatureBank:
    """Frozen-prefix outputs per photo: `views` augmented training views and one evaluation view.

    Valid for one base model and one cut (the prefix never trains); the bench shares one across methods.
    """

    def __init__(self, plan: ImageTowerPlan, cfg: PreprocessConfig, device: torch.device, views: int,
                 augment: AugmentSettings | None = None, seed: int = 0) -> None:
        self.plan = plan
        self.cut = plan.cut
        self.cfg = cfg
        self.device = device
        self.views = views
        self.augment = PhotoAugment(cfg, augment or AugmentSettings())
        self.seed = seed
        self.train_views: dict[str, torch.Tensor] = {}
        self.eval_view: dict[str, torch.Tensor] = {}
        self.unreadable: dict[str, str] = {}  # path -> why: skipped, and left out of the training data
        self.dtype: torch.dtype | None = None

    def _store(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().to("cpu", self.dtype or torch.float32)

    def ensure(self, train_paths: Sequence[str | bytes], eval_paths: Sequence[str | bytes],
               progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
               batch_size: int = 32) -> None:
        """Compute what is missing: training views for `train_paths`, the eval view for both lists."""
        need_train = [p for p in dict.fromkeys(train_paths)
                      if _key(p) not in self.train_views and _key(p) not in self.unreadable]
        need_eval = [p for p in dict.fromkeys([*train_paths, *eval_paths])
                     if _key(p) not in self.eval_view and _key(p) not in self.unreadable]
        todo = list(dict.fromkeys([*need_train, *need_eval]))
        if not todo:
            return
        clock = ProgressClock("prepare", len(todo), progress)
        want_views = {_key(p) for p in need_train}
        if not self.train_views and need_train:
            self._fit_budget(len(need_train), len(todo))
        gen = torch.Generator().manual_seed(self.seed)
        done = 0
        for start in range(0, len(todo), batch_size):
            if cancel is not None:
                cancel.check()
            loaded = [(p, try_load(p, self.cfg)) for p in todo[start:start + batch_size]]
            for p, im in loaded:
                if isinstance(im, str):
                    self.unreadable[_key(p)] = im
            chunk = [p for p, im in loaded if not isinstance(im, str)]
            images = [im for _, im in loaded if not isinstance(im, str)]
            done += len(loaded) - len(chunk)
            if not chunk:
                continue
            pixels = [torch.from_numpy(eval_pixels_from_images(images, self.cfg))]
            owners = [(_key(p), -1) for p in chunk]
            for p, im in zip(chunk, images, strict=True):
                if _key(p) in want_views:
                    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                    pixels.append(torch.from_numpy(self.augment.pixels([im] * self.views)))
                    owners += [(_key(p), v) for v in range(self.views)]
            x = torch.cat(pixels)
            feats = torch.cat([self.plan.prefix(x[i:i + batch_size].to(self.device))
                               for i in range(0, len(x), batch_size)])
            grouped: dict[str, list[torch.Tensor]] = {}
            for (k, v), f in zip(owners, feats, strict=True):
                if v < 0:
                    self.eval_view[k] = self._store(f)
                else:
                    grouped.setdefault(k, []).append(f)
            for k, fs in grouped.items():
                self.train_views[k] = self._store(torch.stack(fs))
            done += len(chunk)
            clock.report(done, "precomputing frozen image features")

    def _fit_budget(self, n_train: int, n_all: int) -> None:
        """Fewer views (and fp16) when the bank would not fit in BANK_BUDGET_BYTES."""
        cfg = self.cfg
        probe = self.plan.prefix(torch.zeros(1, 3, cfg.image_size, cfg.image_size, device=self.device))
        per_view = probe[0].numel() * 4
        total = per_view * (n_train * self.views + n_all)
        self.dtype = torch.float16 if total > BANK_FP16_ABOVE_BYTES else torch.float32
        per_view //= 2 if self.dtype == torch.float16 else 1
        fit = int((BANK_BUDGET_BYTES // per_view - n_all) // max(1, n_train))
        if fit < self.views:
            log.info("feature bank: %d views per photo instead of %d to stay within %d MiB", max(1, fit),
                     self.views, BANK_BUDGET_BYTES >> 20)
            self.views = max(1, fit)

    def train_batch(self, paths: Sequence[str | bytes], views: Sequence[int]) -> torch.Tensor:
        return torch.stack([self.train_views[_key(p)][v % self.views] for p, v in zip(paths, views, strict=True)]
                           ).to(self.device, torch.float32)

    def eval_batch(self, paths: Sequence[str | bytes]) -> torch.Tensor:
        return torch.stack([self.eval_view[_key(p)] for p in paths]).to(self.device, torch.float32)


def eval_pixels_from_images(images: Sequence[Any], cfg: PreprocessConfig) -> np.ndarray:
    return normalize(np.stack([resize_and_crop(im, cfg) for im in images]), cfg)


class DecodedPhotos:
    """No feature bank: photos decoded (and augmented) every time they are needed."""

    def __init__(self, cfg: PreprocessConfig, device: torch.device, augment: AugmentSettings, seed: int,
                 workers: int) -> None:
        self.cfg = cfg
        self.device = device
        self.augment = PhotoAugment(cfg, augment)
        self.seed = seed
        self.workers = workers
        self._images: dict[str, Any] = {}
        self._pool: Any = None

    def _image(self, p: str | bytes) -> Any:
        k = _key(p)
        if k not in self._images:
            if len(self._images) > 512:
                self._images.clear()
            self._images[k] = load_images([p], self.cfg)[0]
        return self._images[k]

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        """Decoding and resizing release the GIL: a few threads keep a GPU fed."""
        if self.workers <= 1 or len(items) < 2:
            return [fn(x) for x in items]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="photosift-decode")
        return list(self._pool.map(fn, items))

    def screen(self, paths: Sequence[str | bytes], progress: ProgressCallback = ignore_progress,
               cancel: CancelToken | None = None, chunk: int = 64) -> dict[str, str]:
        """Decode every photo once: path -> why, for those that cannot be read (the rest are fine to train on)."""
        clock = ProgressClock("prepare", len(paths), progress)
        bad: dict[str, str] = {}
        for start in range(0, len(paths), chunk):
            if cancel is not None:
                cancel.check()
            part = list(paths[start:start + chunk])
            for p, r in zip(part, self._map(lambda p: try_load(p, self.cfg), part), strict=True):
                if isinstance(r, str):
                    bad[_key(p)] = r
            clock.report(start + len(part), "checking that every photo can be read")
        return bad

    def train_batch(self, paths: Sequence[str | bytes], views: Sequence[int]) -> torch.Tensor:
        del views
        images = self._map(self._image, list(paths))
        views_hwc = self._map(self.augment, images)
        return torch.from_numpy(normalize(np.stack(views_hwc), self.cfg)).to(self.device)

    def eval_batch(self, paths: Sequence[str | bytes]) -> torch.Tensor:
        return torch.from_numpy(eval_pixels(list(paths), self.cfg)).to(self.device)


