"""Bursts stacked in the browse grid, free of Qt: the frames of a burst (engine.duplicates' "burst" groups)
shown as one cell, its keeper, with the number of frames; an expanded burst shows every frame, each marked
with its place in the burst.

The grid's rows and the timeline's day counts come from the catalog in the grid's order; stacking drops
rows, so the day counts are recounted along with them (O(rows), off the GUI thread with the read)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

DayCounts = list[tuple[str | None, int]]


@dataclass(frozen=True)
class StackMark:
    group_id: int
    size: int  # frames of the burst in the grid (those the filters let through)
    position: int | None  # 1-based place of this frame when the burst is expanded; None: the stacked cell


def stack_bursts(
    ids: Sequence[int],
    days: DayCounts | None,
    members: Mapping[int, tuple[int, int | None]],
    expanded: Collection[int] = (),
) -> tuple[list[int], DayCounts | None, dict[int, StackMark]]:
    """(rows, day counts, marks) with each burst of two or more frames in `ids` shown as one cell where its
    first frame is: its keeper (or, when the filters left the keeper out, its first frame). Bursts in
    `expanded` (group ids) keep every frame, each marked with its position. A burst with one frame left
    under the filters is no stack."""
    frames: dict[int, list[int]] = {}
    for pid in ids:
        group = members.get(pid)
        if group is not None:
            frames.setdefault(group[0], []).append(pid)
    frames = {g: f for g, f in frames.items() if len(f) >= 2}
    if not frames:
        return list(ids), days, {}

    shown_for: dict[int, int] = {}  # group -> the frame standing for it
    for gid, group_frames in frames.items():
        keep = members[group_frames[0]][1]
        shown_for[gid] = keep if keep in group_frames else group_frames[0]

    marks: dict[int, StackMark] = {}
    for gid, group_frames in frames.items():
        if gid in expanded:
            for k, pid in enumerate(group_frames, 1):
                marks[pid] = StackMark(gid, len(group_frames), k)
        else:
            marks[shown_for[gid]] = StackMark(gid, len(group_frames), None)

    day_of_row = _expand(days, len(ids)) if days is not None else None
    rows: list[int] = []
    row_days: list[str | None] = []
    placed: set[int] = set()
    for r, pid in enumerate(ids):
        group = members.get(pid)
        gid = group[0] if group is not None else None
        if gid in frames and gid not in expanded:
            if gid in placed:
                continue
            placed.add(gid)
            pid = shown_for[gid]  # the stack sits where the burst starts
        rows.append(pid)
        if day_of_row is not None:
            row_days.append(day_of_row[r])
    return rows, (_runs(row_days) if day_of_row is not None else None), marks


def _expand(days: DayCounts, rows: int) -> list[str | None]:
    out: list[str | None] = []
    for key, n in days:
        out.extend([key] * n)
    if len(out) < rows:  # photos added between the two reads: undated, at the end (as the timeline does)
        out.extend([None] * (rows - len(out)))
    return out[:rows]


def _runs(row_days: list[str | None]) -> DayCounts:
    runs: DayCounts = []
    for key in row_days:
        if runs and runs[-1][0] == key:
            runs[-1] = (key, runs[-1][1] + 1)
        else:
            runs.append((key, 1))
    return runs
