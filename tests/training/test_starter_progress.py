"""The starter build's progress (issue #24, item 18): said at once, no time left guessed from its six
unequal steps, and its longest step (minutes on a small CPU) reports its batches with the time they measure."""

from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_the_starter_build_reports_its_long_step_and_guesses_no_time_left(starter_build) -> None:
    _, seen = starter_build
    assert seen[0].done == 0 and "open_clip" in seen[0].message  # before open_clip is imported
    assert all(p.stage == "build" and p.uneven and p.rate == 0 and p.eta_s is None for p in seen)
    parts = [re.fullmatch(r"embedding ImageNet class texts (\d+)/(\d+)(, about .* left in this step)?", p.message)
             for p in seen if p.done == 1]
    counts = [(int(m.group(1)), int(m.group(2))) for m in parts if m]
    n = counts[-1][1]
    assert n > 1 and [c for c, _ in counts] == list(range(1, n + 1))  # every batch, in order
    # with the time left it measured; near the end that can fall under the half second worth saying
    early = [m for m in parts if m and int(m.group(1)) <= n // 2]
    assert early and all(m.group(3) for m in early)
    assert seen[-1].done == seen[-1].total == 6
