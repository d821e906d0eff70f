"""Run the packaged app (scripts/build_app.sh -> dist/Photosift/photosift) headless on real photos, and time its
start beside the source checkout's.

    .venv/bin/python bench/packaged_app.py [--app dist/Photosift/photosift] [--model tiny|starter] [--runs 3] [--cold]

Steps, each in a fresh process of the built executable, with PHOTOSIFT_LIBRARY, _MODELS and _CACHE (and HOME) in
a temp folder: `--version`, `add` on ten scikit-image sample photos, `index`, a `search` and a `similar`
(both must find photos), then the window for a few seconds under QT_QPA_PLATFORM=offscreen (it must paint
and exit 0), the window given a new folder (it adds it and indexes it in a spawned child process: the frozen
executable started again by multiprocessing) and `status` (the new photos are indexed).
The model: `tiny`, a small random CLIP exported like a real one (training.tiny, needs the training extra in
*this* Python, never in the app); or `starter`, the app's own starter model, which `index` installs from the
archive shipped in dist/Photosift/models/.

Then the start to the window shown: the wall-clock time from launching the process to the window's first paint
(PHOTOSIFT_QUIT_AFTER_SHOWN, desktop_app/app.py), on the library just indexed, `--runs` times each for the
packaged app and for `python -m desktop_app` from this checkout, taken in turn. Warm: every run a fresh process
with the OS file cache warm, as any start after the first. `--cold`: before each run the files that start opens
(found with strace once) are evicted from the page cache, as after a reboot, without dropping the whole
machine's cache (files another process has mapped, libc and the like, stay).
Prints a table (step, seconds, ok) and exits 1 if a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "dist" / "Photosift" / ("photosift.exe" if os.name == "nt" else "photosift")
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
           "camera", "page", "colorwheel")
SHOWN = "photosift: window shown at "


@dataclass
class Step:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


def write_photos(folder: Path) -> Path:
    """Ten real photos (scikit-image's samples, as tests/conftest.py makes them) in two sub-folders."""
    from PIL import Image
    from skimage import data

    for name in SAMPLES:
        a = getattr(data, name)()
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[..., :3]
        sub = folder / ("space" if name in ("rocket", "hubble_deep_field", "astronaut") else "home")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(sub / f"{name}.jpg", quality=90)
    return folder


def app_env(work: Path) -> dict[str, str]:
    """The app's environment: every folder it writes in `work`, nothing reached over the network."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("PHOTOSIFT_")}
    home = work / "home"
    env.update(PHOTOSIFT_LIBRARY=str(work / "library"), PHOTOSIFT_MODELS=str(work / "models"),
               PHOTOSIFT_CACHE=str(work / "cache"), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CACHE_HOME=str(home / ".cache"),
               QT_QPA_PLATFORM="offscreen", HF_ENDPOINT="http://127.0.0.1:9")
    return env


def _run(name: str, cmd: list[str], env: dict[str, str], check=lambda out: True, timeout: float = 600) -> Step:
    started = time.perf_counter()
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=env["HOME"])
    except subprocess.TimeoutExpired:
        return Step(name, time.perf_counter() - started, False, f"timed out after {timeout:.0f} s")
    seconds = time.perf_counter() - started
    ok = r.returncode == 0 and "Traceback" not in r.stderr
    detail = (r.stdout.strip().splitlines() or [""])[-1][:100]
    if ok:
        try:
            verdict = check(r.stdout)  # True/False, or a string: passed, and what to show
            ok = bool(verdict)
            detail = verdict if isinstance(verdict, str) else detail
        except (ValueError, KeyError, IndexError, TypeError) as e:
            ok, detail = False, f"unexpected output ({e}): {r.stdout[-300:]}"
    else:
        detail = f"exit {r.returncode}: {(r.stderr.strip() or r.stdout.strip())[-300:]}"
    return Step(name, seconds, ok, detail)


def headless_steps(app: Path, photos: Path, work: Path, model: str, window_seconds: float = 3.0) -> list[Step]:
    """`--version`, add, index, search, similar and the window, each a fresh process of the built app."""
    env = app_env(work)
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    exe = str(app)
    index_args = ["index", "--json"] + (["--model", model] if model != "starter" else [])
    rocket = str(photos / "space" / "rocket.jpg")
    n_photos = sum(1 for f in photos.rglob("*") if f.suffix.lower() in (".jpg", ".png"))
    steps = [
        _run("--version", [exe, "--version"], env, lambda out: out.startswith("photosift ")),
        _run("add", [exe, "add", str(photos)], env),
        _run(f"index ({model})", [exe, *index_args], env, lambda out: _indexed(json.loads(out), n_photos)),
        _run("search 'a rocket'", [exe, "search", "a rocket", "--json", "--limit", "3"], env,
             lambda out: 1 <= len(json.loads(out)) <= 3 and _hits(json.loads(out))),
        _run("similar rocket.jpg", [exe, "similar", rocket, "--json", "--limit", "2", "--all"], env,
             lambda out: len(json.loads(out)) == 2 and rocket not in [h["path"] for h in json.loads(out)]
             and _hits(json.loads(out))),
    ]
    window_env = dict(env, PHOTOSIFT_QUIT_AFTER_SHOWN=str(window_seconds))
    steps.append(_run(f"window, offscreen, {window_seconds:g} s", [exe], window_env, lambda out: SHOWN in out,
                      timeout=120))
    # `photosift FOLDER`: the window adds a folder and indexes it in a spawned child process (the frozen
    # executable started again as a multiprocessing child), then the CLI sees the new photos as indexed
    more = work / "more"
    more.mkdir(exist_ok=True)
    from PIL import Image

    for name in ("coffee", "chelsea", "camera"):  # new photos (other bytes), not copies of known ones
        Image.open(photos / "home" / f"{name}.jpg").convert("RGB").save(more / f"{name}-q70.jpg", quality=70)
    window_env = dict(env, PHOTOSIFT_QUIT_AFTER_SHOWN=str(max(window_seconds, 15.0)))
    steps.append(_run("window adds and indexes a folder", [exe, str(more)], window_env, lambda out: SHOWN in out,
                      timeout=180))
    steps.append(_run("status: the window's photos indexed", [exe, "status", "--json"], env,
                      lambda out: json.loads(out)["model"]["indexed"] == n_photos + 3
                      and f"{json.loads(out)['model']['indexed']} photos indexed"))
    return steps


def _indexed(report: dict, n_photos: int) -> str | bool:
    return report["indexed"] == n_photos and f"{report['indexed']} photos, model {report['model']}"


def _hits(hits: list[dict]) -> str:
    return "found " + ", ".join(Path(h["path"]).name for h in hits)


def time_to_window(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from launching `cmd` to its window's first paint (it quits right after)."""
    env = dict(env, PHOTOSIFT_QUIT_AFTER_SHOWN="0")
    launched = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=env["HOME"])
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith(SHOWN)), None)
    if r.returncode != 0 or line is None:
        raise RuntimeError(f"{cmd[0]} did not show its window: exit {r.returncode} {r.stderr[-500:]}")
    return float(line[len(SHOWN):]) - launched


def files_opened(cmd: list[str], env: dict[str, str]) -> list[str]:
    """The regular files one start of the window opens (strace), to take out of the page cache before a cold run."""
    with tempfile.NamedTemporaryFile(suffix=".strace") as log:
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,open,execve", "-o", log.name, *cmd],
                       env=dict(env, PHOTOSIFT_QUIT_AFTER_SHOWN="0"), capture_output=True, timeout=300,
                       cwd=env["HOME"], check=True)
        names = set()
        for line in Path(log.name).read_text(errors="replace").splitlines():
            if "= -1" not in line and '"' in line:
                names.add(line.split('"')[1])
    return sorted(n for n in names if os.path.isfile(n) and not n.startswith(("/proc/", "/sys/", "/dev/")))


def evict(files: list[str]) -> None:
    """Drop these files' clean pages from the page cache (pages another process has mapped stay)."""
    for name in files:
        try:
            fd = os.open(name, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def startup_steps(app: Path, work: Path, runs: int, cold: bool = False) -> list[Step]:
    """The window's start, packaged and source runs taken in turn (so both see the same load on the machine),
    the checkout's bytecode compiled first, as an installed wheel and the packaged app have theirs. With `cold`,
    the files each start opens (its libraries, modules, Qt plugins, fonts) are taken out of the page cache
    before each run: as after a reboot, for these files, without dropping the whole machine's cache."""
    import compileall

    for package in ("desktop_app", "engine", "training", "resources"):
        compileall.compile_dir(ROOT / package, quiet=1)
    env = app_env(work)
    kinds = {"packaged": ([str(app)], env),
             "source": ([sys.executable, "-m", "desktop_app"], dict(env, PYTHONPATH=str(ROOT)))}
    times: dict[str, list[float]] = {name: [] for name in kinds}
    opened = {name: files_opened(cmd, e) for name, (cmd, e) in kinds.items()} if cold else {}
    try:
        for _ in range(runs):
            for name, (cmd, e) in kinds.items():
                if cold:
                    evict(opened[name])
                times[name].append(time_to_window(cmd, e))
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        return [Step("window shown", 0.0, False, str(err)[:300])]
    out = []
    for name, got in times.items():
        how = f"cold ({len(opened[name])} files evicted)" if cold else "warm cache"
        out.append(Step(f"window shown, {name}, {how}, median of {runs}", statistics.median(got), True,
                        " ".join(f"{t:.2f}" for t in got)))
    return out


def tiny_model(models: Path) -> None:
    from training.tiny import export_tiny  # torch: the training extra of the Python running this script

    export_tiny(models / "tiny", variants=("fp32", "int8"))


def print_table(steps: list[Step]) -> None:
    width = max(len(s.name) for s in steps)
    print(f"{'step':<{width}}  {'seconds':>8}  ok   detail")
    for s in steps:
        print(f"{s.name:<{width}}  {s.seconds:8.2f}  {'yes' if s.ok else 'NO ':<3}  {s.detail}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", type=Path, default=DEFAULT_APP, help="the built executable")
    ap.add_argument("--model", choices=("tiny", "starter"), default="tiny",
                    help="tiny: built here with torch; starter: the app's own copy, installed by `index`")
    ap.add_argument("--runs", type=int, default=3, help="window starts timed, packaged and source each")
    ap.add_argument("--window-seconds", type=float, default=3.0)
    ap.add_argument("--cold", action="store_true",
                    help="also time starts with the files they open evicted from the page cache (needs strace)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = ap.parse_args()
    if not args.app.is_file():
        print(f"packaged_app: {args.app} not found: build it with scripts/build_app.sh", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    work = args.keep or Path(tempfile.mkdtemp(prefix="photosift-packaged-"))
    try:
        photos = write_photos(work / "photos")
        if args.model == "tiny":
            tiny_model(work / "models")
        app_size = sum(f.stat().st_size for f in args.app.parent.rglob("*") if f.is_file() and not f.is_symlink())
        print(f"{args.app}: folder {app_size / 2**20:.0f} MiB")
        steps = headless_steps(args.app, photos, work, args.model, args.window_seconds)
        if all(s.ok for s in steps):
            steps += startup_steps(args.app, work, args.runs)
            if args.cold:
                steps += startup_steps(args.app, work, args.runs, cold=True)
        print_table(steps)
        return 0 if all(s.ok for s in steps) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
