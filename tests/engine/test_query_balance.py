"""Combined queries on real photos with the real offline starter model: an image term must not drown a
text term, and subtracting what an image shows must take that photo down (engine.query.balanced_weights).
bench/query_balance.py shows the same on a larger library (with dogs)."""

from __future__ import annotations

import os
import shutil

import pytest

from engine.encoder import ClipEncoder, RuntimeConfig
from engine.library import Library
from engine.query import balanced_weights, parse_query
from engine.search import PhotoSearch, SearchOptions
from engine.update import update_library


def test_balancing_divides_each_weight_by_its_spread_and_leaves_one_term_alone():
    assert list(balanced_weights([1.0, -2.0], typical=[0.5, 0.1], best=[1.0, 0.3])) == pytest.approx([2.0, -10.0])
    assert list(balanced_weights([3.0], typical=[0.5], best=[1.0])) == [3.0]
    assert list(balanced_weights([1.0, 1.0], typical=[0.5, float("nan")], best=[1.0, 0.2])) == [1.0, 1.0]


@pytest.fixture(scope="module")
def real_search(starter_build, tmp_path_factory, sample_arrays):
    from PIL import Image

    folder, _ = starter_build
    work = tmp_path_factory.mktemp("balance")
    photos = work / "photos"
    photos.mkdir()
    for name, a in sample_arrays.items():
        Image.fromarray(a).save(photos / f"{name}.jpg", quality=90)
    shutil.copy(photos / "chelsea.jpg", work / "cat.jpg")  # a file outside the library, as users pass one
    encoder = ClipEncoder(folder, RuntimeConfig(device="cpu"))
    with Library.open(work / "library") as lib:
        lib.catalog.add_root(str(photos))
        lib.set_active_model(encoder.model_id)
        update_library(lib, encoder, do_tag=False)
        yield PhotoSearch(lib, encoder), work


def _ranked(search, query, balance):
    results = search.search_vector(search.query_vector(parse_query(query), balance=balance),
                                   SearchOptions(min_z=None, limit=100))
    return [(os.path.basename(r.photo.path), r.score) for r in results]


@pytest.mark.slow  # 9 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_an_image_term_no_longer_drowns_a_text_term(real_search, monkeypatch):
    search, work = real_search
    monkeypatch.chdir(work)
    before = dict(_ranked(search, "a rocket + ./cat.jpg", balance=False))
    after = _ranked(search, "a rocket + ./cat.jpg", balance=True)
    # Summed as they were, the cat scored far above the rocket (0.71 vs 0.27 on a larger library).
    assert before["rocket.jpg"] < 0.6 * before["chelsea.jpg"]
    assert {name for name, _ in after[:2]} == {"chelsea.jpg", "rocket.jpg"}
    scores = dict(after)
    assert scores["rocket.jpg"] >= 0.8 * scores["chelsea.jpg"]  # both terms count about the same


def test_subtracting_what_the_image_shows_takes_that_photo_down(real_search, monkeypatch):
    search, work = real_search
    monkeypatch.chdir(work)
    assert _ranked(search, "./cat.jpg - cat", balance=False)[0][0] == "chelsea.jpg"  # the old behaviour
    after = [name for name, _ in _ranked(search, "./cat.jpg - cat", balance=True)]
    assert after[0] != "chelsea.jpg" and after.index("chelsea.jpg") >= len(after) // 2
    # the default is balanced
    assert search.search("./cat.jpg - cat", SearchOptions(min_z=None))[0].photo.path != str(work / "photos/chelsea.jpg")
