"""Persons from faces: incremental grouping and user decisions that win. Synthetic embeddings, no face model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.catalog import FoundFaceRow, PhotoCatalog
from engine.people import (
    PersonError,
    group_faces,
    merge_persons,
    move_face,
    name_face,
    name_person,
    persons_matching,
    photos_of,
    regroup,
    set_hidden,
)

MODEL = "test-faces"


def _centres(n: int, seed: int = 0) -> np.ndarray:
    """Person centres far apart (dlib's faces of different people are ~0.8-1.0 apart)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, 128)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True) * 0.7


def _face(centre: np.ndarray, rng: np.random.Generator, x: float = 0.4) -> FoundFaceRow:
    noise = rng.normal(size=128).astype(np.float32) * (0.12 / np.sqrt(128))  # ~0.12 from the centre
    return FoundFaceRow(x, 0.3, 0.2, 0.25, 1.0, centre + noise)


def _photo(cat: PhotoCatalog, n: int) -> int:
    root = cat.root_by_path("/r") or cat.add_root("/r")
    with cat.transaction():
        pid = cat.insert_photo(root_id=root.id, path=f"/r/{n}.jpg", raw_path=None, size=1, mtime=0.0,
                               fingerprint=f"fp{n}")
        cat.conn.execute("UPDATE photos SET status = 'ok' WHERE id = ?", (pid,))
    return pid


def _add(cat: PhotoCatalog, who: list[int], centres: np.ndarray, seed: int, model: str = MODEL,
         start: int = 0) -> dict[int, int]:
    """One photo per entry of `who` with one face of that person; returns photo id -> true person."""
    rng = np.random.default_rng(seed)
    truth = {}
    for k, person in enumerate(who):
        pid = _photo(cat, start + k)
        with cat.transaction():
            cat.people.put_faces(pid, model, [_face(centres[person], rng)])
        truth[pid] = person
    return truth


def _persons_by_truth(cat: PhotoCatalog, truth: dict[int, int], model: str = MODEL) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for photo, person in truth.items():
        for f in cat.people.faces_of_photo(photo, model):
            out.setdefault(person, set()).add(f.person_id)
    return out


@pytest.fixture
def cat(tmp_path):
    with PhotoCatalog(tmp_path / "c.db") as c:
        yield c


def test_faces_group_into_one_person_each_and_new_photos_join_them(cat):
    centres = _centres(4)
    truth = _add(cat, [0, 1, 2, 3] * 5, centres, seed=1)
    assert group_faces(cat, MODEL) == 4
    groups = _persons_by_truth(cat, truth)
    assert all(len(g) == 1 for g in groups.values())
    assert len({next(iter(g)) for g in groups.values()}) == 4
    before = {p: next(iter(g)) for p, g in groups.items()}
    # Later photos join the persons already there: no new person, none of the old faces moves.
    more = _add(cat, [3, 2, 1, 0], centres, seed=2, start=100)
    assert group_faces(cat, MODEL) == 0
    after = _persons_by_truth(cat, {**truth, **more})
    assert {p: next(iter(g)) for p, g in after.items()} == before
    summaries = cat.people.summaries(MODEL)
    assert sorted(s.count for s in summaries) == [6, 6, 6, 6]


def test_named_merged_and_moved_faces_survive_regrouping(cat):
    centres = _centres(3)
    truth = _add(cat, [0, 0, 0, 1, 1, 1, 2, 2], centres, seed=3)
    group_faces(cat, MODEL)
    person_of = {t: next(iter(g)) for t, g in _persons_by_truth(cat, truth).items()}
    name_person(cat, person_of[0], "Anna")
    merge_persons(cat, person_of[1], person_of[2])  # the user says 1 and 2 are one person
    wrong = cat.people.faces_of_person(person_of[0], MODEL)[0]
    moved_to = move_face(cat, wrong.id)  # and one of Anna's faces is not Anna
    regroup(cat, MODEL)
    assert cat.people.face(wrong.id).person_id == moved_to
    anna = persons_matching(cat, "anna")
    assert anna == [person_of[0]]
    anna_photos = {p for p, t in truth.items() if t == 0} - {wrong.photo_id}
    assert photos_of(cat, "Anna", MODEL) == anna_photos
    merged = {f.person_id for p, t in truth.items() if t in (1, 2) for f in cat.people.faces_of_photo(p, MODEL)}
    assert merged == {person_of[1]}
    with pytest.raises(PersonError, match="merged into"):
        name_person(cat, person_of[2], "Bob")
    with pytest.raises(PersonError, match=r"^no person is named 'Ana' \(nearest: Anna; photosift people lists"):
        persons_matching(cat, "Ana")


def test_a_named_person_comes_back_after_a_face_model_switch(cat):
    centres = _centres(2)
    truth = _add(cat, [0, 0, 0, 1, 1], centres, seed=4)
    group_faces(cat, MODEL)
    anna = next(iter(_persons_by_truth(cat, truth)[0]))
    name_person(cat, anna, "Anna")
    # A new model: new embeddings of the same boxes, in a space unrelated to the old one.
    q, _ = np.linalg.qr(np.random.default_rng(9).normal(size=(128, 128)))
    new_centres = (centres @ q.astype(np.float32)).astype(np.float32)
    rng = np.random.default_rng(5)
    for photo, person in truth.items():
        with cat.transaction():
            cat.people.put_faces(photo, "other-model", [_face(new_centres[person], rng)])
    group_faces(cat, "other-model")
    assert photos_of(cat, "Anna", "other-model") == {p for p, t in truth.items() if t == 0}


def test_decisions_outlive_a_photo_indexed_again(cat):
    centres = _centres(2)
    truth = _add(cat, [0, 0, 1], centres, seed=6)
    group_faces(cat, MODEL)
    photo = next(p for p, t in truth.items() if t == 1)
    face = cat.people.faces_of_photo(photo, MODEL)[0]
    target = name_face(cat, face.id, "Carl")
    # The file changes and changes back (same content): its faces are gone, found again, and named again.
    with cat.transaction():
        cat.mark_changed(photo, size=1, mtime=1.0, fingerprint="other")
    assert cat.people.faces_of_photo(photo, MODEL) == []
    with cat.transaction():
        cat.mark_changed(photo, size=1, mtime=2.0, fingerprint=face.fingerprint)
        cat.conn.execute("UPDATE photos SET status = 'ok' WHERE id = ?", (photo,))
    assert [p.id for p in cat.people.photos_missing_faces(MODEL)] == [photo]
    with cat.transaction():
        cat.people.put_faces(photo, MODEL, [_face(centres[1], np.random.default_rng(7))])
    group_faces(cat, MODEL)
    assert cat.people.faces_of_photo(photo, MODEL)[0].person_id == target


def test_hidden_persons_are_not_listed_and_bad_names_are_refused(cat):
    _add(cat, [0, 1], _centres(2), seed=8)
    group_faces(cat, MODEL)
    first = cat.people.summaries(MODEL)[0]
    set_hidden(cat, first.id)
    assert first.id not in [p.id for p in cat.people.summaries(MODEL)]
    assert first.id in [p.id for p in cat.people.summaries(MODEL, include_hidden=True)]
    with pytest.raises(PersonError):
        name_person(cat, first.id, "   ")
    with pytest.raises(PersonError, match=r"no person is named 'Nobody' \(nobody is named yet"):
        persons_matching(cat, "Nobody")
    with pytest.raises(PersonError, match="no person 999"):
        name_person(cat, 999, "X")


def test_grouping_is_resumable_after_a_kill(cat, monkeypatch):
    import engine.people as people

    centres = _centres(3)
    truth = _add(cat, [0, 1, 2] * 4, centres, seed=10)
    monkeypatch.setattr(people, "BLOCK", 5)
    calls = {"n": 0}
    real = cat.people.set_face_persons

    def dies_on_second_block(pairs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(pairs)

    monkeypatch.setattr(cat.people, "set_face_persons", dies_on_second_block)
    with pytest.raises(KeyboardInterrupt):
        group_faces(cat, MODEL)
    assert len(cat.people.faces_without_person(MODEL)) == 7  # the first block of 5 was committed
    monkeypatch.setattr(cat.people, "set_face_persons", real)
    group_faces(cat, MODEL)
    assert cat.people.faces_without_person(MODEL) == []
    assert all(len(g) == 1 for g in _persons_by_truth(cat, truth).values())


def test_detections_under_the_raised_floor_go_once_unless_the_user_named_them(cat, monkeypatch):
    import engine.people as people

    centres = _centres(3)
    rng = np.random.default_rng(5)
    photos = [_photo(cat, n) for n in range(3)]
    with cat.transaction():  # found at the old floor (0.0): a real face and two weak "faces" (a patch, a print)
        cat.people.put_faces(photos[0], MODEL, [replace(_face(centres[0], rng), score=1.2),
                                                replace(_face(centres[1], rng, x=0.1), score=0.1)])
        cat.people.put_faces(photos[1], MODEL, [replace(_face(centres[2], rng), score=0.2)])
    monkeypatch.setattr(people, "MIN_SCORE", 0.0)
    group_faces(cat, MODEL)
    assert len(cat.people.face_embeddings(MODEL).__next__()[0]) == 3
    named = cat.people.faces_of_photo(photos[1], MODEL)[0].person_id
    name_person(cat, named, "Print")  # the user named this one: it stays

    monkeypatch.setattr(people, "MIN_SCORE", 0.3)
    group_faces(cat, MODEL)
    assert [f.score for f in cat.people.faces_of_photo(photos[0], MODEL)] == [1.2]
    assert [f.person_id for f in cat.people.faces_of_photo(photos[1], MODEL)] == [named]
    with cat.transaction():  # a later weak detection the user did not name is not swept again by grouping
        cat.people.put_faces(photos[2], MODEL, [replace(_face(centres[1], rng), score=0.25)])
    group_faces(cat, MODEL)
    assert len(cat.people.faces_of_photo(photos[2], MODEL)) == 1


class _CountingIndex:
    """usearch's Index, counting the vectors added to it (what building costs)."""

    added = 0

    def __init__(self, real):
        self.real = real

    def __call__(self, *args, **kwargs):
        index = self.real(*args, **kwargs)
        return self._wrap(index)

    def restore(self, *args, **kwargs):
        index = self.real.restore(*args, **kwargs)
        return None if index is None else self._wrap(index)

    def _wrap(self, index):
        counter = self
        real_add = index.add

        def add(keys, vectors, *a, **k):
            counter.added += len(keys)
            return real_add(keys, vectors, *a, **k)

        index.add = add
        return index


def test_the_grouped_faces_index_is_kept_between_runs_and_reconciled_with_the_catalog(cat, tmp_path, monkeypatch):
    import engine.people as people

    real = people.usearch_index_class()
    counting = _CountingIndex(real)
    monkeypatch.setattr(people, "usearch_index_class", lambda: counting)
    path = tmp_path / "indexes" / "faces.usearch"
    centres = _centres(4)
    truth = _add(cat, [0, 1, 2, 3] * 10, centres, seed=11)
    group_faces(cat, MODEL, index_path=path)
    assert path.is_file()
    before = {p: next(iter(g)) for p, g in _persons_by_truth(cat, truth).items()}

    counting.added = 0
    more = _add(cat, [2, 3], centres, seed=12, start=100)
    group_faces(cat, MODEL, index_path=path)
    assert counting.added == 2, "the 40 grouped faces were indexed again instead of loaded"
    assert {p: next(iter(g)) for p, g in _persons_by_truth(cat, {**truth, **more}).items()} == before

    # The last photo indexed again shows someone else: its face row is replaced (SQLite may reuse the id),
    # and the kept index must not answer with the old face's vector under that id.
    last = max(more)
    rng = np.random.default_rng(13)
    with cat.transaction():
        cat.people.put_faces(last, MODEL, [_face(centres[0], rng)])
    counting.added = 0
    group_faces(cat, MODEL, index_path=path)
    assert {f.person_id for f in cat.people.faces_of_photo(last, MODEL)} == {before[0]}
    assert counting.added <= 2

    path.write_bytes(b"not an index")  # damaged: built afresh from the catalog, nothing lost
    late = _add(cat, [1], centres, seed=14, start=200)
    group_faces(cat, MODEL, index_path=path)
    assert {f.person_id for f in cat.people.faces_of_photo(next(iter(late)), MODEL)} == {before[1]}


def test_a_kept_faces_index_follows_embeddings_changed_behind_its_back(cat, tmp_path):
    """A catalog restored from a backup (or faces re-embedded without grouping) has the same face ids with
    other embeddings: the kept index must search the catalog's embeddings, not the ones it was saved with."""
    path = tmp_path / "faces.usearch"
    centres = _centres(5)
    truth = _add(cat, [0, 1, 2, 3] * 3, centres, seed=21)
    group_faces(cat, MODEL, index_path=path)
    rng = np.random.default_rng(22)
    person_of_0 = {f.person_id for p, who in truth.items() if who == 0 for f in cat.people.faces_of_photo(p, MODEL)}
    with cat.transaction():
        for photo, who in truth.items():
            if who == 0:  # these faces now look like person 4
                cat.conn.execute("UPDATE faces SET embedding = ? WHERE photo_id = ?",
                                 (_face(centres[4], rng).embedding.astype(np.float32).tobytes(), photo))
    late = _add(cat, [4], centres, seed=23, start=50)
    assert group_faces(cat, MODEL, index_path=path) == 0
    assert {f.person_id for f in cat.people.faces_of_photo(next(iter(late)), MODEL)} == person_of_0


def test_a_kept_faces_index_that_is_mostly_stale_is_built_afresh(cat, tmp_path):
    path = tmp_path / "faces.usearch"
    centres = _centres(3)
    truth = _add(cat, [0, 1, 2] * 4, centres, seed=31)
    group_faces(cat, MODEL, index_path=path)
    with cat.transaction():  # every photo indexed again: new face rows, the kept index's entries all stale
        for photo, who in truth.items():
            cat.people.put_faces(photo, MODEL, [_face(centres[who], np.random.default_rng(photo))])
    group_faces(cat, MODEL, index_path=path)
    groups = _persons_by_truth(cat, truth)
    assert all(len(g) == 1 for g in groups.values()) and len({next(iter(g)) for g in groups.values()}) == 3
