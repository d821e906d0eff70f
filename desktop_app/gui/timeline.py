"""The timeline's arithmetic (and the read of its counts), free of Qt so that it can be tested alone:
photos grouped into sections by day, month or year (from per-day counts the catalog computes in one
query, never from every row), and the layout of those sections as headers over lines of uniform square cells.

Everything here is O(sections) to build and O(log sections) per question (row -> rectangle, point -> row),
so a paint of a 100k-photo grid never walks the rows.
"""

from __future__ import annotations

import calendar
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from engine.catalog import PhotoCatalog

T = TypeVar("T")

NO_DATE = "No date"
# The finest grouping whose sections hold at least this many photos on average: finer ones would make a
# screen of headers with a photo or two under each.
MIN_PHOTOS_PER_SECTION = 6
KEY_LENGTH = {"day": 10, "month": 7, "year": 4}

DayCounts = Sequence[tuple[str | None, int]]  # ("YYYY-MM-DD" or None, photos), in grid order


@dataclass(frozen=True)
class Section:
    start: int  # its first row in the grid
    count: int
    key: str | None  # "2019-03-14", "2019-03", "2019"; None for photos without a date
    label: str | None  # the header's text; None: no header (a plain, ungrouped grid)


def day_key(key: str | None, granularity: str) -> str | None:
    """The group a day belongs to; undated (None or not a date) stays None."""
    if not key or len(key) < 4 or not key[:4].isdigit():
        return None
    return key[: KEY_LENGTH[granularity]]


def choose_granularity(days: DayCounts) -> str:
    """Days for a library shot over a few days, months for a few years, years beyond that."""
    photos = sum(n for _k, n in days)
    for granularity in ("day", "month"):
        groups = {day_key(k, granularity) for k, _n in days if day_key(k, granularity)}
        if groups and photos / len(groups) >= MIN_PHOTOS_PER_SECTION:
            return granularity
    return "year"


@cache
def _names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The month and weekday names, read once: calendar's lists call strftime on every lookup, which was
    ~0.1 s of the GUI thread for the 1,800 day headers of a 100k library."""
    return tuple(calendar.month_name), tuple(calendar.day_name)


def label_of(key: str | None) -> str:
    if key is None:
        return NO_DATE
    if len(key) == 4:
        return key
    year, month = int(key[:4]), int(key[5:7])
    if not 1 <= month <= 12:
        return key
    months, weekdays = _names()
    if len(key) == 7:
        return f"{months[month]} {year}"
    try:
        weekday = weekdays[calendar.weekday(year, month, int(key[8:10]))]
    except ValueError:
        return key
    return f"{weekday}, {int(key[8:10])} {months[month]} {year}"


def sections_from_days(days: DayCounts, granularity: str, rows: int | None = None) -> list[Section]:
    """Consecutive days of the same group merged into one section. `rows` (the grid's row count) wins over
    the counts when they disagree (photos added between two reads): the last section absorbs the difference,
    so that every row belongs to exactly one section."""
    sections: list[Section] = []
    start = 0
    for key, n in days:
        if n <= 0:
            continue
        group = day_key(key, granularity)
        if sections and sections[-1].key == group:
            last = sections[-1]
            sections[-1] = Section(last.start, last.count + n, group, last.label)
        else:
            sections.append(Section(start, n, group, label_of(group)))
        start += n
    if rows is not None and rows != start:
        while sections and sections[-1].start >= rows:
            sections.pop()
        if sections:
            last = sections[-1]
            sections[-1] = Section(last.start, rows - last.start, last.key, last.label)
        elif rows:
            sections = [Section(0, rows, None, NO_DATE)]
    return sections


def plain(rows: int, cut: int | None = None, cut_label: str = "") -> list[Section]:
    """One header-less section; with `cut`, the rows from `cut` on get their own section under `cut_label`."""
    if cut is None or not 0 < cut < rows:
        return [Section(0, rows, None, None)] if rows else []
    return [Section(0, cut, None, None), Section(cut, rows - cut, None, cut_label)]


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


class SectionLayout:
    """Where sections, their headers and their cells are, in content coordinates (y grows downwards).

    The width is filled: as many columns as cells of about `target` pixels fit, each cell stretched to share
    what is left, so no strip stays empty on the right.
    """

    def __init__(self, sections: Sequence[Section], width: int, target: int, header: int, footer: int = 0) -> None:
        self.sections = list(sections)
        self.width = max(1, width)
        self.columns = max(1, self.width // max(1, target))
        self.cell_w = self.width / self.columns
        self.cell = max(1, int(self.cell_w))  # cell height (cells are square)
        self.header = header
        self.tops: list[int] = []  # y of each section's header
        self.starts = [s.start for s in self.sections]
        y = 0
        for s in self.sections:
            self.tops.append(y)
            y += self._header_of(s) + self.lines(s) * self.cell
        self.content_height = y
        self.footer = footer
        self.height = y + footer

    def _header_of(self, s: Section) -> int:
        return self.header if s.label is not None else 0

    def lines(self, s: Section) -> int:
        return -(-s.count // self.columns)

    @property
    def rows(self) -> int:
        return self.sections[-1].start + self.sections[-1].count if self.sections else 0

    def section_of_row(self, row: int) -> int:
        return max(0, bisect_right(self.starts, row) - 1)

    def section_at(self, y: int) -> int:
        return max(0, bisect_right(self.tops, y) - 1)

    def _x(self, col: int) -> tuple[int, int]:
        left = round(col * self.cell_w)
        return left, round((col + 1) * self.cell_w) - left

    def rect(self, row: int) -> Rect:
        i = self.section_of_row(row)
        s = self.sections[i]
        line, col = divmod(row - s.start, self.columns)
        x, w = self._x(col)
        return Rect(x, self.tops[i] + self._header_of(s) + line * self.cell, w, self.cell)

    def row_at(self, x: int, y: int) -> int | None:
        if not self.sections or y < 0 or y >= self.content_height or not 0 <= x < self.width:
            return None
        i = self.section_at(y)
        s = self.sections[i]
        inner = y - self.tops[i] - self._header_of(s)
        if inner < 0:
            return None  # on the header
        col = min(self.columns - 1, int(x / self.cell_w))
        offset = (inner // self.cell) * self.columns + col
        return s.start + offset if offset < s.count else None

    def rows_between(self, y0: int, y1: int) -> range:
        """Every row whose cell meets the band [y0, y1): contiguous, since sections follow the row order."""
        if not self.sections or y1 <= 0 or y0 >= self.content_height:
            return range(0)
        first = self._first_row_from(max(0, y0))
        last = self._last_row_before(min(self.content_height, y1))
        return range(first, max(first, last + 1))

    def _first_row_from(self, y: int) -> int:
        i = self.section_at(y)
        s = self.sections[i]
        line = max(0, (y - self.tops[i] - self._header_of(s)) // self.cell)
        return min(s.start + line * self.columns, s.start + s.count)

    def _last_row_before(self, y: int) -> int:
        i = self.section_at(y - 1)
        s = self.sections[i]
        inner = y - 1 - self.tops[i] - self._header_of(s)
        if inner < 0:
            return s.start - 1
        return min(s.start + s.count - 1, s.start + (inner // self.cell + 1) * self.columns - 1)

    def headers_between(self, y0: int, y1: int) -> list[tuple[Section, int]]:
        """(section, y of its header) for every header that meets the band [y0, y1)."""
        out = []
        for i in range(self.section_at(max(0, y0)), len(self.sections)):
            if self.tops[i] >= y1:
                break
            if self.sections[i].label is not None and self.tops[i] + self.header > y0:
                out.append((self.sections[i], self.tops[i]))
        return out

    def row_above(self, row: int) -> int:
        """The cell straight above (the previous section's last line when on a section's first line)."""
        i = self.section_of_row(row)
        s = self.sections[i]
        line, col = divmod(row - s.start, self.columns)
        if line > 0:
            return row - self.columns
        if i == 0:
            return row
        p = self.sections[i - 1]
        last_line = (p.count - 1) // self.columns
        return p.start + min(p.count - 1, last_line * self.columns + col)

    def row_below(self, row: int) -> int:
        i = self.section_of_row(row)
        s = self.sections[i]
        line, col = divmod(row - s.start, self.columns)
        if row + self.columns < s.start + s.count:
            return row + self.columns
        if line < (s.count - 1) // self.columns:
            return s.start + s.count - 1  # the short last line of this section
        if i + 1 == len(self.sections):
            return row
        n = self.sections[i + 1]
        return n.start + min(n.count - 1, col)


def scrubber_marks(layout: SectionLayout) -> list[tuple[int, str]]:
    """(content y, year) of the first section of each year: the scrubber's labels."""
    marks: list[tuple[int, str]] = []
    for s, top in zip(layout.sections, layout.tops, strict=True):
        year = s.key[:4] if s.key else None
        if year and (not marks or marks[-1][1] != year):
            marks.append((top, year))
        elif s.key is None and s.label == NO_DATE:
            marks.append((top, NO_DATE))
    return marks


def scrub_label(section: Section) -> str:
    """What the scrubber says while dragging over a section: its month (or year, or "No date")."""
    if section.key is None:
        return section.label or ""
    return label_of(section.key[:7]) if len(section.key) >= 7 else section.key


@contextmanager
def read_alongside(catalog_path: Path, read: Callable[[PhotoCatalog], T] | None) -> Iterator[Future[T | None]]:
    """Run read(catalog) on a second thread with its own connection while the caller does its own read:
    SQLite lets go of the GIL while it works, so the timeline's counts cost the grid's start-up no time.
    Yields the future; read=None yields one that is already done with None."""
    future: Future[T | None] = Future()
    if read is None:
        future.set_result(None)
        yield future
        return

    def work() -> None:
        try:
            with PhotoCatalog(catalog_path) as catalog:
                future.set_result(read(catalog))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the result
            future.set_exception(e)

    thread = threading.Thread(target=work, name="photosift-timeline", daemon=True)
    thread.start()
    try:
        yield future
    finally:
        thread.join()
