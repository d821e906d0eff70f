"""`photosift search --place` and `photosift index --watch`, run as a user runs them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_app.cli import main
from engine.catalog import PhotoCatalog
from engine.paths import LibraryPaths
from tests.conftest import gps_exif, write_jpeg

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_by_place_from_the_command_line(capsys, tiny_model, tmp_path):
    photos = tmp_path / "trip"
    write_jpeg(photos / "tram.jpg", (200, 180, 20), exif=gps_exif(38.7139, -9.1334, "2023:05:02 09:00:00"))
    write_jpeg(photos / "tiles.jpg", (20, 90, 200), exif=gps_exif(38.7223, -9.1393, "2023:05:01 09:00:00"))
    write_jpeg(photos / "temple.jpg", (180, 30, 30), exif=gps_exif(34.9671, 135.7727))
    write_jpeg(photos / "no_gps.jpg", (90, 90, 90))
    write_jpeg(photos / "null_island.jpg", (10, 200, 10), exif=gps_exif(0.0, 0.0))
    assert run(capsys, "add", str(photos))[0] == 0
    code, out, _ = run(capsys, "index", "--model", "tiny", "--json")
    assert code == 0 and json.loads(out)["places_named"] == 4  # every photo with GPS, 0,0 included (no place)
    code, out, err = run(capsys, "search", "a photo", "--place", "LISBON", "--all", "--json")
    hits = json.loads(out)
    assert code == 0 and sorted(Path(h["path"]).name for h in hits) == ["tiles.jpg", "tram.jpg"]
    assert hits[0]["place"]["country"] == "Portugal" and "note:" not in err
    code, out, _ = run(capsys, "search", "place:Kyoto", "--json")  # only a place: its photos, newest first
    assert [Path(h["path"]).name for h in json.loads(out)] == ["temple.jpg"]
    code, out, _ = run(capsys, "search", "place:portugal", "--sort", "date")
    assert code == 0 and out.index("tram.jpg") < out.index("tiles.jpg") and "[Lisbon, Portugal]" in out
    code, out, err = run(capsys, "search", "a photo", "--place", "Atlantis", "--json")  # unknown: said so
    assert code == 1 and "no photo of this library was taken in a place named 'Atlantis' (nearest:" in err
    code, out, _ = run(capsys, "search", "a photo", "--place", "Japan > Lisbon", "--json")  # known names
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "search", "a photo", "--place", " > ")
    assert code == 1 and "--place" in err and "Traceback" not in err
    code, _, err = run(capsys, "search", "a photo - place:Kyoto")
    assert code == 1 and "cannot be subtracted" in err


def _catalog_paths(library: Path) -> dict[str, str]:
    """path -> status as the watcher's catalog has it now (read through a second connection)."""
    with PhotoCatalog(LibraryPaths(library).catalog) as cat:
        return {Path(p.path).name: p.status for p in cat.photos_where()}


def _wait_for(check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _ctrl_c_enabled() -> None:
    """In the child: Ctrl+C as a terminal gives it. A test run started in the background (as CI scripts may be)
    ignores SIGINT, and a child inherits that: it would never see the Ctrl+C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow  # 13 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_index_watch_takes_in_new_and_deleted_photos_and_keeps_an_unplugged_folder(tiny_model, tmp_path):
    photos = tmp_path / "photos"
    for i in range(3):
        write_jpeg(photos / f"old{i}.jpg", (60 * i, 100, 100))
    library = Path(os.environ["PHOTOSIFT_LIBRARY"])
    env = os.environ.copy()
    subprocess.run([sys.executable, "-m", "desktop_app", "add", str(photos)], cwd=REPO, env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "index", "--model", "tiny", "--no-tags", "--watch"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ctrl_c_enabled)
    try:
        started = _wait_for(lambda: _catalog_paths(library).get("old0.jpg") == "ok", 120)
        assert started
        time.sleep(1.0)  # the watch starts right after the first index
        write_jpeg(tmp_path / "incoming.jpg", (250, 20, 20), exif=gps_exif(35.0116, 135.7681))
        t0 = time.monotonic()
        shutil.copy(tmp_path / "incoming.jpg", photos / "new.jpg")
        assert _wait_for(lambda: _catalog_paths(library).get("new.jpg") == "ok", 30)
        took = time.monotonic() - t0

        def named() -> bool:
            with PhotoCatalog(LibraryPaths(library).catalog) as cat:
                return bool(cat.places.photo_ids_in("kyoto"))

        assert _wait_for(named, 10)  # named by the same update, after its vectors
        (photos / "old1.jpg").unlink()
        assert _wait_for(lambda: "old1.jpg" not in _catalog_paths(library), 30)
        photos.rename(tmp_path / "photos-renamed")  # the drive is gone, or the folder was renamed
        time.sleep(8)  # the folder check runs every 5 s; give the update time to run
        with PhotoCatalog(LibraryPaths(library).catalog) as cat:
            assert sorted(Path(p.path).name for p in cat.photos_where()) == ["new.jpg", "old0.jpg", "old2.jpg"]
            assert [r.state for r in cat.roots()] == ["offline"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped watching" in out and "Traceback" not in err
    assert "1 new" in out and "1 deleted" in out and "offline (kept as is)" in out
    print(f"new photo in the catalog {took:.1f} s after it was copied")
