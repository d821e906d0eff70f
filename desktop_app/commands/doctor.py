"""`photosift doctor`: what this computer offers Photosift, and where its models and library live.

Every probe tolerates failure (no torch, no nvidia-smi, no library yet) and says so instead.
`doctor --repair` checks the catalog's integrity and, when it is damaged (or empty, or missing from a library
in use), restores the newest good backup (or starts a fresh catalog with the folders that can still be read);
the damaged file is kept aside. Without --repair the doctor only reads: it creates and writes nothing, and
exits non-zero when the library's catalog is damaged, empty or missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop_app.commands import shown
from engine.errors import CatalogMissingError, NoLibraryError
from engine.paths import LibraryPaths, download_cache_dir, models_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check Python, ONNX Runtime, CUDA, torch, installed models and the library")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--repair", action="store_true",
                   help="check the catalog; if damaged, restore its newest good backup or rebuild it")
    p.set_defaults(func=cmd_doctor)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def runtime_report() -> dict[str, Any]:
    out: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable,
                           "platform": platform.platform(), "machine": platform.machine(),
                           "photosift": _version("photosift")}
    try:
        from engine.encoder import cuda_usable
        from engine.onnx_runtime import ort

        out["onnxruntime"] = {"version": ort.__version__, "providers": list(ort.get_available_providers()),
                              "cuda_usable": cuda_usable()}
    except ImportError as e:
        out["onnxruntime"] = {"error": str(e)}
    out["gpu"] = _nvidia_smi()
    out["torch"] = _torch()
    out["open_clip"] = _version("open_clip_torch")
    return out


def _nvidia_smi() -> list[dict[str, str]] | str:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return "nvidia-smi not found"
    try:
        r = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"nvidia-smi failed: {e}"
    if r.returncode != 0:
        return f"nvidia-smi failed: {(r.stderr or r.stdout).strip().splitlines()[:1]}"
    gpus = []
    for line in r.stdout.strip().splitlines():
        parts = [s.strip() for s in line.split(",")]
        gpus.append(dict(zip(("name", "memory", "driver"), parts, strict=False)))
    return gpus


def _torch() -> dict[str, Any]:
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - a broken torch install must not break the doctor
        return {"error": f"{type(e).__name__}: {e}"}
    info: dict[str, Any] = {"version": torch.__version__, "cuda_build": torch.version.cuda}
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            info["device"] = torch.cuda.get_device_name(0)
    except Exception as e:  # noqa: BLE001
        info["cuda_available"] = False
        info["cuda_error"] = str(e)
    return info


def models_report() -> dict[str, Any]:
    from training.download import folder_bytes

    root = models_dir()
    cache = download_cache_dir()
    out: dict[str, Any] = {"folder": str(root), "download_cache": str(cache),
                           "download_cache_bytes": folder_bytes(cache) if cache.exists() else 0, "installed": []}
    try:
        from training.registry import list_models

        out["installed"] = [{"id": m.id, "source": m.source, "bytes": m.size, "arch": m.arch}
                            for m in list_models() if m.installed]
    except Exception as e:  # noqa: BLE001 - report a broken registry, keep going
        out["error"] = str(e)
    return out


def library_report(library_dir: Path) -> dict[str, Any]:
    from desktop_app.commands.models import active_model_id
    from engine.library import check_library

    paths = LibraryPaths(Path(library_dir).expanduser().absolute())
    out: dict[str, Any] = {"folder": str(paths.root), "exists": paths.catalog.is_file()}
    try:
        try:
            check_library(paths.root)
        except NoLibraryError:
            out["exists"] = False  # nothing there yet (a 0-byte catalog no library ever used included)
        except CatalogMissingError as e:  # a library in use lost its catalog: damaged, not new
            out["damaged"] = True
            out["error"] = str(e)
            return out
        if out["exists"]:
            from engine.backup import integrity_problem, list_backups

            problem = integrity_problem(paths.catalog)
            out["integrity"] = problem or "ok"
            out["backups"] = [str(b) for b in list_backups(paths.catalog)]
            if problem:
                out["damaged"] = True
                out["error"] = (f"the catalog is damaged ({problem}); run `photosift doctor --repair` to restore "
                                "its latest backup or rebuild it")
                return out
        out["active_model"] = active_model_id(library_dir)
        if out["exists"]:
            from engine.library import Library

            with Library.open(library_dir, read_only=True) as lib:
                out["photos"] = lib.catalog.counts()
                out["vectors"] = lib.catalog.embeddings.models()
    except Exception as e:  # noqa: BLE001 - a newer or damaged catalog is reported, not fatal
        out["error"] = str(e)
    return out


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.repair:
        return cmd_repair(args)
    report = {"runtime": runtime_report(), "models": models_report(), "library": library_report(args.library)}
    # a damaged, empty, missing or unreadable catalog is not a healthy report: scripts must see it
    code = 1 if report["library"].get("damaged") or "error" in report["library"] else 0
    print(json.dumps(report, indent=2, default=str) if args.json else _format(report))
    return code


def cmd_repair(args: argparse.Namespace) -> int:
    from engine.backup import repair_catalog

    paths = LibraryPaths(Path(args.library).expanduser().absolute())
    r = repair_catalog(paths)
    data = {"catalog": str(r.catalog), "problem": r.problem, "kept_as": r.kept_as and str(r.kept_as),
            "restored": r.restored and str(r.restored), "folders": r.folders, "photos": r.photos}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if r.problem is None:
        print(f"catalog {shown(str(r.catalog))}: " + ("integrity check passed; nothing to repair"
                                                       if r.catalog.exists() else "not created yet; nothing to repair"))
        return 0
    what = r.problem if r.problem in ("missing", "empty (0 bytes)") else f"damaged ({r.problem})"
    lines = [f"catalog {shown(str(r.catalog))} was {what}"]
    if r.kept_as:
        lines.append(f"  the damaged file is kept as {shown(str(r.kept_as))}")
    if r.restored:
        when = datetime.fromtimestamp(r.restored.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        lines.append(f"  restored the backup of {when} ({r.photos} photos, {len(r.folders)} folders); "
                     "run `photosift index` to pick up photos added since then")
    elif r.folders:
        lines.append(f"  no good backup: started a fresh catalog with the {len(r.folders)} folder(s) it still "
                     "named; run `photosift index` to index them again (tags you added are lost):")
        lines += [f"    {shown(f)}" for f in r.folders]
    else:
        lines.append("  no good backup, and its folders could not be read: started an empty catalog; add your "
                     "folders again with `photosift add FOLDER`, then run `photosift index`")
    print("\n".join(lines))
    return 0


def _format(r: dict[str, Any]) -> str:
    rt, mo, li = r["runtime"], r["models"], r["library"]
    ort = rt["onnxruntime"]
    lines = [f"Python       {rt['python']} ({rt['executable']})",
             f"Platform     {rt['platform']}",
             f"Photosift    {rt['photosift'] or 'not installed as a package (running from source)'}"]
    if "error" in ort:
        lines.append(f"ONNX Runtime unavailable: {ort['error']}")
    else:
        lines.append(f"ONNX Runtime {ort['version']}; providers: {', '.join(ort['providers'])}")
        lines.append(f"CUDA         {'usable' if ort['cuda_usable'] else 'not usable (inference runs on the CPU)'}")
    gpu = rt["gpu"]
    lines.append("GPU          " + (gpu if isinstance(gpu, str) else
                                    "; ".join(f"{g.get('name')} ({g.get('memory')}, driver {g.get('driver')})"
                                              for g in gpu) or "none listed"))
    t = rt["torch"]
    if "error" in t:
        lines.append(f"torch        unavailable: {t['error']}")
    else:
        cuda = f"CUDA {t['cuda_build']}" if t.get("cuda_build") else "CPU build"
        avail = f", GPU: {t['device']}" if t.get("device") else ", no GPU visible" if t.get("cuda_build") else ""
        lines.append(f"torch        {t['version']} ({cuda}{avail}); open_clip {rt['open_clip'] or 'missing'}")
    lines.append(f"Models       {mo['folder']}")
    for m in mo["installed"]:
        lines.append(f"  {m['id']:<24} {_mb(m['bytes']):>10}  {m['arch']} [{m['source']}]")
    if not mo["installed"]:
        lines.append("  none installed (`photosift models use starter` builds the offline one)")
    if "error" in mo:
        lines.append(f"  registry error: {mo['error']}")
    lines.append(f"Cache        {mo['download_cache']} ({_mb(mo['download_cache_bytes'])})")
    lines.append(f"Library      {li['folder']}" + ("" if li["exists"] or li.get("damaged") else " (not created yet)"))
    if "photos" in li:
        p = li["photos"]
        lines.append(f"  photos: {p.get('total', 0)} ({p.get('ok', 0)} indexed, {p.get('pending', 0)} pending, "
                     f"{p.get('error', 0)} failed)")
        vec = ", ".join(f"{k}: {v}" for k, v in sorted(li.get("vectors", {}).items())) or "none"
        lines.append(f"  vectors: {vec}")
    if "active_model" in li:
        lines.append(f"  active model: {li['active_model']}")
    if "integrity" in li:
        lines.append(f"  integrity: {li['integrity']}; backups: {len(li['backups'])}"
                     + (f" (newest {Path(li['backups'][0]).name})" if li["backups"] else ""))
    if "error" in li:
        lines.append(f"  error: {li['error']}")
    return "\n".join(lines)


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"
