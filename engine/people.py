"""Persons: faces grouped incrementally, and the user's decisions that always win over the grouping.

Grouping. A face without a person joins the person most of its near neighbours (embedding distance under
JOIN_DISTANCE) belong to; with none near it starts a new person. Neighbours come from a usearch index of
the faces already grouped, so adding photos to a library of 100k faces costs a few index queries per new
face, never all pairs. New faces are taken in blocks: the block is searched against the index in one call
and against itself with one matrix product, then decided face by face in order, so faces of a new person
that arrive together still end up together.

Decisions. Naming, merging and moving a face are stored as `is` / `is not` words about a face, keyed by the
photo's content fingerprint and the face's box (engine.catalog face_decisions). Grouping applies them before
it looks at any neighbour, and applies the faces they name first, so re-grouping, re-indexing a photo and a
change of face model (new embeddings, same boxes) all give the user's answer back. Naming or merging a person
records an `is` for each of its faces then: that is what lets a named person survive a model switch.
A person's name and hidden flag live on the person row, whose id never changes (merged ones point onward).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.atomic import atomic_file
from engine.catalog import FaceDecision, FaceRow, PersonRow, PhotoCatalog
from engine.errors import PhotosiftError
from engine.faces import FACE_MODEL_ID, MIN_SCORE
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.vectorindex import usearch_index_class

JOIN_DISTANCE = 0.5  # dlib's "same person" is < 0.6; tighter keeps two look-alikes from chaining into one
NEIGHBOURS = 10
BLOCK = 1024
MAX_NAME = 100
SAME_BOX_IOU = 0.5  # a re-detected face is the same face when the boxes overlap this much


class PersonError(PhotosiftError):
    """A person or face that does not exist, or a name that cannot be used."""


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class _Resolver:
    """Follows merges: a decision or neighbour naming a merged person means the person it went into."""

    def __init__(self, catalog: PhotoCatalog) -> None:
        self.targets = catalog.people.merge_targets()

    def __call__(self, pid: int) -> int:
        seen = set()
        while pid in self.targets and pid not in seen:
            seen.add(pid)
            pid = self.targets[pid]
        return pid


def _verdicts(face: FaceRow, decisions: list[FaceDecision], resolve: _Resolver) -> tuple[int | None, set[int]]:
    """(the person the user said this face is, persons the user said it is not)."""
    is_person, not_persons = None, set()
    for d in decisions:  # oldest first, so a later word wins
        if iou(face.box, d.box) < SAME_BOX_IOU:
            continue
        pid = resolve(d.person_id)
        if d.verdict == "is":
            is_person = pid
            not_persons.discard(pid)
        else:
            not_persons.add(pid)
            if is_person == pid:
                is_person = None
    return is_person, not_persons


class _FaceIndex:
    """The grouped faces' embeddings (usearch, squared L2) and who each belongs to.

    Kept in a file between runs: building it is the slow part of grouping (minutes at 100k faces on two
    cores), so a run loads it and reconciles it with the catalog instead: faces that went (or whose
    embedding changed: a photo indexed again, a catalog restored from a backup) are taken out, faces
    grouped since are added. Who a face belongs to is always read from the catalog."""

    REBUILD_SHARE = 0.3  # more removed entries than this share of the index: build it afresh

    def __init__(self, ndim: int = 128) -> None:
        self.ndim = ndim
        self.index = usearch_index_class()(ndim=ndim, metric="l2sq", dtype="f32")
        self.person: dict[int, int] = {}

    @classmethod
    def of_catalog(cls, catalog: PhotoCatalog, face_model: str, path: Path | None) -> _FaceIndex:
        chunks = list(catalog.people.face_embeddings(face_model, assigned=True))
        ids = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.int64)
        persons = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros(0, np.int64)
        vecs = np.concatenate([c[2] for c in chunks]) if chunks else np.zeros((0, 128), np.float32)
        faces = cls(vecs.shape[1])
        faces.person = dict(zip(ids.tolist(), persons.tolist(), strict=True))
        if path is None or not faces._restore(path):
            return faces._built(ids, vecs)
        stored = faces.index.get(ids.astype(np.uint64)) if len(ids) else ()
        same = np.array([v is not None and np.array_equal(v, vecs[i]) for i, v in enumerate(stored)], bool)
        keys = np.asarray(faces.index.keys, np.int64)
        gone = np.setdiff1d(keys, ids[same]) if len(keys) else keys
        if len(gone) > cls.REBUILD_SHARE * max(1, len(keys)):
            faces.index = usearch_index_class()(ndim=faces.ndim, metric="l2sq", dtype="f32")
            return faces._built(ids, vecs)
        if len(gone):
            faces.index.remove(gone.astype(np.uint64))
        if (~same).any():
            faces.index.add(ids[~same].astype(np.uint64), np.ascontiguousarray(vecs[~same], np.float32))
        return faces

    def _built(self, ids: np.ndarray, vecs: np.ndarray) -> _FaceIndex:
        """Every grouped face added to this (empty) index: no file, a damaged one, or one mostly stale."""
        if len(ids):
            self.index.add(ids.astype(np.uint64), np.ascontiguousarray(vecs, np.float32))
        return self

    def _restore(self, path: Path) -> bool:
        if not path.is_file():
            return False
        try:
            index = usearch_index_class().restore(str(path), view=False)
        except (OSError, RuntimeError, ValueError):
            return False  # damaged or of another usearch: built afresh
        if index is None or index.ndim != self.ndim:
            return False
        self.index = index
        return True

    def save(self, path: Path) -> None:
        with atomic_file(path) as tmp:
            self.index.save(str(tmp))

    def add(self, ids: np.ndarray, persons: np.ndarray, vecs: np.ndarray) -> None:
        if len(ids):
            self.index.add(ids.astype(np.uint64), np.ascontiguousarray(vecs, np.float32))
            self.person.update(zip(ids.tolist(), persons.tolist(), strict=True))

    def neighbours(self, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, squared distances), (n, k) each; id 0 marks no neighbour."""
        k = min(NEIGHBOURS, len(self.person))
        if k == 0:
            return np.zeros((len(vecs), 0), np.int64), np.zeros((len(vecs), 0), np.float32)
        m = self.index.search(np.ascontiguousarray(vecs, np.float32), k)
        keys = np.asarray(m.keys, np.int64).reshape(len(vecs), -1)
        dist = np.asarray(m.distances, np.float32).reshape(len(vecs), -1)
        # One query comes back as Matches (its keys are all found ones), several as BatchMatches.
        counts = np.asarray(getattr(m, "counts", [keys.shape[1]])).reshape(-1)
        for i, c in enumerate(counts):
            keys[i, c:] = 0
        return keys, dist


def face_index_path(indexes: Path, face_model: str) -> Path:
    """Where a library keeps its grouped faces' index (`indexes`: the library's index folder)."""
    return indexes / f"faces-{face_model}.usearch"


def _choose(candidates: Iterable[tuple[int, float]], excluded: set[int]) -> int | None:
    """The person with most neighbours near enough; ties go to the nearest."""
    votes: Counter[int] = Counter()
    nearest: dict[int, float] = {}
    limit = JOIN_DISTANCE ** 2
    for pid, d2 in candidates:
        if d2 < limit and pid not in excluded:
            votes[pid] += 1
            nearest[pid] = min(nearest.get(pid, d2), d2)
    if not votes:
        return None
    return max(votes, key=lambda p: (votes[p], -nearest[p]))


def group_faces(catalog: PhotoCatalog, face_model: str = FACE_MODEL_ID, *, index_path: Path | None = None,
                progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None) -> int:
    """Give every face of the model without a person one; returns how many persons were started.
    `index_path`: where the grouped faces' index is kept between runs (face_index_path); None builds it.

    Resumable: each block is committed on its own, and a killed run leaves only faces without a person.
    """
    _drop_weak_faces_once(catalog, face_model)
    todo = catalog.people.faces_without_person(face_model)
    if not todo:
        return 0
    resolve = _Resolver(catalog)
    index = _FaceIndex.of_catalog(catalog, face_model, index_path)
    decisions = catalog.people.face_decisions_for(f.fingerprint for f in todo if f.fingerprint)
    verdicts = {f.id: _verdicts(f, decisions.get(f.fingerprint or "", []), resolve) for f in todo}
    # Faces the user placed go first: their persons are then there for the rest to join.
    order = sorted(todo, key=lambda f: (verdicts[f.id][0] is None, f.id))
    vec_of: dict[int, np.ndarray] = {}
    for ids, _, vecs in catalog.people.face_embeddings(face_model, assigned=False):
        vec_of.update(zip(ids.tolist(), vecs, strict=True))
    clock = ProgressClock("people", len(order), progress)
    started = 0
    for start in range(0, len(order), BLOCK):
        block = order[start:start + BLOCK]
        vecs = np.stack([vec_of[f.id] for f in block])
        keys, dist = index.neighbours(vecs)
        sq = (vecs * vecs).sum(1)
        inner = sq[:, None] + sq[None, :] - 2 * vecs @ vecs.T  # squared distances within the block
        chosen = np.zeros(len(block), np.int64)
        with catalog.transaction():
            for i, face in enumerate(block):
                is_person, not_persons = verdicts[face.id]
                pid = is_person
                if pid is None:
                    outside = ((resolve(index.person[int(k)]), float(d))
                               for k, d in zip(keys[i], dist[i], strict=True) if k)
                    near = np.nonzero(inner[i, :i] < JOIN_DISTANCE ** 2)[0]  # only near ones can vote
                    within = ((int(chosen[j]), float(inner[i, j])) for j in near)
                    pid = _choose((*outside, *within), not_persons)
                if pid is None:
                    pid = catalog.people.new_person()
                    started += 1
                chosen[i] = pid
            catalog.people.set_face_persons(zip((f.id for f in block), chosen.tolist(), strict=True))
        index.add(np.array([f.id for f in block], np.int64), chosen, vecs)
        clock.report(start + len(block))
        if cancel:
            cancel.check()
    if index_path is not None:
        index.save(index_path)
    return started


def _drop_weak_faces_once(catalog: PhotoCatalog, face_model: str) -> None:
    """Faces found under an older, lower detector floor go once (false detections like a mission patch)."""
    key = f"faces_min_score:{face_model}"
    if catalog.get_setting(key) == str(MIN_SCORE):
        return
    with catalog.transaction():
        catalog.people.drop_weak_faces(face_model, MIN_SCORE)
        catalog.set_setting(key, str(MIN_SCORE))


def regroup(catalog: PhotoCatalog, face_model: str = FACE_MODEL_ID) -> int:
    """Forget the grouping (not the decisions, names or hidden persons) and group all faces again."""
    with catalog.transaction():
        catalog.people.clear_face_persons(face_model)
    return group_faces(catalog, face_model)


# -- the user's decisions ------------------------------------------------------------------------------

def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise PersonError(f"a person's name must be 1 to {MAX_NAME} printable characters")
    return name


def _person(catalog: PhotoCatalog, person_id: int) -> PersonRow:
    p = catalog.people.person(person_id)
    if p is None:
        raise PersonError(f"there is no person {person_id} (photosift people lists them)")
    if p.merged_into is not None:
        raise PersonError(f"person {person_id} was merged into person {_Resolver(catalog)(person_id)}")
    return p


def _anchor(catalog: PhotoCatalog, person_id: int) -> None:
    """Record that each face the person has now, under any face model, is them (what a name or merge means)."""
    for f in catalog.people.faces_of_person(person_id, None):
        if f.fingerprint:
            catalog.people.add_face_decision(f.fingerprint, f.box, person_id, "is")


def name_person(catalog: PhotoCatalog, person_id: int, name: str) -> None:
    name = clean_name(name)
    with catalog.transaction():
        _person(catalog, person_id)
        catalog.people.set_person_name(person_id, name)
        _anchor(catalog, person_id)


def merge_persons(catalog: PhotoCatalog, keep: int, gone: int) -> None:
    """`gone`'s faces become `keep`'s; `keep` takes `gone`'s name when it has none."""
    if keep == gone:
        raise PersonError("a person cannot be merged with itself")
    with catalog.transaction():
        a, b = _person(catalog, keep), _person(catalog, gone)
        catalog.people.merge_person_rows(keep, gone)
        if not a.name and b.name:
            catalog.people.set_person_name(keep, b.name)
        _anchor(catalog, keep)


def set_hidden(catalog: PhotoCatalog, person_id: int, hidden: bool = True) -> None:
    with catalog.transaction():
        _person(catalog, person_id)
        catalog.people.set_person_hidden(person_id, hidden)


def move_face(catalog: PhotoCatalog, face_id: int, to_person: int | None = None) -> int:
    """Take a face out of its person, into `to_person` or a new person of its own; returns where it went."""
    with catalog.transaction():
        face = catalog.people.face(face_id)
        if face is None:
            raise PersonError(f"there is no face {face_id}")
        if to_person is not None:
            _person(catalog, to_person)
        target = to_person if to_person is not None else catalog.people.new_person()
        if face.fingerprint:
            if face.person_id is not None and face.person_id != target:
                catalog.people.add_face_decision(face.fingerprint, face.box, face.person_id, "not")
            catalog.people.add_face_decision(face.fingerprint, face.box, target, "is")
        catalog.people.set_face_persons([(face_id, target)])
    return target


def name_face(catalog: PhotoCatalog, face_id: int, name: str) -> int:
    """Name the person in one box: an unnamed group takes the name when no one has it yet; otherwise only
    this face moves to the person of that name. Returns the face's person."""
    name = clean_name(name)
    face = catalog.people.face(face_id)
    if face is None:
        raise PersonError(f"there is no face {face_id}")
    named = catalog.people.persons_named(name)
    current = catalog.people.person(face.person_id) if face.person_id is not None else None
    if not named and current is not None and not current.name:
        name_person(catalog, current.id, name)
        return current.id
    if named:
        return move_face(catalog, face_id, named[0]) if named[0] != face.person_id else named[0]
    target = move_face(catalog, face_id, None)
    name_person(catalog, target, name)
    return target


def persons_matching(catalog: PhotoCatalog, name: str) -> list[int]:
    """Persons called `name` (any case), or the person with that id when `name` is a number."""
    named = catalog.people.persons_named(name.strip())
    if named:
        return named
    if name.strip().isdigit():
        p = catalog.people.person(int(name))
        if p is not None:
            return [_Resolver(catalog)(p.id)]
    names = [n for _, n in catalog.people.named_persons()]
    near = difflib.get_close_matches(name.strip().lower(), [n.lower() for n in names], n=3, cutoff=0.5)
    by_key = {n.lower(): n for n in names}
    known = f"nearest: {', '.join(by_key[k] for k in near)}" if near else (
        f"named: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}" if names else "nobody is named yet")
    raise PersonError(f"no person is named '{name}' ({known}; photosift people lists them, "
                      "photosift people name ID NAME names one)")


def photos_of(catalog: PhotoCatalog, name: str, face_model: str = FACE_MODEL_ID) -> set[int]:
    return catalog.people.photo_ids_of_persons(persons_matching(catalog, name), face_model)
