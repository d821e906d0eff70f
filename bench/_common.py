"""Shared helpers of the benchmark scripts: the cached ViT-B-32 export, timing, memory and table output.

Not a test helper: the benchmarks run as plain scripts (`python bench/<name>.py`), this module sits beside them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from engine.modelfolder import ModelFolder

if TYPE_CHECKING:
    from torch import nn

MODEL_NAME = "ViT-B-32"
MODEL_ID = "vitb32-bench"
MODEL_SEED = 0  # random weights: open_clip's own initialisation after torch.manual_seed(MODEL_SEED)
# Bumped whenever training.export writes the towers differently, so cached bench folders are re-exported.
# 2: text tower with a dynamic sequence axis.
EXPORT_REVISION = 2


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (no second copy of a 3 MB photo), or a copy across file systems."""
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


def own_models_folder(folder: Path, *linked: str) -> None:
    """Make `folder` the app's models folder for this process and its children, unless PHOTOSIFT_MODELS already
    names one: every library a bench opens is listed in the models folder's libraries.json, which must be the
    bench's, never the person's. `linked`: models of the person's (the starter) linked in, to be read."""
    if os.environ.get("PHOTOSIFT_MODELS"):
        return
    from engine.paths import models_dir

    folder.mkdir(parents=True, exist_ok=True)
    for name in linked:
        source, link = models_dir() / name, folder / name
        if source.is_dir() and not link.exists():
            link.symlink_to(source.resolve(), target_is_directory=True)
    os.environ["PHOTOSIFT_MODELS"] = str(folder)


def default_workdir() -> Path:
    return Path(tempfile.gettempdir()) / "photosift-bench"


def console() -> Console:
    """A console wide enough that tables are not wrapped when the output goes to a file or a pipe."""
    c = Console()
    return c if c.is_terminal else Console(width=150)


def make_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
               caption: str | None = None) -> Table:
    """A plain table: first column left-aligned, the others right-aligned; the caption wraps at the table's width."""
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, caption_justify="left",
                  title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPU cores, load average {load}"


# -- timing ----------------------------------------------------------------------------------
class Stopwatch:
    """Accumulates seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def percentiles_ms(samples_s: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    a = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def time_calls(fn: Callable[[int], object], n: int, warmup: int = 3, budget_s: float | None = None,
               min_calls: int = 10) -> list[float]:
    """Seconds of each of `n` calls fn(i), after `warmup` untimed calls.

    With `budget_s`, stops early once that many seconds were spent and at least `min_calls` calls were timed.
    """
    for i in range(warmup):
        fn(i)
    out: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
        if budget_s is not None and len(out) >= min_calls and time.perf_counter() - start > budget_s:
            break
    return out


# -- other load on the machine ---------------------------------------------------------------------
def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _own_cpu_s() -> float:
    """CPU seconds of this process and all its descendants, including ones a child has reaped.

    The engine's decode workers are children of a fork server, not of this process: their time shows
    in the fork server's own "children" counters, read from /proc.
    """
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    hz = os.sysconf("SC_CLK_TCK")
    return own + sum(sum(fields[11:15]) for fields in _descendant_stats(os.getpid())) / hz


def _descendant_stats(pid: int) -> list[list[int]]:
    """/proc/<pid>/stat fields (after the name) of every live descendant, as ints where they are."""
    stats: dict[int, list[int]] = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(path.parent.name)] = [int(x) if x.lstrip("-").isdigit() else 0 for x in rest]
    out, frontier = [], {pid}
    while frontier:
        children = {c for c, f in stats.items() if f[1] in frontier}
        out += [stats[c] for c in children]
        frontier = children
    return out


class ForeignLoad:
    """How many cores other processes kept busy while a block ran (this process and its reaped children excluded)."""

    def __init__(self) -> None:
        self.cores = 0.0

    def __enter__(self) -> ForeignLoad:
        self._busy, _ = _cpu_ticks()
        self._own = _own_cpu_s()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, _ = _cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        wall = max(time.perf_counter() - self._t0, 1e-9)
        self.cores = max(0.0, ((busy - self._busy) / hz - (_own_cpu_s() - self._own)) / wall)


def wait_until_idle(max_wait_s: float, threshold_cores: float = 0.15, sample_s: float = 1.0) -> float:
    """Wait (up to max_wait_s) until other processes use under `threshold_cores`; returns the last reading."""
    deadline = time.monotonic() + max_wait_s
    while True:
        with ForeignLoad() as load:
            time.sleep(sample_s)
        if load.cores < threshold_cores or time.monotonic() >= deadline:
            return load.cores


# -- memory ----------------------------------------------------------------------------------
def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS), RssAnon, RssFile (memory-mapped files) of this process, in bytes."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# -- the benchmark model -----------------------------------------------------------------------
def build_vitb32() -> tuple[nn.Module, Callable[[Any], Any]]:
    """open_clip ViT-B-32 with random weights (seeded, so every call gives the same model) + its eval transform."""
    import open_clip
    import torch

    torch.manual_seed(MODEL_SEED)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=None)
    return model.eval(), preprocess


def weights_sha256(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def ensure_vitb32_folder(models_dir: Path, model: nn.Module | None = None) -> ModelFolder:
    """The exported ViT-B-32 (fp32 + int8), exported once and cached under models_dir.

    With `model` given, the cached export is checked to hold exactly its weights (else re-exported).
    """
    from training.export import ExportSettings, export_model_folder

    out = Path(models_dir) / MODEL_ID
    want = weights_sha256(model) if model is not None else None
    if (out / "manifest.json").is_file():
        folder = ModelFolder.load(out)
        info = folder.manifest.info
        same = (info.get("seed") == MODEL_SEED and info.get("export_revision") == EXPORT_REVISION
                and (want is None or info.get("weights_sha256") == want))
        if same and folder.has_variant("int8"):
            return folder
    if model is None:
        model, _ = build_vitb32()
        want = weights_sha256(model)
    t0 = time.perf_counter()
    print(f"exporting {MODEL_NAME} (random weights, seed {MODEL_SEED}) to {out} ...", flush=True)
    folder = export_model_folder(model, out, model_id=MODEL_ID, model_name=MODEL_NAME,
                                 # random weights quantise worse than trained ones (0.9935 with onnxruntime
                                 # 1.31.1); the bench times the towers, the 0.995 bar is for real models
                                 settings=ExportSettings(variants=("fp32", "int8"), reduced_min_cosine=0.99),
                                 info={"kind": "bench-random", "seed": MODEL_SEED, "weights_sha256": want,
                                       "export_revision": EXPORT_REVISION})
    print(f"exported in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder
