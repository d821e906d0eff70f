"""The `photosift` subcommands, and what several of them share: safe path display, argument types."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.catalog import Photo, PhotoCatalog

SHOWN_UNREADABLE = 5


def shown(text: str) -> str:
    """`text` fit for one terminal line: control characters and bytes that are not UTF-8 escaped.

    A file name may hold a newline or an escape sequence; printed raw it would split a result line or
    drive the terminal. JSON output needs none of this (json.dumps escapes them itself).
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode carries it
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def report_unreadable(unreadable: dict[str, str], noun: str = "photo") -> None:
    """One stderr line naming the files a job left out because they could not be read (the first few)."""
    if not unreadable:
        return
    shown_items = "; ".join(f"{shown(path)} ({why})" for path, why in list(unreadable.items())[:SHOWN_UNREADABLE])
    more = f"; and {len(unreadable) - SHOWN_UNREADABLE} more" if len(unreadable) > SHOWN_UNREADABLE else ""
    print(f"Left out {len(unreadable)} {noun}(s) that could not be read: {shown_items}{more}", file=sys.stderr)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high`, else a usage error naming the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value
    parse.__name__ = "number"
    return parse


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number from `low` to `high`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, not {text}")
        return value
    parse.__name__ = "number"
    return parse


def is_utf8(text: str) -> bool:
    """False for a command-line argument that carries bytes that are not UTF-8 (as surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def photo_id_ref(ref: str) -> int | None:
    """N for a photo reference written `id:N` (at most 18 digits: an SQLite id), else None."""
    m = re.fullmatch(r"id:([0-9]{1,18})", ref)
    return int(m.group(1)) if m else None


def catalog_key(path: str) -> str:
    """The catalog's text for a path given on the command line (bytes that are not UTF-8 escaped)."""
    from engine.scanner import path_key

    return path_key(os.fsencode(os.path.abspath(os.path.expanduser(path))))[0]


def photo_for_path(catalog: PhotoCatalog, path: str) -> Photo | None:
    """The catalog photo at a file path given on the command line, names that are not UTF-8 included."""
    return catalog.photo_by_path(catalog_key(path))


def find_photo(catalog: PhotoCatalog, ref: str) -> Photo:
    """The library's photo a command-line reference names: `id:N` or a path (PhotosiftError when it is none)."""
    photo_id = photo_id_ref(ref)
    photo = catalog.photo(photo_id) if photo_id is not None else photo_for_path(catalog, ref)
    if photo is None:
        from engine.errors import PhotosiftError

        raise PhotosiftError(f"{shown(ref)} is not in the library")
    return photo
