"""The scan's decisions as plain data (engine/scan_plan.py): no SQLite, no files, one table of cases."""

from dataclasses import dataclass, field

import pytest

from engine.catalog import Photo, Root
from engine.scan_plan import HOLD_MIN, FoundFile, Moved, New, ScanFacts, plan_scan

DEV, CARD = 10, 20  # the disk the library is on, and a memory card
ROOT = Root(1, "/lib", "online", None, None)
OTHER = Root(2, "/other", "online", None, None)
ROOTS = {ROOT.id: ROOT.path, OTHER.id: OTHER.path}


def row(id_, path, *, fp=None, size=100, mtime=1.0, dev=DEV, ino=None, root=ROOT, status="ok", missing=None):
    return Photo(id=id_, root_id=root.id, path=path, raw_path=None, size=size, mtime=mtime, fingerprint=fp,
                 width=None, height=None, taken_at=None, camera=None, orientation=None, gps_lat=None, gps_lon=None,
                 status=status, error=None, added_at=0.0, indexed_at=None, missing_since=missing, dev=dev,
                 ino=ino if ino is not None else id_)


def file(path, *, size=100, mtime=1.0, dev=DEV, ino=0):
    return FoundFile(path, None, size, mtime, dev, ino)


@dataclass
class Case:
    rows: list[Photo]
    files: list[tuple[Root, FoundFile]]
    fingerprints: dict[str, str] = field(default_factory=dict)
    drive_of: dict[str, tuple[int | None, str]] = field(default_factory=dict)  # default: the photo's folder, DEV
    renamed_edits: dict[str, int] = field(default_factory=dict)  # new path -> id of the vanished row
    same_file: dict[str, int] = field(default_factory=dict)
    user_tagged: set[int] = field(default_factory=set)
    protected: list[str] = field(default_factory=list)
    empty_roots: set[int] = field(default_factory=set)
    confirm: bool = False
    # what the plan must say
    moved: list[tuple[int, str, bool]] = field(default_factory=list)  # (id, new path, edited)
    new: list[tuple[str, int | None]] = field(default_factory=list)  # (path, twin id)
    changed: list[int] = field(default_factory=list)
    back: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    held_folders: list[str] = field(default_factory=list)
    forget: list[int] = field(default_factory=list)
    absent_roots: set[int] = field(default_factory=set)
    same_files: list[tuple[str, str]] = field(default_factory=list)

    def facts(self) -> ScanFacts:
        existing = {r.path: r for r in self.rows}
        found = {f.path: (root, f) for root, f in self.files}
        by_id = {r.id: r for r in self.rows}
        known_by_fp: dict[str, list[Photo]] = {}
        for r in self.rows:
            if r.fingerprint:
                known_by_fp.setdefault(r.fingerprint, []).append(r)
        drive_of = {r.path: (r.dev, r.path.rsplit("/", 1)[0]) for r in self.rows if r.path not in found}
        drive_of.update(self.drive_of)
        return ScanFacts(
            found, existing, self.protected, fingerprints=dict(self.fingerprints), drive_of=drive_of,
            renamed_edits={p: by_id[i] for p, i in self.renamed_edits.items()},
            known_by_fp={fp: known_by_fp.get(fp, []) for fp in self.fingerprints.values()},
            same_file={p: by_id[i] for p, i in self.same_file.items()}, user_tagged=self.user_tagged,
            roots=ROOTS, empty_roots=self.empty_roots, confirm_deletions=self.confirm)


many = [row(i, f"/lib/trip/{i}.jpg", fp=f"t{i}") for i in range(1, HOLD_MIN + 2)]
stay = [row(i, f"/lib/{i}.jpg") for i in range(100, 100 + 2 * HOLD_MIN)]  # the rest of the root, still there
here = [(ROOT, file(r.path, ino=r.id)) for r in stay]

CASES = {
    "move: same content at a new path keeps the row": Case(
        rows=[row(1, "/lib/a.jpg", fp="A")], files=[(ROOT, file("/lib/sorted/a.jpg", ino=1))],
        fingerprints={"/lib/sorted/a.jpg": "A"}, moved=[(1, "/lib/sorted/a.jpg", False)]),
    "move into another root": Case(
        rows=[row(1, "/lib/a.jpg", fp="A")], files=[(OTHER, file("/other/a.jpg", ino=7))],
        fingerprints={"/other/a.jpg": "A"}, moved=[(1, "/other/a.jpg", False)]),
    "rename and edit, known by inode and picture": Case(
        rows=[row(1, "/lib/a.jpg", fp="A", ino=55)], files=[(ROOT, file("/lib/a-edit.jpg", size=90, ino=55))],
        fingerprints={"/lib/a-edit.jpg": "A2"}, renamed_edits={"/lib/a-edit.jpg": 1},
        moved=[(1, "/lib/a-edit.jpg", True)]),
    "a copy of a present photo is new, copying its twin": Case(
        rows=[row(1, "/lib/a.jpg", fp="A")], files=[(ROOT, file("/lib/a.jpg", ino=1)),
                                                   (ROOT, file("/lib/copy.jpg", ino=9))],
        fingerprints={"/lib/copy.jpg": "A"}, new=[("/lib/copy.jpg", 1)]),
    "a copy of an unindexed photo is new without a twin": Case(
        rows=[row(1, "/lib/a.jpg", fp="A", status="pending")],
        files=[(ROOT, file("/lib/a.jpg", ino=1)), (ROOT, file("/lib/copy.jpg", ino=9))],
        fingerprints={"/lib/copy.jpg": "A"}, new=[("/lib/copy.jpg", None)]),
    "changed in place": Case(
        rows=[row(1, "/lib/a.jpg", fp="A")], files=[(ROOT, file("/lib/a.jpg", size=120, mtime=2.0, ino=1))],
        fingerprints={"/lib/a.jpg": "A3"}, changed=[1]),
    "a missing photo found again comes back": Case(
        rows=[row(1, "/lib/a.jpg", fp="A", missing=5.0)], files=[(ROOT, file("/lib/a.jpg", ino=1))], back=[1]),
    "ordinary deletion: a few untagged photos are forgotten": Case(
        rows=[row(1, "/lib/a.jpg"), row(2, "/lib/b.jpg"), row(3, "/lib/c.jpg")],
        files=[(ROOT, file("/lib/c.jpg", ino=3))], forget=[1, 2]),
    "many vanished at once from one folder are held": Case(
        rows=[*many, *stay], files=here, held=[r.id for r in many], held_folders=["/lib/trip"]),
    "many vanished, confirmed: forgotten": Case(
        rows=[*many, *stay], files=here, confirm=True, forget=[r.id for r in many]),
    "a user-tagged photo is held, the others forgotten": Case(
        rows=[row(1, "/lib/a.jpg"), row(2, "/lib/b.jpg"), row(3, "/lib/c.jpg")],
        files=[(ROOT, file("/lib/c.jpg", ino=3))], user_tagged={2}, held=[2], forget=[1]),
    "a root where nothing is found keeps all it knew": Case(
        rows=[row(1, "/lib/a.jpg")], files=[], empty_roots={ROOT.id}, held=[1], held_folders=["/lib"]),
    "photos of a drive that is not there are kept, even confirmed": Case(
        rows=[row(1, "/lib/card/a.jpg", dev=CARD), row(2, "/lib/b.jpg")], files=[],
        drive_of={"/lib/card/a.jpg": (DEV, "/lib/card")}, confirm=True, forget=[2], absent_roots={ROOT.id}),
    "a drive back under another number is there": Case(
        rows=[row(1, "/lib/card/a.jpg", dev=CARD), row(2, "/lib/card/b.jpg", dev=CARD)],
        files=[(ROOT, file("/lib/card/b.jpg", dev=CARD + 1, ino=2))],
        drive_of={"/lib/card/a.jpg": (CARD + 1, "/lib/card")}, forget=[1]),
    "photos under an unreadable folder are kept": Case(
        rows=[row(1, "/lib/locked/a.jpg"), row(2, "/lib/b.jpg")], files=[], protected=["/lib/locked/"],
        forget=[2]),
    "the same file reached through another root is listed once": Case(
        rows=[row(1, "/other/a.jpg", fp="A", root=OTHER)],
        files=[(ROOT, file("/lib/a.jpg", ino=1)), (OTHER, file("/other/a.jpg", ino=1))],
        fingerprints={"/lib/a.jpg": "A"}, same_file={"/lib/a.jpg": 1}, same_files=[("/lib/a.jpg", "/other/a.jpg")]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_scan_plan(case):
    plan = plan_scan(case.facts())
    assert [(m.id, m.file.path, m.edited) for m in plan.moved] == case.moved
    assert [(n.file.path, n.twin) for n in plan.new] == case.new
    assert [c.id for c in plan.changed] == case.changed
    assert sorted(plan.back) == case.back
    assert plan.held == case.held
    assert plan.held_folders == case.held_folders
    assert sorted(plan.forget) == case.forget
    assert plan.absent_roots == case.absent_roots
    assert plan.same_files == case.same_files
    assert all(isinstance(a, Moved | New) for a in plan.arrivals)


def test_two_copies_of_one_moved_photo_move_it_once():
    """The first new path with the content takes the row (preferring its inode); the other is a new photo."""
    case = Case(rows=[row(1, "/lib/a.jpg", fp="A", ino=1)],
                files=[(ROOT, file("/lib/x/a.jpg", ino=8)), (ROOT, file("/lib/y/a.jpg", ino=1))],
                fingerprints={"/lib/x/a.jpg": "A", "/lib/y/a.jpg": "A"})
    plan = plan_scan(case.facts())
    assert [(m.id, m.file.path) for m in plan.moved] == [(1, "/lib/x/a.jpg")]
    assert [n.file.path for n in plan.new] == ["/lib/y/a.jpg"]
    assert plan.forget == [] and plan.held == []


def test_a_renamed_edit_whose_row_already_moved_is_new():
    """The inode match is only a candidate: a row another file already took is not taken twice."""
    case = Case(rows=[row(1, "/lib/a.jpg", fp="A", ino=5)],
                files=[(ROOT, file("/lib/moved.jpg", ino=6)), (ROOT, file("/lib/edit.jpg", size=90, ino=5))],
                fingerprints={"/lib/moved.jpg": "A", "/lib/edit.jpg": "B"}, renamed_edits={"/lib/edit.jpg": 1})
    plan = plan_scan(case.facts())
    assert [(m.id, m.file.path, m.edited) for m in plan.moved] == [(1, "/lib/moved.jpg", False)]
    assert [n.file.path for n in plan.new] == ["/lib/edit.jpg"]
