"""Duplicate and burst groups: exact copies, near-duplicates and bursts, each with a suggested photo to keep.

Two photos are linked when they are
- exact copies: the same content hash (every byte equal);
- near-duplicates: vectors nearly the same (cosine >= near_cosine) AND pixels that agree (correlation of
  32x32 grey thumbnails >= near_pixel). The vector alone also pairs two different shots of one scene; the
  pixel check tells those apart from resized and recompressed copies. A correlation, so a brighter copy
  still matches. A slightly cropped copy (a few % off some edges, re-saved) is smaller in pixels and its
  thumbnail is the original's a little zoomed and shifted, below the bar: when one photo's size is the
  other's less at most near_crop per side, the original's thumbnail is cut to each window of that size and
  compared with the copy's (crop_similarity);
- a burst: the same camera, taken within burst_seconds of each other, vectors close (burst_cosine) and
  pixels similar once a small shift is allowed (burst_pixel): frames of a burst move a little.
Photos linked directly or through others form one group (a photo is in at most one). The candidates come
from the vector index's neighbour search (k per photo), never from all pairs.

Groups live in the catalog and are updated incrementally: only photos indexed since their last check are
searched, and the groups they touch are rebuilt; a keeper the user chose stays chosen. The thresholds were
calibrated with bench/duplicates_quality.py (labelled generated set; precision and recall in docs/benchmarks.md).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from engine.catalog import DuplicateCandidate, DuplicateGroup, NewDuplicateGroup, PhotoCatalog
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.vectorindex import NO_NEIGHBOUR, VectorIndex

SIG_SIDE = 32
SHARPNESS_SIDE = 256
HASH_CHUNK = 1 << 20
CHECK_CHUNK = 20_000  # photos searched per transaction: memory stays flat, a cancel loses one chunk
APPROX_MARGIN = 0.03  # the int8 index's cosines are approximate: candidates a little below are re-scored
MODEL_KEY = "duplicates_basis"  # the model and thresholds the stored groups were found with
CROP_KEY = "duplicates_crops"  # the crop check every stored photo was searched with (added later, see below)
KINDS = ("exact", "near", "burst")  # also the order in which a merged group takes the broader kind


@dataclass(frozen=True)
class DuplicateSettings:
    near_cosine: float = 0.85
    near_pixel: float = 0.97
    burst_cosine: float = 0.80
    burst_pixel: float = 0.75
    burst_seconds: float = 10.0
    burst_shift: int = 2  # pixels of the 32x32 signature a burst frame may move (~6% of the frame)
    neighbours: int = 8
    # A cropped copy: at most this fraction of each dimension cut off. Not in the basis (repr) whose change
    # dissolves every group and the user's review of it: a change is caught up by CROP_KEY instead.
    near_crop: float = field(default=0.06, repr=False)


@dataclass
class DuplicateReport:
    checked: int = 0
    signatures_made: int = 0
    groups_written: int = 0
    seconds: float = 0.0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


# -- per-photo signatures (computed in the indexer's decode workers, or backfilled) -----------------------
def content_hash(path: str | bytes | Path) -> str:
    """blake2b-128 of every byte: equal hashes are exact copies. (The scanner's fingerprint is a SHA-256 of every
    byte too, but older catalogs hold these hashes: one kind of hash per column.)"""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def pixel_signature(image: Image.Image) -> bytes:
    """The image as 32x32 grey, aspect ignored (a resized copy keeps its aspect, so it still lines up)."""
    return image.convert("L").resize((SIG_SIDE, SIG_SIDE), Image.Resampling.BOX).tobytes()


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of a grey thumbnail of fixed size: a simple focus measure, comparable between
    frames of one scene (not between scenes)."""
    grey = image.convert("L")
    grey.thumbnail((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BOX)
    a = np.asarray(grey, dtype=np.float32)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return 0.0
    lap = a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4.0 * a[1:-1, 1:-1]
    return float(lap.var())


def photo_signature(path: str | bytes | Path, image: Image.Image) -> dict[str, object]:
    return {"content_hash": content_hash(path), "pixel_sig": pixel_signature(image), "sharpness": sharpness(image)}


def pixel_similarity(a: bytes, b: bytes, max_shift: int = 0) -> float:
    """Correlation of two signatures (1 = same picture), the best over shifts of up to `max_shift` pixels.

    Flat images have no correlation to speak of: two flat ones of about the same grey count as the same.
    """
    x = np.frombuffer(a, np.uint8).reshape(SIG_SIDE, SIG_SIDE).astype(np.float32)
    y = np.frombuffer(b, np.uint8).reshape(SIG_SIDE, SIG_SIDE).astype(np.float32)
    best = -1.0
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            xs = x[max(dy, 0) : SIG_SIDE + min(dy, 0), max(dx, 0) : SIG_SIDE + min(dx, 0)]
            ys = y[max(-dy, 0) : SIG_SIDE + min(-dy, 0), max(-dx, 0) : SIG_SIDE + min(-dx, 0)]
            best = max(best, _correlation(xs, ys))
    return best


@lru_cache(maxsize=64)
def _windows(cut: float, steps_per_pixel: int = 4) -> np.ndarray:
    """Matrices that resample one axis of a signature to the windows [lo, lo + 1 - cut] (fractions of the
    frame) for lo from 0 to cut in quarter-pixel steps: each new cell is the overlap-weighted mean of the
    old cells it covers (the signature is a box average, so this is what the cropped image's box average
    would be, but for detail finer than a cell)."""
    edges = np.linspace(0.0, 1.0, SIG_SIDE + 1)
    out = []
    for lo in np.linspace(0.0, cut, int(np.ceil(cut * SIG_SIDE * steps_per_pixel)) + 1):
        new = lo + (1.0 - cut) * edges
        overlap = np.clip(
            np.minimum(new[1:, None], edges[None, 1:]) - np.maximum(new[:-1, None], edges[None, :-1]), 0.0, None
        )
        out.append(overlap / overlap.sum(axis=1, keepdims=True))
    return np.stack(out).astype(np.float32)


def _blur(a: np.ndarray) -> np.ndarray:
    """A [1 2 1]/4 blur of the last two axes."""
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    a = 0.25 * p[..., :-2, :] + 0.5 * p[..., 1:-1, :] + 0.25 * p[..., 2:, :]
    return 0.25 * a[..., :, :-2] + 0.5 * a[..., :, 1:-1] + 0.25 * a[..., :, 2:]


def crop_similarity(
    a: bytes, size_a: tuple[int | None, int | None], b: bytes, size_b: tuple[int | None, int | None], max_crop: float
) -> float:
    """How well the smaller photo matches a crop of the larger one (correlation, 1 = same picture), or -1 when
    their sizes say neither is a crop of the other by at most `max_crop` of each dimension.

    The sizes fix how much was cut off each axis; where (which edges) is searched: each window of the
    larger one's signature is resampled to 32x32 and correlated with the smaller one's. Both are blurred by
    one small kernel first, as the resampled window is a little softer than a signature of the crop itself.
    Different shots of one camera have the same size, so they never reach this check."""
    (wa, ha), (wb, hb) = size_a, size_b
    if not (wa and ha and wb and hb):
        return -1.0
    if wb > wa or hb > ha:
        (a, wa, ha), (b, wb, hb) = (b, wb, hb), (a, wa, ha)
    cut_x, cut_y = 1.0 - wb / wa, 1.0 - hb / ha
    if wb > wa or hb > ha or cut_x > max_crop or cut_y > max_crop or cut_x == cut_y == 0.0:
        return -1.0
    x = np.frombuffer(a, np.uint8).reshape(SIG_SIDE, SIG_SIDE).astype(np.float32)
    y = _blur(np.frombuffer(b, np.uint8).reshape(SIG_SIDE, SIG_SIDE).astype(np.float32))
    rows, cols = _windows(round(cut_y, 4)), _windows(round(cut_x, 4))
    crops = _blur((rows[:, None] @ x[None, None] @ cols.transpose(0, 2, 1)[None]).reshape(-1, SIG_SIDE, SIG_SIDE))
    xs = crops.reshape(len(crops), -1)
    xs = xs - xs.mean(axis=1, keepdims=True)
    ys = (y - y.mean()).ravel()
    sx, sy = np.sqrt((xs**2).mean(axis=1)), float(np.sqrt((ys**2).mean()))
    if sy < 2.0:
        return -1.0  # flat: the plain check's rule for flat images applies
    return float(((xs @ ys) / len(ys) / np.maximum(sx * sy, 1e-6)).max())


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    sx, sy = float(x.std()), float(y.std())
    if sx < 2.0 or sy < 2.0:
        return 1.0 if sx < 2.0 and sy < 2.0 and abs(float(x.mean()) - float(y.mean())) < 8.0 else 0.0
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


# -- links and keepers ------------------------------------------------------------------------------------
def _seconds_apart(a: str | None, b: str | None) -> float | None:
    try:
        return abs((datetime.datetime.fromisoformat(a) - datetime.datetime.fromisoformat(b)).total_seconds())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def link_kind(
    a: DuplicateCandidate, b: DuplicateCandidate, cosine: float, settings: DuplicateSettings = DuplicateSettings()
) -> str | None:
    """How two photos are duplicates of each other ('exact', 'near', 'burst'), or None."""
    if a.content_hash is not None and a.content_hash == b.content_hash:
        return "exact"
    if a.pixel_sig is None or b.pixel_sig is None:
        return None  # no pixel check possible: a vector alone never makes a duplicate
    if cosine >= settings.near_cosine and (
        pixel_similarity(a.pixel_sig, b.pixel_sig) >= settings.near_pixel
        or crop_similarity(a.pixel_sig, (a.width, a.height), b.pixel_sig, (b.width, b.height), settings.near_crop)
        >= settings.near_pixel
    ):
        return "near"
    if cosine < settings.burst_cosine or not a.camera or a.camera != b.camera:
        return None
    apart = _seconds_apart(a.taken_at, b.taken_at)
    if apart is None or apart > settings.burst_seconds:
        return None
    if pixel_similarity(a.pixel_sig, b.pixel_sig, settings.burst_shift) >= settings.burst_pixel:
        return "burst"
    return None


# A copy's name: "x (copy).jpg", "Copy of x.jpg", "x - Copy.jpg", "x_copy2.jpg", "x (1).jpg", "backup-x.jpg".
_COPY_NAME = re.compile(r"(^|[^a-z])(copy|copie|kopie|backup|duplicate)([^a-z]|$)|\(\d+\)\s*$", re.IGNORECASE)
# A folder of copies: "Copies", "Backup", "old backups", "Duplicates", "dupes".
_COPY_FOLDER = re.compile(r"(^|[^a-z])(cop(y|ies)|backups?|duplicates?|dupes?)([^a-z]|$)", re.IGNORECASE)
# A camera's or phone's numbered name: "IMG_0042", "DSC01234", "PXL_20240501_101500123", "20240501_101500".
_GENERIC_NAME = re.compile(r"^(img|dsc[fnr]?|pxl|mvimg|sam|gopr|dji|imag|pict?|photo|image|p)?[\W_]*\d[\d\W_]*$", re.I)

NAME_RULES = ("not named as a copy", "not in a folder of copies or backups", "a descriptive name")


def _name_rules(path: str, common: str = "") -> tuple[bool, bool, bool]:
    """(named as a copy, in a folder of copies, a camera's numbered name) of one path. Only the folders below
    `common` (the folder the compared photos share) count: a library kept under "~/Backups/Photos" must not
    make every photo look like a backup."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    if common and (folder == common or folder.startswith(common.rstrip("/\\") + os.sep)):
        folder = folder[len(common):]
    folders = [part for part in folder.replace("\\", "/").split("/") if part]
    return (
        bool(_COPY_NAME.search(stem)),
        any(_COPY_FOLDER.search(part) for part in folders),
        bool(_GENERIC_NAME.match(stem)),
    )


def choose_keeper(
    photos: Sequence[DuplicateCandidate], mtimes: dict[int, float] | None = None
) -> tuple[int, str]:
    """The photo to keep and why. Quality first: tagged by the user, then the most pixels, then the sharpest,
    then the largest file (least compressed). Among photos equal in all of these (exact copies), the one that
    looks like the original: not named as a copy ("(copy)", "Copy of", " (1)", "backup"), not in a folder of
    copies or backups, a descriptive name rather than a camera's number (IMG_0042), the oldest file
    (modification time, `mtimes`); then the one added first."""
    pool = list(photos)
    tagged = [p for p in pool if p.user_tagged]
    if tagged and len(tagged) < len(pool):
        pool, why = tagged, ["tagged by you"]
    else:
        why = []
    pixels = {p.id: (p.width or 0) * (p.height or 0) for p in pool}
    most = max(pixels.values())
    if sum(v == most for v in pixels.values()) < len(pool):
        best = [p for p in pool if pixels[p.id] == most]
        why.append(f"largest ({best[0].width}x{best[0].height})")
        pool = best
    sharp = {p.id: p.sharpness or 0.0 for p in pool}
    top = max(sharp.values())
    # Within 10% is a tie: recompression's blocks add "detail" that is not focus.
    if len(pool) > 1 and any(v < top / 1.10 for v in sharp.values()):
        pool = [p for p in pool if sharp[p.id] >= top / 1.10]
        why.append("sharpest" if len(pool) == 1 else "among the sharpest")
    if len(pool) > 1 and len({p.size for p in pool}) > 1:
        biggest = max(p.size for p in pool)
        pool = [p for p in pool if p.size == biggest]
        why.append("largest file (least compressed)")
    try:
        common = os.path.commonpath([os.path.dirname(p.path) for p in pool]) if len(pool) > 1 else ""
    except ValueError:  # different drives (Windows), or relative and absolute paths mixed
        common = ""
    for rule, because in enumerate(NAME_RULES):
        flagged = {p.id for p in pool if _name_rules(p.path, common)[rule]}
        if 0 < len(flagged) < len(pool):
            pool = [p for p in pool if p.id not in flagged]
            why.append(because)
    if len(pool) > 1 and mtimes and all(p.id in mtimes for p in pool):
        oldest = min(mtimes[p.id] for p in pool)
        older = [p for p in pool if mtimes[p.id] < oldest + 2.0]  # 2 s: FAT's mtime resolution
        if len(older) < len(pool):
            pool = older
            why.append("the oldest file")
    keep = min(pool, key=lambda p: p.id)
    if not why:
        why.append("identical; the first one added")
    return keep.id, ", ".join(why)


# -- the grouping job -------------------------------------------------------------------------------------
class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def backfill_signatures(
    catalog: PhotoCatalog,
    model_id: str,
    *,
    cancel: CancelToken | None = None,
    progress: ProgressCallback = ignore_progress,
) -> tuple[int, list[tuple[str, str]]]:
    """Signatures for indexed photos that have none (indexed before duplicates existed, or reused from a
    byte-identical copy by the scanner). Returns (how many were made, files that could not be read)."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.imageio import open_photo

    todo = catalog.duplicates.photos_missing_signature(model_id)
    if not todo:
        return 0, []
    clock = ProgressClock("hashing_photos", len(todo), progress)

    def one(photo):  # hashing and Pillow's decoding release the GIL: threads are enough
        try:
            decoded = open_photo(photo.fs_path, min_side=SHARPNESS_SIDE)
            return photo, photo_signature(photo.fs_path, decoded.image), None
        except Exception as e:  # noqa: BLE001 - one unreadable file must not stop the check of the others
            return photo, None, str(e)

    made, unreadable = 0, []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for start in range(0, len(todo), 256):
            if cancel:
                cancel.check()
            rows = []
            for photo, sig, error in pool.map(one, todo[start : start + 256]):
                if sig is None:
                    unreadable.append((photo.path, error or "unreadable"))
                else:
                    rows.append((photo.id, sig["content_hash"], sig["pixel_sig"], sig["sharpness"]))
            with catalog.transaction():
                catalog.duplicates.put_signatures(rows)
            made += len(rows)
            clock.report(min(start + 256, len(todo)))
    return made, unreadable


def update_duplicates(
    catalog: PhotoCatalog,
    index: VectorIndex,
    settings: DuplicateSettings = DuplicateSettings(),
    *,
    backfill: bool = True,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> DuplicateReport:
    """Bring the catalog's duplicate groups up to date with its photos (the caller holds the write lock)."""
    t0 = time.perf_counter()
    report = DuplicateReport()
    model_id = index.model_id
    if backfill:
        report.signatures_made, report.unreadable = backfill_signatures(
            catalog, model_id, cancel=cancel, progress=progress
        )
    with catalog.transaction():
        basis = f"{model_id} {settings}"
        if catalog.get_setting(MODEL_KEY) != basis:
            catalog.duplicates.reset()  # groups found with another model's vectors or other thresholds
            catalog.set_setting(MODEL_KEY, basis)
        crops = f"{settings.near_crop}"
        # Photos checked before cropped copies were recognised are searched once more, their groups kept as they
        # are (with the user's keepers and "keep all"): new links only add to them.
        again = catalog.embeddings.ids(model_id) if catalog.get_setting(CROP_KEY) != crops else np.zeros(0, np.uint64)
        orphaned = catalog.duplicates.prune_groups()
        dirty = catalog.duplicates.photos_to_check(model_id)
        # A photo indexed again may have changed: its group is dissolved and every member checked afresh.
        touched = catalog.duplicates.remove_from_groups(dirty.tolist()) | orphaned
        old = catalog.duplicates.groups(group_ids=touched)
        chosen = {g.keep_id for g in old if g.keep_chosen and g.keep_id is not None}
        regroup = sorted({pid for g in old for pid, _ in g.members})
        catalog.duplicates.replace_groups(touched, [])
        if regroup:
            catalog.duplicates.mark_checked(regroup, 0.0)
    todo = np.union1d(np.union1d(dirty, np.asarray(regroup, np.uint64)), np.asarray(again, np.uint64))
    clock = ProgressClock("finding_duplicates", len(todo), progress)
    for start in range(0, len(todo), CHECK_CHUNK):
        if cancel:
            cancel.check()
        report.groups_written += _check_chunk(catalog, index, todo[start : start + CHECK_CHUNK], settings, chosen)
        report.checked += len(todo[start : start + CHECK_CHUNK])
        clock.report(report.checked)
    if len(again):
        with catalog.transaction():
            catalog.set_setting(CROP_KEY, crops)
    report.seconds = time.perf_counter() - t0
    return report


def _check_chunk(
    catalog: PhotoCatalog, index: VectorIndex, chunk: np.ndarray, settings: DuplicateSettings, chosen: set[int]
) -> int:
    """Search one chunk's neighbours, link what passes the checks, merge with existing groups; returns how many
    groups were written. Reads, then decides as plain data (join_links, decide_groups), then writes."""
    model_id = index.model_id
    ids, vecs = catalog.embeddings.of_ids(model_id, chunk)
    nb_ids, nb_cos = index.neighbours(vecs, settings.neighbours + 1)
    pairs = candidate_pairs(ids, nb_ids, nb_cos, settings)
    pairs |= {(min(a, b), max(a, b)) for a, b in catalog.duplicates.photos_sharing_content(ids.tolist())}
    edges = _links(catalog, model_id, ids, vecs, pairs, settings)
    # Photos that link into an existing group bring that group along; it is rewritten as part of the new one.
    membership = catalog.duplicates.membership({p for a, b, _ in edges for p in (a, b)})
    old_groups = catalog.duplicates.groups(group_ids=set(membership.values()))
    components = join_links(edges, old_groups)
    everyone = [pid for members, _ in components for pid in members]
    info = catalog.duplicates.candidates(everyone)
    vec_ids, vec_rows = catalog.embeddings.of_ids(model_id, everyone)
    vec_of = {int(i): vec_rows[k] for k, i in enumerate(vec_ids)}
    mtimes = {pid: p.mtime for pid, p in catalog.photos_by_ids(everyone).items()}
    new = decide_groups(components, old_groups, chosen, info, vec_of, mtimes)
    with catalog.transaction():
        catalog.duplicates.replace_groups([g.id for g in old_groups], new)
        catalog.duplicates.mark_checked(ids.tolist(), time.time())
    return len(new)


def candidate_pairs(
    ids: np.ndarray, nb_ids: np.ndarray, nb_cos: np.ndarray, settings: DuplicateSettings
) -> set[tuple[int, int]]:
    """The (smaller id, larger id) pairs of neighbours close enough to be checked (the index's approximate
    cosines, with a margin)."""
    floor = min(settings.near_cosine, settings.burst_cosine) - APPROX_MARGIN
    mask = (nb_cos >= floor) & (nb_ids != ids[:, None]) & (nb_ids != NO_NEIGHBOUR)
    rows, cols = np.nonzero(mask)
    return {(int(min(a, b)), int(max(a, b))) for a, b in zip(ids[rows], nb_ids[rows, cols], strict=True)}


def join_links(
    edges: Sequence[tuple[int, int, str]], old_groups: Sequence[DuplicateGroup]
) -> list[tuple[list[int], str | None]]:
    """The groups the links make, each joined with the existing groups it touches: (members, the broadest kind).

    Only groups of two or more photos; a photo is in at most one.
    """
    uf = _UnionFind()
    kinds: dict[int, str | None] = {}
    for a, b, kind in edges:
        uf.union(a, b)
        kinds[a] = _broader(kinds.get(a), kind)
    for g in old_groups:
        for pid, _ in g.members:
            uf.union(g.members[0][0], pid)
        kinds[g.members[0][0]] = _broader(kinds.get(g.members[0][0]), g.kind)
    components: dict[int, list[int]] = {}
    for pid in list(uf.parent):
        components.setdefault(uf.find(pid), []).append(pid)
    kind_of: dict[int, str | None] = {}
    for pid, kind in kinds.items():
        root = uf.find(pid)
        kind_of[root] = _broader(kind_of.get(root), kind)
    return [(m, kind_of.get(root)) for root, m in components.items() if len(m) >= 2]


def decide_groups(
    components: Sequence[tuple[list[int], str | None]],
    old_groups: Sequence[DuplicateGroup],
    chosen: set[int],
    info: dict[int, DuplicateCandidate],
    vec_of: dict[int, np.ndarray],
    mtimes: dict[int, float],
) -> list[NewDuplicateGroup]:
    """Each group's keeper (the user's choice, kept; else choose_keeper), cosines to it, and whether the user
    already reviewed it (it lies within a group marked "keep all")."""
    chosen = chosen | {g.keep_id for g in old_groups if g.keep_chosen and g.keep_id is not None}
    reasons = {g.keep_id: g.reason for g in old_groups if g.keep_chosen}
    reviewed = [frozenset(pid for pid, _ in g.members) for g in old_groups if g.reviewed]
    new: list[NewDuplicateGroup] = []
    for m, kind in components:
        mine = [pid for pid in m if pid in chosen]
        if mine:
            keep, reason, by_user = mine[0], reasons.get(mine[0]) or "chosen by you", True
        else:
            (keep, reason), by_user = choose_keeper([info[pid] for pid in m if pid in info], mtimes), False
        sims = tuple((pid, 1.0 if pid == keep else _cos(vec_of.get(pid), vec_of.get(keep))) for pid in m)
        was_reviewed = any(frozenset(m) <= r for r in reviewed)
        new.append(NewDuplicateGroup(kind or "near", keep, reason, sims, by_user, was_reviewed))
    return new


def _links(
    catalog: PhotoCatalog,
    model_id: str,
    ids: np.ndarray,
    vecs: np.ndarray,
    pairs: Iterable[tuple[int, int]],
    settings: DuplicateSettings,
) -> list[tuple[int, int, str]]:
    """The candidate pairs that pass the checks, re-scored with exact float32 cosines."""
    pairs = sorted(pairs)
    if not pairs:
        return []
    vec_of = {int(i): vecs[k] for k, i in enumerate(ids)}
    others = {p for pair in pairs for p in pair if p not in vec_of}
    if others:
        o_ids, o_vecs = catalog.embeddings.of_ids(model_id, sorted(others))
        vec_of.update({int(i): o_vecs[k] for k, i in enumerate(o_ids)})
    info = catalog.duplicates.candidates(p for pair in pairs for p in pair)
    edges = []
    for a, b in pairs:
        if a not in info or b not in info:
            continue
        cosine = _cos(vec_of.get(a), vec_of.get(b))
        kind = link_kind(info[a], info[b], -1.0 if cosine is None else cosine, settings)
        if kind is not None:
            edges.append((a, b, kind))
    return edges


def _cos(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    return None if a is None or b is None else float(np.dot(a, b))


def _broader(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if KINDS.index(a) >= KINDS.index(b) else b
