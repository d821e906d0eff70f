"""The `photosift` command line as a user runs it: real processes for crash and concurrency cases."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_app.cli import main
from engine.library import Library
from tests.conftest import write_jpeg

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], cwd=REPO, env=env or os.environ.copy(),
                          capture_output=True, text=True, **kw)


def test_add_index_search_similar_status(capsys, tiny_model, photo_dir):
    code, out, _ = run(capsys, "add", str(photo_dir))
    assert code == 0 and "new photos" in out
    code, out, _ = run(capsys, "index", "--model", "tiny", "--json")
    report = json.loads(out)
    assert code == 0 and report["indexed"] >= 10 and report["model"] == "tiny"
    code, out, _ = run(capsys, "search", "a", "rocket", "--json", "--limit", "3")
    hits = json.loads(out)
    assert code == 0 and 1 <= len(hits) <= 3 and {"path", "score"} <= set(hits[0])
    rocket = str(photo_dir / "space" / "rocket.jpg")
    code, out, _ = run(capsys, "similar", rocket, "--json", "--limit", "2", "--all")
    hits = json.loads(out)
    assert len(hits) == 2 and rocket not in [h["path"] for h in hits]
    code, out, _ = run(capsys, "search", f"{rocket} + rocket", "--json", "--all", "--limit", "1")
    assert json.loads(out)[0]["path"] == rocket
    code, out, _ = run(capsys, "status", "--json")
    status = json.loads(out)
    assert status["photos"]["ok"] == status["photos"]["total"] and status["model"]["active"] == "tiny"
    assert status["roots"] == [{"path": str(photo_dir), "state": "online", "reason": None}]


def test_errors_are_one_line_without_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "add", str(tmp_path / "nope"))
    assert code == 1 and err.startswith("photosift: error: cannot add") and "Traceback" not in err
    code, _, err = run(capsys, "index")
    assert code == 1 and "no Photosift library" in err and "`photosift add FOLDER` creates one" in err
    Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])).close()  # a library without folders
    code, _, err = run(capsys, "index")
    assert code == 1 and "no folders yet" in err
    code, _, err = run(capsys, "search", "- dogs")
    assert code == 1 and "positive term" in err


def test_status_reports_failures_and_offline_roots(capsys, tiny_model, tmp_path):
    usb, bad = tmp_path / "usb", tmp_path / "bad"
    write_jpeg(usb / "a.jpg")
    write_jpeg(usb / "b.jpg", color=(1, 1, 1))
    (bad / "broken.jpg").parent.mkdir()
    (bad / "broken.jpg").write_text("nope")
    assert run(capsys, "add", str(usb), str(bad))[0] == 0
    assert run(capsys, "index", "--model", "tiny")[0] == 0
    shutil.rmtree(usb)  # unplugged between two runs
    code, out, _ = run(capsys, "index", "--json")
    assert code == 0 and json.loads(out)["scan"]["offline_roots"] == [str(usb)]
    status = json.loads(run(capsys, "status", "--json")[1])
    assert status["photos"]["total"] == 3
    assert {r["path"]: r["state"] for r in status["roots"]} == {str(usb): "offline", str(bad): "online"}
    assert status["failed"] == [{"path": str(bad / "broken.jpg"), "kind": "permanent",
                                 "reason": "not an image, or a format Photosift cannot read"}]


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_second_indexer_refused_while_first_holds_the_library(tiny_model, tmp_path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    assert cli("add", str(tmp_path / "p")).returncode == 0
    with Library.open(Path(os.environ["PHOTOSIFT_LIBRARY"])) as lib, lib.write_lock():
        r = cli("index", "--model", "tiny")
    assert r.returncode == 1 and "another Photosift process" in r.stderr and "Traceback" not in r.stderr
    assert cli("index", "--model", "tiny", "--wait", "5").returncode == 0


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.slow  # 3 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_kill_9_mid_index_then_resume(tiny_model, tmp_path):
    folder = tmp_path / "many"
    for i in range(400):
        write_jpeg(folder / f"{i:03d}.jpg", color=(i % 256, (i * 7) % 256, (i * 13) % 256), size=(96, 64))
    assert cli("add", str(folder)).returncode == 0
    db = Path(os.environ["PHOTOSIFT_LIBRARY"]) / "catalog.db"
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "index", "--model", "tiny", "--batch-size", "2",
                             "--workers", "2", "--no-tags"], cwd=REPO, env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=1) as c:
                done = c.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        except sqlite3.OperationalError:
            pass
        if done >= 20:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "indexing finished before it could be killed"
    helpers = _descendants(proc.pid)  # the decode workers (and the fork server that started them)
    assert helpers, "indexing ran without decode worker processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in helpers):
        time.sleep(0.1)
    assert not [p for p in helpers if _alive(p)], "decode workers outlived the killed indexing process"
    with sqlite3.connect(db) as c:
        partial = c.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert 20 <= partial < 400
    r = cli("index", "--model", "tiny", "--json", "--no-tags")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["indexed"] == 400 - partial and report["failed"] == []
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT COUNT(*), COUNT(DISTINCT path) FROM photos").fetchone() == (400, 400)
        assert c.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 400
        assert c.execute("SELECT COUNT(*) FROM photos WHERE status != 'ok'").fetchone()[0] == 0
    assert not list((db.parent / "thumbnails").rglob("*.tmp"))


def test_models_use_reindexes_and_keeps_previous_vectors(capsys, tiny_model, photo_dir, models_root):
    from training.tiny import export_tiny

    export_tiny(models_root / "tiny-d", model_id="tiny-d", seed=4)
    try:
        assert run(capsys, "add", str(photo_dir))[0] == 0
        assert run(capsys, "index", "--model", "tiny")[0] == 0
        code, _out, err = run(capsys, "models", "use", "tiny-d")
        assert code == 0, err
        status = json.loads(run(capsys, "status", "--json")[1])
        total = status["photos"]["total"]
        assert status["model"]["active"] == "tiny-d"
        assert status["vectors_per_model"] == {"tiny": total, "tiny-d": total}
    finally:
        shutil.rmtree(models_root / "tiny-d")
