"""The rows the catalog hands out (frozen dataclasses) and the constants its parts share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_TAG_LENGTH = 100
# A tag row a photo has for sure (with min_confidence as its parameter): the user's own, or a zero-shot tag the
# model gave at least that confidence (or one written before confidences were kept). The sidebar's counts
# and the tag filter both use it, so that a tag's count is the photos its filter shows.
SURE_TAG_SQL = "(source = 'user' OR confidence IS NULL OR confidence >= ?)"
TRANSIENT = "transient"  # vanished, I/O error, no space, permission denied: retried by the next index
PERMANENT = "permanent"  # not an image, truncated, too large: retried only when the file changes

PHOTO_COLUMNS = (
    "id, root_id, path, raw_path, size, mtime, fingerprint, width, height, taken_at, camera, "
    "orientation, gps_lat, gps_lon, status, error, added_at, indexed_at, error_kind, tagged_model, missing_since, "
    "dev, ino"
)


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    state: str
    last_scan: float | None
    error: str | None


@dataclass(frozen=True)
class TagRow:
    """One stored tag of a photo. source: user | zeroshot | rejected; confidence: a zero-shot tag's
    probability among the vocabulary (None for the user's and for tags written before it was kept)."""

    name: str
    source: str
    score: float | None
    model_id: str | None
    confidence: float | None

    def uncertain(self, min_confidence: float) -> bool:
        return self.source == "zeroshot" and self.confidence is not None and self.confidence < min_confidence


@dataclass(frozen=True)
class Photo:
    id: int
    root_id: int
    path: str
    raw_path: bytes | None
    size: int
    mtime: float
    fingerprint: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    camera: str | None
    orientation: int | None
    gps_lat: float | None
    gps_lon: float | None
    status: str
    error: str | None
    added_at: float
    indexed_at: float | None
    error_kind: str | None = None  # TRANSIENT or PERMANENT when status is 'error'
    tagged_model: str | None = None  # the model whose zero-shot tags the photo has, None when untagged
    missing_since: float | None = None  # vanished with many others at once: kept until confirmed
    dev: int | None = None  # st_dev and st_ino of the file at the last scan (None before it was seen)
    ino: int | None = None

    @property
    def fs_path(self) -> str | bytes:
        """The path to open: exact bytes for names that are not valid UTF-8."""
        return self.raw_path if self.raw_path is not None else self.path



# -- duplicates (issue #16): rows the catalog hands engine.duplicates ------------------------------------
@dataclass(frozen=True)
class DuplicateCandidate:
    id: int
    path: str
    width: int | None
    height: int | None
    size: int
    taken_at: str | None
    camera: str | None
    content_hash: str | None
    pixel_sig: bytes | None
    sharpness: float | None
    user_tagged: bool = False


@dataclass(frozen=True)
class DuplicateGroup:
    id: int
    kind: str  # 'exact', 'near' or 'burst'
    keep_id: int | None
    reason: str | None
    keep_chosen: bool  # the user chose the keeper: a regrouping keeps it
    reviewed: bool  # "keep all": no longer offered for review
    members: tuple[tuple[int, float | None], ...] = ()  # (photo id, cosine to the keeper), keeper first


@dataclass(frozen=True)
class NewDuplicateGroup:
    kind: str
    keep_id: int
    reason: str
    members: tuple[tuple[int, float | None], ...]
    keep_chosen: bool = False
    reviewed: bool = False


# -- people (issue #17) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FoundFaceRow:
    """A face as a detector found it: box as fractions of the oriented photo, score, embedding."""
    x: float
    y: float
    w: float
    h: float
    score: float
    embedding: np.ndarray


@dataclass(frozen=True)
class FaceRow:
    id: int
    photo_id: int
    x: float
    y: float
    w: float
    h: float
    score: float
    person_id: int | None
    fingerprint: str | None
    model_id: str

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class PersonRow:
    id: int
    name: str | None
    hidden: bool
    merged_into: int | None
    count: int = 0  # photos
    cover_face_id: int | None = None


@dataclass(frozen=True)
class FaceDecision:
    box: tuple[float, float, float, float]
    person_id: int
    verdict: str  # 'is' | 'not'


@dataclass(frozen=True)
class AlbumRow:
    id: int
    name: str
    kind: str  # 'manual' (photos put in by hand) or 'smart' (a saved query)
    query: str | None  # smart: the query its photos are found with
    model_id: str | None  # smart: the model its photos were last found with (None: not yet)
    count: int  # its photos that are not missing

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "count": self.count, "query": self.query}
