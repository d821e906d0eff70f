"""Print the runtime's requirements for the packaged app: pyproject's dependencies, no extras, with the CPU build of
ONNX Runtime in place of onnxruntime-gpu (one line each, environment markers kept; pip evaluates them).

    python packaging/requirements.py > build/app-requirements.txt

The packaged app ships the CPU build (about 25 MB against about 340 MB for the CUDA build, which also needs CUDA
and cuDNN on the user's computer); the GPU build stays the choice of whoever installs Photosift with pip.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_RUNTIME = "onnxruntime>=1.18"


def runtime_requirements() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    out: list[str] = []
    for dep in deps:
        name = re.split(r"[\s<>=!~;\[(]", dep, maxsplit=1)[0].lower().replace("_", "-")
        if name in ("onnxruntime", "onnxruntime-gpu"):  # either marker's line becomes the one CPU build
            if CPU_RUNTIME not in out:
                out.append(CPU_RUNTIME)
            continue
        out.append(dep)
    return out


if __name__ == "__main__":
    sys.stdout.write("".join(line + "\n" for line in runtime_requirements()))
