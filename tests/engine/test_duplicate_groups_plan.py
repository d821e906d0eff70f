"""The duplicates chunk check's decisions as plain data (engine/duplicates.py: candidate_pairs, join_links,
decide_groups): no SQLite, no vector index."""

import numpy as np

from engine.catalog import DuplicateCandidate, DuplicateGroup
from engine.duplicates import DuplicateSettings, candidate_pairs, decide_groups, join_links
from engine.vectorindex import NO_NEIGHBOUR


def cand(pid, **kw) -> DuplicateCandidate:
    base = dict(id=pid, path=f"/p/{pid}.jpg", width=100, height=100, size=1000, taken_at=None, camera=None,
                content_hash=f"h{pid}", pixel_sig=b"", sharpness=10.0)
    base.update(kw)
    return DuplicateCandidate(**base)


def old(gid, kind, *members, keep=None, chosen=False, reviewed=False, reason=None):
    return DuplicateGroup(gid, kind, keep, reason, chosen, reviewed, tuple((m, None) for m in members))


def unit(*xs):
    v = np.asarray(xs, np.float32)
    return v / np.linalg.norm(v)


def test_candidate_pairs_keep_close_neighbours_once_without_self_or_gaps():
    ids = np.asarray([1, 2], np.uint64)
    nb_ids = np.asarray([[1, 2, 3], [2, 1, NO_NEIGHBOUR]], np.uint64)
    nb_cos = np.asarray([[1.0, 0.9, 0.5], [1.0, 0.9, 0.99]], np.float32)
    assert candidate_pairs(ids, nb_ids, nb_cos, DuplicateSettings()) == {(1, 2)}


def test_links_join_into_groups_with_the_broadest_kind():
    edges = [(1, 2, "exact"), (2, 3, "near"), (7, 8, "burst")]
    assert sorted(join_links(edges, [])) == [([1, 2, 3], "near"), ([7, 8], "burst")]


def test_a_link_into_an_existing_group_brings_the_group_along():
    comps = join_links([(1, 2, "exact")], [old(5, "burst", 2, 9, 10)])
    assert [(sorted(m), kind) for m, kind in comps] == [([1, 2, 9, 10], "burst")]


def test_no_links_no_groups():
    assert join_links([], []) == []


def test_the_keeper_the_user_chose_stays_chosen_with_its_reason():
    groups = decide_groups([([1, 2, 3], "near")], [old(5, "near", 2, 3, keep=3, chosen=True, reason="mine")],
                           set(), {i: cand(i, width=100 * i) for i in (1, 2, 3)},
                           {1: unit(1, 0), 2: unit(1, 0), 3: unit(1, 1)}, {})
    (g,) = groups
    assert (g.keep_id, g.reason, g.keep_chosen, g.reviewed) == (3, "mine", True, False)
    assert dict(g.members)[3] == 1.0 and abs(dict(g.members)[1] - unit(1, 1)[0]) < 1e-6


def test_otherwise_the_rules_choose_and_keep_all_is_kept_for_a_group_within_a_reviewed_one():
    groups = decide_groups([([1, 2], "exact"), ([4, 6], None)], [old(5, "exact", 1, 2, 3, reviewed=True)], set(),
                           {1: cand(1), 2: cand(2, width=200), 4: cand(4), 6: cand(6)}, {}, {})
    assert [(g.kind, g.keep_id, g.keep_chosen, g.reviewed) for g in groups] == [
        ("exact", 2, False, True), ("near", 4, False, False)]
    assert groups[0].members == ((1, None), (2, 1.0))  # no vectors: no cosines, the keeper is 1.0
