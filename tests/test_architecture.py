"""The layering rules of docs/architecture.md, checked on every run."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_engine_and_cli_search_path_never_import_torch_or_qt():
    code = (
        "import sys, engine.search, engine.update, engine.tagging, desktop_app.cli, desktop_app.commands.search\n"
        "from desktop_app.cli import build_parser; build_parser()\n"
        "bad = sorted(m for m in ('torch', 'open_clip', 'PySide6', 'timm', 'transformers') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_import_linter_contracts():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "Contracts: 4 kept, 0 broken" in r.stdout, r.stdout + r.stderr


def test_onnxruntime_is_imported_only_through_the_telemetry_gate():
    """engine.onnx_runtime sets ORT_DISABLE_TELEMETRY before the native module loads; an `import onnxruntime`
    anywhere else could load it first, with its telemetry on (tests/test_no_network.py sees the result)."""
    import ast

    offenders = []
    for package in ("engine", "training", "desktop_app", "tests", "bench", "scripts"):
        for path in (REPO / package).rglob("*.py"):
            if path == REPO / "engine" / "onnx_runtime.py":
                continue
            tree = ast.parse(path.read_text(), str(path))
            gated = False
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "engine.onnx_runtime" for n in names):
                    gated = True
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for n in names:
                    # a submodule (onnxruntime.quantization) is fine where the gate was imported at the top
                    if n == "onnxruntime" or (n.startswith("onnxruntime.") and not gated):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
