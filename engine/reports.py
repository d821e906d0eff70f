"""Reports as plain data and as text: one conversion and one summary per report type, for every face of the app.

`photosift index --json` prints `update_plain`, the command's text is `update_lines`, the watcher's line after
each round is `update_summary`, and the window's indexing job sends the window `as_namespace(report)` (builtins
only: unpickling an engine report there would import the engine's indexing modules and onnxruntime), with the
same summary beside it.

Paths in text go through `show` (the CLI passes its escaping of control characters and non-UTF-8 bytes);
plain data keeps them as they are (json.dumps escapes them itself). Imports nothing of the engine at run time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.faces import FacesReport
    from engine.indexer import IndexReport
    from engine.scanner import ScanReport
    from engine.text_in_photos import TextReport

Show = Callable[[str], str]


def _pairs(rows: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"path": p, "reason": r} for p, r in rows]


# -- plain data (the JSON of `photosift index --json`) -------------------------------------------------
def scan_plain(s: ScanReport) -> dict[str, Any]:
    return {"new": s.new, "changed": s.changed, "moved": s.moved, "copied": s.copied, "deleted": s.deleted,
            "unchanged": s.unchanged, "offline_roots": list(s.offline_roots), "held_missing": s.held,
            "held_folders": list(s.held_folders), "unreadable": _pairs(s.unreadable), "skipped": _pairs(s.skipped)}


def index_plain(i: IndexReport) -> dict[str, Any]:
    return {"indexed": i.indexed, "failed": _pairs(i.failures), "failed_transient": i.failed_transient,
            "failed_permanent": i.failed - i.failed_transient}


def faces_plain(f: FacesReport | None, persons_started: int = 0) -> dict[str, Any] | None:
    if f is None:  # faces are off for the library
        return None
    return {"photos": f.photos, "faces": f.faces, "persons_started": persons_started, "seconds": round(f.seconds, 2)}


def text_plain(t: TextReport | None) -> dict[str, Any] | None:
    if t is None:  # reading text is off for the library
        return None
    return {"photos": t.photos, "with_text": t.with_text, "seconds": round(t.seconds, 2)}


# r: an engine.update.UpdateReport (not imported: engine.update imports this module)
def update_plain(r: Any) -> dict[str, Any]:
    return {"scan": scan_plain(r.scan), **index_plain(r.index), "photos_tagged": r.photos_tagged,
            "tags_written": r.tags_written, "thumbnails_made": r.thumbnails_made,
            "thumbnails_pruned": r.thumbnails_pruned, "leftovers_removed": r.leftovers_removed,
            "faces": faces_plain(r.faces, r.persons_started), "text": text_plain(r.text),
            "places_named": r.places_named, "backup": r.backup,
            "smart_albums": dict(getattr(r, "smart_albums", {}) or {})}


def as_namespace(value: Any) -> Any:
    """A dataclass report (and what it holds) as SimpleNamespaces, lists, dicts and builtins, with the same
    attribute names: what a report becomes to cross into a process that must not import its module."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return SimpleNamespace(**{f.name: as_namespace(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, (list, tuple)):
        return type(value)(as_namespace(v) for v in value)
    if isinstance(value, dict):
        return {k: as_namespace(v) for k, v in value.items()}
    return value


# -- text ------------------------------------------------------------------------------------------------
def update_summary(r: Any, show: Show = str) -> str:
    """One line: what changed, what was indexed, which folders are offline (the watcher prints it each round)."""
    s, i = r.scan, r.index
    parts = [f"{n} {what}" for n, what in ((s.new, "new"), (s.changed, "changed"), (s.moved, "moved"),
                                           (s.copied, "copies"), (s.deleted, "deleted"), (s.held, "kept as missing"))
             if n]
    text = ", ".join(parts) or "no photo changed"
    if i.indexed or i.failed:
        text += f"; indexed {i.indexed}" + (f", {i.failed} could not be read" if i.failed else "")
    if s.offline_roots:
        text += "; offline (kept as is): " + ", ".join(show(root) for root in s.offline_roots)
    return text


def update_lines(r: Any, show: Show = str) -> list[str]:
    """The whole report, a line a fact, each file named (`photosift index` prints it)."""
    s, i = r.scan, r.index
    lines = [f"scan: {s.new} new, {s.changed} changed, {s.moved} moved, {s.copied} copies, "
             f"{s.deleted} deleted, {s.unchanged} unchanged",
             f"indexed {i.indexed} photos, {i.failed} could not be read"
             + (f" ({i.failed_transient} will be tried again)" if i.failed_transient else "")
             + f", {r.tags_written} tags on {r.photos_tagged} photos"]
    if r.faces is not None:
        lines.append(f"faces: {r.faces.faces} in {r.faces.photos} photos, "
                     f"{r.persons_started} new persons (photosift people)")
    if r.text is not None and r.text.photos:
        lines.append(f"text: read in {r.text.photos} photos, found in {r.text.with_text} "
                     f"({r.text.seconds:.0f} s; search it with text:\"...\" or plain words)")
    if r.thumbnails_made:
        lines.append(f"made {r.thumbnails_made} missing thumbnails")
    if s.held:
        lines.append(f"kept {s.held} photos that vanished (drive unplugged?) as missing; if they were "
                     "deleted, run `photosift index --confirm-deletions` to forget them")
        lines += [f"  vanished from: {show(f)}" for f in s.held_folders]
    lines += [f"  offline: {show(root)} (kept as is)" for root in s.offline_roots]
    lines += [f"  unreadable folder: {show(p)}: {why}" for p, why in s.unreadable]
    lines += [f"  skipped: {show(p)}: {why}" for p, why in s.skipped]
    lines += [f"  could not read: {show(p)}: {why}" for p, why in i.failures]
    return lines
