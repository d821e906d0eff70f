"""The date filter's pickers: "any" until a date is chosen, and a calendar that opens on the library's own
dates (its first or last month) instead of the widget's default January 1800."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QDateEdit, QWidget

NO_DATES = QDate(1800, 1, 1)  # "any" in a library without dates: the picker still needs some minimum


class LibraryDateEdit(QDateEdit):
    """`any_text` is shown (and chosen() is None) at the minimum date, the day before the library's first
    photo; the range ends at the library's last photo (or today, when later photos may come)."""

    def __init__(self, any_text: str, opens_at_end: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.opens_at_end = opens_at_end  # the "To" picker opens on the last month, the "From" on the first
        self._range: tuple[date, date] | None = None
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")
        self.setSpecialValueText(any_text)
        self.setMinimumDate(NO_DATES)
        self.setDate(NO_DATES)

    def chosen(self) -> date | None:
        return None if self.date() == self.minimumDate() else self.date().toPython()

    def set_chosen(self, day: date | None) -> None:
        """Show `day` (None: "any") without signalling a change: the browse state already has it."""
        wanted = QDate(day) if day else self.minimumDate()
        if day and wanted < self.minimumDate():
            self.setMinimumDate(wanted.addDays(-1))  # a date outside the library's own range stays visible
        if day and wanted > self.maximumDate():
            self.setMaximumDate(wanted)
        if self.date() != wanted:
            self.blockSignals(True)
            try:
                self.setDate(wanted)
            finally:
                self.blockSignals(False)

    def set_library_range(self, taken: tuple[date, date] | None) -> None:
        """The library's first and last day (None: no photo has a date). A date already chosen stays."""
        if taken == self._range:
            return
        self._range = taken
        chosen = self.chosen()
        first, last = taken if taken else (None, None)
        self.blockSignals(True)  # the filter has not changed: no new search for it
        try:
            self.setDateRange(
                QDate(first - timedelta(days=1)) if first else NO_DATES,
                QDate(max(last, date.today())) if last else QDate(date.today()),
            )
            self.setDate(QDate(chosen) if chosen else self.minimumDate())
        finally:
            self.blockSignals(False)
        self._aim_calendar()

    def _aim_calendar(self) -> None:
        """While "any" is shown, the calendar opens on the library's first (From) or last (To) month."""
        if self._range is None or self.chosen() is not None:
            return
        day = self._range[1] if self.opens_at_end else self._range[0]
        self.calendarWidget().setCurrentPage(day.year, day.month)

    def mousePressEvent(self, e) -> None:
        super().mousePressEvent(e)
        self._aim_calendar()  # Qt moved the calendar to the (special) minimum date when it opened
