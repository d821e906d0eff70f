"""The thumbnail grid: a QAbstractListModel holding photo ids only; row details are fetched from the
catalog in blocks as rows become visible, thumbnails through the ThumbnailLoader. Photos that cannot be
opened now (their folder is offline, or they vanished and are held as missing) are drawn dimmed with an
"offline" badge."""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop_app.gui.stacks import StackMark
from desktop_app.gui.thumbs import ThumbnailLoader
from engine.catalog import PhotoCatalog, Root

PhotoIdRole = Qt.ItemDataRole.UserRole + 1
ScoreRole = Qt.ItemDataRole.UserRole + 2
OfflineRole = Qt.ItemDataRole.UserRole + 3  # True when the photo cannot be opened now (offline or missing)
MatchRole = Qt.ItemDataRole.UserRole + 4  # the score as a share of the best result's, 0..1: the match bar
StackRole = Qt.ItemDataRole.UserRole + 5  # a StackMark when the cell stands for a burst or is one of its frames
BLOCK = 256  # rows fetched from the catalog at once, around the first one painted
ROW_CACHE = 16 * BLOCK  # row details kept; beyond this the cache starts over (a long jump needs one block)

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class RowInfo:
    path: str
    raw_path: bytes | None
    fingerprint: str | None
    status: str
    root_id: int
    missing_since: float | None

    @property
    def source(self) -> str | bytes:
        return self.raw_path if self.raw_path is not None else self.path


def placeholder(size: int, color: str = "#d9dce1") -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(QColor("#00000000"))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRect(4, 4, size - 8, size - 8), 6, 6)
    p.end()
    return pm


def stack_badge_rect(cell: QRect) -> QRect:
    """Where a burst's badge sits in its cell (`cell`: the cell's rectangle): drawn there, clicked there."""
    return QRect(cell.right() - 49, cell.top() + 7, 42, 20)


def stack_badge_text(mark: StackMark) -> str:
    return f"\u29c9 {mark.size}" if mark.position is None else f"{mark.position}/{mark.size}"


def match_share(score: float, best: float) -> float:
    """A result's score as a share of the best one's: cosines (0.21 vs 0.27) mean little to people, "how
    close to the best match" does. Scores at or below zero match nothing."""
    return max(0.0, min(1.0, score / best)) if best > 0 else 0.0


def offline_root_ids(roots: Iterable[Root]) -> set[int]:
    """Roots the last scan found offline, or whose folder is not there now (one stat per root): the same
    rule as search results' `offline` mark."""
    return {r.id for r in roots if r.state == "offline" or not os.path.isdir(r.path)}


class PhotoGridModel(QAbstractListModel):
    def __init__(self, catalog: PhotoCatalog, loader: ThumbnailLoader, parent=None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.loader = loader
        self.ids: list[int] = []
        self.scores: dict[int, float] = {}
        self.offline: set[int] = set()  # photos a search marked offline
        self.offline_roots: set[int] = set()  # roots offline when last read: all their photos are marked
        # photo id -> (path, raw_path, fingerprint, status, root_id, missing_since): plain tuples, which the
        # cyclic GC stops tracking
        self.rows: dict[int, tuple] = {}
        self.row_of: dict[int, int] = {}
        self.days: list[tuple[str | None, int]] | None = None  # photos per day in row order: the timeline
        self.stacks: dict[int, StackMark] = {}  # photo id -> its burst, for cells that stand for or are in one
        self._stacked_rows: tuple[list[int], list[int]] | None = None  # rows of stacked bursts, frames they hide
        self.cut: int | None = None  # search results: rows from here on are below the relevance cutoff
        self.text_matches: set[int] = set()  # results first because the text read in them holds the query's words
        self.best = 0.0  # the best score shown: match bars are relative to it
        self._placeholder = placeholder(256)
        self._broken = placeholder(256, "#f2c4c4")
        loader.pixmap_ready.connect(self._thumb_ready)

    # -- content --------------------------------------------------------------------------
    def set_photos(self, ids: Sequence[int], scores: dict[int, float] | None = None,
                   offline: set[int] | None = None, days: Sequence[tuple[str | None, int]] | None = None,
                   cut: int | None = None, stacks: dict[int, StackMark] | None = None) -> None:
        """`days`: photos per day in the order of `ids` (the browse grid's timeline); `cut`: the first row
        below the relevance cutoff when results were asked for without it; `stacks`: bursts (stacked or
        expanded) among the rows."""
        self.beginResetModel()
        self.loader.reset()
        self.ids = list(ids)
        self.scores = scores or {}
        self.best = max(self.scores.values(), default=0.0)
        self.offline = offline or set()
        self.days = list(days) if days is not None else None
        self.cut = cut
        self.text_matches = set()
        self.stacks = stacks or {}
        self._stacked_rows = None
        self.rows = {}
        self.row_of = dict(zip(self.ids, range(len(self.ids)), strict=True))
        self.endResetModel()

    def photos_in_rows(self, start: int, stop: int) -> int:
        """Photos shown by rows start..stop-1: a stacked burst counts all its frames (section headers, status)."""
        rows, sums = self._stacked()
        return (stop - start) + sums[bisect_left(rows, stop)] - sums[bisect_left(rows, start)]

    def stacked_bursts(self) -> int:
        return len(self._stacked()[0])

    def _stacked(self) -> tuple[list[int], list[int]]:
        """Rows of stacked bursts in order, and running totals of the frames they hide (read once per content:
        the status line asks at every progress report, each header at every paint)."""
        if self._stacked_rows is None:
            stacked = sorted((self.row_of[pid], m.size - 1) for pid, m in self.stacks.items()
                             if m.position is None and pid in self.row_of)
            sums = [0]
            for _row, hidden in stacked:
                sums.append(sums[-1] + hidden)
            self._stacked_rows = ([row for row, _h in stacked], sums)
        return self._stacked_rows

    def append_photos(self, ids: Sequence[int]) -> None:
        new = [i for i in ids if i not in self.row_of]
        if not new:
            return
        first = len(self.ids)
        if self.days is not None:  # found while indexing, not decoded yet: no date known, so at the end
            if self.days and self.days[-1][0] is None:
                self.days[-1] = (None, self.days[-1][1] + len(new))
            else:
                self.days.append((None, len(new)))
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for k, pid in enumerate(new):
            self.row_of[pid] = first + k
        self.ids.extend(new)
        self.endInsertRows()

    def set_days(self, days: Sequence[tuple[str | None, int]] | None) -> None:
        """New per-day counts for the same photos (undated photos appended while indexing may have a date now):
        the view lays its sections out again."""
        self.layoutAboutToBeChanged.emit()
        self.days = list(days) if days is not None else None
        self.layoutChanged.emit()

    def reload_rows(self) -> None:
        """Read each photo's row again for the same ids: a scan may have marked photos missing or brought
        them back, and the cached rows would keep showing the old marks."""
        self.rows = {}
        if self.ids:
            self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1),
                                  [OfflineRole, Qt.ItemDataRole.ToolTipRole])

    def set_offline_roots(self, root_ids: set[int]) -> None:
        if root_ids != self.offline_roots:
            self.offline_roots = set(root_ids)
            if self.ids:
                self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1), [OfflineRole])

    def is_offline(self, photo_id: int) -> bool:
        if photo_id in self.offline:
            return True
        row = self._row(photo_id)
        return row is not None and (row[4] in self.offline_roots or row[5] is not None)

    def photo_id(self, row: int) -> int:
        return self.ids[row]

    def info(self, photo_id: int) -> RowInfo | None:
        row = self._row(photo_id)
        return RowInfo(*row) if row is not None else None

    def _row(self, photo_id: int) -> tuple | None:
        row = self.rows.get(photo_id)
        if row is None:
            position = self.row_of.get(photo_id)
            if position is None:
                return None
            self._fetch_block(position)
            row = self.rows.get(photo_id)
        return row

    def _fetch_block(self, row: int) -> None:
        if len(self.rows) > ROW_CACHE:
            self.rows.clear()
        start = max(0, row - BLOCK // 4)  # mostly ahead: scrolling goes on in the same direction
        chunk = [pid for pid in self.ids[start:start + BLOCK] if pid not in self.rows]
        self.rows.update(self.catalog.browse.grid_rows(chunk))

    # -- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.ids)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        pid = self.ids[index.row()]
        if role == PhotoIdRole:
            return pid
        if role == ScoreRole:
            return self.scores.get(pid)
        if role == OfflineRole:
            return self.is_offline(pid)
        if role == StackRole:
            return self.stacks.get(pid)
        if role == MatchRole:
            score = self.scores.get(pid)
            return None if score is None else match_share(score, self.best)
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self.loader.pixmap(pid)
            if pm is not None:
                return pm
            row = self._row(pid)
            if row is None or row[3] == "error" or pid in self.loader.failed:
                return self._broken
            path, raw_path, fingerprint = row[:3]
            self.loader.request(pid, fingerprint, raw_path if raw_path is not None else path)
            return self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            info = self.info(pid)
            score = self.scores.get(pid)
            offline = "\noffline: its folder is not reachable now" if self.is_offline(pid) else ""
            match = (f"\nmatch {match_share(score, self.best):.0%} of the best result (score {score:.3f})"
                     if score is not None else "")
            if pid in self.text_matches:
                match = "\nfirst: the text read in it holds your words" + match
            mark = self.stacks.get(pid)
            burst = ""
            if mark is not None and mark.kind == "copies":
                burst = (f"\nstands for {mark.size} copies of this photo: click the badge to show them all"
                         if mark.position is None else
                         f"\ncopy {mark.position} of {mark.size}: click the badge to show them as one again")
            elif mark is not None:
                burst = (f"\nburst of {mark.size} frames: click the badge to show them all" if mark.position is None
                         else f"\nframe {mark.position} of a burst of {mark.size}: click the badge to stack it again")
            return (info.path if info else "") + match + offline + burst
        if role == Qt.ItemDataRole.AccessibleTextRole:
            info = self.info(pid)
            return os.path.basename(info.path) if info else ""
        return None

    def _thumb_ready(self, photo_id: int) -> None:
        row = self.row_of.get(photo_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


class ThumbnailDelegate(QStyledItemDelegate):
    """Thumbnails letterboxed in square cells with a rounded selection frame and, for results, a match bar."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self.view = view
        self._scaled: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return self.view.gridSize()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        cell = option.rect.adjusted(3, 3, -3, -3)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setBrush(option.palette.highlight())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(cell, 6, 6)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        share = index.data(MatchRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            inner = cell.adjusted(4, 4, -4, -4 if share is None else -9)
            key = (pm.cacheKey(), inner.width())
            scaled = self._scaled.get(key)
            if scaled is None:
                scaled = pm.scaled(inner.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
                self._scaled[key] = scaled
                if len(self._scaled) > 1500:
                    self._scaled.popitem(last=False)
            x = inner.x() + (inner.width() - scaled.width()) // 2
            y = inner.y() + (inner.height() - scaled.height()) // 2
            offline = bool(index.data(OfflineRole))
            painter.setOpacity(0.4 if offline else 1.0)
            painter.drawPixmap(x, y, scaled)
            painter.setOpacity(1.0)
            if offline:
                badge = QRect(cell.left() + 6, cell.top() + 6, 52, 18)
                painter.setBrush(QColor(140, 29, 24, 220))
                painter.setPen(Qt.PenStyle.NoPen)
                painter.drawRoundedRect(badge, 4, 4)
                painter.setPen(QColor("white"))
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "offline")
        if share is not None:  # a thin bar under the photo, not a badge on it: small thumbnails stay visible
            track = QRect(cell.left() + 8, cell.bottom() - 5, cell.width() - 16, 3)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 40))
            painter.drawRoundedRect(track, 1, 1)
            painter.setBrush(QColor("#1a73e8"))
            painter.drawRoundedRect(QRect(track.left(), track.top(), max(2, int(track.width() * share)), 3), 1, 1)
        mark = index.data(StackRole)
        if mark is not None:
            badge = stack_badge_rect(option.rect)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(32, 33, 36, 210) if mark.position is None else QColor(26, 115, 232, 220))
            painter.drawRoundedRect(badge, 10, 10)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, stack_badge_text(mark))
        painter.restore()
