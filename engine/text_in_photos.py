"""Text in photos: recognise the words in each photo (signs, menus, screenshots, documents) so a search finds them.

Recognition is RapidOCR's: PaddleOCR's PP-OCR detection and recognition models (Apache-2.0), shipped inside
the `rapidocr` wheel (about 31 MB of models) and run on the ONNX Runtime Photosift already has (its CUDA
provider when there is one). It is the optional `photosift[ocr]` extra; without it a library indexes and
searches as before, and asking for text says what to install.

The pass runs after indexing, like faces: each photo's lines are stored with the mark that it was read, a
batch per transaction, so a run killed at any point loses at most the batch in flight and the next run carries
on; a photo whose content changes is read again (a trigger clears its text). It is off by default because it
costs about 15 times what indexing a photo costs on a CPU (0.7 s a 12 MP photo against 0.05 s, measured by
bench/text_in_photos_cost.py);
`photosift index --text` turns it on for a library, remembered, and the window's Settings offers it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.catalog import Photo, PhotoCatalog
from engine.errors import ImageReadError, PhotosiftError
from engine.imageio import open_photo
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, batches, ignore_progress, ordered_map

SETTING_TEXT = "text_in_photos"  # library setting: "on" | "off"
READ_SIDE = 1600  # long side text is read at (RapidOCR itself stops at 2000)
# the short side a photo is decoded at, at least: a 12 MP JPEG then decodes at half size (2000 x 1500, its DCT
# draft, ~4x cheaper) before it is shrunk to READ_SIDE; READ_SIDE itself would ask for the full 4000 x 3000
DECODE_SIDE = 1200
MIN_SCORE = 0.6  # recognition confidence below which a line is dropped (RapidOCR keeps from 0.5)
MIN_SIDE = 32  # smaller photos hold no readable text
MIN_LINE = 2  # characters a line must have to be kept


class TextUnavailableError(PhotosiftError):
    """RapidOCR is not installed."""


def text_installed() -> bool:
    try:
        return importlib.util.find_spec("rapidocr") is not None
    except (ImportError, ValueError):
        return False


def require_text() -> None:
    if not text_installed():
        raise TextUnavailableError("reading text in photos needs RapidOCR and its models (about 100 MB with "
                                   "OpenCV), which are not installed here: pip install 'photosift[ocr]'")


def text_model_id() -> str:
    """Which recognizer read a photo's text: RapidOCR's version to the minor (its models change with it)."""
    version = importlib.metadata.version("rapidocr")
    return "rapidocr-" + ".".join(version.split(".")[:2])


def text_enabled(catalog: PhotoCatalog) -> bool:
    return catalog.get_setting(SETTING_TEXT, "off") == "on"


def set_text_setting(catalog: PhotoCatalog, on: bool) -> None:
    """Turn reading text on or off for the library; on without RapidOCR installed is refused."""
    if on:
        require_text()
    catalog.set_setting(SETTING_TEXT, "on" if on else "off")


class TextReader:
    """RapidOCR's detector and recognizer, loaded once per process, on our ONNX Runtime."""

    def __init__(self) -> None:
        require_text()
        from engine.encoder import cuda_usable  # imports onnxruntime with its telemetry off, before rapidocr does

        cuda = cuda_usable()
        from rapidocr import RapidOCR

        self._engine: Any = RapidOCR(params={
            "Global.log_level": "error",
            "Global.use_cls": False,  # upside-down text is rare in photos; the classifier costs a pass per line
            "Global.text_score": MIN_SCORE,
            "EngineConfig.onnxruntime.use_cuda": cuda,
        })
        # it logs every model it loads, and every photo without text, through a handler of its own
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    def read(self, image: Image.Image) -> list[str]:
        """The lines of text in an RGB image (already oriented), top to bottom."""
        if min(image.size) < MIN_SIDE:
            return []
        scale = min(1.0, READ_SIDE / max(image.size))
        if scale < 1.0:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.Resampling.BILINEAR)
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])  # an array is read as BGR
        out = self._engine(pixels)
        texts = getattr(out, "txts", None) or ()
        boxes = getattr(out, "boxes", None)
        lines = [(float(np.asarray(b)[:, 1].min()) if boxes is not None else k, str(t).strip())
                 for k, (t, b) in enumerate(zip(texts, boxes if boxes is not None else texts, strict=True))]
        # one character alone is the recognizer seeing a glyph in texture (a '正' in a plain sky): never a word
        return [t for _, t in sorted(lines, key=lambda x: x[0]) if len(t) >= MIN_LINE]


_READER: TextReader | None = None


def reader() -> TextReader:
    global _READER
    if _READER is None:
        _READER = TextReader()
    return _READER


def read_text_in_file(path: str | bytes | Path) -> list[str]:
    """The lines of text in one photo file (oriented as it is shown)."""
    return reader().read(open_photo(path, min_side=DECODE_SIDE).image)


@dataclass
class TextReport:
    photos: int = 0
    with_text: int = 0
    unreadable: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _decoded(photos: list[Photo]) -> Iterator[tuple[Photo, Image.Image | None, str | None]]:
    """Each photo decoded (a thread ahead of the recognizer: decoding releases the GIL), or why it could not be."""
    def decode(p: Photo) -> tuple[Photo, Image.Image | None, str | None]:
        try:
            return p, open_photo(p.fs_path, min_side=DECODE_SIDE).image, None
        except ImageReadError as e:
            return p, None, str(e)
        except Exception as e:  # noqa: BLE001 - one bad file must never stop the library
            return p, None, f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(1, thread_name_prefix="text-decode") as pool:
        yield from ordered_map(pool, decode, photos, 2)


def read_text_in_photos(catalog: PhotoCatalog, photos: list[Photo], *, batch_size: int = 16,
                        progress: ProgressCallback = ignore_progress,
                        cancel: CancelToken | None = None) -> TextReport:
    """Read the text in `photos` and store it, committed per batch with each photo's 'read' mark. A photo that
    cannot be read is marked read with no text (the indexer already recorded why)."""
    report = TextReport()
    if not photos:
        return report
    model_id = text_model_id()
    text_reader = reader()
    catalog.text.ensure_index()
    clock = ProgressClock("text", len(photos), progress)
    t0 = time.perf_counter()

    def read(decoded: tuple[Photo, Image.Image | None, str | None]) -> tuple[int, list[str]]:
        photo, image, error = decoded
        lines: list[str] = []
        if image is not None:
            try:
                lines = text_reader.read(image)
            except Exception as e:  # noqa: BLE001 - a recognizer failure on one photo must not stop the pass
                error = f"{type(e).__name__}: {e}"
        if error is not None:
            report.unreadable += 1
            report.failures.append((photo.path, error))
        return photo.id, lines

    for batch in batches(map(read, _decoded(photos)), batch_size, cancel):
        with catalog.transaction():
            for photo_id, lines in batch:
                catalog.text.put(photo_id, model_id, lines)
        report.photos += len(batch)
        report.with_text += sum(bool(lines) for _, lines in batch)
        clock.report(report.photos)
    report.seconds = time.perf_counter() - t0
    return report
