"""What a person needs to choose a model: download size, speed on this computer, a quality note, and
whether the download can work right now. For the first-run screen and Settings (and `models list`).

Speed is ESTIMATED, never invented: each registry entry carries its image tower's rate from
bench/model_speed.py on the reference machine (2 cores; see docs/benchmarks.md), and that rate
is scaled by a 0.2 s single-core matrix-multiply timing of this computer against the same timing on
the reference machine, times the cores here over the reference's 2. No model is run for it (a model
that is not installed cannot be). No torch here: the window imports this.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from training.registry import ModelInfo, RegistryEntry, builtin_entries, list_models

# The reference machine's single-core SGEMM rate (docs/benchmarks.md: "a large single-core SGEMM reaches 97 GFLOP/s
# here"), where the registry's `photos_per_s` were measured, and its core count.
REFERENCE_GFLOPS = 97.0
REFERENCE_CORES = 2
MAX_CORES = 8  # inference scales with cores only so far; beyond, memory bandwidth and batch size rule
REACH_TIMEOUT_S = 1.5  # long enough for a working network, short enough not to keep a first-run screen waiting
HUB = "https://huggingface.co"


@lru_cache(maxsize=1)
def machine_factor() -> float:
    """This computer's speed relative to the reference machine (1.0 = as fast), from a ~0.2 s timing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; without it the timing would use every core
        return 1.0
    a = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    with threadpool_limits(1):
        a @ a
        best, start, n = float("inf"), time.perf_counter(), 0
        while n < 3 or (time.perf_counter() - start < 0.2 and n < 200):
            t = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t)
            n += 1
    gflops = 2 * 512**3 / best / 1e9
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = min(len(usable), MAX_CORES)  # the cores this process may use (a container's, not the host's)
    return gflops / REFERENCE_GFLOPS * cores / REFERENCE_CORES


@dataclass(frozen=True)
class ModelFacts:
    id: str
    name: str
    installed: bool
    kind: str  # starter | url | hf-hub | import | fine-tuned | local
    size_bytes: int | None  # on disk when installed, else the download (or, for the starter, the build)
    photos_per_s: float | None  # estimated, see the module doc
    quality: str
    licence: str
    where: str  # a download's host, "" when nothing is downloaded

    @property
    def downloads(self) -> bool:
        return self.kind in ("url", "hf-hub") and not self.installed

    def size_text(self) -> str:
        if self.size_bytes is None:
            return "size unknown"
        mb = self.size_bytes / 1e6
        amount = f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"
        if self.installed:
            return f"installed, {amount} on disk"
        if self.kind == "starter":
            return f"the app's own copy or built here in ~1-2 min, no download ({amount} on disk)"
        return f"{amount} download"

    def speed_text(self) -> str:
        if self.photos_per_s is None:
            return "speed not measured"
        rate = self.photos_per_s
        shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"
        return f"~{shown} photos/s on this computer (estimated)"


def _where(entry: RegistryEntry | None) -> str:
    if entry is None:
        return ""
    if entry.kind == "hf-hub":
        return os.environ.get("HF_ENDPOINT") or HUB
    if entry.kind == "url":
        return str(entry.weights.get("url", ""))
    return ""


def model_facts(models: list[ModelInfo] | None = None) -> list[ModelFacts]:
    """Every model `models list` shows, with the facts to choose by, registry order first."""
    entries = builtin_entries()
    factor = machine_factor()
    out = []
    for m in models if models is not None else list_models():
        entry = entries.get(m.id)
        ref = entry.photos_per_s if entry is not None else None
        quality = entry.quality if entry is not None and entry.quality else m.description
        renamed = m.name and m.name != m.id
        name = m.name if renamed else (entry.title if entry is not None and entry.title else m.id)
        out.append(ModelFacts(m.id, name, m.installed, m.source, m.size, ref * factor if ref else None,
                              quality, m.licence.split(" (")[0], _where(entry)))
    return out


def can_reach(url: str, timeout_s: float = REACH_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the URL's host opens within timeout_s: a quick 'are we online?' for the
    download choices (no request is sent). Behind a proxy a direct connection proves nothing: assume yes,
    and let the download itself say."""
    if urllib.request.getproxies():
        return True
    parsed = urllib.parse.urlparse(url)
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True
