"""Faces on real photos (scikit-image's astronaut) through dlib: found, oriented, grouped, searchable."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.faces import FACE_MODEL_ID, faces_installed, find_faces_in_file

pytestmark = pytest.mark.skipif(not faces_installed(), reason="photosift[faces] is not installed")

# Where the astronaut's face is in skimage's 512 x 512 photo (looked at by eye): x 0.33..0.47, y 0.12..0.30.
FACE_CENTRE = (0.40, 0.21)


def _astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def _centre(f) -> tuple[float, float]:
    return (f.x + f.w / 2, f.y + f.h / 2)


def test_the_astronauts_face_is_found_where_it_is(tmp_path):
    path = tmp_path / "a.jpg"
    _astronaut().save(path, quality=92)
    faces = find_faces_in_file(path)
    assert len(faces) == 1, "the mission patch on her suit is no face"
    cx, cy = _centre(faces[0])
    assert abs(cx - FACE_CENTRE[0]) < 0.05 and abs(cy - FACE_CENTRE[1]) < 0.05
    assert faces[0].embedding.shape == (128,) and faces[0].score > 0.5


def test_a_photo_without_faces_has_none(tmp_path):
    from skimage import data

    path = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(path)
    assert find_faces_in_file(path) == []


def test_exif_rotated_photo_finds_the_face_as_shown(tmp_path):
    # Stored lying on its side with orientation 6 ("rotate 90 clockwise to show"): shown upright, the face is
    # where it is in the upright photo, and the detector (which only finds upright faces) still finds it.
    stored = _astronaut().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    stored.save(path, exif=exif, quality=92)
    faces = find_faces_in_file(path)
    assert len(faces) >= 1
    cx, cy = _centre(faces[0])
    assert abs(cx - FACE_CENTRE[0]) < 0.05 and abs(cy - FACE_CENTRE[1]) < 0.05


def test_a_face_cut_by_the_edge_gets_a_box_inside_the_photo(tmp_path):
    img = _astronaut().crop((190, 0, 512, 512))  # the left quarter of her face is cut off
    path = tmp_path / "edge.png"
    img.save(path)
    faces = find_faces_in_file(path)
    assert len(faces) >= 1
    for f in faces:
        assert f.x >= 0 and f.y >= 0 and f.x + f.w <= 1 + 1e-9 and f.y + f.h <= 1 + 1e-9


@pytest.mark.slow  # 4 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_group_of_fifty_faces(tmp_path):
    """50 copies of the face (mirrored, lighter and darker) tiled into one 10 x 5 group photo."""
    face = _astronaut().crop((150, 40, 270, 170)).resize((120, 130))
    group = Image.new("RGB", (1200, 650))
    for k in range(50):
        f = face.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k % 2 else face
        f = Image.eval(f, lambda v, g=0.8 + 0.1 * (k % 5): min(255, int(v * g)))
        group.paste(f, ((k % 10) * 120, (k // 10) * 130))
    path = tmp_path / "group.png"
    group.save(path)
    faces = find_faces_in_file(path)
    assert len(faces) >= 45
    vecs = np.stack([f.embedding for f in faces])
    # All the same person: every face is within dlib's same-person distance of the first.
    assert float(np.linalg.norm(vecs - vecs[0], axis=1).max()) < 0.6


def test_index_with_faces_then_search_person_plus_text(tmp_path, encoder):
    from engine.library import Library
    from engine.people import name_person
    from engine.search import PhotoSearch, SearchOptions
    from engine.update import set_faces_setting, update_library

    photos = tmp_path / "photos"
    photos.mkdir()
    img = _astronaut()
    img.save(photos / "a1.jpg", quality=90)
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "a2.jpg", quality=90)
    img.resize((400, 400)).save(photos / "a3.jpg", quality=90)
    from skimage import data

    Image.fromarray(data.coffee()).save(photos / "coffee.jpg")
    with Library.open(tmp_path / "lib") as lib:
        lib.catalog.add_root(str(photos))
        report = update_library(lib, encoder, do_tag=False)
        assert report.faces is None  # off by default
        set_faces_setting(lib.catalog, True)
        report = update_library(lib, encoder, do_tag=False)
        assert report.faces is not None and report.faces.photos == 4
        persons = lib.catalog.people.summaries(FACE_MODEL_ID)
        assert persons[0].count == 3  # the three astronauts are one person
        name_person(lib.catalog, persons[0].id, "Eileen")
        search = PhotoSearch(lib, encoder)
        found = search.search("person:eileen + space", SearchOptions(limit=10, one_per_group=False))
        assert sorted(r.photo.path.rsplit("/", 1)[1] for r in found) == ["a1.jpg", "a2.jpg", "a3.jpg"]
        only = search.search("person:Eileen", SearchOptions(limit=10))
        assert len(only) == 3
        without = search.search("space - person:Eileen", SearchOptions(limit=10, min_z=None))
        assert [r.photo.path.rsplit("/", 1)[1] for r in without] == ["coffee.jpg"]
        # Nothing left to do: a second run searches no photo again.
        assert update_library(lib, encoder, do_tag=False).faces.photos == 0
