"""The training-data assembly's steps (training/traindata.py) on plain labels: no catalog, no files."""

from collections import Counter

import numpy as np
import pytest

from training import traindata
from training.traindata import (
    TrainingDataError,
    _assemble,
    choose_classes,
    sample_other,
    sample_rows,
    split_rows,
)

KEYS = ["a"] * 9 + ["b"] * 5 + ["c"] * 3 + ["d"] * 1 + ["e"] * 12
NAMES = {k: k.upper() for k in set(KEYS)}


def test_classes_kept_measured_and_left_out():
    kept, measured, left_out = choose_classes(Counter(KEYS), NAMES, min_per_class=4)
    assert (kept, measured, left_out) == (["a", "b", "c", "e"], {"a", "b", "e"}, {"D": 1})
    with pytest.raises(TrainingDataError, match="at least 2 classes"):
        choose_classes(Counter(["a"] * 9 + ["d"]), NAMES, min_per_class=4)
    with pytest.raises(TrainingDataError, match="0 with 4 or more"):
        choose_classes(Counter(["b"] * 3 + ["c"] * 3), NAMES, min_per_class=4)


def test_sampling_caps_large_classes_reproducibly():
    rows, sampled = sample_rows(KEYS, ["a", "b", "c", "e"], cap=8, seed=7)
    per_class = Counter(KEYS[i] for i in rows)
    assert per_class == {"a": 8, "b": 5, "c": 3, "e": 8} and sampled == {"per_class": 8, "photos_not_used": 5}
    assert rows == sorted(rows) and sample_rows(KEYS, ["a", "b", "c", "e"], cap=8, seed=7)[0] == rows
    assert sample_rows(KEYS, ["a", "e"], cap=None, seed=7) == ([i for i, k in enumerate(KEYS) if k in "ae"], {})


def test_other_photos_are_sampled_down_in_order(monkeypatch):
    monkeypatch.setattr(traindata, "MAX_OTHER", 5)
    outside = [f"/o/{i}" for i in range(20)]
    picked = sample_other(outside, seed=1)
    assert len(picked) == 5 and picked == sorted(picked, key=outside.index)
    assert sample_other(outside[:5], seed=1) == outside[:5]


def test_split_measures_only_measured_classes_and_never_shares_a_photo():
    labels = [0] * 10 + [1] * 6 + [2] * 3
    tr, choose, report = split_rows(labels, [lab != 2 for lab in labels], 0.3, seed=0)
    everyone = np.concatenate([tr, choose, report])
    assert sorted(everyone.tolist()) == list(range(len(labels)))  # each photo once
    assert {labels[j] for j in (*choose, *report)} == {0, 1}  # the small class only trains
    assert {16, 17, 18} <= set(tr.tolist())


def test_assemble_puts_it_together():
    paths = [f"/p/{k}{i}.jpg" for i, k in enumerate(KEYS)]
    d = _assemble(KEYS, NAMES, paths, lambda i: (f"cap{i}",), "test", 4, 0.3, 7, extra_left_out={"Z": 1},
                  max_per_class=8, other=["/o/0.jpg"])
    assert d.classes == ("a", "b", "c", "e") and d.left_out == {"D": 1, "Z": 1} and d.train_only == {"C": 3}
    assert d.sampled == {"per_class": 8, "photos_not_used": 5}
    labelled = [it.path for it in (*d.train, *d.val, *d.report)]
    assert len(labelled) == len(set(labelled)) == 24
    assert set(d.other) == set(paths) - set(labelled) | {"/o/0.jpg"}
    assert all(it.captions == (f"cap{paths.index(it.path)}",) for it in d.train)
    assert (d.report[0].path, d.val[0].path) == ("/p/a6.jpg", "/p/a1.jpg")  # the split of seed 7, as before
