"""Dates as people write them in a query or an option: a year, a month, a day, or a range of them.

    2019    2019-07    2019-07-14    july 2019    jul 2019    2018..2020    2019-06..2019-08-15

Each names the first and last day it covers (2019 -> 2019-01-01 .. 2019-12-31); a range runs from the first
day of its start to the last day of its end. What looks like a date but is not one (2019-13-40, 2020..2018)
is refused with one line saying why.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from engine.errors import QueryError

MIN_YEAR, MAX_YEAR = 1826, 2200  # the first photograph; beyond, a number rather than a year
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9

_ONE = r"\d{4}(?:-\d{1,2}(?:-\d{1,2})?)?"
_MONTH_WORD = "|".join(sorted(MONTHS, key=len, reverse=True))
_NAMED = rf"(?:{_MONTH_WORD})\.?\s+\d{{4}}|\d{{4}}\s+(?:{_MONTH_WORD})\b\.?"
# one date or a range, as a whole word of a query
DATE_WORDS = re.compile(rf"(?<![\w:./-])(?:(?:{_NAMED}|{_ONE})(?:\s*\.\.\s*(?:{_NAMED}|{_ONE}))?)(?![\w:/-]|\.\w)",
                        re.IGNORECASE)


def _bounds(text: str) -> tuple[date, date]:
    text = text.strip().rstrip(".")
    words = text.lower().replace(".", " ").split()
    if len(words) == 2:  # "july 2019" or "2019 july"
        month_word, year_word = (words[0], words[1]) if words[1].isdigit() else (words[1], words[0])
        if month_word not in MONTHS or not year_word.isdigit():
            raise QueryError(f"not a date: {text}")
        text = f"{year_word}-{MONTHS[month_word]}"
    parts = text.split("-")
    if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3 or len(parts[0]) != 4:
        raise QueryError(f"not a date: {text} (write 2019, 2019-07, 2019-07-14, july 2019 or 2018..2020)")
    year = int(parts[0])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise QueryError(f"not a date: {text} (a year from {MIN_YEAR} to {MAX_YEAR})")
    if len(parts) == 1:
        return date(year, 1, 1), date(year, 12, 31)
    month = int(parts[1])
    if not 1 <= month <= 12:
        raise QueryError(f"not a date: {text} (a month is 1 to 12)")
    last = calendar.monthrange(year, month)[1]
    if len(parts) == 2:
        return date(year, month, 1), date(year, month, last)
    day = int(parts[2])
    if not 1 <= day <= last:
        raise QueryError(f"not a date: {text} ({calendar.month_name[month]} {year} has days 1 to {last})")
    return date(year, month, day), date(year, month, day)


def parse_dates(text: str) -> tuple[date, date]:
    """The first and last day `text` covers (see the module docstring); QueryError when it is not a date."""
    text = " ".join(text.split())
    if not text:
        raise QueryError("an empty date")
    if ".." in text:
        start, _, end = text.partition("..")
        first, _ = _bounds(start)
        _, last = _bounds(end)
        if first > last:
            raise QueryError(f"the range {text} ends before it starts; write it as {end.strip()}..{start.strip()}")
        return first, last
    return _bounds(text)


def describe(first: date, last: date) -> str:
    """How a chip or a note names the range: "2019", "July 2019", "14 July 2019", "2018-01-01 to 2020-12-31"."""
    if first == last:
        return f"{first.day} {calendar.month_name[first.month]} {first.year}"
    if first.day == 1 and (last + _DAY).day == 1 and (first.year, first.month) == (last.year, last.month):
        return f"{calendar.month_name[first.month]} {first.year}"
    if (first.month, first.day, last.month, last.day) == (1, 1, 12, 31):
        return str(first.year) if first.year == last.year else f"{first.year} to {last.year}"
    return f"{first.isoformat()} to {last.isoformat()}"


_DAY = date(2000, 1, 2) - date(2000, 1, 1)
