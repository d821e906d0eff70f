"""Bursts stacked in the browse grid (issue #16): the Qt-free arithmetic."""

import numpy as np

from desktop_app.gui.stacks import StackMark, stack_bursts

# Grid order (newest first); photos 2, 3, 4 are one burst (group 7, keeper 3); 6 and 8 are another (group 9,
# keeper 8); photo 5 is in a burst whose other frames the filters left out (group 11).
IDS = [1, 2, 3, 4, 5, 6, 8, 10]
DAYS = [("2024-05-02", 1), ("2024-05-01", 5), (None, 2)]
MEMBERS = tuple(np.array(column, dtype=np.int64) for column in zip(  # as catalog.duplicates.burst_members gives them
    (2, 7, 3), (3, 7, 3), (4, 7, 3), (5, 11, 99), (6, 9, 8), (8, 9, 8), strict=True))


def test_a_burst_without_a_keeper_is_stood_for_by_its_first_frame():
    members = (np.array([4, 2]), np.array([7, 7]), np.array([-1, -1]))
    rows, _days, marks = stack_bursts([1, 2, 3, 4], None, members)
    assert rows == [1, 2, 3] and marks == {2: StackMark(7, 2, None)}


def test_each_burst_is_one_cell_showing_its_keeper_where_the_burst_starts_and_the_days_are_recounted():
    rows, days, marks = stack_bursts(IDS, DAYS, MEMBERS)
    assert rows == [1, 3, 5, 8, 10]
    assert days == [("2024-05-02", 1), ("2024-05-01", 3), (None, 1)]  # 8 stands for 6 (dated) and itself
    assert marks == {3: StackMark(7, 3, None), 8: StackMark(9, 2, None)}
    assert sum(n for _k, n in days) == len(rows)


def test_an_expanded_burst_shows_every_frame_numbered_and_the_others_stay_stacked():
    rows, days, marks = stack_bursts(IDS, DAYS, MEMBERS, expanded={7})
    assert rows == [1, 2, 3, 4, 5, 8, 10]
    assert days == [("2024-05-02", 1), ("2024-05-01", 5), (None, 1)]
    assert [marks[p] for p in (2, 3, 4)] == [StackMark(7, 3, 1), StackMark(7, 3, 2), StackMark(7, 3, 3)]
    assert marks[8] == StackMark(9, 2, None)


def test_a_keeper_the_filters_left_out_is_stood_for_by_the_bursts_first_frame():
    ids = [2, 4, 10]
    rows, _days, marks = stack_bursts(ids, None, MEMBERS)
    assert rows == [2, 10] and marks == {2: StackMark(7, 2, None)}


def test_nothing_to_stack_leaves_the_grid_as_it_was():
    rows, days, marks = stack_bursts([1, 5, 10], [("2024-05-01", 3)], MEMBERS)
    assert rows == [1, 5, 10] and days == [("2024-05-01", 3)] and marks == {}


def test_rows_added_after_the_day_counts_were_read_count_as_undated():
    rows, days, _marks = stack_bursts([1, 2, 3, 4], [("2024-05-01", 2)], MEMBERS)
    assert rows == [1, 3] and days == [("2024-05-01", 2)]  # the stack sits on row 2's day
