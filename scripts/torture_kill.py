"""Kill `photosift index` with SIGKILL at random moments, unplug a folder mid-index, and count the damage.

Not a unit test (minutes, real processes, real photos). It builds a library of a few hundred real photos
(scikit-image's sample photos at several sizes and tints), then, --kills times: changes some photos (so
there is work to do), starts `photosift index` and kills it -9 in a chosen stage (scan, decode, inference,
tagging, vector index save) a random moment after the stage began, or at a purely random time. A final
clean `index` follows, and the script prints photos lost, user tags lost, tags missing, failed photos and
leftover temp files (pymp-*, *.tmp). The unplug case moves the photo folder away while `index` reads it,
runs `index` while it is away and after it is back, and prints the failed photos after re-plugging.
Three more cases count photos and user tags lost: drives unplugged (a bind mount inside a root, a root that
is itself a mount point, a root folder gone) and then `index --confirm-deletions`, re-plugged after; a folder
added twice (through a symlink, a bind mount, and as an older version could list it) and then
`duplicates --trash`; and `duplicates --trash` killed at random moments, then `--restore`. The mount cases
need root (they are skipped, and say so, without it).

    PYTHONPATH=. python scripts/torture_kill.py [--kills 35] [--photos 300] [--seed 0] [--keep DIR]

The tiny random model is exported once (training.tiny.export_tiny) unless --models names a folder that
already holds a model `tiny`. The vector index is forced onto its on-disk HNSW path (normally used above
20k photos) in the child processes, so kills also land while it is saved.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("scan", "decode", "inference", "tag", "index-save")

# Runs `photosift` in the child with stage markers on stderr ("@stage NAME") and the HNSW path forced on.
CHILD = r"""
import sys, contextlib
import engine.vectorindex as vi
vi.EXACT_BELOW = 0
def mark(name):
    sys.stderr.write(f"@stage {name}\n"); sys.stderr.flush()
import engine.encoder as enc
_encode = enc.ClipEncoder.encode_images
def encode_images(self, x):
    mark("inference"); out = _encode(self, x); mark("decode"); return out
enc.ClipEncoder.encode_images = encode_images
_update = vi.VectorIndex._update_file
def update_file(self, *a, **k):
    mark("index-save"); return _update(self, *a, **k)
vi.VectorIndex._update_file = update_file
import desktop_app.commands.library as cl
@contextlib.contextmanager
def bar(enabled=True):
    seen = set()
    def show(p):
        name = {"index": "decode", "vectors": "index-save"}.get(p.stage, p.stage)
        if name not in seen:
            seen.add(name); mark(name)
    yield show
cl.progress_bar = bar
from desktop_app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def sample_photos(out: Path, count: int, rng: random.Random) -> list[Path]:
    """`count` distinct real photos: scikit-image samples at several sizes, tints and JPEG qualities."""
    import numpy as np
    from PIL import Image
    from skimage import data

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
             "retina", "camera", "page", "colorwheel", "motorcycle_left", "cat")
    bases = []
    for name in names:
        try:
            a = getattr(data, name)()
        except Exception:  # noqa: BLE001 - a sample missing from this scikit-image version
            continue
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        bases.append((name, Image.fromarray(np.ascontiguousarray(a[..., :3]).astype(np.uint8))))
    paths = []
    for i in range(count):
        name, img = bases[i % len(bases)]
        scale = (0.25, 0.5, 0.75, 1.0, 1.5)[(i // len(bases)) % 5]
        w, h = max(16, int(img.width * scale)), max(16, int(img.height * scale))
        tint = np.array([rng.randint(80, 120) / 100 for _ in range(3)], dtype=np.float32)
        pixels = np.clip(np.asarray(img.resize((w, h)), np.float32) * tint, 0, 255).astype(np.uint8)
        dest = out / f"set{i % 7}" / f"{name}_{i:04d}.jpg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(dest, quality=rng.choice((70, 85, 95)))
        paths.append(dest)
    return paths


def retouch(paths: list[Path], rng: random.Random, fraction: float) -> None:
    """Change the content of a fraction of the photos, so the next index has work in every stage."""
    from PIL import Image

    for p in rng.sample(paths, max(1, int(len(paths) * fraction))):
        with Image.open(p) as img:
            img = img.convert("RGB")
        img.putpixel((0, 0), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        img.save(p, quality=rng.choice((70, 85, 95)))


class Child:
    """A `photosift` process whose stage markers are read as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stages: list[tuple[float, str]] = []
        self.output: list[str] = []
        self.t0 = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("@stage "):
                self.stages.append((time.monotonic(), line.split()[1]))
            else:
                self.output.append(line)

    def stage(self) -> str:
        return self.stages[-1][1] if self.stages else "start"

    def wait_for(self, stage: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if any(s == stage for _, s in self.stages):
                return True
            time.sleep(0.005)
        return any(s == stage for _, s in self.stages)

    def kill(self) -> str:
        stage = self.stage()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return stage

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out + "".join(self.output)


def leftovers(library: Path, system_tmp: Path) -> dict[str, int]:
    return {"pymp-* folders": sum(1 for p in [*system_tmp.rglob("pymp-*"), *library.rglob("pymp-*")] if p.is_dir()),
            "*.tmp files": sum(1 for p in library.rglob("*.tmp") if p.is_file())}


def catalog_facts(library: Path, model: str, photos_dir: Path, known_as: Path | None = None) -> dict[str, int]:
    """Counts from the catalog; `known_as`: where the catalog knows `photos_dir` (it was moved away)."""
    conn = sqlite3.connect(f"file:{library / 'catalog.db'}?mode=ro", uri=True)
    on_disk = {str((known_as or photos_dir) / p.relative_to(photos_dir)) for p in photos_dir.rglob("*.jpg")}
    ok = {r[0] for r in conn.execute(
        "SELECT p.path FROM photos p JOIN embeddings e ON e.photo_id = p.id AND e.model_id = ? "
        "WHERE p.status = 'ok'", (model,))}
    facts = {
        "photos on disk": len(on_disk),
        "photos lost (on disk, not indexed)": len(on_disk - ok),
        "tags missing (vectors, no zero-shot tags)": conn.execute(
            "SELECT COUNT(*) FROM embeddings e JOIN photos p ON p.id = e.photo_id WHERE e.model_id = ? "
            "AND (p.tagged_model IS NULL OR p.tagged_model != ?)", (model, model)).fetchone()[0],
        "failed photos": conn.execute("SELECT COUNT(*) FROM photos WHERE status = 'error'").fetchone()[0],
        "missing (held) photos": conn.execute(
            "SELECT COUNT(*) FROM photos WHERE missing_since IS NOT NULL").fetchone()[0],
        "user tags": conn.execute("SELECT COUNT(*) FROM tags WHERE source = 'user'").fetchone()[0],
    }
    conn.close()
    return facts


def run_ok(args: list[str], env: dict[str, str]) -> str:
    code, out = Child(args, env).finish()
    if code != 0:
        raise SystemExit(f"`photosift {' '.join(args)}` failed ({code}):\n{out}")
    return out


def kill_loop(work: Path, env: dict[str, str], kills: int, photos: int, rng: random.Random) -> None:
    photos_dir, library = work / "photos", Path(env["PHOTOSIFT_LIBRARY"])
    paths = sample_photos(photos_dir, photos, rng)
    run_ok(["add", str(photos_dir)], env)
    user_tagged = rng.sample(paths, 10)
    hits: dict[str, int] = {}
    damage = dict.fromkeys(("kills that left unindexed photos", "kills that left untagged photos",
                            "kills that left temp files"), 0)
    done = attempts = 0
    while done < kills and attempts < kills * 3:
        attempts += 1
        if done:
            retouch(paths, rng, 0.25)
            if attempts % 3 == 0:
                for f in (library / "indexes").glob("tags-*.npy"):
                    f.unlink()  # the vocabulary is encoded again: tagging lasts long enough to be hit
        target = STAGES[done % len(STAGES)] if done % 6 != 5 else "random"
        child = Child(["index", "--model", "tiny", "--workers", "2", "--batch-size", "16"], env)
        if target == "random":
            time.sleep(rng.uniform(0.2, 8.0))
        elif child.wait_for(target, 120):
            time.sleep(rng.uniform(0.0, {"scan": 0.2, "index-save": 0.2, "inference": 0.1}.get(target, 0.8)))
        if child.proc.poll() is not None:
            code, _ = child.finish()
            print(f"try {attempts:2d}: the run ended before the kill (exit {code}, last stage {child.stage()})")
            continue
        stage = child.kill()
        done += 1
        hits[stage] = hits.get(stage, 0) + 1
        took = time.monotonic() - child.t0
        left = leftovers(library, Path(env["TMPDIR"]))
        facts = catalog_facts(library, "tiny", photos_dir)
        damage["kills that left untagged photos"] += facts["tags missing (vectors, no zero-shot tags)"] > 0
        damage["kills that left unindexed photos"] += facts["photos lost (on disk, not indexed)"] > 0
        damage["kills that left temp files"] += sum(left.values()) > 0
        print(f"kill {done:2d}: aimed at {target:<10} landed in {stage:<10} after {took:5.1f} s; left "
              f"{facts['photos lost (on disk, not indexed)']} unindexed, "
              f"{facts['tags missing (vectors, no zero-shot tags)']} untagged, "
              f"{left['pymp-* folders']} pymp-*, {left['*.tmp files']} *.tmp (healed by the next run)")
        if done == 3:  # user tags on a few photos, to see that none is ever lost
            for p in user_tagged:
                run_ok(["tag", str(p), "--add", "torture-keep"], env)
    before = leftovers(library, Path(env["TMPDIR"]))
    mid = catalog_facts(library, "tiny", photos_dir)
    run_ok(["index", "--model", "tiny", "--workers", "2"], env)
    after_facts = catalog_facts(library, "tiny", photos_dir)
    after = leftovers(library, Path(env["TMPDIR"]))
    print("\nkills landed per stage: " + ", ".join(f"{s} {c}" for s, c in hits.items() if c))
    print("; ".join(f"{k}: {v}" for k, v in damage.items()))
    print(f"\n{'after ' + str(done) + ' kills':<48}{'before final index':>20}{'after final index':>20}")
    for key in after_facts:
        print(f"{key:<48}{mid[key]:>20}{after_facts[key]:>20}")
    print(f"{'user tags lost':<48}{len(user_tagged) - mid['user tags']:>20}"
          f"{len(user_tagged) - after_facts['user tags']:>20}")
    for key in after:
        print(f"{'leftover ' + key:<48}{before[key]:>20}{after[key]:>20}")


def unplug_case(work: Path, env: dict[str, str], photos: int, rng: random.Random) -> None:
    env = dict(env, PHOTOSIFT_LIBRARY=str(work / "unplug-library"))
    usb, away = work / "usb", work / "usb-unplugged"
    sample_photos(usb, photos, rng)
    run_ok(["add", str(usb)], env)
    child = Child(["index", "--model", "tiny", "--workers", "2", "--batch-size", "16"], env)
    child.wait_for("inference", 120)
    time.sleep(rng.uniform(0.1, 0.5))
    usb.rename(away)  # the drive is pulled out while index reads it
    code, _ = child.finish()
    library = Path(env["PHOTOSIFT_LIBRARY"])
    during = catalog_facts(library, "tiny", away, usb)
    out_away = run_ok(["index"], env)  # while unplugged
    while_away = catalog_facts(library, "tiny", away, usb)
    away.rename(usb)  # plugged back
    run_ok(["index"], env)
    back = catalog_facts(library, "tiny", usb)
    print(f"\nunplug during index (exit {code}); index while unplugged said: "
          + " / ".join(line.strip() for line in out_away.splitlines() if line.startswith(("  offline", "kept"))))
    print(f"{'':<48}{'after unplug':>14}{'index unplugged':>17}{'after re-plug':>15}")
    for key in ("photos on disk", "photos lost (on disk, not indexed)", "failed photos",
                "tags missing (vectors, no zero-shot tags)", "missing (held) photos"):
        print(f"{key:<48}{during[key]:>14}{while_away[key]:>17}{back[key]:>15}")


def _mount(src: Path, at: Path) -> bool:
    at.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "--bind", str(src), str(at)], capture_output=True).returncode == 0


def _umount(at: Path) -> None:
    subprocess.run(["umount", "-l", str(at)], capture_output=True)


def _user_tags(library: Path) -> dict[str, set[str]]:
    conn = sqlite3.connect(f"file:{library / 'catalog.db'}?mode=ro", uri=True)
    rows = conn.execute("SELECT p.path, t.name FROM tags t JOIN photos p ON p.id = t.photo_id "
                        "WHERE t.source = 'user'").fetchall()
    conn.close()
    out: dict[str, set[str]] = {}
    for path, tag in rows:
        out.setdefault(path, set()).add(tag)
    return out


def _photo_ids(library: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{library / 'catalog.db'}?mode=ro", uri=True)
    ids = dict(conn.execute("SELECT path, id FROM photos").fetchall())
    conn.close()
    return ids


def unplug_confirm_case(work: Path, env: dict[str, str], photos: int, rng: random.Random) -> dict[str, int]:
    """Drives that are not there, then `index --confirm-deletions`: nothing of theirs may be forgotten."""
    env = dict(env, PHOTOSIFT_LIBRARY=str(work / "confirm-library"))
    library = Path(env["PHOTOSIFT_LIBRARY"])
    drives, disk, stick_disk, stick, gone = (work / "drives", work / "usb-disk", work / "stick-disk",
                                             work / "stick", work / "sd-card")
    n = max(8, photos // 10)
    sample_photos(drives / "home", n, rng)
    sample_photos(disk, n, rng)
    sample_photos(stick_disk, n, rng)
    sample_photos(gone, n, rng)
    if not (_mount(disk, drives / "usb") and _mount(stick_disk, stick)):
        _umount(drives / "usb")
        print("\nunplug + --confirm-deletions: skipped (bind mounts need root)")
        return {}
    try:
        for folder in (drives, stick, gone):
            run_ok(["add", str(folder)], env)
        run_ok(["index", "--model", "tiny", "--workers", "2", "--no-tags"], env)
        tagged = [p for folder in (drives / "usb", drives / "home", stick, gone)
                  for p in rng.sample(sorted(folder.rglob("*.jpg")), 3)]
        for p in tagged:
            run_ok(["tag", str(p), "--add", "unplug-keep"], env)
        ids_before, tags_before = _photo_ids(library), _user_tags(library)
        home_photo = sorted((drives / "home").rglob("*.jpg"))[0]
        home_photo.unlink()  # one photo truly deleted: --confirm-deletions may forget this one
        _umount(drives / "usb")  # a drive inside a root, unplugged
        _umount(stick)  # a root that is itself a mount point
        gone.rename(work / "sd-card-away")  # a root whose folder is not there at all
        out = run_ok(["index", "--confirm-deletions"], env)
        ids_after, tags_after = _photo_ids(library), _user_tags(library)
        _mount(disk, drives / "usb")
        _mount(stick_disk, stick)
        (work / "sd-card-away").rename(gone)
        run_ok(["index", "--model", "tiny", "--no-tags"], env)
        ids_back, tags_back = _photo_ids(library), _user_tags(library)
    finally:
        _umount(drives / "usb")
        _umount(stick)
    lost_rows = [p for p in ids_before if p not in ids_after and p != str(home_photo)]
    new_ids = [p for p in ids_back if p in ids_before and ids_back[p] != ids_before[p]]
    lost_tags = sum(len(t - tags_after.get(p, set())) for p, t in tags_before.items() if p != str(home_photo))
    lost_tags_back = sum(len(t - tags_back.get(p, set())) for p, t in tags_before.items() if p != str(home_photo))
    said = [line.strip() for line in out.splitlines() if "offline" in line or "forgot" in line or "kept" in line]
    facts = {"photos on unplugged drives": 3 * n, "photos forgotten while unplugged": len(lost_rows),
             "user tags lost while unplugged": lost_tags, "photos back with a new id": len(new_ids),
             "user tags lost after re-plug": lost_tags_back,
             "the deleted photo forgotten": int(str(home_photo) not in ids_after)}
    print("\nunplugged drives, then `index --confirm-deletions` said: " + " / ".join(said[:4]))
    for key, value in facts.items():
        print(f"{key:<48}{value:>8}")
    return facts


def _trash_count(home: Path) -> int:
    files = home / ".local" / "share" / "Trash" / "files"
    return sum(1 for _ in files.iterdir()) if files.is_dir() else 0


def twin_case(work: Path, env: dict[str, str], photos: int, rng: random.Random) -> dict[str, int]:
    """One folder known by two spellings: `add` refuses the second; a library that has both (as an older
    version could make it) must not trash the only copy of each photo as a "duplicate" of itself."""
    env = dict(env, PHOTOSIFT_LIBRARY=str(work / "twin-library"))
    library = Path(env["PHOTOSIFT_LIBRARY"])
    real, link, bind = work / "twin-real", work / "twin-link", work / "twin-bind"
    paths = sample_photos(real, max(8, photos // 10), rng)
    link.symlink_to(real, target_is_directory=True)
    run_ok(["add", str(real)], env)
    refused = {}
    for name, other in (("symlink", link), ("..-spelling", real / ".." / real.name)):
        refused[name] = Child(["add", str(other)], env).finish()[0] != 0
    if _mount(real, bind):
        try:
            refused["bind mount"] = Child(["add", str(bind)], env).finish()[0] != 0
        finally:
            _umount(bind)
    # An older version let the twin in: put it in the catalog directly, as it would have.
    conn = sqlite3.connect(library / "catalog.db")
    if not conn.execute("SELECT 1 FROM roots WHERE path = ?", (str(link),)).fetchone():
        conn.execute("INSERT INTO roots(path, added_at) VALUES (?, ?)", (str(link), time.time()))
        conn.commit()
    conn.close()
    run_ok(["index", "--model", "tiny", "--workers", "2", "--no-tags"], env)
    trash_before = _trash_count(Path(env["HOME"]))
    groups = json.loads(subprocess.run([sys.executable, "-m", "desktop_app", "duplicates", "--json"], cwd=REPO,
                                       env=env, capture_output=True, text=True, check=True).stdout)
    # a photo grouped with itself (the same file under the twin's name) would go to the trash as its own copy
    twins = [(g["keep"], p["path"]) for g in groups for p in g["photos"]
             if p["path"] != g["keep"] and os.path.exists(p["path"]) and os.path.samefile(p["path"], g["keep"])]
    Child(["duplicates", "--trash", "--yes"], env).finish()
    facts = {"photos in the folder": len(paths),
             "photos trashed (near-duplicates of another photo)": sum(1 for p in paths if not p.exists()),
             "photos grouped with themselves": len(twins),
             "only copies trashed": sum(1 for keep, p in twins if not Path(p).exists() or not Path(keep).exists()),
             "files in the system trash": _trash_count(Path(env["HOME"])) - trash_before}
    facts.update({f"second add refused ({k})": int(v) for k, v in refused.items()})
    print("\none folder under two spellings")
    for key, value in facts.items():
        print(f"{key:<48}{value:>8}")
    return facts


def trash_kill_case(work: Path, env: dict[str, str], kills: int, rng: random.Random) -> dict[str, int]:
    """`duplicates --trash` killed at random moments: every photo is on disk or put back by `--restore`."""
    env = dict(env, PHOTOSIFT_LIBRARY=str(work / "trash-library"))
    folder = work / "copies"
    originals = sample_photos(folder / "originals", 60, rng)
    for p in originals:
        shutil.copy(p, folder / f"copy-of-{p.name}")
    every = sorted(p.name for p in folder.rglob("*.jpg"))
    run_ok(["add", str(folder)], env)
    run_ok(["index", "--model", "tiny", "--workers", "2", "--no-tags"], env)
    unrestored = killed = 0
    for _ in range(kills):
        child = Child(["duplicates", "--trash", "--yes"], env)
        time.sleep(rng.uniform(0.2, 0.7))  # a whole run takes about 0.6 s here
        if child.proc.poll() is None:
            child.kill()
            killed += 1
        else:
            child.finish()
        for _ in range(10):
            code, out = Child(["duplicates", "--restore"], env).finish()
            if code != 0 or "nothing" in out.lower():
                break
        now = sorted(p.name for p in folder.rglob("*.jpg"))
        unrestored += len(set(every) - set(now))
        for p in originals:  # the copies come back for the next round if --restore missed one
            if not (folder / f"copy-of-{p.name}").exists():
                shutil.copy(p, folder / f"copy-of-{p.name}")
        run_ok(["index", "--no-tags"], env)
    facts = {"trash runs": kills, "killed mid-run": killed, "photos not back after --restore": unrestored}
    print("\n`duplicates --trash` killed, then `--restore`")
    for key, value in facts.items():
        print(f"{key:<48}{value:>8}")
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=35)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", type=Path, help="a models folder that already holds `tiny`")
    parser.add_argument("--trash-kills", type=int, default=8)
    parser.add_argument("--only-new", action="store_true",
                        help="only the unplug + --confirm-deletions, twin-folder and trash-kill cases")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp folder, deleted)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(args.keep or tempfile.mkdtemp(prefix="photosift-torture-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        models = args.models or work / "models"
        if not (models / "tiny" / "manifest.json").is_file():
            from training.tiny import export_tiny

            export_tiny(models / "tiny")
        system_tmp = work / "system-tmp"
        system_tmp.mkdir(exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(REPO), PHOTOSIFT_MODELS=str(models), TMPDIR=str(system_tmp),
                   PHOTOSIFT_LIBRARY=str(work / "library"), PHOTOSIFT_CACHE=str(work / "cache"))
        env.pop("PHOTOSIFT_MODEL", None)
        home = work / "home"
        home.mkdir(exist_ok=True)  # the system trash of the duplicates cases lives here, not in the user's
        env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
        if not args.only_new:
            kill_loop(work, env, args.kills, args.photos, rng)
            unplug_case(work, env, args.photos, rng)
        unplug_confirm_case(work, env, args.photos, rng)
        twin_case(work, env, args.photos, rng)
        trash_kill_case(work, env, args.trash_kills, rng)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
