"""Search semantics with known vectors: query arithmetic, filters, cutoff, vector index upkeep."""

import json

import numpy as np
import pytest

import engine.vectorindex as vi
from engine.errors import QueryError
from engine.library import Library
from engine.query import parse_query
from engine.search import PhotoSearch, SearchFilters, SearchOptions
from engine.vectorindex import VectorIndex
from tests.conftest import store_vectors

CONCEPTS = ["beach", "sunset", "people", "dog", "snow", "city", "food", "car"]
DIM = len(CONCEPTS)


class KnownEncoder:
    """Text embeds as the one-hot of a concept word; enough to check the arithmetic exactly."""

    model_id = "known"
    embed_dim = DIM

    def encode_texts(self, texts):
        out = np.zeros((len(texts), DIM), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                if w in CONCEPTS:
                    out[i, CONCEPTS.index(w)] = 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _vec(**weights):
    v = np.zeros(DIM, np.float32)
    for k, w in weights.items():
        v[CONCEPTS.index(k)] = w
    return v / np.linalg.norm(v)


@pytest.fixture
def library(tmp_path):
    with Library.open(tmp_path / "lib") as lib:
        cat = lib.catalog
        root = cat.add_root("/photos")
        photos = {
            "beach_people": (_vec(beach=1, people=1), "2020-07-01T10:00:00", "/photos/2020/beach_people.jpg"),
            "beach_empty": (_vec(beach=1, sunset=0.2), "2021-07-01T10:00:00", "/photos/2021/beach_empty.jpg"),
            "sunset_beach": (_vec(beach=1, sunset=1), "2019-01-01T10:00:00", "/photos/2019/sunset_beach.jpg"),
            "dog_snow": (_vec(dog=1, snow=1), "2022-02-02T10:00:00", "/photos/2022/dog_snow.jpg"),
            "city": (_vec(city=1), "2018-05-05T10:00:00", "/photos/2018/city.jpg"),
        }
        rng = np.random.default_rng(0)
        for i in range(60):  # background noise so the relevance cutoff has a distribution
            v = np.abs(rng.normal(size=DIM)).astype(np.float32) * np.array([0, 0, 0, 0, 0, 0, 1, 1], np.float32)
            photos[f"food{i}"] = (v / np.linalg.norm(v), None, f"/photos/misc/food{i}.jpg")
        ids = {}
        for name, (vec, taken, path) in photos.items():
            pid = cat.insert_photo(root_id=root.id, path=path, raw_path=None, size=1, mtime=1, fingerprint=name)
            cat.record_decoded(pid, {"taken_at": taken})
            cat.embeddings.put("known", [pid], vec[None])
            ids[name] = pid
        cat.tags.set_user(ids["dog_snow"], "pets")
        lib.ids = ids
        yield lib


def _names(lib, results):
    inv = {v: k for k, v in lib.ids.items()}
    return [inv[r.photo.id] for r in results]


def test_text_search_ranks_and_cuts_off(library):
    s = PhotoSearch(library, KnownEncoder())
    res = s.search("beach")
    assert _names(library, res)[:3] == ["beach_empty", "beach_people", "sunset_beach"]
    assert "city" not in _names(library, res) and len(res) < 10  # cutoff: not the whole library
    assert res[0].score == pytest.approx(float(_vec(beach=1, sunset=0.2)[0]), abs=1e-5)
    assert len(s.search("beach", SearchOptions(min_z=None, limit=1000))) == len(library.ids)


def test_combined_terms(library):
    s = PhotoSearch(library, KnownEncoder())
    res = s.search("beach - people", SearchOptions(min_z=None, limit=1000))
    assert _names(library, res)[:2] == ["beach_empty", "sunset_beach"]
    assert next(r.score for r in res if r.photo.id == library.ids["beach_people"]) < 0  # "people" is taken away
    raw = s.search_vector(s.query_vector(parse_query("beach - people"), balance=False), SearchOptions(min_z=None))
    assert next(r.score for r in raw if r.photo.id == library.ids["beach_people"]) == pytest.approx(0, abs=1e-6)
    assert _names(library, s.search("beach + people"))[0] == "beach_people"
    assert _names(library, s.search('beach + 3:"sunset"'))[0] == "sunset_beach"
    first = _names(library, s.search(f"id:{library.ids['dog_snow']} + city", SearchOptions(min_z=None)))[:2]
    assert set(first) == {"dog_snow", "city"}


def test_similar_excludes_the_photo_itself(library):
    s = PhotoSearch(library, KnownEncoder())
    res = s.similar(library.ids["beach_people"], SearchOptions(limit=2))
    assert _names(library, res) == ["beach_empty", "sunset_beach"]


def test_an_unreadable_query_image_is_named_in_the_error(library, tmp_path):
    from engine.errors import ImageReadError

    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    from engine.modelfolder import PreprocessConfig

    encoder = KnownEncoder()
    encoder.preprocess_config = PreprocessConfig(image_size=32)
    s = PhotoSearch(library, encoder)
    with pytest.raises(ImageReadError, match=f"^{broken}: (not an image|corrupt)"):
        s.search(f"beach + {broken}")


def test_filters_and_date_sort(library):
    s = PhotoSearch(library, KnownEncoder())
    opts = SearchOptions(min_z=None, filters=SearchFilters(folder="/photos/2021"))
    assert _names(library, s.search("beach", opts)) == ["beach_empty"]
    from datetime import date

    opts = SearchOptions(min_z=None, sort="date", limit=3,
                         filters=SearchFilters(date_from=date(2019, 1, 1), date_to=date(2021, 12, 31)))
    assert _names(library, s.search("beach", opts)) == ["beach_empty", "beach_people", "sunset_beach"]  # newest first
    opts = SearchOptions(min_z=None, filters=SearchFilters(tag="pets"))
    assert _names(library, s.search("beach", opts)) == ["dog_snow"]


def test_query_errors():
    with pytest.raises(QueryError, match="positive"):
        parse_query("- people")
    with pytest.raises(QueryError, match="image not found"):
        parse_query("beach + ./nope.jpg")
    with pytest.raises(QueryError, match="quote"):
        parse_query('"beach')
    assert [t.value for t in parse_query("t-shirt - red")] == ["t-shirt", "red"]


def test_usearch_index_matches_exact_and_stays_current(library, monkeypatch):
    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    cat = library.catalog
    index = VectorIndex(cat, "known", library.paths.indexes)
    q = _vec(beach=1, people=0.5)
    hits = index.search(q, 3)
    ids, vecs = cat.embeddings.load("known")
    exact = ids[np.argsort(-(vecs @ q))[:3]]
    assert hits.ids.tolist() == exact.tolist()
    assert index.is_current() and json.loads(index.meta_path.read_text())["count"] == len(ids)
    # a foreign or stale file is rebuilt, never trusted
    pid = cat.insert_photo(root_id=1, path="/photos/new.jpg", raw_path=None, size=1, mtime=1, fingerprint="n")
    cat.embeddings.put("known", [pid], _vec(beach=1, people=0.5)[None])
    assert not index.is_current()
    assert int(VectorIndex(cat, "known", library.paths.indexes).search(q, 1).ids[0]) == pid
    index.meta_path.write_text(json.dumps({"model_id": "other"}))
    fresh = VectorIndex(cat, "known", library.paths.indexes)
    assert int(fresh.search(q, 1).ids[0]) == pid and fresh.is_current()
    assert not list(library.paths.indexes.glob("*.tmp"))


def test_missing_index_rebuilt(library, monkeypatch):
    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    index = VectorIndex(library.catalog, "known", library.paths.indexes)
    index.refresh()
    index.index_path.unlink()
    again = VectorIndex(library.catalog, "known", library.paths.indexes)
    assert len(again.search(_vec(city=1), 1).ids) == 1 and again.index_path.is_file()


def test_current_index_opens_without_reading_vectors(library, monkeypatch):
    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    VectorIndex(library.catalog, "known", library.paths.indexes).refresh()

    def no_bulk_read(*args, **kwargs):
        raise AssertionError("read every vector although the index file is current")

    monkeypatch.setattr(library.catalog.embeddings, "load", no_bulk_read)
    monkeypatch.setattr(library.catalog.embeddings, "chunks", no_bulk_read)
    assert len(VectorIndex(library.catalog, "known", library.paths.indexes).search(_vec(city=1), 2).ids) == 2


def test_small_change_patches_the_index_in_place(library, monkeypatch):
    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    monkeypatch.setattr(vi, "PATCH_LIMIT", 1.0)
    cat = library.catalog
    VectorIndex(cat, "known", library.paths.indexes).refresh()
    pid = cat.insert_photo(root_id=1, path="/photos/new.jpg", raw_path=None, size=1, mtime=1, fingerprint="n")
    cat.embeddings.put("known", [pid], _vec(city=1, people=1)[None])
    monkeypatch.setattr(cat.embeddings, "chunks", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    index = VectorIndex(cat, "known", library.paths.indexes)
    assert int(index.search(_vec(city=1, people=1), 1).ids[0]) == pid and index.is_current()


def test_onnxruntime_still_loads_after_the_vector_index(tmp_path):
    """onnxruntime 1.31 crashes on import once usearch 2.26 is loaded; the index loads it in the safe order."""
    import subprocess
    import sys

    code = ("from engine.vectorindex import usearch_index_class\n"
            "usearch_index_class()(ndim=4, metric='cos')\n"
            "import onnxruntime\n"
            "print(onnxruntime.get_available_providers()[-1])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CPUExecutionProvider" in done.stdout


def test_queries_unlike_every_photo_get_the_wide_beam(tmp_path, monkeypatch):
    from engine.catalog import PhotoCatalog

    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((100, 128)).astype(np.float32)
    # 20 photos per cluster: HNSW built on several threads may leave a near-duplicate unreachable now and
    # then, and with exactly 10 per cluster that one miss made the 10th hit weak (seen once on CI)
    vecs = centres[np.arange(2000) % 100] + 0.05 * rng.standard_normal((2000, 128)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        store_vectors(cat, "m", vecs)
        index = VectorIndex(cat, "m", tmp_path / "idx")
        beams: list[int] = []
        real_ann = index._ann

        def spy(q, k, allowed):
            beams.append(index._index.expansion_search)
            return real_ann(q, k, allowed)

        monkeypatch.setattr(index, "_ann", spy)
        assert len(index.search(vecs[3], 10).ids) == 10
        assert beams == [vi.EXPANSION_SEARCH]  # a photo-like query: its cluster stands far above the rest
        beams.clear()
        unlike = rng.standard_normal(128).astype(np.float32)
        hits = index.search(unlike / np.linalg.norm(unlike), 10)
        assert beams == [vi.EXPANSION_SEARCH, vi.wide_beam(2000)] and vi.wide_beam(2000) > vi.EXPANSION_SEARCH
        assert index._index.expansion_search == vi.EXPANSION_SEARCH and len(hits.ids) == 10


def test_index_build_reports_progress_and_a_cancel_keeps_the_old_file(library, monkeypatch):
    from engine.errors import Cancelled
    from engine.jobs import CancelToken

    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    monkeypatch.setattr(vi, "BUILD_CHUNK", 2)
    cat = library.catalog
    reports = []
    VectorIndex(cat, "known", library.paths.indexes).refresh(progress=reports.append)
    total = cat.embeddings.version("known")[1]
    assert [r.stage for r in reports] == ["vectors"] * len(reports) and len(reports) >= 2
    assert (reports[-1].done, reports[-1].total) == (total, total)
    index_path = VectorIndex(cat, "known", library.paths.indexes).index_path
    before = index_path.read_bytes()
    monkeypatch.setattr(vi, "PATCH_LIMIT", 0.0)  # any change means a rebuild
    pid = cat.insert_photo(root_id=1, path="/photos/new.jpg", raw_path=None, size=1, mtime=1, fingerprint="n")
    cat.embeddings.put("known", [pid], _vec(city=1)[None])
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        VectorIndex(cat, "known", library.paths.indexes).refresh(cancel=token)
    assert index_path.read_bytes() == before and not list(library.paths.indexes.glob("*.tmp"))


def test_similar_to_a_photo_unlike_the_rest_still_shows_its_nearest(library):
    """The "best match always stays" rule applies to what is shown, not to the photo the search started from."""
    s = PhotoSearch(library, KnownEncoder())
    res = s.similar(library.ids["city"])  # nothing else has any "city" in it
    assert len(res) >= 1 and library.ids["city"] not in [r.photo.id for r in res]


def test_wide_beam_grows_with_the_library():
    assert vi.wide_beam(100_000) == 2048 and 7500 < vi.wide_beam(1_000_000) < 8500
    assert vi.wide_beam(50_000_000) == 16384


def test_a_library_with_no_vectors_of_the_model_refreshes_to_an_empty_index(tmp_path, monkeypatch):
    """Seen in the torture run (file index forced): every photo of the library on an unplugged drive, none
    indexed yet; the index file path raised "no vectors of model ... to index" and `index` ended in a traceback."""
    from engine.catalog import PhotoCatalog

    monkeypatch.setattr(vi, "EXACT_BELOW", 0)
    with PhotoCatalog(tmp_path / "c.db") as cat:
        index = VectorIndex(cat, "m", tmp_path / "idx")
        index.refresh()
        assert len(index.search(np.ones(4, np.float32) / 2, 5).ids) == 0


def test_filters_written_in_the_query(library):
    s = PhotoSearch(library, KnownEncoder())
    assert _names(library, s.search("beach 2020", SearchOptions(min_z=None))) == ["beach_people"]
    assert _names(library, s.search("beach 2019..2020", SearchOptions(min_z=None))) == [
        "beach_people", "sunset_beach"]
    assert _names(library, s.search("beach folder:2021", SearchOptions(min_z=None))) == ["beach_empty"]
    assert _names(library, s.search("tag:PETS")) == ["dog_snow"]  # only a filter: its photos, newest first
    assert _names(library, s.search("2021")) == ["beach_empty"]
    # a query's dates and the options' both apply
    from datetime import date

    opts = SearchOptions(min_z=None, filters=SearchFilters(date_from=date(2020, 1, 1)))
    assert _names(library, s.search("beach 2019..2021", opts)) == ["beach_empty", "beach_people"]
    with pytest.raises(QueryError, match="do not overlap"):
        s.search("beach 2018", opts)


def test_unknown_names_are_refused_with_the_nearest_known(library):
    s = PhotoSearch(library, KnownEncoder())
    with pytest.raises(QueryError, match=r"no photo has the tag 'pet' \(nearest tags: pets\)"):
        s.search("beach tag:pet")
    with pytest.raises(QueryError, match=r"no folder of the library is named '2012' \(nearest: 2022, 2021"):
        s.search("beach folder:2012")
    with pytest.raises(QueryError, match="two tags"):
        s.search("tag:pets", SearchOptions(filters=SearchFilters(tag="food")))


def test_the_cutoff_is_computed_over_the_photos_the_filters_leave(library):
    """A match the library-wide cutoff drops is shown once a filter narrows the photos to a few where it
    stands out, and a filter never hides a match the same query without it showed."""
    cat = library.catalog
    root = cat.roots()[0]
    for i, snow in enumerate([0.15, 0.12] + [0.0] * 20):
        v = _vec(snow=snow, food=1) if snow else _vec(food=1, car=0.1 * (i % 3))
        pid = cat.insert_photo(root_id=root.id, path=f"/photos/alps/{i}.jpg", raw_path=None, size=1, mtime=1,
                               fingerprint=f"alps{i}")
        cat.record_decoded(pid, {"taken_at": None})
        cat.embeddings.put("known", [pid], v[None])
        library.ids[f"alps{i}"] = pid
    s = PhotoSearch(library, KnownEncoder())
    everywhere = _names(library, s.search("snow"))
    assert everywhere == ["dog_snow"]  # the faint snow of the alps photos is below the library's cutoff
    in_alps = _names(library, s.search("snow folder:alps"))
    assert in_alps == ["alps0", "alps1"]  # among the alps photos both stand out; the plain ones do not
    for query, filters in (("beach", SearchFilters(folder="/photos/2020")), ("beach", SearchFilters(tag="pets")),
                           ("snow", SearchFilters(date_from=__import__("datetime").date(2019, 1, 1))),
                           ("beach", SearchFilters(folder="/photos"))):
        shown = set(_names(library, s.search(query)))
        allowed = set(_names(library, s.search(query, SearchOptions(min_z=None, limit=1000, filters=filters))))
        narrowed = set(_names(library, s.search(query, SearchOptions(filters=filters))))
        assert shown & allowed <= narrowed, (query, filters)


def _copy_of(library, name, new_name, folder):
    cat = library.catalog
    pid = cat.insert_photo(root_id=cat.roots()[0].id, path=f"/photos/{folder}/{new_name}.jpg", raw_path=None,
                           size=1, mtime=1, fingerprint=new_name)
    cat.record_decoded(pid, {"taken_at": "2020-07-01T10:00:00"})
    cat.embeddings.put("known", [pid], cat.embeddings.get(library.ids[name], "known")[None])
    library.ids[new_name] = pid
    return pid


def test_copies_are_one_result_standing_for_the_group(library):
    from engine.catalog import NewDuplicateGroup

    cat = library.catalog
    keeper = library.ids["beach_people"]
    copy = _copy_of(library, "beach_people", "beach_people_copy", "backup")
    near = _copy_of(library, "beach_people", "beach_people_edit", "edits")
    with cat.transaction():
        (gid,) = cat.duplicates.replace_groups([], [NewDuplicateGroup("exact", keeper, "oldest",
                                                                      ((keeper, 1.0), (copy, 1.0), (near, 0.99)))])
    s = PhotoSearch(library, KnownEncoder())
    res = s.search("beach + people")
    assert _names(library, res).count("beach_people") == 1 and "beach_people_copy" not in _names(library, res)
    first = res[0]
    assert first.photo.id == keeper and first.group == gid and {c for c, _ in first.copies} == {copy, near}
    assert first.to_dict()["copies"] == [pid for pid, _ in first.copies]
    every = s.search("beach + people", SearchOptions(one_per_group=False))
    assert {"beach_people", "beach_people_copy", "beach_people_edit"} <= set(_names(library, every))
    # the keeper left out by a filter: a copy the filter lets through stands for the group
    in_backup = s.search("beach", SearchOptions(min_z=None, filters=SearchFilters(folder="/photos/backup")))
    assert _names(library, in_backup) == ["beach_people_copy"] and in_backup[0].copies == ()
    # "more like this" of the keeper: its copies are what is most like it, shown as one result
    like = s.similar(keeper, SearchOptions(limit=3))
    assert like[0].photo.id in (copy, near) and len(like[0].copies) == 1 and keeper not in [
        c for c, _ in like[0].copies]
