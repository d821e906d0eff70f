"""Before/after numbers a person can believe.

- Measured on the "report" photos only (TrainingData.report): they chose nothing, neither the checkpoint nor
  the WiSE-FT mix (those use the "choose" photos, TrainingData.val). A report photo is a query among the
  training photos and the other report photos, the way it will be searched in the library.
- Paired: the same photos before and after, so the change has a much smaller error than either number. The
  95% interval treats albums, not photos, as the independent units (photos of one album move together):
  a cluster-robust standard error with a t quantile on (albums - 1) degrees of freedom.
- "Your other photos": library photos outside every training album. No labels say what is right for them,
  so the measure is how much they change: the share of their nearest photos (among the library's photos
  measured here) that are still their nearest after training.
- Below MIN_MEASURE_PHOTOS labelled photos or MIN_MEASURE_ALBUMS albums large enough to hold photos out, no gain
  can be measured: the report says so (and the CLI and the window recommend keeping the base).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.defaults import MIN_MEASURE_ALBUMS, MIN_MEASURE_PHOTOS
from training.evaluate import average_precision, l2_normalize

NEIGHBOURS = 5
HEADLINE = ("i2i_map", "zeroshot_acc", "t2i_r10")

# two-sided 95% quantiles of Student's t by degrees of freedom (larger df: the next lower one listed)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 24: 2.064, 29: 2.045, 39: 2.023, 59: 2.001}


def t975(df: int) -> float:
    if df <= 0:
        return math.nan
    return 1.96 if df >= 60 else _T975[max(k for k in _T975 if k <= df)]


def clustered_se(diffs: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """(mean, cluster-robust standard error, clusters) of per-item paired differences clustered by `groups`
    (NaN items left out; the error is NaN with fewer than two clusters)."""
    keep = ~np.isnan(diffs)
    d, g = np.asarray(diffs, np.float64)[keep], np.asarray(groups)[keep]
    if len(d) == 0:
        return math.nan, math.nan, 0
    mean = float(d.mean())
    ids = np.unique(g)
    if len(ids) < 2:
        return mean, math.nan, len(ids)
    sums = np.array([(d[g == i] - mean).sum() for i in ids])
    return mean, math.sqrt(len(ids) / (len(ids) - 1) * float((sums ** 2).sum())) / len(d), len(ids)


def clustered_change(diffs: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """(mean, 95% half-width) of per-item paired differences, with items clustered by `groups`."""
    mean, se, clusters = clustered_se(diffs, groups)
    return mean, t975(clusters - 1) * se


@dataclass
class Snapshot:
    """Per-item numbers of one model on the report photos (before or after)."""

    ap: np.ndarray  # per report photo (NaN: no other photo of its album to find)
    zeroshot: np.ndarray  # per report photo, 0/1
    recall: dict[int, np.ndarray]  # k -> per report caption, 0/1
    album: np.ndarray  # album of each report photo
    caption_album: np.ndarray
    neighbours: np.ndarray  # (other photos, NEIGHBOURS) rows of their nearest photos


def snapshot(session: Any) -> Snapshot:
    """The current model's per-item numbers on the session's report photos and other photos."""
    train, rep = session.train, session.report
    n_train = len(train.paths)
    gallery = session.embed([*train.paths, *rep.paths])
    labels = np.concatenate([train.labels, rep.labels])
    sim = gallery[n_train:] @ gallery.T
    aps = []
    for i in range(len(rep.paths)):
        mask = np.ones(len(gallery), bool)
        mask[n_train + i] = False
        rel = labels[mask] == rep.labels[i]
        aps.append(average_precision(sim[i, mask], rel) if rel.any() else math.nan)
    q = gallery[n_train:]
    zs = ((l2_normalize(q) @ session.class_embeddings().T).argmax(1) == rep.labels).astype(float) if len(q) else \
        np.zeros(0)
    recall: dict[int, np.ndarray] = {}
    cap_album = np.array([rep.labels[r] for r, _ in rep.captions], dtype=np.int64)
    if rep.captions:
        cap = session.text.encode_np([c for _, c in rep.captions])
        s = l2_normalize(cap) @ gallery.T
        target = np.array([n_train + r for r, _ in rep.captions])
        t_sim = s[np.arange(len(target)), target]
        rank = (s > t_sim[:, None]).sum(1) + (s == t_sim[:, None]).sum(1) - 1
        recall = {k: (rank < k).astype(float) for k in (1, 5, 10)}
    neighbours = np.zeros((0, NEIGHBOURS), np.int64)
    if session.other:
        other = session.embed(session.other)
        pool = np.concatenate([other, gallery])
        s = other @ pool.T
        s[np.arange(len(other)), np.arange(len(other))] = -np.inf  # a photo is not its own neighbour
        k = min(NEIGHBOURS, len(pool) - 1)
        neighbours = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return Snapshot(np.array(aps, dtype=np.float64), zs, recall, rep.labels.copy(), cap_album, neighbours)


def means(s: Snapshot) -> dict[str, float]:
    """The plain before/after numbers (means over the report photos and captions)."""
    out = {"i2i_map": _nanmean(s.ap), "zeroshot_acc": _nanmean(s.zeroshot)}
    out.update({f"t2i_r{k}": _nanmean(v) for k, v in s.recall.items()})
    return out


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, np.float64)
    return float(np.nanmean(a)) if len(a) and not np.isnan(a).all() else math.nan


def compare(before: Snapshot, after: Snapshot, data: dict[str, Any]) -> dict[str, Any]:
    """The report the CLI and the window show: paired changes with intervals, the other photos, the verdict."""
    metrics: dict[str, dict[str, float | bool]] = {}
    pairs = {"i2i_map": (before.ap, after.ap, before.album), "zeroshot_acc": (before.zeroshot, after.zeroshot,
                                                                             before.album)}
    for k in before.recall:
        pairs[f"t2i_r{k}"] = (before.recall[k], after.recall[k], before.caption_album)
    for key, (b, a, groups) in pairs.items():
        if not len(b):
            continue
        change, half = clustered_change(a - b, groups)
        metrics[key] = {"before": _nanmean(b), "after": _nanmean(a), "change": change, "interval": half,
                        "n": int((~np.isnan(a - b)).sum()), "worse": bool(change < 0)}
    photos = int(data.get("labelled_photos", 0))
    albums = int(data.get("measured_classes", 0))
    measurable = photos >= MIN_MEASURE_PHOTOS and albums >= MIN_MEASURE_ALBUMS and bool(metrics)
    reason = "" if measurable else (
        f"{photos} photos in the albums that trained, {albums} of them with enough photos to hold some out; at least "
        f"{MIN_MEASURE_PHOTOS} photos and {MIN_MEASURE_ALBUMS} such albums are needed to measure a gain")
    report: dict[str, Any] = {"measurable": measurable, "reason": reason, "report_photos": len(before.album),
                              "albums": len(np.unique(before.album)), "metrics": metrics,
                              "worse": [k for k in HEADLINE if k in metrics and metrics[k]["worse"]]}
    if len(before.neighbours):
        kept = [len(set(b.tolist()) & set(a.tolist())) / max(1, len(b))
                for b, a in zip(before.neighbours, after.neighbours, strict=True)]
        report["other"] = {"photos": len(kept), "neighbours": int(before.neighbours.shape[1]),
                           "kept": float(np.mean(kept))}
    return report
