"""The timeline's grouping and layout arithmetic, without Qt."""

from datetime import date

import pytest

from desktop_app.gui.timeline import (
    NO_DATE,
    Section,
    SectionLayout,
    choose_granularity,
    label_of,
    plain,
    scrub_label,
    scrubber_marks,
    sections_from_days,
)
from engine.filters import SearchFilters

DAYS = [("2021-06-02", 3), ("2021-06-01", 2), ("2021-05-30", 4), ("2019-12-31", 1), (None, 2)]


def test_days_merge_into_months_and_years_in_grid_order_with_undated_last():
    months = sections_from_days(DAYS, "month")
    assert [(s.start, s.count, s.key, s.label) for s in months] == [
        (0, 5, "2021-06", "June 2021"), (5, 4, "2021-05", "May 2021"), (9, 1, "2019-12", "December 2019"),
        (10, 2, None, NO_DATE)]
    years = sections_from_days(DAYS, "year")
    assert [(s.start, s.count, s.label) for s in years] == [(0, 9, "2021"), (9, 1, "2019"), (10, 2, NO_DATE)]
    assert sections_from_days(DAYS, "day")[0].label == "Wednesday, 2 June 2021"


def test_rows_added_between_two_reads_go_to_the_last_section():
    assert sections_from_days(DAYS, "year", rows=15)[-1] == Section(10, 5, None, NO_DATE)
    assert sections_from_days(DAYS, "year", rows=9) == [Section(0, 9, "2021", "2021")]
    assert sections_from_days([], "year", rows=3) == [Section(0, 3, None, NO_DATE)]


def test_granularity_follows_how_many_photos_each_group_would_hold():
    assert choose_granularity([("2024-07-01", 40), ("2024-07-02", 35)]) == "day"
    assert choose_granularity([(f"2024-{m:02d}-{d:02d}", 1) for m in range(1, 4) for d in range(1, 29)]) == "month"
    assert choose_granularity([(f"{y}-01-{d:02d}", 1) for y in range(2000, 2020) for d in (1, 2)]) == "year"


def test_labels():
    assert (label_of("2019"), label_of("2019-03"), label_of(None)) == ("2019", "March 2019", NO_DATE)
    assert label_of("2019-13") == "2019-13"  # not a month: shown as it is, not a crash
    assert scrub_label(Section(0, 1, "2019-03-14", "Thursday, 14 March 2019")) == "March 2019"
    assert scrub_label(Section(0, 1, None, NO_DATE)) == NO_DATE


def test_cells_fill_the_width_and_sections_start_on_a_new_line():
    layout = SectionLayout(sections_from_days(DAYS, "month"), width=1000, target=264, header=40)
    assert layout.columns == 3 and layout.cell == 333
    last_col = layout.rect(2)
    assert last_col.x + last_col.w == 1000  # no empty strip on the right
    assert layout.rect(3).y == 40 + 333  # second line of June
    may = layout.rect(5)
    assert (may.x, may.y) == (0, 40 + 2 * 333 + 40)  # May starts a new line under its own header
    assert layout.height == layout.content_height == 4 * 40 + (2 + 2 + 1 + 1) * 333


def test_point_to_row_and_rows_in_a_band_round_trip():
    layout = SectionLayout(sections_from_days(DAYS, "month"), width=1000, target=264, header=40)
    for row in range(layout.rows):
        r = layout.rect(row)
        assert layout.row_at(r.x + r.w // 2, r.y + r.h // 2) == row
        assert row in layout.rows_between(r.y, r.y + 1)
    assert layout.row_at(10, 5) is None  # on June's header
    assert layout.row_at(900, 40 + 333 + 10) is None  # past the end of June's short second line
    assert layout.rows_between(0, 40) == range(0)
    assert layout.rows_between(0, layout.height) == range(0, 12)
    june_second_line_to_may_first = layout.rows_between(40 + 333 + 5, 40 + 2 * 333 + 40 + 5)
    assert june_second_line_to_may_first == range(3, 8)


def test_headers_in_a_band():
    layout = SectionLayout(sections_from_days(DAYS, "month"), width=1000, target=264, header=40)
    assert [s.label for s, _y in layout.headers_between(0, 50)] == ["June 2021"]
    assert [s.label for s, _y in layout.headers_between(700, 800)] == ["May 2021"]
    assert [s.label for s, _y in layout.headers_between(0, layout.height)][-1] == NO_DATE


def test_up_and_down_cross_sections_keeping_the_column():
    layout = SectionLayout(sections_from_days(DAYS, "month"), width=1000, target=264, header=40)
    assert layout.row_below(1) == 4  # June's second line
    assert layout.row_below(2) == 4  # no cell below: the short line's last one
    assert layout.row_below(4) == 6  # into May, same column
    assert layout.row_above(6) == 4 and layout.row_above(5) == 3 and layout.row_above(0) == 0
    assert layout.row_below(11) == 11


def test_plain_results_and_the_cutoff_section():
    assert plain(5) == [Section(0, 5, None, None)]
    assert plain(5, cut=2, cut_label="below") == [Section(0, 2, None, None), Section(2, 3, None, "below")]
    assert plain(5, cut=5, cut_label="below") == [Section(0, 5, None, None)]
    layout = SectionLayout(plain(5, cut=2, cut_label="below"), width=500, target=100, header=30, footer=60)
    assert layout.rect(0).y == 0 and layout.rect(2).y == 100 + 30
    assert layout.height == layout.content_height + 60


def test_scrubber_marks_one_per_year():
    layout = SectionLayout(sections_from_days(DAYS, "month"), width=1000, target=264, header=40)
    assert [label for _y, label in scrubber_marks(layout)] == ["2021", "2019", NO_DATE]


@pytest.mark.parametrize("width", [1, 50, 263, 264, 999, 4000])
def test_any_width_gives_a_usable_layout(width):
    layout = SectionLayout(sections_from_days(DAYS, "day"), width=width, target=264, header=40)
    assert layout.columns >= 1 and layout.cell >= 1
    assert layout.rows_between(0, layout.height) == range(12)


def test_catalog_day_counts_follow_the_grid_order_and_filters(tmp_path):
    from engine.catalog import PhotoCatalog

    with PhotoCatalog(tmp_path / "c.db") as cat:
        root = cat.add_root("/p")
        for i, taken in enumerate(["2020-01-02T10:00:00", "2020-01-02T09:00:00", None, "2021-07-01T00:00:00", ""]):
            pid = cat.insert_photo(root_id=root.id, path=f"/p/{'a' if i < 2 else 'b'}/{i}.jpg", raw_path=None,
                                   size=1, mtime=1.0, fingerprint=str(i))
            cat.record_decoded(pid, {"taken_at": taken, "width": 1, "height": 1})
        assert cat.browse.timeline_days() == [("2021-07-01", 1), ("2020-01-02", 2), (None, 2)]
        assert cat.browse.timeline_days(SearchFilters(folder="/p/a")) == [("2020-01-02", 2)]
        assert cat.browse.timeline_days(SearchFilters(date_from=date(2021, 1, 1))) == [("2021-07-01", 1)]
        assert cat.browse.taken_range() == (date(2020, 1, 2), date(2021, 7, 1))
        ordered = [r[0] for r in cat.conn.execute(f"SELECT taken_at FROM photos ORDER BY {cat.browse.TIMELINE_ORDER}")]
        assert ordered[:3] == ["2021-07-01T00:00:00", "2020-01-02T10:00:00", "2020-01-02T09:00:00"]
    with PhotoCatalog(tmp_path / "empty.db") as cat:
        assert cat.browse.taken_range() is None and cat.browse.timeline_days() == []
