"""Watch a library's folders: photos created, changed, moved or deleted are noticed within seconds.

The watcher only says *that* something changed and where; the change itself is taken in by the normal
incremental update (scan + index), which keeps every safety rule of engine.scanner: a folder that vanishes
(an unplugged drive, a renamed root) goes offline and its photos are kept, never deleted on a file event.
Events are debounced: a batch is ready once no event came for `quiet_s` (a file being copied sends many),
or `max_wait_s` after its first event however busy the folder is.

Folders that are not there when watching starts (unplugged) are checked again every `recheck_s`; when one
appears or disappears, that is a change too, so it comes back online or goes offline without an Index click.
Uses watchdog (inotify, FSEvents, ReadDirectoryChangesW); its observer thread only records events.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.imageio import is_photo_name

log = logging.getLogger(__name__)


@dataclass
class ChangeBatch:
    """What changed since the last batch: photo paths touched, and folders that went or came back."""

    paths: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)  # watched folders whose availability changed

    def __bool__(self) -> bool:
        return bool(self.paths or self.folders)

    def __len__(self) -> int:
        return len(self.paths) + len(self.folders)


def _relevant(path: str, is_directory: bool, root: str, ignore: tuple[str, ...]) -> bool:
    """A photo file or a folder, not hidden (the scanner skips hidden names too) and not under `ignore`."""
    if not path or any(path == i or path.startswith(i + os.sep) for i in ignore):
        return False
    rel = os.path.relpath(path, root) if path.startswith(root) else os.path.basename(path)
    if any(part.startswith(".") for part in rel.split(os.sep) if part not in ("", os.curdir)):
        return False
    return is_directory or is_photo_name(path)


class FolderWatch:
    """Watches folders recursively. `poll()` returns a settled ChangeBatch or None; `wait()` blocks for one.

    Thread-safe: watchdog's thread records, the owner polls. Use as a context manager or call stop()."""

    def __init__(self, folders: Iterable[str], *, quiet_s: float = 1.0, max_wait_s: float = 10.0,
                 recheck_s: float = 5.0, ignore: Iterable[str] = ()) -> None:
        from watchdog.observers import Observer

        self.quiet_s, self.max_wait_s, self.recheck_s = quiet_s, max_wait_s, recheck_s
        self.ignore = tuple(os.path.abspath(i).rstrip(os.sep) for i in ignore)
        self._observer = Observer()
        self._observer.daemon = True
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending = ChangeBatch()
        self._first = self._last = 0.0
        self._watches: dict[str, object] = {}  # folder -> watchdog handle, for the folders there now
        self._folders: list[str] = []
        self._next_check = 0.0
        self._started = False
        self.set_folders(folders)

    # -- lifetime -------------------------------------------------------------------------
    def start(self) -> FolderWatch:
        self._observer.start()
        self._started = True
        self._check_folders(initial=True)
        return self

    def stop(self) -> None:
        if self._started:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._started = False

    def __enter__(self) -> FolderWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- folders --------------------------------------------------------------------------
    def set_folders(self, folders: Iterable[str]) -> None:
        """Watch these folders (the library's roots); folders no longer listed are let go."""
        wanted = sorted({os.path.abspath(f).rstrip(os.sep) or os.sep for f in folders})
        if wanted == self._folders:
            return
        for gone in set(self._watches) - set(wanted):
            self._unwatch(gone)
        self._folders = wanted
        self._next_check = 0.0
        if self._started:
            self._check_folders(initial=True)

    @property
    def folders(self) -> list[str]:
        return list(self._folders)

    @property
    def watching(self) -> list[str]:
        """The folders watched now (the others are not there: offline)."""
        return sorted(self._watches)

    def _unwatch(self, folder: str) -> None:
        handle = self._watches.pop(folder, None)
        if handle is not None:
            try:
                self._observer.unschedule(handle)  # type: ignore[arg-type]
            except (KeyError, OSError, ValueError):
                pass  # the folder's watch ended with the folder

    def _check_folders(self, initial: bool = False) -> None:
        """Start watching folders that are there, let go of those that are not; a change is an event."""
        from watchdog.events import FileSystemEventHandler

        watch = self

        class Handler(FileSystemEventHandler):
            def __init__(self, root: str) -> None:
                self.root = root

            def on_any_event(self, event) -> None:  # type: ignore[no-untyped-def]
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reading a file (the indexer itself) is not a change
                if event.is_directory and event.event_type == "modified":
                    return  # a folder's own time changes with every file in it, which comes as its own event
                for path in (event.src_path, getattr(event, "dest_path", "")):
                    path = os.fsdecode(path)
                    if _relevant(path, event.is_directory, self.root, watch.ignore):
                        watch._record(path=path)

        for folder in self._folders:
            there = os.path.isdir(folder)
            if there and folder not in self._watches:
                try:
                    self._watches[folder] = self._observer.schedule(Handler(folder), folder, recursive=True)
                except OSError as e:  # vanished meanwhile, unreadable, or out of inotify watches
                    log.warning("cannot watch %s: %s", folder, e)
                    continue
                if not initial:
                    self._record(folder=folder)  # back online
            elif not there and folder in self._watches:
                self._unwatch(folder)
                self._record(folder=folder)  # gone offline
            elif not there and initial:
                log.info("not watching %s: not there now (checked again every %.0f s)", folder, self.recheck_s)
        self._next_check = time.monotonic() + self.recheck_s

    # -- events ---------------------------------------------------------------------------
    def _record(self, path: str | None = None, folder: str | None = None) -> None:
        now = time.monotonic()
        with self._changed:
            if not self._pending:
                self._first = now
            if path:
                self._pending.paths.add(path)
            if folder:
                self._pending.folders.add(folder)
            self._last = now
            self._changed.notify_all()

    def poll(self) -> ChangeBatch | None:
        """A batch when one has settled, else None; never blocks."""
        now = time.monotonic()
        if self._started and now >= self._next_check:
            self._check_folders()
        with self._lock:
            if not self._pending:
                return None
            if now - self._last < self.quiet_s and now - self._first < self.max_wait_s:
                return None
            batch, self._pending = self._pending, ChangeBatch()
            return batch

    def wait(self, timeout_s: float | None = None) -> ChangeBatch | None:
        """Block until a batch settles (or timeout_s passes: None)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            batch = self.poll()
            if batch is not None:
                return batch
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            step = min(0.25, self.quiet_s / 2, self.recheck_s)
            with self._changed:
                self._changed.wait(step if deadline is None else max(0.0, min(step, deadline - now)))
