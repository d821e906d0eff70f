"""The photo grid's view: uniform square cells that fill the width, grouped under date headers when browsing
(a timeline), with a date scrubber on the right edge and, for search results, a "Show more" row below the
relevance cutoff.

A QAbstractItemView of our own rather than QListView's icon mode: QListView cannot put a full-width header
between cells nor stretch cells to fill the width. All geometry comes from timeline.SectionLayout, which
answers in O(log sections), so painting a screen of a 100k-photo grid touches only that screen's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QFont, QMouseEvent, QPainter, QPaintEvent, QRegion
from PySide6.QtWidgets import QAbstractItemView, QLabel, QMenu, QStyle, QStyleOptionViewItem, QWidget

from desktop_app.gui.grid import PhotoGridModel, PhotoIdRole, StackRole, ThumbnailDelegate, stack_badge_rect
from desktop_app.gui.thumbs import ThumbnailLoader
from desktop_app.gui.timeline import (
    SectionLayout,
    choose_granularity,
    plain,
    scrub_label,
    scrubber_marks,
    sections_from_days,
)

if TYPE_CHECKING:
    from engine.search import SearchOptions

HEADER = 38  # a section header's height
FOOTER = 64  # the "Show more" row
SCRUBBER = 58  # the scrubber's width: the cells fill what is left of the viewport
BELOW_CUTOFF = "Below the relevance cutoff: weaker matches"
MORE_TEXT = "Show more: results below the relevance cutoff"


class PhotoGridView(QAbstractItemView):
    show_more_clicked = Signal()
    stack_clicked = Signal(int)  # photo id of a cell whose burst badge was clicked

    def __init__(self, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self._target = 168  # wanted cell size; the real one is stretched to fill the width
        self._granularity = "auto"  # auto | day | month | year
        self.granularity_in_use = ""
        self._layout = SectionLayout([], 1, self._target, HEADER)
        self._more = False
        self._published: tuple[int, int, int] | None = None
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragEnabled(False)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.scrubber = DateScrubber(self)
        self.scrubber.hide()
        self.set_thumb_size(160)

    # -- the API the window uses -----------------------------------------------------------
    def setModel(self, model: PhotoGridModel) -> None:  # type: ignore[override]
        super().setModel(model)
        model.modelReset.connect(lambda: self.verticalScrollBar().setValue(0))  # new content starts at its top
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
            signal.connect(self._relayout)
        self._relayout()

    def set_thumb_size(self, size: int) -> None:
        self.setIconSize(QSize(size, size))
        self._target = size + 8
        self._relayout()

    def gridSize(self) -> QSize:
        return QSize(self._layout.cell, self._layout.cell)

    def set_granularity(self, granularity: str) -> None:
        """auto (by how many photos and days there are), day, month or year."""
        self._granularity = granularity
        self._relayout()

    def set_show_more(self, shown: bool) -> None:
        """The "Show more" row below the last result (its click emits show_more_clicked)."""
        if shown != self._more:
            self._more = shown
            self._relayout()

    @property
    def section_layout(self) -> SectionLayout:
        return self._layout

    def top_index(self) -> QModelIndex:
        """The first photo at least partly on screen (the view's top may be a header)."""
        rows = self._layout.rows_between(self.verticalOffset(), self.verticalOffset() + self.viewport().height())
        return self.model().index(rows.start, 0) if rows else QModelIndex()

    def visible_rows(self) -> range:
        """Rows at least partly on screen: those a paint asks thumbnails for."""
        top = self.verticalOffset()
        return self._layout.rows_between(top, top + self.viewport().height())

    def footer_rect(self) -> QRect:
        """The "Show more" row in viewport coordinates (empty when not shown)."""
        if not self._more:
            return QRect()
        y = self._layout.content_height - self.verticalOffset()
        return QRect(12, y + 10, max(1, self._layout.width - 24), FOOTER - 20)

    # -- layout ---------------------------------------------------------------------------
    def _relayout(self, *_args: object) -> None:
        model = self.model()
        n = model.rowCount() if model is not None else 0
        days = getattr(model, "days", None)
        timeline = days is not None and n > 0
        if timeline:
            self.granularity_in_use = choose_granularity(days) if self._granularity == "auto" else self._granularity
            sections = sections_from_days(days, self.granularity_in_use, rows=n)
        else:
            self.granularity_in_use = ""
            sections = plain(n, getattr(model, "cut", None), BELOW_CUTOFF)
        policy = Qt.ScrollBarPolicy.ScrollBarAlwaysOff if timeline else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        if self.verticalScrollBarPolicy() != policy:  # the scrubber stands in for the scroll bar
            self.setVerticalScrollBarPolicy(policy)
        width = self.viewport().width() - (SCRUBBER if timeline else 0)
        self._layout = SectionLayout(sections, width, self._target, HEADER, FOOTER if self._more else 0)
        self._published = None  # other rows (or other photos) on screen now: tell the loader again
        self.scrubber.set_layout(self._layout, timeline)
        self.updateGeometries()
        self.viewport().update()

    def updateGeometries(self) -> None:
        vh = self.viewport().height()
        bar = self.verticalScrollBar()
        bar.setRange(0, max(0, self._layout.height - vh))
        bar.setPageStep(max(1, vh))
        bar.setSingleStep(max(8, self._layout.cell // 3))
        vp = self.viewport().geometry()
        self.scrubber.setGeometry(vp.right() - SCRUBBER + 1, vp.top(), SCRUBBER, vp.height())
        super().updateGeometries()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._relayout()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().update()  # headers and cells move together; a full repaint is one screen of cells
        self.scrubber.update()

    # -- painting -------------------------------------------------------------------------
    def _publish_visible(self) -> None:
        """Tell the loader which photos are on screen before this paint asks for thumbnails: requests for
        rows outside its visible set are dropped, so a stale set (after the size slider changed the rows on
        screen) left cells grey until the next scroll."""
        rows = self.visible_rows()
        key = (rows.start, rows.stop, id(self.model()))
        if key != self._published and isinstance(self.model(), PhotoGridModel):
            self._published = key
            ids = self.model().ids
            self.loader.set_visible({ids[r] for r in rows})

    def paintEvent(self, e: QPaintEvent) -> None:
        model = self.model()
        if model is None:
            return
        self._publish_visible()
        painter = QPainter(self.viewport())
        top = self.verticalOffset()
        area = e.rect()
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        base_state = option.state
        selection = self.selectionModel()
        delegate = self.itemDelegate()
        for row in self._layout.rows_between(top + area.top(), top + area.bottom() + 1):
            index = model.index(row, 0)
            option.rect = self._cell(row, top)
            option.state = base_state | (
                QStyle.StateFlag.State_Selected if selection.isSelected(index) else QStyle.StateFlag.State_None
            )
            delegate.paint(painter, option, index)
        for section, y in self._layout.headers_between(top + area.top(), top + area.bottom() + 1):
            self._paint_header(painter, section, QRect(0, y - top, self._layout.width, HEADER))
        if self._more:
            self._paint_footer(painter, self.footer_rect())
        painter.end()

    def _paint_header(self, painter: QPainter, section, rect: QRect) -> None:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(self.palette().text().color())
        text_rect = rect.adjusted(12, 8, -12, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, section.label)
        width = painter.fontMetrics().horizontalAdvance(section.label)
        painter.setFont(self.font())
        painter.setPen(QColor("#80868b"))
        photos = self.model().photos_in_rows(section.start, section.start + section.count)
        noun = "photo" if photos == 1 else "photos"
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(text_rect.adjusted(width + 12, 0, 0, 0), align, f"{photos:,} {noun}")

    def _paint_footer(self, painter: QPainter, rect: QRect) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#dadce0"))
        painter.setBrush(QColor("#f1f3f4"))
        painter.drawRoundedRect(rect, 8, 8)
        painter.setPen(QColor("#1a73e8"))
        painter.setFont(self.font())
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, MORE_TEXT)

    def _cell(self, row: int, top: int) -> QRect:
        """A square cell centred in its column slot (slots differ by a pixel where the width does not divide)."""
        r = self._layout.rect(row)
        side = self._layout.cell
        return QRect(r.x + (r.w - side) // 2, r.y - top, side, side)

    # -- QAbstractItemView's geometry contract ----------------------------------------------
    def visualRect(self, index: QModelIndex) -> QRect:
        if not index.isValid() or index.row() >= self._layout.rows:
            return QRect()
        return self._cell(index.row(), self.verticalOffset())

    def indexAt(self, point: QPoint) -> QModelIndex:
        row = self._layout.row_at(point.x(), point.y() + self.verticalOffset())
        return self.model().index(row, 0) if row is not None and self.model() is not None else QModelIndex()

    def scrollTo(self, index: QModelIndex, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        if not index.isValid() or index.row() >= self._layout.rows:
            return
        r = self._layout.rect(index.row())
        top, vh = self.verticalOffset(), self.viewport().height()
        section = self._layout.sections[self._layout.section_of_row(index.row())]
        first_line = index.row() - section.start < self._layout.columns and section.label is not None
        above = r.y - (HEADER if first_line else 0)  # a first line comes with its header
        hints = QAbstractItemView.ScrollHint
        if hint == hints.PositionAtTop or (hint == hints.EnsureVisible and above < top):
            value = above
        elif hint == hints.PositionAtBottom or (hint == hints.EnsureVisible and r.y + r.h > top + vh):
            value = r.y + r.h - vh
        elif hint == hints.PositionAtCenter:
            value = r.y + r.h // 2 - vh // 2
        else:
            return
        self.verticalScrollBar().setValue(value)

    def moveCursor(self, action, modifiers) -> QModelIndex:
        model, n = self.model(), self._layout.rows
        if model is None or n == 0:
            return QModelIndex()
        current = self.currentIndex()
        if not current.isValid():
            return model.index(0, 0)
        row = current.row()
        a = QAbstractItemView.CursorAction
        if action in (a.MoveLeft, a.MovePrevious):
            row -= 1
        elif action in (a.MoveRight, a.MoveNext):
            row += 1
        elif action == a.MoveUp:
            row = self._layout.row_above(row)
        elif action == a.MoveDown:
            row = self._layout.row_below(row)
        elif action == a.MoveHome:
            row = 0
        elif action == a.MoveEnd:
            row = n - 1
        elif action in (a.MovePageUp, a.MovePageDown):
            r = self._layout.rect(row)
            step = self.viewport().height() * (-1 if action == a.MovePageUp else 1)
            y = min(max(0, r.y + r.h // 2 + step), self._layout.content_height - 1)
            line = self._layout.rows_between(y, y + 1)
            if line:
                col = (row - self._layout.sections[self._layout.section_of_row(row)].start) % self._layout.columns
                row = min(line.start + col, line.stop - 1)
        return model.index(max(0, min(n - 1, row)), 0)

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index: QModelIndex) -> bool:
        return False

    def setSelection(self, rect: QRect, command) -> None:
        """Every cell the (rubber-band) rectangle meets, one range per run of rows."""
        model = self.model()
        if model is None:
            return
        rect = rect.normalized()
        top = self.verticalOffset()
        selection = QItemSelection()
        run_start = previous = None
        for row in self._layout.rows_between(top + rect.top(), top + rect.bottom() + 1):
            if not self._cell(row, top).intersects(rect):
                continue
            if previous is not None and row == previous + 1:
                previous = row
                continue
            if run_start is not None:
                selection.select(model.index(run_start, 0), model.index(previous, 0))
            run_start = previous = row
        if run_start is not None:
            selection.select(model.index(run_start, 0), model.index(previous, 0))
        self.selectionModel().select(selection, QItemSelectionModel.SelectionFlag(command))

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:
        return QRegion(self.viewport().rect())  # a selection change repaints the screen: one screen of cells

    # -- mouse ----------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:
        on_footer = self._more and self.footer_rect().contains(e.position().toPoint())
        if on_footer and e.button() == Qt.MouseButton.LeftButton:
            self.show_more_clicked.emit()
            return
        if e.button() == Qt.MouseButton.LeftButton:
            pid = self._badge_at(e.position().toPoint())
            if pid is not None:
                self.stack_clicked.emit(pid)
                return
        super().mousePressEvent(e)

    def _badge_at(self, point: QPoint) -> int | None:
        index = self.indexAt(point)
        if not index.isValid() or index.data(StackRole) is None:
            return None
        if not stack_badge_rect(self.visualRect(index)).contains(point):
            return None
        return int(index.data(PhotoIdRole))


class DateScrubber(QWidget):
    """The timeline's right edge: a year at the start of each year, a handle where the view is; click or
    drag to jump there, with the month under the pointer shown beside it while dragging (or hovering)."""

    PAD = 12  # the top and bottom margins, so that the first and last year are not cut off

    def __init__(self, view: PhotoGridView) -> None:
        super().__init__(view)
        self.view = view
        self._layout: SectionLayout | None = None
        self._marks: list[tuple[int, str]] = []
        self._dragging = False
        self._hover_y: int | None = None
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Drag or click to jump through time; right-click to group by day, month or year")
        self.bubble = QLabel(view)
        self.bubble.setStyleSheet(
            "background: #202124; color: white; padding: 5px 10px; border-radius: 6px; font-weight: 600;"
        )
        self.bubble.hide()
        self._hide_bubble = QTimer(self, singleShot=True, interval=700)
        self._hide_bubble.timeout.connect(self.bubble.hide)

    def set_layout(self, layout: SectionLayout, shown: bool) -> None:
        self._layout = layout
        self._marks = scrubber_marks(layout) if shown else []
        self.setVisible(shown)
        self.update()

    # -- mapping between the scrubber's pixels and the view's scroll position ------------------
    def _span(self) -> int:
        return max(1, self.height() - 2 * self.PAD)

    def _y_of(self, value: int) -> int:
        maximum = self.view.verticalScrollBar().maximum()
        return self.PAD + round(min(1.0, value / maximum if maximum else 0.0) * self._span())

    def _value_at(self, y: int) -> int:
        maximum = self.view.verticalScrollBar().maximum()
        value = round(min(1.0, max(0.0, (y - self.PAD) / self._span())) * maximum)
        for content_y, _label in self._marks:  # near a year's label: its first photos, not a pixel's worth off
            if abs(self._y_of(min(content_y, maximum)) - y) <= 5:
                return min(content_y, maximum)
        return value

    def label_at(self, y: int) -> str:
        if self._layout is None or not self._layout.sections:
            return ""
        return scrub_label(self._layout.sections[self._layout.section_at(self._value_at(y))])

    # -- painting -------------------------------------------------------------------------
    def paintEvent(self, _e: QPaintEvent) -> None:
        if self._layout is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 0.85)
        painter.setFont(font)
        maximum = self.view.verticalScrollBar().maximum()
        last = -100
        for content_y, text in self._marks:
            y = self._y_of(min(content_y, maximum))
            painter.setPen(QColor("#bdc1c6"))
            painter.drawLine(self.width() - 8, y, self.width() - 3, y)
            if y - last >= 16:  # no overlapping labels: a year squeezed between two others is left out
                painter.setPen(QColor("#5f6368"))
                painter.drawText(
                    QRect(0, y - 8, self.width() - 10, 16),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    text,
                )
                last = y
        handle_y = self._y_of(self.view.verticalOffset())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#1a73e8"))
        painter.drawRoundedRect(QRect(self.width() - 6, handle_y - 14, 4, 28), 2, 2)
        if self._hover_y is not None:
            painter.setBrush(QColor(26, 115, 232, 120))
            painter.drawRect(QRect(4, self._hover_y, self.width() - 8, 1))
        painter.end()

    # -- mouse ----------------------------------------------------------------------------
    def _show_bubble(self, y: int) -> None:
        self.bubble.setText(self.label_at(y))
        self.bubble.adjustSize()
        top_left = self.mapTo(self.view, QPoint(0, y))
        self.bubble.move(top_left.x() - self.bubble.width() - 8, top_left.y() - self.bubble.height() // 2)
        self.bubble.show()
        self.bubble.raise_()
        self._hide_bubble.stop()

    def scrub_to(self, y: int) -> None:
        self.view.verticalScrollBar().setValue(self._value_at(y))
        self._show_bubble(y)
        self.update()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self.scrub_to(int(e.position().y()))

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        y = int(e.position().y())
        self._hover_y = y
        if self._dragging:
            self.scrub_to(y)
        else:
            self._show_bubble(y)
            self.update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._dragging = False
        self._hide_bubble.start()

    def leaveEvent(self, _e) -> None:
        self._hover_y = None
        if not self._dragging:
            self._hide_bubble.start()
        self.update()

    def contextMenuEvent(self, e: QContextMenuEvent) -> None:
        menu = QMenu(self)
        for text, value in (
            ("Group automatically", "auto"),
            ("Group by day", "day"),
            ("Group by month", "month"),
            ("Group by year", "year"),
        ):
            action = menu.addAction(text, lambda v=value: self.view.set_granularity(v))
            action.setCheckable(True)
            action.setChecked(self.view._granularity == value)
        menu.exec(e.globalPos())


def results_beyond_cutoff(
    search: Callable[[SearchOptions], list], options: SearchOptions, found: int
) -> tuple[int | None, bool]:
    """(cut, more) for a search that found `found` results: asked without the relevance cutoff (Show more),
    `cut` is how many of them pass it (the rows after it get the "below the cutoff" header; relevance order
    only); asked with it, `more` says whether the cutoff left results out, so that "Show more" is offered only
    when it shows more. `search(options)` runs the same query again (one more nearest-neighbour lookup)."""
    from engine.search import DEFAULT_MIN_Z  # the engine's search stack stays out of the window's start-up

    if options.min_z is None:
        if options.sort != "relevance":
            return None, False
        return len(search(replace(options, min_z=DEFAULT_MIN_Z))), False
    if found >= options.limit:
        return None, False
    return None, len(search(replace(options, min_z=None, limit=found + 1))) > found
