"""Build the starter model once and pack it into its versioned archive (needs `pip install 'photosift[train]'`).

    PYTHONPATH=. python scripts/build_starter.py [--out dist/models] [--version 1] [--from FOLDER]

Writes `<out>/photosift-starter-<version>.tar.gz` and `<out>/photosift-starter-<version>.tar.gz.sha256`
(engine.model_archive): the model folder the runtime reads (ONNX towers, manifest, preprocess config,
tokenizer), without the torch/ side, which only fine-tuning reads and rebuilds from the same pip packages.
The version defaults to the starter entry's `weights.archive.version` in resources/models.json: bump it
there whenever the starter's recipe changes, and publish the two files as a release (then set
`weights.archive.url`, and `sha256` to pin it) or ship them in the app's `models/` folder
(training.prebuilt.packaged_model_dirs). `--from` packs a starter folder already built (by
training.starter.build_starter) instead of building one (about a minute on two cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.model_archive import archive_name, pack_model_folder, read_sidecar  # noqa: E402
from engine.modelfolder import MANIFEST, ModelFolder, write_json_atomic  # noqa: E402
from training.prebuilt import archive_spec  # noqa: E402
from training.registry import builtin_entries  # noqa: E402

TORCH_NOTE = ("not in the archive: `photosift[train]` rebuilds them from the same pip packages when the starter "
              "is fine-tuned (training.starter.build_starter_model); source_sha256 is their weights.safetensors")


def pack_starter(folder: Path, out_dir: Path, version: str) -> Path:
    """Copy the runtime's files of a built starter folder, note where its torch weights come from, pack them."""
    ModelFolder.load(folder)
    with tempfile.TemporaryDirectory(prefix="photosift-starter-pack-") as tmp:
        staged = Path(tmp) / "starter"
        shutil.copytree(folder, staged, ignore=shutil.ignore_patterns("torch"))
        manifest = json.loads((staged / MANIFEST).read_text())
        manifest["info"] = {**manifest.get("info", {}), "archive": archive_name("starter", version),
                            "torch_weights": {"kind": "starter", "note": TORCH_NOTE}}
        write_json_atomic(staged / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        return pack_model_folder(staged, out_dir, name="starter", version=version)


def main(argv: list[str] | None = None) -> int:
    spec = archive_spec(builtin_entries()["starter"])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "dist" / "models", help="folder for the archive")
    ap.add_argument("--version", default=spec.version if spec else "1", help="archive version")
    ap.add_argument("--from", dest="source", type=Path, help="pack this built starter folder, do not build")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="photosift-starter-build-") as tmp:
        folder = args.source
        if folder is None:
            from training.starter import build_starter  # torch, timm, transformers: the [train] extra

            print("building the starter model (about a minute) ...", flush=True)
            folder = build_starter(Path(tmp) / "starter").path
        archive = pack_starter(folder, args.out, args.version)
    size = archive.stat().st_size
    print(f"{archive}  {size} bytes ({size / 1e6:.1f} MB)  sha256 {read_sidecar(archive)}  "
          f"in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
