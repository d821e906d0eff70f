"""Reading photos safely and fast: format support, EXIF, orientation, draft decoding, thumbnails.

Every failure to read one file becomes an ImageReadError with a reason a person can act on.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from engine.atomic import atomic_file
from engine.errors import ImageReadError, TransientReadError

try:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but keep reading other formats
    HEIF_SUPPORTED = False

PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff",
                              ".heic", ".heif"})
MAX_PIXELS = 150_000_000  # 150 MP: beyond any camera sensor, well short of a decompression bomb
THUMBNAIL_SIZE = 256
FINGERPRINT_CHUNK = 1 << 20  # whole-file hash, read 1 MiB at a time
LEGACY_FINGERPRINT_CHUNK = 64 * 1024
LEGACY_FINGERPRINT_LENGTH = 32  # hex digits of the old fingerprint (blake2b-128); the whole-file one has 64

# We enforce our own limit (as a per-file error); Pillow's own check would only warn below 2x.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825


def is_photo_name(name: str | bytes) -> bool:
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    return os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def fingerprint(path: str | bytes, size: int | None = None) -> str:
    """The file's content identity: SHA-256 of every byte (64 hex digits), read in 1 MiB chunks.

    A copy is decided on the whole content: two files that differ anywhere never share a fingerprint (and
    with it a vector and a thumbnail). SHA-256 because it is the fastest whole-file hash here (SHA
    instructions: about twice blake2b). `size` is unused, kept for callers of the old signature.
    """
    h = hashlib.sha256()
    buf = bytearray(FINGERPRINT_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def legacy_fingerprint(path: str | bytes, size: int) -> str:
    """The fingerprint older catalogs hold: size and the first and last 64 KiB only (32 hex digits).

    Only to recognise a photo with an old fingerprint that moved; never to decide that two files are copies.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as f:
        h.update(f.read(LEGACY_FINGERPRINT_CHUNK))
        if size > 2 * LEGACY_FINGERPRINT_CHUNK:
            f.seek(-LEGACY_FINGERPRINT_CHUNK, os.SEEK_END)
            h.update(f.read(LEGACY_FINGERPRINT_CHUNK))
    return h.hexdigest()


def is_legacy_fingerprint(fp: str | None) -> bool:
    """An old, partial-content fingerprint (kept on unchanged photos of older catalogs; told apart by length)."""
    return fp is not None and len(fp) == LEGACY_FINGERPRINT_LENGTH


@dataclass(frozen=True)
class DecodedPhoto:
    image: Image.Image  # RGB, EXIF orientation applied, possibly reduced by draft decoding
    meta: dict[str, Any]  # width/height (oriented, full size), taken_at, camera, orientation, gps


def _ratio(value: Any) -> float:
    return float(value[0]) / float(value[1]) if isinstance(value, tuple) else float(value)


def _gps(gps: dict[int, Any]) -> tuple[float, float] | None:
    try:
        lat = sum(_ratio(v) / 60**i for i, v in enumerate(gps[2]))
        lon = sum(_ratio(v) / 60**i for i, v in enumerate(gps[4]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if gps.get(1) in ("S", b"S"):
        lat = -lat
    if gps.get(3) in ("W", b"W"):
        lon = -lon
    return (lat, lon) if abs(lat) <= 90 and abs(lon) <= 180 else None


def _clean(text: Any) -> str | None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    text = text.replace("\x00", "").strip()
    return text or None


FIRST_PHOTO_YEAR = 1826  # the oldest surviving photograph; an earlier EXIF year is a wrong clock or filler


def exif_date(text: str | None) -> str | None:
    """An EXIF date ("YYYY:MM:DD HH:MM:SS") as ISO 8601, or None when it is not a real date.

    Cameras without a set clock write "0000:00:00 00:00:00" or blanks; a year before photography or after
    next year is a broken clock, and sorting by date must not put such photos first or last.
    """
    if not text:
        return None
    text = text.strip()
    if len(text) < 19 or text[4] not in ":-" or text[7] not in ":-":
        return None
    try:
        when = datetime.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                 int(text[14:16]), int(text[17:19]))
    except ValueError:
        return None
    if not FIRST_PHOTO_YEAR <= when.year <= datetime.date.today().year + 1:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def read_metadata(image: Image.Image) -> dict[str, Any]:
    """EXIF date taken, camera, orientation and GPS; oriented full-size dimensions."""
    meta: dict[str, Any] = {"orientation": None, "taken_at": None, "camera": None, "gps_lat": None, "gps_lon": None}
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF must not cost the photo
        exif = None
    if exif:
        orientation = exif.get(ExifTags.Base.Orientation)
        meta["orientation"] = int(orientation) if isinstance(orientation, int) else None
        try:
            sub = exif.get_ifd(_EXIF_IFD)
        except Exception:  # noqa: BLE001 - a damaged sub-IFD only loses the date
            sub = {}
        meta["taken_at"] = (exif_date(_clean(sub.get(ExifTags.Base.DateTimeOriginal)))
                            or exif_date(_clean(exif.get(ExifTags.Base.DateTime))))
        make, model = _clean(exif.get(ExifTags.Base.Make)), _clean(exif.get(ExifTags.Base.Model))
        if model and make and model.lower().startswith(make.split()[0].lower()):
            make = None
        meta["camera"] = " ".join(p for p in (make, model) if p) or None
        try:
            gps = _gps(dict(exif.get_ifd(_GPS_IFD)))
        except Exception:  # noqa: BLE001 - a damaged GPS block only loses the location
            gps = None
        if gps:
            meta["gps_lat"], meta["gps_lon"] = gps
    w, h = image.size
    if meta["orientation"] in (5, 6, 7, 8):
        w, h = h, w
    meta["width"], meta["height"] = w, h
    return meta


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (cut-outs and icons look as people expect), then RGB."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def open_photo(path: str | bytes | Path, min_side: int = THUMBNAIL_SIZE, max_pixels: int = MAX_PIXELS) -> DecodedPhoto:
    """Decode a photo at no more resolution than `min_side` needs (JPEG draft), oriented, RGB."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                w, h = image.size
                if w * h > max_pixels:
                    raise ImageReadError(f"image too large: {w}x{h} pixels (limit {max_pixels // 1_000_000} MP)")
                meta = read_metadata(image)
                if image.format == "JPEG":
                    image.draft("RGB", (min_side, min_side))
                image.seek(0)
                image.load()
                oriented = ImageOps.exif_transpose(image) if meta["orientation"] not in (None, 1) else image
                rgb = _to_rgb(oriented)
    except ImageReadError:
        raise
    except READ_ERRORS as e:
        error = TransientReadError if is_transient(e) else ImageReadError
        raise error(read_error_reason(e, path)) from None
    return DecodedPhoto(rgb, meta)


# What decoding a bad file raises (PIL's own errors included), and the one-line reason a user sees for it.
READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)

# System errors that say nothing about the file's content and may pass: a vanished file (unplugged drive),
# an I/O error, a full disk or quota, missing permission, a stale network mount, a busy or timed-out device.
TRANSIENT_ERRNOS = frozenset({
    errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOSPC, errno.EDQUOT, errno.ENXIO,
    errno.ENODEV, errno.ESTALE, errno.ETIMEDOUT, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EMFILE,
    errno.ENFILE, errno.ENOMEM, errno.EROFS, errno.ENOTCONN, errno.EHOSTDOWN, errno.ECONNABORTED,
})


def is_transient(e: BaseException) -> bool:
    """True when a failure is the system's (may pass), not the file's content (PIL's errors have no errno)."""
    return isinstance(e, OSError) and not isinstance(e, UnidentifiedImageError) and e.errno in TRANSIENT_ERRNOS


def read_error_reason(e: BaseException, path: str | bytes | Path) -> str:
    if isinstance(e, FileNotFoundError):
        return "file disappeared before it could be read"
    if isinstance(e, PermissionError):
        return "permission denied"
    if is_transient(e):
        return f"could not read the file: {getattr(e, 'strerror', None) or e}"
    if isinstance(e, UnidentifiedImageError):
        return "empty file (0 bytes)" if _size_or_none(path) == 0 else "not an image, or a format Photosift cannot read"
    if isinstance(e, Image.DecompressionBombError):
        return f"image too large: {e}"
    return f"corrupt or truncated image: {e}"


def _size_or_none(path: str | bytes | Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def thumbnail_path(thumb_dir: Path, fp: str) -> Path:
    return Path(thumb_dir) / fp[:2] / f"{fp}.jpg"


def save_thumbnail(image: Image.Image, dest: Path, size: int = THUMBNAIL_SIZE) -> None:
    """Write atomically (engine.atomic) so a kill never leaves a half thumbnail behind. Not fsynced: one
    per photo, a cache that `index` remakes, and the fsyncs took 2 ms of the 2.2 ms a write costs here."""
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    with atomic_file(dest, durable=False) as tmp, open(tmp, "wb") as f:
        thumb.save(f, "JPEG", quality=85, optimize=False)


def delete_thumbnails(thumb_dir: Path, fingerprints: Iterable[str]) -> int:
    """Delete the cached thumbnails of these fingerprints (photos the user forgot); returns how many."""
    removed = 0
    for fp in fingerprints:
        try:
            thumbnail_path(thumb_dir, fp).unlink()
            removed += 1
        except OSError:
            pass
    return removed


def thumbnail_cache_usage(thumb_dir: Path) -> tuple[int, int]:
    """(files, bytes) of the thumbnail cache."""
    files = size = 0
    for sub in Path(thumb_dir).glob("??"):
        try:
            with os.scandir(sub) as it:
                for e in it:
                    if e.name.endswith(".jpg"):
                        files += 1
                        size += e.stat().st_size
        except OSError:
            continue
    return files, size


def prune_thumbnails(thumb_dir: Path, limit_bytes: int) -> int:
    """Keep the thumbnail cache under `limit_bytes` by deleting the least recently written files.

    Thumbnails are a cache: anything deleted is made again from the original when it is shown.
    Returns the number of files deleted.
    """
    entries = []
    total = 0
    for sub in Path(thumb_dir).glob("??"):
        with os.scandir(sub) as it:
            for e in it:
                if e.name.endswith(".jpg"):
                    st = e.stat()
                    entries.append((st.st_mtime, st.st_size, e.path))
                    total += st.st_size
    if total <= limit_bytes:
        return 0
    entries.sort()
    removed = 0
    for _mtime, size, path in entries:
        if total <= limit_bytes * 0.9:  # some headroom, so pruning does not run on every new thumbnail
            break
        try:
            os.unlink(path)
            total -= size
            removed += 1
        except OSError:
            pass
    return removed
