""""Index the library" is one use case, engine.update.index_library, run by `photosift index`, by each round of
`photosift index --watch` and by the window's Index: each gets the same daily catalog backup and keeps the
thumbnail cache under the same size limit."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

import engine.update
from desktop_app.cli import main
from engine.backup import list_backups
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.indexer import IndexSettings
from engine.jobs import CancelToken
from engine.library import Library
from engine.paths import LibraryPaths
from engine.update import index_library
from engine.watch import ChangeBatch
from tests.conftest import write_jpeg

N = 6


@pytest.fixture
def library(tmp_path) -> Path:
    """A library of N photos not yet indexed, with the tiny model active."""
    for i in range(N):
        write_jpeg(tmp_path / "photos" / f"p{i}.jpg", (40 * i, 120, 200 - 30 * i), size=(160, 120))
    library = Path(os.environ["PHOTOSIFT_LIBRARY"])
    with Library.open(library) as lib:
        lib.set_active_model("tiny")
        lib.catalog.add_root(str(tmp_path / "photos"))
    return library


def thumbnails(library: Path) -> list[Path]:
    return sorted(LibraryPaths(library).thumbnails.rglob("*.jpg"))


def backups(library: Path) -> list[Path]:
    return list_backups(LibraryPaths(library).catalog)


def test_the_cli_index_prunes_the_thumbnail_cache_and_backs_up(library, tiny_model, capsys, monkeypatch):
    monkeypatch.setattr(engine.update, "THUMB_CACHE_BYTES", 1)  # a limit no thumbnail fits under
    assert main(["index", "--model", "tiny", "--no-tags", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == N and report["thumbnails_pruned"] == N and thumbnails(library) == []
    assert report["thumbnails_made"] == 0  # none repaired only to be pruned
    assert [str(p) for p in backups(library)] == [report["backup"]]


def test_a_watcher_round_prunes_the_thumbnail_cache_and_backs_up(library, tiny_model, capsys, monkeypatch):
    from desktop_app.commands import watch

    class OneChange:
        """The folder watch, as it is after one settled batch of changes and then Ctrl+C."""

        def __init__(self, folders, ignore=()) -> None:
            self.batches = [ChangeBatch(paths={"p0.jpg"})]

        def start(self) -> None: ...
        def stop(self) -> None: ...
        def set_folders(self, folders) -> None: ...

        def wait(self):
            if not self.batches:
                raise KeyboardInterrupt
            return self.batches.pop()

    monkeypatch.setattr(watch, "FolderWatch", OneChange)
    monkeypatch.setattr(engine.update, "THUMB_CACHE_BYTES", 1)
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    args = argparse.Namespace(batch_size=4, workers=1, no_tags=True, wait=0.0)
    with Library.open(library) as lib:
        assert watch.watch_library(lib, encoder, args) == 0
    out = capsys.readouterr().out
    assert f"{N} new; indexed {N}" in out and "stopped watching" in out
    assert thumbnails(library) == [] and len(backups(library)) == 1


def test_the_windows_index_job_prunes_backs_up_and_sends_its_summary(library, tiny_model):
    from desktop_app.background import index_library as window_job

    seen = []
    plain = window_job(library, "cpu", 1, seen.append, CancelToken())
    assert seen[0].stage == "scan"  # the folders are scanned before the model loads
    assert (plain.scan.new, plain.index.indexed, plain.thumbnails_pruned) == (N, N, N)
    assert plain.summary == f"{N} new; indexed {N}" and plain.backup == str(backups(library)[0])
    assert thumbnails(library) == [] and type(plain).__module__ == "types"  # nothing of the engine to unpickle


def test_missing_thumbnails_are_made_only_as_far_as_the_cache_has_room(library, tiny_model):
    encoder = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    settings = IndexSettings(batch_size=4, workers=1)
    with Library.open(library) as lib:
        index_library(lib, encoder, tag=False, settings=settings)
        made = thumbnails(library)
        assert len(made) == N
        for path in made[: N // 2]:
            path.unlink()
        kept = sum(p.stat().st_size for p in made[N // 2:])
        each = kept / (N - N // 2)
        room_for_two = int((kept + 2.5 * each) / 0.9)  # prune_thumbnails keeps 10% headroom under its limit
        report = index_library(lib, encoder, tag=False, settings=settings, thumb_cache_bytes=room_for_two)
        assert (report.thumbnails_made, report.thumbnails_pruned) == (2, 0)
        assert len(thumbnails(library)) == N - N // 2 + 2
        assert report.backup is None  # the first run's backup is less than a day old
        report = index_library(lib, encoder, tag=False, settings=settings)  # the default limit has room for all
        assert report.thumbnails_made == N // 2 - 2 and len(thumbnails(library)) == N
